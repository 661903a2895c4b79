// Checkpoints survive the worst moments of a long run: a process SIGKILLed in
// the middle of Module::save leaves the previous checkpoint loadable and intact
// (never a mix of two versions) and no temporary once the next save has run; a
// full disk, a read-only file system or an impossible path is a clear
// xgrad::Error that leaves the old file alone.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "autograd/grad_mode.hpp"
#include "core/file_io.hpp"
#include "core/creation.hpp"
#include "core/random.hpp"
#include "optim/checkpoint.hpp"
#include "nn/conv1d.hpp"
#include "support/testing.hpp"
#include "test_reliability.hpp"

using namespace xgrad;
namespace fs = std::filesystem;

namespace {

struct ScratchDir {
  fs::path path;
  ScratchDir() {
    path = fs::temp_directory_path() / fmt::format("xgrad_reliability_{}_{}", ::getpid(), random::next_u64());
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(path)) out.push_back(entry.path().filename().string());
    return out;
  }
};

// A tmpfs mounted on a fresh directory for the test's lifetime (needs root or a
// user namespace; `mounted` is false where this sandbox forbids it).
struct SmallFilesystem {
  ScratchDir dir;
  bool mounted = false;
  SmallFilesystem(const char* options, unsigned long flags = 0) {
    mounted = ::mount("tmpfs", dir.path.c_str(), "tmpfs", flags, options) == 0;
  }
  ~SmallFilesystem() {
    if (mounted) ::umount2(dir.path.c_str(), MNT_DETACH);
  }
};

// Parameters (~90k values, 400 kB on disk, so a kill often lands mid-write)
// plus a "version" buffer; set_version(v) fills every value with v.
struct Versioned : nn::Module {
  std::shared_ptr<nn::Conv1d> conv = register_module("conv", std::make_shared<nn::Conv1d>(64, 256, 5));
  Tensor head = register_parameter("head", zeros({256, 16}, {.dtype = kFloat64}));
  Tensor version = register_buffer("version", zeros({1}, {.dtype = kFloat64}));
  std::string type_name() const override { return "Versioned"; }

  void set_version(double v) {
    NoGradGuard no_grad;
    for (Tensor& p : parameters()) p.fill_(v);
    version.fill_(v);
  }
  // The version every value agrees on; fails the test when they disagree.
  double consistent_version() const {
    const double v = version.item<double>();
    for (const auto& [name, p] : named_parameters()) {
      for (double value : testing::values(p)) {
        if (value != v) {
          FAIL("'", name, "' holds ", value, " but the version buffer says ", v, ": a mix of two checkpoints");
          return -1;
        }
      }
    }
    return v;
  }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("reliability: SIGKILL in the middle of save always leaves a complete previous checkpoint") {
  // 100 kills (40 under sanitizers), fewer (but at least 50 / 20) if the disk
  // is so slow that they would take more than 12 s.
  const int kills = testing::kSanitized ? 40 : 100;
  int done = 0;
  ScratchDir dir;
  const std::string path = dir.file("model.xgrad");
  manual_seed(0);
  Versioned model;
  model.set_version(0);
  // How long one save takes here (fsync makes it depend on the disk): kills
  // are spread over about three saves' time.
  auto save_start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) model.save(path);
  const auto save_time = (std::chrono::steady_clock::now() - save_start) / 3;
  const int max_delay_us = static_cast<int>(
      std::chrono::duration_cast<std::chrono::microseconds>(save_time * 3).count() + 1000);

  std::mt19937 rng(1234);
  double last_loaded = 0;
  int landed_mid_save = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kills; ++round, ++done) {
    if (round >= kills / 2 && std::chrono::steady_clock::now() - start > std::chrono::seconds(12)) break;
    const double first_version = 1 + round * 1000.0;  // exact in float32 (< 2^24)
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // The child saves version after version until it is killed.
      try {
        for (double v = first_version;; v += 1) {
          model.set_version(v);
          model.save(path);
        }
      } catch (...) {
        ::_exit(3);
      }
    }
    // Kill anywhere from before the first save begins to several saves in.
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, max_delay_us)(rng)));
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "the saving child failed on its own (status ",
                    status, ")");

    Versioned loaded;
    REQUIRE_NOTHROW(loaded.load(path));
    const double v = loaded.consistent_version();
    CHECK(v >= last_loaded);  // never goes back to an older checkpoint
    if (v != last_loaded) {
      // Either the child finished at least one save of this round, or nothing of it landed.
      CHECK(v >= first_version);
      CHECK(v < first_version + 1000.0);
    }
    last_loaded = v;
    // A named temporary (a kill between naming the unnamed temporary and renaming
    // it) is the only possible debris, never a truncated model.xgrad; the next
    // child's first save removes it.
    for (const std::string& name : dir.entries()) {
      if (name != "model.xgrad") {
        CHECK(name.rfind(temporary_name_prefix("model.xgrad"), 0) == 0);
        ++landed_mid_save;
      }
    }
  }
  model.save(path);  // removes whatever the last kill left
  CHECK(dir.entries() == std::vector<std::string>{"model.xgrad"});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE(done, " kills in ", seconds, " s (one save takes ",
          std::chrono::duration<double, std::milli>(save_time).count(), " ms); ", landed_mid_save,
          " times a named temporary was found after a kill; last version loaded ", last_loaded);
  CHECK(last_loaded > 0);  // some saves completed
}

TEST_CASE("reliability: a full disk is a clear error and the previous checkpoint stays intact") {
  SmallFilesystem disk("size=256k");
  if (!disk.mounted) {
    MESSAGE("cannot mount a tmpfs here (not root?): the RLIMIT_FSIZE test in test_checkpoint.cpp covers this case");
    return;
  }
  const std::string path = disk.dir.file("model.xgrad");
  manual_seed(1);
  nn::Conv1d small(4, 4, 3);
  small.save(path);
  const std::string old_bytes = read_bytes(path);
  Versioned big;  // 400 kB: cannot fit
  const std::string message = [&] {
    try {
      big.save(path);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  }();
  INFO(message);
  CHECK(message.find("save: writing") != std::string::npos);
  CHECK(message.find("No space left on device") != std::string::npos);
  CHECK(message.find("left as it was") != std::string::npos);
  CHECK(read_bytes(path) == old_bytes);
  CHECK(disk.dir.entries() == std::vector<std::string>{"model.xgrad"});  // no temporary file left behind
  nn::Conv1d again(4, 4, 3);
  CHECK_NOTHROW(again.load(path));
  CHECK(testing::values(again.weight) == testing::values(small.weight));
}

TEST_CASE("reliability: an unwritable path is a clear error and leaves the old file alone") {
  manual_seed(2);
  nn::Conv1d model(2, 2, 3);
  ScratchDir dir;
  const std::string blocker = dir.file("a_file");
  std::ofstream(blocker) << "not a directory";
  CHECK_THROWS_WITH_AS(model.save(blocker + "/model.xgrad"), doctest::Contains("Not a directory"), Error);
  CHECK_THROWS_WITH_AS(model.load(blocker + "/model.xgrad"), doctest::Contains("load: cannot open"), Error);
  CHECK_THROWS_WITH_AS(model.save(""), doctest::Contains("save: the path is empty"), Error);

  SmallFilesystem read_only("size=64k", MS_RDONLY);
  if (!read_only.mounted) {
    MESSAGE("cannot mount a read-only tmpfs here (not root?); skipping that part");
    return;
  }
  const std::string path = read_only.dir.file("model.xgrad");
  CHECK_THROWS_WITH_AS(model.save(path), doctest::Contains("Read-only file system"), Error);
  CHECK_FALSE(fs::exists(path));
}
