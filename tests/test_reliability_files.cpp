// Files xgrad writes and reads, tried as an adversarial user would: every writer
// (save_npy, Module::save, save_checkpoint, Optimizer::save, save_tensors,
// write_file_atomically) refuses devices, FIFOs, sockets and directories, follows
// symbolic links, keeps modes, survives a full disk and SIGKILL at any moment, and
// takes 250-byte names; every reader refuses what is not a regular file before
// reading it (a FIFO holding a .npy is read as a stream), checks sizes before
// allocating, and lets nothing but xgrad::Error out. Risky calls run in a forked
// child with a deadline (support/child_process.hpp): a hang or crash fails its test.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "core/file_io.hpp"
#include "core/random.hpp"
#include "optim/checkpoint.hpp"
#include "nn/linear.hpp"
#include "optim/sgd.hpp"
#include "support/child_process.hpp"
#include "support/testing.hpp"
#include "test_reliability.hpp"

using namespace xgrad;
using testing::contains;
using testing::describe_error;
using testing::run_in_child;
namespace fs = std::filesystem;

namespace {

struct ScratchDir {
  fs::path path;
  ScratchDir() {
    path = fs::temp_directory_path() / fmt::format("xgrad_files_{}_{}", ::getpid(), random::next_u64() % 1000000);
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
    std::sort(out.begin(), out.end());
    return out;
  }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct stat lstat_of(const std::string& path) {
  struct stat status {};
  REQUIRE(::lstat(path.c_str(), &status) == 0);
  return status;
}

// What every writer writes: big enough (~260 kB each) that a 64 KiB file size limit
// stops it midway.
struct Subjects {
  std::shared_ptr<nn::Linear> model;
  std::unique_ptr<optim::SGD> optimizer;
  Tensor tensor;
  std::string text;
  Subjects() {
    manual_seed(7);
    model = std::make_shared<nn::Linear>(256, 256);
    optimizer = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
    (*model)(randn({2, 256})).sum().backward();
    optimizer->step();  // momentum buffers: the optimizer's state is as large as the model
    tensor = randn({256, 256});
    text = std::string(300 * 1024, 'x');
  }
};

struct Entry {
  std::string name;  // how the error names it
  std::function<void(const std::string&)> call;
};

std::vector<Entry> writers(Subjects& s) {
  return {
      {"save_npy", [&](const std::string& p) { save_npy(p, s.tensor); }},
      {"Module::save", [&](const std::string& p) { s.model->save(p); }},
      {"save_checkpoint", [&](const std::string& p) { optim::save_checkpoint(p, *s.model, *s.optimizer); }},
      {"SGD::save", [&](const std::string& p) { s.optimizer->save(p); }},
      {"save_tensors", [&](const std::string& p) { xgrad::save_tensors(p, s.model->state_dict()); }},
      {"write_file_atomically", [&](const std::string& p) { write_file_atomically(p, s.text, "write_file_atomically"); }},
  };
}

std::vector<Entry> readers(Subjects& s) {
  return {
      {"load_npy", [&](const std::string& p) { load_npy(p); }},
      {"Module::load", [&](const std::string& p) { s.model->load(p); }},
      {"load_checkpoint", [&](const std::string& p) { optim::load_checkpoint(p, *s.model, *s.optimizer); }},
      {"SGD::load", [&](const std::string& p) { s.optimizer->load(p); }},
      {"load_tensors", [&](const std::string& p) { xgrad::load_tensors(p); }},
  };
}

// Each writer's output read back by its reader ("text" is read with std::ifstream, not by xgrad).
struct RoundTrip {
  std::string name;
  std::function<void(const std::string&)> save, load;
  bool xgrad_reader() const { return name != "text"; }
};

std::vector<RoundTrip> round_trips(Subjects& s) {
  return {
      {"npy", [&](const std::string& p) { save_npy(p, s.tensor); },
       [&](const std::string& p) {
         const Tensor loaded = load_npy(p);  // outside CHECK: its errors must propagate
         CHECK(testing::values(loaded) == testing::values(s.tensor));
       }},
      {"module", [&](const std::string& p) { s.model->save(p); }, [&](const std::string& p) { s.model->load(p); }},
      {"checkpoint", [&](const std::string& p) { optim::save_checkpoint(p, *s.model, *s.optimizer); },
       [&](const std::string& p) { optim::load_checkpoint(p, *s.model, *s.optimizer); }},
      {"optimizer", [&](const std::string& p) { s.optimizer->save(p); },
       [&](const std::string& p) { s.optimizer->load(p); }},
      {"text", [&](const std::string& p) { write_file_atomically(p, s.text, "write_file_atomically"); },
       [&](const std::string& p) {
         const bool same = read_bytes(p) == s.text;
         CHECK(same);
       }},
  };
}

// A version 1.0 .npy file: magic, header dict padded to 64 bytes, then `data`.
std::string npy_file(std::string dict, const std::string& data) {
  dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict + data;
}

// A checkpoint holding zero-filled float32 vectors of the given lengths, built byte by byte.
std::string checkpoint_file(const std::vector<std::pair<std::string, std::int64_t>>& entries) {
  std::string out = "XGRADCKP";
  auto put = [&](const auto& value) { out.append(reinterpret_cast<const char*>(&value), sizeof(value)); };
  put(std::uint32_t{1});
  put(static_cast<std::uint32_t>(entries.size()));
  for (const auto& [name, length] : entries) {
    put(static_cast<std::uint32_t>(name.size()));
    out += name;
    put(std::uint8_t{0});
    put(std::uint8_t{1});
    put(length);
    put(static_cast<std::uint64_t>(length) * 4);
    out.append(static_cast<std::size_t>(length) * 4, '\0');
  }
  put(xgrad::crc32(out.data(), out.size()));
  return out;
}

std::string mode_text(mode_t mode) { return fmt::format("{:04o}", mode & 07777); }

// A pid that certainly belongs to no process: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

// A Unix socket bound at `path` (its node stays after the descriptor is closed).
bool make_socket_node(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) return false;
  std::strcpy(address.sun_path, path.c_str());
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

TEST_CASE("files: every writer refuses a FIFO, a socket, a directory and a device, and leaves them as they were") {
  Subjects subjects;
  ScratchDir dir;
  const std::string fifo = dir.file("fifo"), socket = dir.file("socket"), directory = dir.file("directory"),
                    device = dir.file("null_device");
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  REQUIRE(make_socket_node(socket));
  fs::create_directories(directory);
  // A private copy of /dev/null's node (needs root); the real one is tried below in a private mount namespace.
  const bool have_device = ::mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0;
  if (!have_device) MESSAGE("cannot mknod a character device here (not root): that destination is skipped");

  struct Destination {
    std::string path, kind;
    mode_t type;
  };
  std::vector<Destination> destinations = {
      {fifo, "a FIFO", S_IFIFO}, {socket, "a socket", S_IFSOCK}, {directory, "a directory", S_IFDIR}};
  if (have_device) destinations.push_back({device, "a character device", S_IFCHR});
  for (const Entry& writer : writers(subjects)) {
    for (const Destination& destination : destinations) {
      CAPTURE(writer.name);
      CAPTURE(destination.kind);
      // A writer that opened the FIFO would block forever: the child's deadline turns that into a failure.
      const auto outcome = run_in_child([&] { return describe_error([&] { writer.call(destination.path); }); },
                                        std::chrono::seconds(10));
      REQUIRE_MESSAGE(outcome.finished, outcome.status);
      CHECK(contains(outcome.report, "xgrad::Error: " + writer.name + ": '" + destination.path + "' is " +
                                         destination.kind + ", not a regular file; refusing to replace it"));
      const struct stat after = lstat_of(destination.path);
      CHECK((after.st_mode & S_IFMT) == destination.type);
      if (destination.type == S_IFCHR) CHECK(after.st_rdev == makedev(1, 3));
    }
  }
  CHECK(dir.entries() == std::vector<std::string>{"directory", "fifo", "null_device", "socket"});
}

TEST_CASE("files: Module::save(\"/dev/null\") is refused and /dev/null stays a character device") {
  // As root a regression would replace the machine's /dev/null, so the test runs in a
  // private mount namespace with its own /dev (a tmpfs holding a fresh /dev/null node).
  // Without the privileges for that, the real /dev/null is used only when this process
  // could not replace it anyway (not root).
  const auto outcome = run_in_child([] {
    const bool isolated = ::unshare(CLONE_NEWNS) == 0 && ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
                          ::mount("tmpfs", "/dev", "tmpfs", 0, "size=64k") == 0 &&
                          ::mknod("/dev/null", S_IFCHR | 0666, makedev(1, 3)) == 0;
    if (!isolated && ::geteuid() == 0) return std::string("skipped: root without mount namespaces");
    nn::Linear model(2, 2);
    std::string report = describe_error([&] { model.save("/dev/null"); });
    struct stat status {};
    const bool still_device = ::lstat("/dev/null", &status) == 0 && S_ISCHR(status.st_mode) &&
                              status.st_rdev == makedev(1, 3);
    return report + (still_device ? "|still a character device" : "|REPLACED");
  });
  REQUIRE_MESSAGE(outcome.finished, outcome.status);
  if (contains(outcome.report, "skipped")) {
    MESSAGE(outcome.report);
    return;
  }
  CHECK(contains(outcome.report, "xgrad::Error: Module::save: '/dev/null' is a character device, not a regular file"));
  CHECK(contains(outcome.report, "|still a character device"));
}

TEST_CASE("files: a symbolic link is followed (chains too) and its target replaced, a loop is a clear error") {
  Subjects subjects;
  for (const RoundTrip& trip : round_trips(subjects)) {
    CAPTURE(trip.name);
    ScratchDir dir;
    fs::create_directories(dir.path / "real");
    const std::string target = dir.file("real/target");
    write_bytes(target, "old");
    REQUIRE(::chmod(target.c_str(), 0640) == 0);
    REQUIRE(::symlink("real/target", dir.file("link1").c_str()) == 0);       // relative
    REQUIRE(::symlink(dir.file("link1").c_str(), dir.file("link2").c_str()) == 0);  // absolute, to a link
    trip.save(dir.file("link2"));
    CHECK(S_ISLNK(lstat_of(dir.file("link1")).st_mode));
    CHECK(S_ISLNK(lstat_of(dir.file("link2")).st_mode));
    CHECK(S_ISREG(lstat_of(target).st_mode));
    CHECK(mode_text(lstat_of(target).st_mode) == "0640");
    trip.load(target);
    trip.load(dir.file("link2"));
    CHECK(dir.entries() == std::vector<std::string>{"link1", "link2", "real"});
    CHECK(std::distance(fs::directory_iterator(dir.path / "real"), fs::directory_iterator()) == 1);  // no temporary

    // A dangling link: the file it names is created, the link stays.
    REQUIRE(::symlink("real/new", dir.file("dangling").c_str()) == 0);
    trip.save(dir.file("dangling"));
    CHECK(S_ISLNK(lstat_of(dir.file("dangling")).st_mode));
    trip.load(dir.file("real/new"));

    // A loop, a link to a directory and a link to a FIFO.
    REQUIRE(::symlink("loop_b", dir.file("loop_a").c_str()) == 0);
    REQUIRE(::symlink("loop_a", dir.file("loop_b").c_str()) == 0);
    CHECK(contains(describe_error([&] { trip.save(dir.file("loop_a")); }), "levels of symbolic links (a loop?)"));
    if (trip.xgrad_reader()) {
      CHECK(contains(describe_error([&] { trip.load(dir.file("loop_a")); }), "Too many levels of symbolic links"));
    }
    REQUIRE(::symlink("real", dir.file("to_directory").c_str()) == 0);
    CHECK(contains(describe_error([&] { trip.save(dir.file("to_directory")); }),
                   "(a symbolic link to '" + dir.file("real") + "') is a directory"));
    REQUIRE(::mkfifo(dir.file("real/fifo").c_str(), 0600) == 0);
    REQUIRE(::symlink("real/fifo", dir.file("to_fifo").c_str()) == 0);
    const auto to_fifo = run_in_child([&] { return describe_error([&] { trip.save(dir.file("to_fifo")); }); },
                                      std::chrono::seconds(10));  // a writer that opened the FIFO would block
    REQUIRE_MESSAGE(to_fifo.finished, to_fifo.status);
    CHECK(contains(to_fifo.report, "is a FIFO, not a regular file"));
    CHECK(S_ISFIFO(lstat_of(dir.file("real/fifo")).st_mode));
  }
}

TEST_CASE("files: a new file gets mode 0666 & ~umask, an overwritten one keeps its mode (and owner as root)") {
  Subjects subjects;
  ScratchDir dir;
  // Only root may write (and so replace) a read-only file.
  std::vector<mode_t> existing_modes = {0640, 0604, 0755};
  if (::geteuid() == 0) existing_modes.push_back(0444);
  // umask is per process: change it only in a child.
  const auto outcome = run_in_child([&] {
    std::string report;
    for (const Entry& writer : writers(subjects)) {
      for (mode_t mask : {mode_t{022}, mode_t{077}, mode_t{0}, mode_t{027}}) {
        ::umask(mask);
        const std::string fresh = dir.file(fmt::format("new_{}_{:o}", writer.name, mask));
        writer.call(fresh);
        report += fmt::format("{} new umask {:03o}: {}\n", writer.name, mask, mode_text(lstat_of(fresh).st_mode));
        // The named temporary (file systems without O_TMPFILE) gets the same mode.
        const std::string named = dir.file(fmt::format("named_{}_{:o}", writer.name, mask));
        AtomicFile file(named, "test", {.unnamed_temporary = false});
        file.write("x");
        file.commit();
        report += fmt::format("{} named umask {:03o}: {}\n", writer.name, mask, mode_text(lstat_of(named).st_mode));
      }
      ::umask(077);
      for (mode_t mode : existing_modes) {
        const std::string existing = dir.file(fmt::format("old_{}_{:o}", writer.name, mode));
        write_bytes(existing, "old");
        ::chmod(existing.c_str(), mode);
        writer.call(existing);
        report += fmt::format("{} overwritten {:04o}: {}\n", writer.name, mode, mode_text(lstat_of(existing).st_mode));
      }
    }
    if (::geteuid() == 0) {
      const std::string owned = dir.file("owned_by_nobody");
      write_bytes(owned, "old");
      ::chown(owned.c_str(), 65534, 65534);
      subjects.model->save(owned);
      report += fmt::format("owner after save: {}:{}\n", lstat_of(owned).st_uid, lstat_of(owned).st_gid);
    }
    return report;
  });
  REQUIRE_MESSAGE(outcome.finished, outcome.status);
  std::string expected;
  for (const Entry& writer : writers(subjects)) {
    for (mode_t mask : {mode_t{022}, mode_t{077}, mode_t{0}, mode_t{027}}) {
      expected += fmt::format("{} new umask {:03o}: {}\n", writer.name, mask, mode_text(0666 & ~mask));
      expected += fmt::format("{} named umask {:03o}: {}\n", writer.name, mask, mode_text(0666 & ~mask));
    }
    for (mode_t mode : existing_modes) {
      expected += fmt::format("{} overwritten {:04o}: {}\n", writer.name, mode, mode_text(mode));
    }
  }
  if (::geteuid() == 0) expected += "owner after save: 65534:65534\n";
  CHECK(outcome.report == expected);
}

TEST_CASE("files: a write that fails midway (file size limit, as on a full disk) leaves the old file and no temporary") {
  Subjects subjects;
  for (bool unnamed : {true, false}) {
    for (const Entry& writer : writers(subjects)) {
      CAPTURE(writer.name);
      CAPTURE(unnamed);
      ScratchDir dir;
      const std::string path = dir.file("destination");
      write_bytes(path, "the previous content");
      // RLIMIT_FSIZE makes write() fail with EFBIG once SIGXFSZ is ignored: a full disk without root.
      const auto outcome = run_in_child([&] {
        ::signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit {};
        ::getrlimit(RLIMIT_FSIZE, &limit);
        limit.rlim_cur = 64 * 1024;
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return std::string("setrlimit failed");
        if (unnamed) return describe_error([&] { writer.call(path); });
        return describe_error([&] {
          AtomicFile file(path, writer.name, {.unnamed_temporary = false});
          file.write(subjects.text);
          file.commit();
        });
      });
      REQUIRE_MESSAGE(outcome.finished, outcome.status);
      CHECK(contains(outcome.report, "xgrad::Error: " + writer.name + ": writing '" + path + "' failed after"));
      CHECK(contains(outcome.report, "File too large; '" + path + "' was left as it was"));
      CHECK(read_bytes(path) == "the previous content");
      CHECK(dir.entries() == std::vector<std::string>{"destination"});
    }
  }
}

TEST_CASE("files: SIGKILL at random moments of named-temporary saves leaves the old or the new file, the next save cleans up") {
  // File systems without O_TMPFILE use a named temporary from the start, so a kill
  // often leaves one (Module::save's unnamed path is killed in test_reliability_checkpoint.cpp).
  const int kills = testing::kSanitized ? 25 : 60;
  ScratchDir dir;
  const std::string path = dir.file("data.bin");
  constexpr std::size_t kPayload = 1 << 20;
  auto save_version = [&](std::uint64_t version) {
    AtomicFile file(path, "test", {.unnamed_temporary = false});
    file.write(&version, sizeof(version));
    const std::string chunk(64 * 1024, static_cast<char>(version & 0xFF));
    for (std::size_t done = 0; done < kPayload; done += chunk.size()) file.write(chunk);
    file.commit();
  };
  // The version the file holds; fails the test when it is not one complete save.
  auto complete_version = [&]() -> std::uint64_t {
    const std::string bytes = read_bytes(path);
    REQUIRE(bytes.size() == sizeof(std::uint64_t) + kPayload);
    std::uint64_t version = 0;
    std::memcpy(&version, bytes.data(), sizeof(version));
    CHECK(bytes.find_first_not_of(static_cast<char>(version & 0xFF), sizeof(version)) == std::string::npos);
    return version;
  };
  save_version(0);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) save_version(0);
  const auto save_time = (std::chrono::steady_clock::now() - start) / 3;
  const int max_delay_us =
      static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(save_time * 3).count() + 1000);
  const std::string prefix = temporary_name_prefix("data.bin");
  std::mt19937 rng(4321);
  std::uint64_t last = 0;
  int left_behind = 0;
  for (int round = 0; round < kills; ++round) {
    const std::uint64_t first = 1 + static_cast<std::uint64_t>(round) * 100000;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      try {
        for (std::uint64_t v = first;; ++v) save_version(v);
      } catch (...) {
        ::_exit(3);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, max_delay_us)(rng)));
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "the saving child failed on its own");
    const std::uint64_t version = complete_version();
    CHECK(version >= last);
    last = version;
    for (const std::string& name : dir.entries()) {
      if (name == "data.bin") continue;
      CHECK_MESSAGE(name.rfind(prefix, 0) == 0, "unexpected file ", name);
      ++left_behind;  // the next child's first save removes it
    }
  }
  save_version(last + 1);
  CHECK(dir.entries() == std::vector<std::string>{"data.bin"});
  CHECK(complete_version() == last + 1);
  MESSAGE(kills, " kills; ", left_behind, " left a named temporary, each removed by the next save");
  CHECK(left_behind > 0);  // the kills did land mid-save, so the cleanup was exercised
}

TEST_CASE("files: a save removes only stale temporaries of its own destination") {
  Subjects subjects;
  ScratchDir dir;
  const std::string path = dir.file("model.xgrad");
  const std::string prefix = temporary_name_prefix("model.xgrad");
  const pid_t dead = dead_pid();
  const std::string stale = fmt::format("{}{}.{:016x}", prefix, dead, 0x1234u);
  const std::string live_pid = fmt::format("{}{}.{:016x}", prefix, ::getppid(), 0x5678u);  // a live process
  const std::string locked = fmt::format("{}{}.{:016x}", prefix, dead, 0x9abcu);
  const std::string other_destination = temporary_name_prefix("other.xgrad") + fmt::format("{}.{:016x}", dead, 1u);
  const std::string lookalike = fmt::format("{}{}.not-hex-digits!!", prefix, dead);
  const std::string old_style = ".model.xgrad.tmp.AbCdEf";
  for (const std::string& name : {stale, live_pid, locked, other_destination, lookalike, old_style}) {
    write_bytes(dir.file(name), "leftover");
  }
  const std::string stale_directory = fmt::format("{}{}.{:016x}", prefix, dead, 0xdefu);
  fs::create_directories(dir.path / stale_directory);
  // A live process holds the lock of `locked` (a save in progress whose pid field was reused).
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t holder = ::fork();
  if (holder == 0) {
    const int fd = ::open(dir.file(locked).c_str(), O_RDONLY);
    ::flock(fd, LOCK_EX);
    char byte = 1;
    (void)!::write(ready[1], &byte, 1);
    ::pause();
    ::_exit(0);
  }
  char byte = 0;
  REQUIRE(::read(ready[0], &byte, 1) == 1);
  subjects.model->save(path);
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  std::vector<std::string> expected = {"model.xgrad", live_pid, locked, other_destination, lookalike, old_style,
                                       stale_directory};
  std::sort(expected.begin(), expected.end());
  CHECK(dir.entries() == expected);
  // Once its holder is gone, the next save removes it too.
  subjects.model->save(path);
  CHECK(!fs::exists(dir.path / locked));
  CHECK(fs::exists(dir.path / live_pid));
}

TEST_CASE("files: a 250-byte file name saves and loads, a 256-byte one is a clear error") {
  Subjects subjects;
  ScratchDir dir;
  for (const RoundTrip& trip : round_trips(subjects)) {
    CAPTURE(trip.name);
    const std::string name = trip.name + "_" + std::string(250 - trip.name.size() - 1, 'n');
    REQUIRE(name.size() == 250);
    CHECK(describe_error([&] { trip.save(dir.file(name)); }) == "no exception");
    trip.load(dir.file(name));
    // A multi-byte UTF-8 name is shortened at a character boundary in the temporary's name.
    std::string accented = trip.name + "_";
    while (accented.size() + 2 <= 250) accented += "\xc3\xa9";  // é, two bytes
    CHECK(describe_error([&] { trip.save(dir.file(accented)); }) == "no exception");
    trip.load(dir.file(accented));
    const std::string too_long(256, 'x');
    CHECK(contains(describe_error([&] { trip.save(dir.file(too_long)); }), "File name too long"));
    if (trip.xgrad_reader()) {
      CHECK(contains(describe_error([&] { trip.load(dir.file(too_long)); }), "File name too long"));
    }
  }
  CHECK(temporary_name_prefix(std::string(255, 'z')).size() < 120);
  CHECK(dir.entries().size() == 2 * round_trips(subjects).size());  // no temporaries left
}

TEST_CASE("files: readers refuse /dev/zero and directories before reading, load_npy reads a FIFO as a stream") {
  Subjects subjects;
  ScratchDir dir;
  for (const Entry& reader : readers(subjects)) {
    CAPTURE(reader.name);
    const auto outcome = run_in_child([&] {
      // A regression that reads /dev/zero to its end must not take the machine's memory with it.
      if (!testing::kSanitized) {
        struct rlimit limit {rlim_t{4} << 30, rlim_t{4} << 30};
        ::setrlimit(RLIMIT_AS, &limit);
      }
      return describe_error([&] { reader.call("/dev/zero"); }) + "\n" +
             describe_error([&] { reader.call(dir.path.string()); });
    }, std::chrono::seconds(10));
    REQUIRE_MESSAGE(outcome.finished, outcome.status);
    const char* accepted = reader.name == "load_npy" ? "a regular file or a FIFO" : "a regular file";
    CHECK(contains(outcome.report,
                   fmt::format("xgrad::Error: {}: '/dev/zero' is a character device, not {}\n", reader.name, accepted)));
    CHECK(contains(outcome.report,
                   fmt::format("xgrad::Error: {}: '{}' is a directory, not {}", reader.name, dir.path.string(), accepted)));
  }

  // A FIFO holding a valid .npy loads; checkpoint readers refuse a FIFO without waiting for a writer.
  save_npy(dir.file("source.npy"), subjects.tensor);
  const std::string bytes = read_bytes(dir.file("source.npy"));
  const std::string fifo = dir.file("stream.npy");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto outcome = run_in_child([&] {
    std::thread writer([&] {
      const int fd = ::open(fifo.c_str(), O_WRONLY);  // waits for the reader
      for (std::size_t done = 0; done < bytes.size();) {
        const ssize_t n = ::write(fd, bytes.data() + done, std::min<std::size_t>(bytes.size() - done, 1000));
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      ::close(fd);
    });
    std::string report;
    report += describe_error([&] {
      const Tensor loaded = load_npy(fifo);
      if (testing::values(loaded) != testing::values(subjects.tensor)) throw std::runtime_error("different values");
    });
    writer.join();
    for (const Entry& reader : readers(subjects)) {
      if (reader.name != "load_npy") report += "\n" + describe_error([&] { reader.call(fifo); });
    }
    return report;
  }, std::chrono::seconds(10));
  REQUIRE_MESSAGE(outcome.finished, outcome.status);
  CHECK(outcome.report.rfind("no exception\n", 0) == 0);
  for (const Entry& reader : readers(subjects)) {
    if (reader.name == "load_npy") continue;
    CHECK(contains(outcome.report, fmt::format("{}: '{}' is a FIFO, not a regular file", reader.name, fifo)));
  }

  // A stream that claims far more data than it sends: an error, and memory grows only with what arrived.
  const auto truncated = run_in_child([&] {
    std::thread writer([&] {
      const int fd = ::open(fifo.c_str(), O_WRONLY);
      const std::string huge =
          npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 1), }", "only a few bytes");
      (void)!::write(fd, huge.data(), huge.size());
      ::close(fd);
    });
    std::string report = describe_error([&] { load_npy(fifo); });
    writer.join();
    return report;
  }, std::chrono::seconds(10));
  REQUIRE_MESSAGE(truncated.finished, truncated.status);
  CHECK(contains(truncated.report, "xgrad::Error: load_npy: '" + fifo + "' is truncated"));
  CHECK(contains(truncated.report, "needs 399999999996 bytes of data, the stream ended after 16"));
}

TEST_CASE("files: a checkpoint's declared sizes are checked against the file before anything is allocated") {
  ScratchDir dir;
  // A 3 GB file that is not a checkpoint (sparse: it costs no disk) is refused from its first bytes.
  const std::string big = dir.file("three_gigabytes.bin");
  {
    const int fd = ::open(big.c_str(), O_WRONLY | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, 3'000'000'000) == 0);
    ::close(fd);
  }
  const std::int64_t rss_before = testing::resident_bytes();
  const auto start = std::chrono::steady_clock::now();
  nn::Linear model(2, 2);
  CHECK(contains(describe_error([&] { model.load(big); }), "is not an xgrad checkpoint (no 'XGRADCKP' magic"));
  CHECK(contains(describe_error([&] { load_npy(big); }), "is not a .npy file (bad magic)"));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(seconds < 1.0);
  CHECK(testing::resident_bytes() - rss_before < (64 << 20));

  // Crafted headers: a count, a name length and a data size larger than the file.
  auto crafted = [&](const std::string& entries, std::uint32_t count) {
    std::string body = std::string("XGRADCKP", 8);
    const std::uint32_t version = 1;
    body.append(reinterpret_cast<const char*>(&version), 4).append(reinterpret_cast<const char*>(&count), 4);
    body += entries;
    const std::uint32_t crc = xgrad::crc32(body.data(), body.size());
    body.append(reinterpret_cast<const char*>(&crc), 4);
    write_bytes(dir.file("crafted.xgrad"), body);
    return describe_error([&] { xgrad::load_tensors(dir.file("crafted.xgrad")); });
  };
  auto entry = [](const std::string& name, std::vector<std::int64_t> shape, std::uint64_t data_bytes) {
    std::string out;
    const auto length = static_cast<std::uint32_t>(name.size());
    out.append(reinterpret_cast<const char*>(&length), 4) += name;
    out += '\0';
    out += static_cast<char>(shape.size());
    for (std::int64_t extent : shape) out.append(reinterpret_cast<const char*>(&extent), 8);
    out.append(reinterpret_cast<const char*>(&data_bytes), 8);
    return out;
  };
  CHECK(contains(crafted("", 0xFFFFFFFFu), "is corrupted: it says it has 4294967295 entries"));
  CHECK(contains(crafted(entry("w", {std::int64_t{1} << 38}, std::uint64_t{1} << 40), 1),
                 "tensor data needs 1099511627776 bytes at offset 39 but only 0 remain"));
  CHECK(crafted(entry("w", {2}, 8) + std::string(8, '\0'), 1) == "no exception");  // the control: well formed
  CHECK(testing::resident_bytes() - rss_before < (64 << 20));
}

TEST_CASE("files: loading a checkpoint takes one pass and about as much memory as its tensors") {
  ScratchDir dir;
  const std::int64_t numel = testing::kSanitized ? (4 << 20) : (32 << 20);  // 128 MB of float32 in Release
  const std::string path = dir.file("big.xgrad");
  // Written from plain memory: tensors of these sizes made here would wait in xgrad's block
  // cache, and the child's load would reuse them without its resident memory growing.
  write_bytes(path, checkpoint_file({{"a", numel / 2}, {"b", numel / 2}}));
  const double file_megabytes = static_cast<double>(fs::file_size(path)) / (1 << 20);
  const auto outcome = run_in_child([&] {
    // VmHWM (peak RSS) is reset by writing 5 to clear_refs, so the peak measured is this load's.
    std::ofstream("/proc/self/clear_refs") << "5";
    const std::int64_t before = testing::resident_bytes();
    const auto start = std::chrono::steady_clock::now();
    const nn::StateDict loaded = xgrad::load_tensors(path);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::ifstream status("/proc/self/status");
    std::int64_t peak_kib = -1;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("VmHWM:", 0) == 0) peak_kib = std::stoll(line.substr(6));
    }
    return fmt::format("{} {} {}", (peak_kib * 1024 - before) / double(1 << 20), seconds, loaded.size());
  });
  REQUIRE_MESSAGE(outcome.finished, outcome.status);
  double growth_megabytes = 0, seconds = 0;
  int entries = 0;
  REQUIRE(std::sscanf(outcome.report.c_str(), "%lf %lf %d", &growth_megabytes, &seconds, &entries) == 3);
  MESSAGE(fmt::format("{:.0f} MB checkpoint: peak memory grew {:.0f} MB while loading, in {:.3f} s", file_megabytes,
                      growth_megabytes, seconds));
  CHECK(entries == 2);
  // The tensors themselves plus a few MB of buffers, not a second copy of the file.
  CHECK(growth_megabytes < file_megabytes * 1.1 + 16);
}

TEST_CASE("files: only xgrad::Error leaves the file entry points, naming the operation and the path") {
  Subjects subjects;
  ScratchDir dir;
  fs::create_directories(dir.path / "a_directory");
  fs::create_directories(dir.path / "locked_directory");
  write_bytes(dir.file("empty"), "");
  write_bytes(dir.file("locked_directory/private"), "secret");
  REQUIRE(::symlink("loop_b", dir.file("loop_a").c_str()) == 0);
  REQUIRE(::symlink("loop_a", dir.file("loop_b").c_str()) == 0);
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0666) == 0);
  const bool root = ::geteuid() == 0;
  // As root, permissions are tested by a child that drops to nobody; otherwise by modes alone.
  ::chmod(dir.path.c_str(), 0755);
  ::chmod(dir.file("locked_directory").c_str(), root ? 0755 : 0555);
  ::chmod(dir.file("locked_directory/private").c_str(), root ? 0600 : 0000);
  struct Input {
    std::string name, path;
    bool writers_fail, readers_fail;
    std::function<void()> prepare = [] {};
  };
  std::vector<Input> inputs = {
      {"a directory", dir.file("a_directory"), true, true},
      {"a missing directory", dir.file("no/such/dir/file"), true, true},
      {"a 300-byte name", dir.file(std::string(300, 'n')), true, true},
      {"a symbolic link loop", dir.file("loop_a"), true, true},
      {"/dev/zero (read only)", "/dev/zero", false, true},
      {"a FIFO fed garbage", dir.file("fifo"), true, true,
       [&] {
         std::thread([fifo = dir.file("fifo")] {
           const int fd = ::open(fifo.c_str(), O_WRONLY);
           (void)!::write(fd, "garbage", 7);
           ::close(fd);
         }).detach();
       }},
      {"an empty file", dir.file("empty"), false, true},
      {"permission denied", dir.file("locked_directory/private"), true, true,
       [&] {
         if (root && (::setgid(65534) != 0 || ::setuid(65534) != 0)) throw std::runtime_error("cannot drop root");
       }},
  };
  if (!testing::kSanitized) {  // ASan reserves terabytes of address space: no RLIMIT_AS under it
    // 64 MB each, written from plain memory (not from tensors, which xgrad's block cache would keep).
    const std::string large = dir.file("large.npy");
    write_bytes(large, npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (16777216,), }",
                                std::string(std::size_t{64} << 20, '\0')));
    write_bytes(dir.file("large.xgrad"), checkpoint_file({{"w", std::int64_t{16} << 20}}));
    inputs.push_back({"memory that cannot be had (.npy)", large, false, true, [] {
                        struct rlimit limit {};
                        std::ifstream("/proc/self/statm") >> limit.rlim_cur;
                        limit.rlim_cur = limit.rlim_cur * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + (24 << 20);
                        limit.rlim_max = RLIM_INFINITY;
                        ::setrlimit(RLIMIT_AS, &limit);
                      }});
    inputs.push_back(inputs.back());
    inputs.back().name = "memory that cannot be had (checkpoint)";
    inputs.back().path = dir.file("large.xgrad");
  }
  for (const Input& input : inputs) {
    CAPTURE(input.name);
    const auto outcome = run_in_child([&] {
      input.prepare();
      std::string report;
      if (input.path != "/dev/zero" && input.name.rfind("memory", 0) != 0) {
        for (const Entry& writer : writers(subjects)) {
          report += writer.name + "|" + describe_error([&] { writer.call(input.path); }) + "\n";
        }
      }
      for (const Entry& reader : readers(subjects)) {
        report += reader.name + "|" + describe_error([&] { reader.call(input.path); }) + "\n";
      }
      return report;
    }, std::chrono::seconds(20));
    REQUIRE_MESSAGE(outcome.finished, outcome.status);
    std::size_t lines = 0;
    for (std::size_t at = 0; at < outcome.report.size();) {
      const std::size_t end = outcome.report.find('\n', at);
      const std::string line = outcome.report.substr(at, end - at);
      at = end + 1;
      ++lines;
      const std::string entry = line.substr(0, line.find('|'));
      const std::string result = line.substr(line.find('|') + 1);
      const bool is_writer = entry.find("save") != std::string::npos || entry == "write_file_atomically";
      CAPTURE(line);
      if (result == "no exception") {
        CHECK_FALSE((is_writer ? input.writers_fail : input.readers_fail));
        continue;
      }
      CHECK(result.rfind("xgrad::Error: " + entry + ": ", 0) == 0);
      CHECK((contains(result, input.path) || contains(result, "bytes")));
    }
    CHECK(lines >= readers(subjects).size());
  }
  ::chmod(dir.file("locked_directory").c_str(), 0755);
  ::chmod(dir.file("locked_directory/private").c_str(), 0600);
}

TEST_CASE("files: messages tell the truth") {
  ScratchDir dir;
  SUBCASE("load_npy of a directory names it, not a size of 9223372036854775807 bytes") {
    const std::string message = describe_error([&] { load_npy(dir.path.string()); });
    CHECK(contains(message, "is a directory"));
    CHECK_FALSE(contains(message, "9223372036854775807"));
  }
  SUBCASE("a (2^61,) float64 header says how many bytes it would need") {
    write_bytes(dir.file("huge.npy"), npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }",
                                               std::string(16, '\0')));
    const std::string message = describe_error([&] { load_npy(dir.file("huge.npy")); });
    CHECK(contains(message, "needs 18446744073709551616 bytes"));
    CHECK(contains(message, "too large"));
    CHECK_FALSE(contains(message, "needs 0 bytes"));
  }
  SUBCASE("a flipped bit in the checkpoint's version field is corruption; a real other version is named") {
    nn::Linear model(3, 2);
    const std::string path = dir.file("model.xgrad");
    model.save(path);
    const std::string good = read_bytes(path);
    for (int bit = 0; bit < 32; ++bit) {
      std::string flipped = good;
      flipped[8 + bit / 8] = static_cast<char>(flipped[8 + bit / 8] ^ (1 << (bit % 8)));
      write_bytes(path, flipped);
      const std::string message = describe_error([&] { model.load(path); });
      CAPTURE(bit);
      CHECK(contains(message, "is corrupted (CRC-32"));
      CHECK_FALSE(contains(message, "has format version"));
    }
    std::string other = good;
    other[8] = 2;
    const std::uint32_t crc = xgrad::crc32(other.data(), other.size() - 4);
    std::memcpy(other.data() + other.size() - 4, &crc, 4);
    write_bytes(path, other);
    CHECK(contains(describe_error([&] { model.load(path); }), "has format version 2, this build reads version 1"));
  }
  SUBCASE("an empty file and a FIFO's size are not misreported") {
    write_bytes(dir.file("empty.npy"), "");
    CHECK(contains(describe_error([&] { load_npy(dir.file("empty.npy")); }), "too short: 0 bytes"));
    CHECK_FALSE(contains(describe_error([&] { load_npy(dir.file("empty.npy")); }), "-1 bytes"));
  }
}

TEST_CASE("SGD follows its parameters to float64: momentum buffers convert instead of failing") {
  manual_seed(3);
  nn::Linear model(4, 3);
  optim::SGD optimizer(model.parameters(), {.lr = 0.1, .momentum = 0.9});
  model(randn({5, 4})).sum().backward();
  optimizer.step();
  const nn::StateDict float32_state = optimizer.state_dict();
  model.to(kFloat64);
  optimizer.zero_grad();
  model(randn({5, 4}, {.dtype = kFloat64})).sum().backward();
  std::vector<std::vector<double>> before, grads, buffers;
  for (const Tensor& p : model.parameters()) {
    before.push_back(testing::values(p));
    grads.push_back(testing::values(p.grad()));
  }
  for (const auto& [name, buffer] : float32_state) {
    if (name != "lr") buffers.push_back(testing::values(buffer));
  }
  REQUIRE(buffers.size() == before.size());
  CHECK(describe_error([&] { optimizer.step(); }) == "no exception");
  const std::vector<Tensor> params = model.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::vector<double> after = testing::values(params[i]);
    for (std::size_t j = 0; j < after.size(); ++j) {
      const double buffer = 0.9 * buffers[i][j] + grads[i][j];  // buf = momentum * buf + g
      CHECK(after[j] == doctest::Approx(before[i][j] - 0.1 * buffer).epsilon(1e-12));
    }
  }
  for (const auto& [name, buffer] : optimizer.state_dict()) {
    if (name != "lr") CHECK(buffer.dtype() == kFloat64);
  }
}
