// Reads and writes NumPy .npy files (format 1.0, little-endian, C order) of float32 or int64.
//
// Just enough of the format for datasets: numpy.load() reads what this writes, and the reader
// accepts exactly what it expects or throws NpyError saying why (wrong magic, dtype, shape, or a
// file shorter/longer than its header promises) — never a crash on a damaged file.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace xgrad_examples {

struct NpyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// data.size() must equal the product of shape.
void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape);
void write_npy(const std::string& path, const std::vector<int64_t>& data, const std::vector<int64_t>& shape);

// The array's shape is returned through `shape`.
std::vector<float> read_npy_float32(const std::string& path, std::vector<int64_t>& shape);
std::vector<int64_t> read_npy_int64(const std::string& path, std::vector<int64_t>& shape);

}  // namespace xgrad_examples
