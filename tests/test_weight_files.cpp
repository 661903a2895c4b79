// Weight files in and out: PyTorch's torch.save zip (.pt/.pth) and NumPy's .npz,
// against fixtures PyTorch and NumPy wrote (tests/fixtures/generate_weights.py),
// round trips of every dtype, files that must be refused, and every .npy variant.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

#include <xgrad.hpp>

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::values;

namespace {

namespace fs = std::filesystem;

using TempDir = testing::TempDir;

std::string weights(const std::string& name) { return testing::fixture_path("weights/" + name); }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The net of generate_weights.py, with PyTorch's child names ("0.weight", "1.running_mean", ...).
std::shared_ptr<nn::Sequential> make_net() {
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Conv1d>(2, 4, 3), std::make_shared<nn::BatchNorm1d>(4),
                                          std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(),
                                          std::make_shared<nn::Linear>(56, 3));
}

Tensor eval_output(nn::Module& model) {
  model.eval();
  NoGradGuard no_grad;
  return model.forward(testing::load_fixture("weights/input"));
}

// Same names in the same order, same dtypes, shapes and bits.
void check_same(const StateDict& actual, const StateDict& expected) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    CAPTURE(expected[i].first);
    CHECK(actual[i].first == expected[i].first);
    const auto close = testing::check_close(actual[i].second, expected[i].second, 0, 0);
    CHECK_MESSAGE(close.ok, close.message);
  }
}

// A state dict of every dtype, odd shapes included (a scalar, an empty tensor).
StateDict every_dtype() {
  manual_seed(7);
  Tensor big = testing::int64_values({INT64_MIN, -1, 0, 1, INT64_MAX, std::int64_t{1} << 40});
  return {
      {"float32", randn({2, 3, 5})},
      {"float64", randn({4}, {.dtype = kFloat64})},
      {"scalar", full({}, 2.5, {.dtype = kFloat64})},
      {"int64", big.reshape({2, 3})},
      {"bool", testing::bool_values({true, false, false, true, true})},
      {"empty", zeros({0, 3})},
      {"block.0.weight", randn({3, 2, 1})},
  };
}

// The data offsets of a zip's local entries (signature, sizes, name and extra lengths).
std::vector<std::pair<std::string, std::uint64_t>> local_data_offsets(const std::string& zip) {
  auto u16 = [&](std::size_t at) { return std::uint64_t(std::uint8_t(zip[at])) | std::uint64_t(std::uint8_t(zip[at + 1])) << 8; };
  auto u32 = [&](std::size_t at) { return u16(at) | u16(at + 2) << 16; };
  std::vector<std::pair<std::string, std::uint64_t>> out;
  std::size_t at = 0;
  while (at + 30 <= zip.size() && u32(at) == 0x04034b50) {
    const std::uint64_t name_size = u16(at + 26), extra_size = u16(at + 28), data_size = u32(at + 18);
    const std::uint64_t data = at + 30 + name_size + extra_size;
    out.emplace_back(zip.substr(at + 30, name_size), data);
    at = data + data_size;
  }
  return out;
}

}  // namespace

TEST_CASE("weights: a PyTorch-trained net loads from net.pt and .npz and computes PyTorch's eval output") {
  const Tensor expected = testing::load_fixture("weights/output");
  for (const char* file : {"net.pt", "net.npz", "net_compressed.npz"}) {
    CAPTURE(file);
    auto model = make_net();
    model->load(weights(file));
    const auto close = testing::check_close(eval_output(*model), expected, 1e-5, 1e-6);
    CHECK_MESSAGE(close.ok, close.message);
    // BatchNorm's counter comes back as PyTorch's int64, after 5 training steps.
    const StateDict state = load_state_dict_file(weights(file));
    REQUIRE(state.size() == model->state_dict().size());
    CHECK(state[6].first == "1.num_batches_tracked");
    CHECK(state[6].second.dtype() == kInt64);
    CHECK(values(state[6].second) == std::vector<double>{5});
  }
  // Both formats hold the same tensors.
  check_same(load_state_dict_file(weights("net.npz")), load_state_dict_file(weights("net.pt")));
}

TEST_CASE("weights: .pt views of shared storages, offsets, strides 0 and float16/int32/int8/uint8/bool storages") {
  const StateDict state = load_state_dict_file(weights("views.pt"));
  const std::vector<std::string> names = {"base", "column", "transposed", "tail", "expanded", "half",
                                          "int32", "int8",  "uint8",      "mask", "scalar",   "count"};
  REQUIRE(state.size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    CAPTURE(names[i]);
    CHECK(state[i].first == names[i]);
    const auto close = testing::check_close(state[i].second, testing::load_fixture("weights/views/" + names[i]), 0, 0);
    CHECK_MESSAGE(close.ok, close.message);
  }
}

TEST_CASE("weights: .pt, .pth and .npz round trips of every dtype, and Module::save/load by extension") {
  TempDir dir;
  const StateDict state = every_dtype();
  for (const char* name : {"all.pt", "all.pth", "all.npz", "ALL.PT"}) {
    CAPTURE(name);
    save_state_dict_file(dir.file(name), state);
    check_same(load_state_dict_file(dir.file(name)), state);
  }
  CHECK(weight_format_of("x.pth") == WeightFormat::Torch);
  CHECK(weight_format_of("x.NPZ") == WeightFormat::Npz);
  CHECK(weight_format_of("x.ckpt") == WeightFormat::Xgrad);
  // Saving the same weights twice gives the same bytes.
  save_state_dict_file(dir.file("again.pt"), state);
  CHECK(read_bytes(dir.file("again.pt")) == read_bytes(dir.file("all.pt")));
  // PyTorch's layout: tensor data 64-byte aligned for memory mapping.
  const auto entries = local_data_offsets(read_bytes(dir.file("all.pt")));
  CHECK(entries.size() == state.size() + 3);  // data.pkl, byteorder, the data, version
  for (const auto& entry : entries) {
    CAPTURE(entry.first);
    CHECK(entry.second % 64 == 0);
  }
  // An empty state dict is a valid file in both formats.
  for (const char* name : {"empty.pt", "empty.npz"}) {
    save_state_dict_file(dir.file(name), {});
    CHECK(load_state_dict_file(dir.file(name)).empty());
  }
  // Module::save / load through a file of each format give back the same model.
  auto source = make_net();
  source->load(weights("net.pt"));
  const Tensor expected = eval_output(*source);
  for (const char* name : {"m.pt", "m.npz", "m.xgrad"}) {
    CAPTURE(name);
    source->save(dir.file(name));
    auto copy = make_net();
    copy->load(dir.file(name));
    check_same(copy->state_dict(), source->state_dict());
    const auto close = testing::check_close(eval_output(*copy), expected, 0, 0);
    CHECK_MESSAGE(close.ok, close.message);
  }
  // A failing save leaves the previous file, and names the problem.
  CHECK_THROWS_WITH_AS(save_state_dict_file(dir.file("all.pt"), {{"x", Tensor()}}),
                       doctest::Contains("tensor 'x' is undefined"), Error);
  CHECK_THROWS_WITH_AS(save_state_dict_file(dir.file("all.npz"), {{"x", zeros({1})}, {"x", zeros({1})}}),
                       doctest::Contains("holds 'x' twice"), Error);
  check_same(load_state_dict_file(dir.file("all.pt")), state);
  check_same(load_state_dict_file(dir.file("all.npz")), state);
}

// Writes the files generate_weights.py --check loads into PyTorch (strictly) when
// XGRAD_WEIGHTS_EXPORT_DIR is set; always checks that xgrad reads them back.
TEST_CASE("weights: xgrad writes net.pt, net.npz, dtypes.pt and dtypes.npz for the PyTorch check") {
  TempDir scratch;
  const char* exported = std::getenv("XGRAD_WEIGHTS_EXPORT_DIR");
  const std::string dir = exported != nullptr ? std::string(exported) : scratch.path.string();
  fs::create_directories(dir);
  auto model = make_net();
  model->load(weights("net.npz"));
  model->save(dir + "/net.pt");
  model->save(dir + "/net.npz");
  save_state_dict_file(dir + "/dtypes.pt", every_dtype());
  save_state_dict_file(dir + "/dtypes.npz", every_dtype());
  for (const char* name : {"net.pt", "net.npz"}) {
    auto copy = make_net();
    copy->load(dir + "/" + name);
    const auto close = testing::check_close(eval_output(*copy), testing::load_fixture("weights/output"), 1e-5, 1e-6);
    CHECK_MESSAGE(close.ok, close.message);
  }
  check_same(load_state_dict_file(dir + "/dtypes.pt"), every_dtype());
  check_same(load_state_dict_file(dir + "/dtypes.npz"), every_dtype());
}

TEST_CASE("weights: malicious and corrupt .pt and .npz files are an xgrad::Error naming the problem") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"global_os_system.pt", "refusing global 'posix.system'"},
      {"opcode_inst.pt", "refusing pickle opcode 0x69 ('i')"},
      {"storage_key.pt", "refers to storage '9', but the archive has no"},
      {"storage_size.pt", "storage '0' holds 20 bytes, but 6 elements of 4 bytes were declared"},
      {"view_size.pt", "reaches past its storage '0' of 6 elements"},
      {"not_dict.pt", "refusing pickle opcode 0x5d"},
      {"deep.pt", "values nest more than 32 deep"},
      {"cycle.pt", "SETITEM on a dict that is already part of another value"},
      {"pickle_truncated.pt", "data.pkl byte"},
      {"zip_truncated.pt", "is not a valid zip archive"},
      {"no_pickle.pt", "has no '<folder>/data.pkl'"},
      {"crc.pt", "is corrupted"},
      {"legacy.pt", "not a torch.save zip file"},
      {"npz_not_npy.npz", "entry 'notes.txt' is not a .npy file"},
      {"npz_complex.npz", "holds dtype '<c8'"},
      {"npz_truncated_entry.npz", "entry 'w.npy' is truncated"},
  };
  for (const auto& item : cases) {
    const std::string& file = item.first;
    const std::string& message = item.second;
    CAPTURE(file);
    // In a child with a deadline: a crash or a hang fails this case, not the run.
    const auto outcome = testing::run_in_child([&] {
      auto model = make_net();
      return testing::describe_error([&] { load_state_dict_file(weights("bad/" + file)); });
    });
    CHECK_MESSAGE(outcome.finished, outcome.status);
    CHECK(outcome.report.rfind("xgrad::Error: load_state_dict_file: '" + weights("bad/" + file) + "'", 0) == 0);
    CHECK_MESSAGE(testing::contains(outcome.report, message), outcome.report);
  }
  // Module::load refuses too, and the model keeps its values.
  auto model = make_net();
  const StateDict before = model->state_dict();
  CHECK_THROWS_WITH_AS(model->load(weights("bad/global_os_system.pt")), doctest::Contains("Module::load"), Error);
  check_same(model->state_dict(), before);
}

TEST_CASE("weights: every truncation and many byte flips of net.pt and net.npz are loaded or refused, never a crash") {
  for (const char* name : {"net.pt", "net.npz"}) {
    CAPTURE(name);
    const auto outcome = testing::run_in_child([&] {
      TempDir dir;
      const std::string whole = read_bytes(weights(name));
      const std::string path = dir.file(name);
      std::size_t refused = 0, loaded = 0;
      std::string unexpected;
      auto attempt = [&](const std::string& bytes) {
        write_bytes(path, bytes);
        const std::string report = testing::describe_error([&] { load_state_dict_file(path); });
        if (report == "no exception") {
          ++loaded;
        } else if (report.rfind("xgrad::Error: ", 0) == 0) {
          ++refused;
        } else {
          unexpected = report;
        }
      };
      for (std::size_t size = 0; size < whole.size(); size += 7) attempt(whole.substr(0, size));
      for (std::size_t at = 0; at < whole.size(); at += 3) {
        std::string flipped = whole;
        flipped[at] = static_cast<char>(flipped[at] ^ 0x5a);
        attempt(flipped);
      }
      return fmt::format("refused {} loaded {} unexpected '{}'", refused, loaded, unexpected);
    }, std::chrono::seconds(120));
    CHECK_MESSAGE(outcome.finished, outcome.status);
    CHECK_MESSAGE(testing::contains(outcome.report, "unexpected ''"), outcome.report);
    CHECK_MESSAGE(!testing::contains(outcome.report, "refused 0 "), outcome.report);
  }
}

TEST_CASE("load_npy: every NumPy dtype, byte order and Fortran order reads into the nearest xgrad dtype") {
  struct Variant {
    std::string file;
    Dtype dtype;
    char kind;
  };
  const std::vector<Variant> variants = {
      {"le_f2", kFloat32, 'f'}, {"le_f4", kFloat32, 'f'}, {"le_f8", kFloat64, 'f'}, {"i1", kInt64, 'i'},
      {"le_i2", kInt64, 'i'},   {"le_i4", kInt64, 'i'},   {"le_i8", kInt64, 'i'},   {"u1", kInt64, 'u'},
      {"b1", kBool, 'b'},       {"be_f2", kFloat32, 'f'}, {"be_f4", kFloat32, 'f'}, {"be_f8", kFloat64, 'f'},
      {"be_i2", kInt64, 'i'},   {"be_i4", kInt64, 'i'},   {"be_i8", kInt64, 'i'},
  };
  for (const Variant& variant : variants) {
    // generate_weights.py's values(): k = 0..11 row-major over a (3, 4) array.
    std::vector<double> expected;
    for (int k = 0; k < 12; ++k) {
      if (variant.kind == 'f') expected.push_back(k * 0.25 - 1.25);
      if (variant.kind == 'i') expected.push_back(k * 9 - 50);
      if (variant.kind == 'u') expected.push_back(k + 240);
      if (variant.kind == 'b') expected.push_back(k % 3 == 0);
    }
    for (const char* order : {"", "_fortran"}) {
      const std::string file = variant.file + order;
      CAPTURE(file);
      const Tensor t = testing::load_fixture("weights/npy/" + file);
      CHECK(t.dtype() == variant.dtype);
      CHECK(t.shape() == Shape{3, 4});
      CHECK(values(t) == expected);
    }
  }
  for (const char* descr : {"u4", "c8", "U3"}) {
    CAPTURE(descr);
    CHECK_THROWS_WITH_AS(testing::load_fixture(fmt::format("weights/npy/unsupported_{}", descr)),
                         doctest::Contains(fmt::format("holds dtype '<{}'", descr).c_str()), Error);
  }
}
