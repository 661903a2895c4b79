// Checkpoints: round trip, resumed training equal to uninterrupted training
// (bitwise), and bad files (truncated, corrupted, mismatched) refused with the
// model unchanged; failed writes leave the old file and no temporary file.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/random.hpp"
#include "nn/activation.hpp"
#include "nn/batchnorm.hpp"
#include "optim/checkpoint.hpp"
#include "nn/container.hpp"
#include "nn/functional.hpp"
#include "nn/linear.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/sgd.hpp"
#include "test_layers_support.hpp"

using namespace xgrad;
namespace fs = std::filesystem;
using training_tests::bitwise_equal;

namespace {

// A fresh directory per test, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / fmt::format("xgrad_checkpoint_{}_{}", ::getpid(), random::next_u64());
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::size_t entries() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), {})); }
};

std::shared_ptr<nn::Sequential> make_model() {
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(6, 8), std::make_shared<nn::BatchNorm1d>(8),
                                          std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(8, 3));
}

void train_steps(nn::Module& model, optim::Optimizer& optimizer, optim::LRScheduler* scheduler, int steps,
                 std::uint64_t data_seed) {
  for (int i = 0; i < steps; ++i) {
    manual_seed(data_seed + static_cast<std::uint64_t>(i));  // the data of step i, the same in every run
    const Tensor x = randn({16, 6});
    const Tensor uniform = rand({16});
    Tensor target = empty({16}, {.dtype = kInt64});  // class indices 0..2
    for (int k = 0; k < 16; ++k)
      target.data_ptr<std::int64_t>()[k] = static_cast<std::int64_t>(std::floor(uniform.data_ptr<float>()[k] * 3.0f));
    optimizer.zero_grad();
    nn::functional::cross_entropy(model(x), target).backward();
    optimizer.step();
    if (scheduler != nullptr) scheduler->step();
  }
}

nn::StateDict snapshot(const nn::Module& model) {
  nn::StateDict out;
  for (const auto& [name, tensor] : model.state_dict()) out.emplace_back(name, tensor.detach().clone());
  return out;
}

bool same_state(const nn::Module& model, const nn::StateDict& state) {
  const nn::StateDict now = model.state_dict();
  if (now.size() != state.size()) return false;
  for (std::size_t i = 0; i < now.size(); ++i) {
    if (now[i].first != state[i].first || !bitwise_equal(now[i].second, state[i].second)) return false;
  }
  return true;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("crc32 is the standard CRC-32") {
  CHECK(xgrad::crc32("123456789", 9) == 0xCBF43926u);
  CHECK(xgrad::crc32("", 0) == 0u);
}

TEST_CASE("Module::save / load round trip restores parameters and buffers exactly") {
  TempDir dir;
  manual_seed(1);
  auto model = make_model();
  optim::SGD optimizer(model->parameters(), {.lr = 0.1});
  train_steps(*model, optimizer, nullptr, 2, 100);  // non-trivial running stats
  model->save(dir.file("model.xgrad"));
  const nn::StateDict saved = snapshot(*model);

  manual_seed(2);
  auto other = make_model();
  CHECK_FALSE(same_state(*other, saved));
  other->load(dir.file("model.xgrad"));
  CHECK(same_state(*other, saved));
  CHECK(dir.entries() == 1);  // no temporary file left behind
}

TEST_CASE("resumed training (model + SGD momentum + scheduler) equals uninterrupted training bitwise") {
  TempDir dir;
  // Uninterrupted: 6 steps.
  manual_seed(5);
  auto reference = make_model();
  optim::SGD reference_optimizer(reference->parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3});
  optim::StepLR reference_scheduler(reference_optimizer, 2, 0.5);
  train_steps(*reference, reference_optimizer, &reference_scheduler, 6, 1000);

  // Interrupted after 3 steps, then resumed in fresh objects.
  manual_seed(5);
  auto first = make_model();
  optim::SGD first_optimizer(first->parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3});
  optim::StepLR first_scheduler(first_optimizer, 2, 0.5);
  train_steps(*first, first_optimizer, &first_scheduler, 3, 1000);
  optim::save_checkpoint(dir.file("run.ckpt"), *first, first_optimizer, &first_scheduler);

  manual_seed(77);  // different initial weights: everything must come from the checkpoint
  auto resumed = make_model();
  optim::SGD resumed_optimizer(resumed->parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3});
  optim::StepLR resumed_scheduler(resumed_optimizer, 2, 0.5);
  optim::load_checkpoint(dir.file("run.ckpt"), *resumed, resumed_optimizer, &resumed_scheduler);
  CHECK(resumed_scheduler.last_epoch() == 3);
  CHECK(resumed_optimizer.lr() == first_optimizer.lr());
  // Steps 3..5 use the same data as the reference's (seeds 1003..1005).
  train_steps(*resumed, resumed_optimizer, &resumed_scheduler, 3, 1003);

  CHECK(same_state(*resumed, snapshot(*reference)));
  CHECK(resumed_optimizer.lr() == reference_optimizer.lr());
}

TEST_CASE("truncated, corrupted and mismatched files are refused and the model keeps its weights") {
  TempDir dir;
  manual_seed(3);
  auto model = make_model();
  const std::string path = dir.file("model.xgrad");
  model->save(path);
  const std::string good = read_bytes(path);

  manual_seed(4);
  auto target = make_model();
  const nn::StateDict before = snapshot(*target);
  auto refuse = [&](const std::string& bytes, const char* expected_text) {
    write_bytes(path, bytes);
    CHECK_THROWS_WITH_AS(target->load(path), doctest::Contains(expected_text), Error);
    CHECK(same_state(*target, before));
  };
  SUBCASE("truncated") {
    refuse(good.substr(0, good.size() / 2), "truncated or corrupted");
    refuse(good.substr(0, good.size() - 1), "truncated or corrupted");
    refuse(good.substr(0, 10), "truncated");
    refuse("", "not an xgrad checkpoint");
  }
  SUBCASE("corrupted: a flipped bit anywhere") {
    for (std::size_t at : {std::size_t{20}, good.size() / 2, good.size() - 5, good.size() - 1}) {
      std::string bad = good;
      bad[at] = static_cast<char>(bad[at] ^ 0x10);
      refuse(bad, "corrupted");
    }
  }
  SUBCASE("not a checkpoint, or another version") {
    refuse("hello world, this is not a checkpoint at all", "not an xgrad checkpoint");
    std::string other_version = good;
    other_version[8] = 2;
    refuse(other_version, "is corrupted (CRC-32");  // the checksum says a bit flipped
    const std::uint32_t crc = xgrad::crc32(other_version.data(), other_version.size() - 4);
    std::memcpy(other_version.data() + other_version.size() - 4, &crc, 4);
    refuse(other_version, "format version 2");  // an intact file of another version
  }
  SUBCASE("mismatched architecture") {
    auto different = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(6, 4));
    different->save(path);
    CHECK_THROWS_WITH_AS(target->load(path), doctest::Contains("does not match Sequential"), Error);
    CHECK(same_state(*target, before));
    nn::Linear wrong_shape(6, 9);
    CHECK_THROWS_WITH_AS(wrong_shape.load(dir.file("missing.xgrad")), doctest::Contains("cannot open"), Error);
  }
  SUBCASE("mismatched dtype") {
    auto doubles = make_model();
    doubles->to(kFloat64);
    doubles->save(path);
    CHECK_THROWS_WITH_AS(target->load(path), doctest::Contains("float64"), Error);
    CHECK(same_state(*target, before));
  }
}

TEST_CASE("load_checkpoint validates model, optimizer and scheduler before changing any") {
  TempDir dir;
  manual_seed(8);
  auto model = make_model();
  optim::SGD optimizer(model->parameters(), {.lr = 0.1, .momentum = 0.9});
  train_steps(*model, optimizer, nullptr, 1, 50);
  optim::save_checkpoint(dir.file("run.ckpt"), *model, optimizer);

  auto target = make_model();
  optim::SGD no_momentum(target->parameters(), {.lr = 0.3});  // cannot take momentum buffers
  const nn::StateDict before = snapshot(*target);
  CHECK_THROWS_WITH_AS(optim::load_checkpoint(dir.file("run.ckpt"), *target, no_momentum), doctest::Contains("momentum"),
                       Error);
  CHECK(same_state(*target, before));
  CHECK(no_momentum.lr() == 0.3);
  // A training checkpoint is not a Module::save file, and says so.
  CHECK_THROWS_WITH_AS(target->load(dir.file("run.ckpt")), doctest::Contains("load_checkpoint"), Error);
  CHECK(same_state(*target, before));
}

TEST_CASE("a failed save leaves the previous checkpoint intact and no temporary file") {
  TempDir dir;
  manual_seed(9);
  nn::Linear small(2, 2);
  const std::string path = dir.file("model.xgrad");
  small.save(path);
  const std::string old_bytes = read_bytes(path);

  SUBCASE("the file size limit is hit mid-write (like a full disk)") {
    nn::Linear big(512, 512);  // ~1 MiB
    struct rlimit original {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &original) == 0);
    auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG
    struct rlimit limited = original;
    limited.rlim_cur = 64 * 1024;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
    CHECK_THROWS_WITH_AS(big.save(path), doctest::Contains("was left as it was"), Error);
    ::setrlimit(RLIMIT_FSIZE, &original);
    std::signal(SIGXFSZ, previous_handler);
  }
  SUBCASE("the directory does not exist") {
    CHECK_THROWS_WITH_AS(small.save(dir.file("no/such/dir/model.xgrad")), doctest::Contains("cannot create"), Error);
  }
  SUBCASE("the path is a directory") {
    fs::create_directories(dir.file("sub"));
    CHECK_THROWS_WITH_AS(small.save(dir.file("sub")), doctest::Contains("is a directory"), Error);
    fs::remove(dir.file("sub"));
  }
  CHECK(read_bytes(path) == old_bytes);
  CHECK(dir.entries() == 1);
}
