// .npy reading and writing: round trips, files written by numpy, and every kind
// of malformed file (each an xgrad::Error, never a crash or a huge allocation).
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "support/temp_dir.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using doctest::Contains;
using testing::values;

namespace {

namespace fs = std::filesystem;

using TempDir = testing::TempDir;

std::string write_bytes(const TempDir& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// A version 1.0 .npy file with the given header dict text and data bytes.
std::string npy_bytes(const std::string& dict, const std::string& data, char major = 1) {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + major + '\0';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("npy: round trip float32 and float64, including 0-dim and empty shapes") {
  TempDir dir;
  manual_seed(11);
  for (Dtype dtype : {kFloat32, kFloat64}) {
    for (const Shape& shape : {Shape{}, Shape{0}, Shape{3, 0}, Shape{5}, Shape{2, 3, 4}, Shape{1, 1, 1, 7}}) {
      CAPTURE(dtype);
      CAPTURE(shape.size());
      const Tensor original = randn(shape, {.dtype = dtype});
      const std::string path = dir.file("round_trip.npy");
      save_npy(path, original);
      CHECK(fs::file_size(path) % 64 == (static_cast<std::uintmax_t>(original.numel()) * element_size(dtype)) % 64);
      const Tensor loaded = load_npy(path);
      CHECK(loaded.shape() == shape);
      CHECK(loaded.dtype() == dtype);
      CHECK(values(loaded) == values(original));
      CHECK_FALSE(loaded.requires_grad());
    }
  }
  // A tensor that requires grad (or is a graph output) saves its values.
  const Tensor y = ones({2}, {.requires_grad = true}) * 3.0;
  save_npy(dir.file("y.npy"), y);
  CHECK(values(load_npy(dir.file("y.npy"))) == std::vector<double>{3, 3});
}

TEST_CASE("npy: the header xgrad writes is the one numpy writes") {
  // Byte-for-byte what np.save(path, np.array([1.5, -2.0], dtype=np.float32)) writes (numpy 1.24).
  TempDir dir;
  save_npy(dir.file("a.npy"), testing::from_values({1.5, -2.0}, false, kFloat32));
  const std::string expected_header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }" + std::string(60, ' ') + "\n";
  const std::string bytes = file_bytes(dir.file("a.npy"));
  REQUIRE(bytes.size() == 128 + 8);
  CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  CHECK(static_cast<unsigned char>(bytes[8]) + 256 * static_cast<unsigned char>(bytes[9]) == 118);
  CHECK(bytes.substr(10, 118) == expected_header);
  save_npy(dir.file("s.npy"), scalar_tensor(1.0, {.dtype = kFloat64}));
  CHECK(file_bytes(dir.file("s.npy")).find("'shape': (), }") != std::string::npos);
  save_npy(dir.file("m.npy"), zeros({2, 3}));
  CHECK(file_bytes(dir.file("m.npy")).find("'shape': (2, 3), }") != std::string::npos);
}

TEST_CASE("npy: reads files written by numpy (C and Fortran order, 0-dim, empty, version 2)") {
  const Tensor c = testing::load_fixture("core/npy_c_f32");
  CHECK(c.shape() == Shape{2, 3});
  CHECK(c.dtype() == kFloat32);
  // Fortran order: np.asfortranarray(np.arange(24.).reshape(2, 3, 4)) reads back row-major.
  const Tensor f = testing::load_fixture("core/npy_fortran_f64");
  CHECK(f.shape() == Shape{2, 3, 4});
  CHECK(f.dtype() == kFloat64);
  CHECK(values(f) == values(arange(24, {.dtype = kFloat64})));
  const Tensor s = testing::load_fixture("core/npy_scalar_f64");
  CHECK(s.shape().empty());
  CHECK(s.item<double>() == 2.5);
  const Tensor e = testing::load_fixture("core/npy_empty_f32");
  CHECK(e.shape() == Shape{0, 3});
  const Tensor v2 = testing::load_fixture("core/npy_v2_f32");
  CHECK(v2.shape() == Shape{1, 2});
  CHECK(values(v2) == std::vector<double>{1.5, -2.0});
}

TEST_CASE("npy: malformed files are xgrad::Error naming the file and the problem") {
  TempDir dir;
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string two_floats(8, '\0');

  CHECK_THROWS_WITH_AS(load_npy(dir.file("missing.npy")), Contains("load_npy: cannot open"), Error);
  CHECK_THROWS_WITH_AS(load_npy(dir.file("missing.npy")), Contains("missing.npy"), Error);
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "empty.npy", "")), Contains("too short: 0 bytes"), Error);
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "short.npy", "\x93NUM")), Contains("too short: 4 bytes"), Error);
  std::string bad_magic = npy_bytes(good_dict, two_floats);
  bad_magic[1] = 'X';
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "magic.npy", bad_magic)), Contains("bad magic"), Error);
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "v9.npy", npy_bytes(good_dict, two_floats, 9))),
                       Contains("unsupported .npy format version 9"), Error);
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "v0.npy", npy_bytes(good_dict, two_floats, 0))),
                       Contains("unsupported .npy format version 0"), Error);
  const std::string whole = npy_bytes(good_dict, two_floats);
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "trunc_header.npy", whole.substr(0, 40))), Contains("is truncated"), Error);
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "trunc_data.npy", whole.substr(0, whole.size() - 1))),
                       Contains("is truncated: shape [2] of '<f4' needs 8 bytes of data, the file has 7"), Error);
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "u4.npy", npy_bytes("{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }", two_floats))),
                       Contains("holds dtype '<u4'"), Error);
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "f4be1.npy", npy_bytes("{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", two_floats))),
                       Contains("holds dtype '|f4'"), Error);
  // Big-endian files are converted (tests/test_weight_files.cpp covers every dtype).
  const Tensor big_endian = testing::load_fixture("core/npy_big_endian_f8");
  CHECK(big_endian.dtype() == kFloat64);
  CHECK(values(big_endian) == std::vector<double>{0, 1, 2});
  for (const char* shape : {"(2,", "2,", "(a,)", "(2, -1)", "(2 3)", "(2,,3)", "(,)", "(0x10,)", "(1.5,)"}) {
    CAPTURE(shape);
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + std::string(shape) + ", }";
    CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "shape.npy", npy_bytes(dict, two_floats))), Contains("malformed"), Error);
  }
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "nodescr.npy", npy_bytes("{'fortran_order': False, 'shape': (2,), }", two_floats))),
                       Contains("has no 'descr' entry"), Error);
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "order.npy", npy_bytes("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", two_floats))),
                       Contains("malformed fortran_order 'Maybe'"), Error);
  CHECK_THROWS_WITH_AS(load_npy(write_bytes(dir, "notdict.npy", npy_bytes("['descr']", two_floats))),
                       Contains("expected a dict"), Error);
  // Huge shapes are refused from the file size, before any allocation.
  for (const char* shape : {"(1000000000, 1000000000)", "(4611686018427387904,)", "(99999999999999999999999,)",
                                   "(1099511627776, 1099511627776)"}) {
    CAPTURE(shape);
    const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': " + std::string(shape) + ", }";
    CHECK_THROWS_AS(load_npy(write_bytes(dir, "huge.npy", npy_bytes(dict, two_floats))), Error);
  }
  // save_npy to an unwritable place.
  CHECK_THROWS_WITH_AS(save_npy(dir.file("no/such/dir/x.npy"), ones({2})), Contains("save_npy: cannot create a temporary file"), Error);
  CHECK_THROWS_WITH_AS(save_npy(dir.file("x.npy"), Tensor()), Contains("save_npy: cannot save an undefined tensor"), Error);
}
