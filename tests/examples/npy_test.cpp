#include <doctest/doctest.h>

#include <filesystem>

#include "common/npy.hpp"
#include "temp_dir.hpp"

using namespace xgrad_examples;

TEST_CASE("npy: float32 and int64 round trip with their shapes") {
  TempDir dir;
  std::vector<float> values = {0.5f, -1.0f, 3.25f, 0.0f, 7.0f, -2.5f};
  write_npy(dir / "x.npy", values, {2, 3});
  std::vector<int64_t> shape;
  CHECK(read_npy_float32(dir / "x.npy", shape) == values);
  CHECK(shape == std::vector<int64_t>{2, 3});
  std::string text = read_text(dir / "x.npy");
  CHECK(text.substr(1, 5) == "NUMPY");
  CHECK((text.size() - values.size() * 4) % 64 == 0);  // data starts 64-byte aligned

  std::vector<int64_t> labels = {0, 9, 3};
  write_npy(dir / "y.npy", labels, {3});
  CHECK(read_npy_int64(dir / "y.npy", shape) == labels);
  CHECK(shape == std::vector<int64_t>{3});

  write_npy(dir / "empty.npy", std::vector<float>{}, {0, 8000});
  CHECK(read_npy_float32(dir / "empty.npy", shape).empty());
  CHECK(shape == std::vector<int64_t>{0, 8000});
}

TEST_CASE("npy: damaged files throw NpyError") {
  TempDir dir;
  std::vector<int64_t> shape;
  write_npy(dir / "x.npy", std::vector<float>(100, 1.0f), {100});
  CHECK_THROWS_AS(read_npy_int64(dir / "x.npy", shape), NpyError);  // wrong dtype
  std::filesystem::resize_file(dir / "x.npy", std::filesystem::file_size(dir / "x.npy") - 4);
  CHECK_THROWS_WITH_AS(read_npy_float32(dir / "x.npy", shape), doctest::Contains("truncated"), NpyError);
  std::filesystem::resize_file(dir / "x.npy", 7);
  CHECK_THROWS_AS(read_npy_float32(dir / "x.npy", shape), NpyError);
  CHECK_THROWS_AS(read_npy_float32(dir / "missing.npy", shape), NpyError);
  CHECK_THROWS_AS(write_npy(dir / "bad.npy", std::vector<float>(5), {2, 3}), NpyError);
}
