// The .npy format on bytes, shared by load_npy/save_npy (core/io.cpp) and the .npz
// archive (npz.cpp), and the conversion of stored elements (any byte order, any
// layout) into xgrad tensors, shared with the .pt reader (torch_file.cpp).
//
// Stored types and the xgrad dtype each reads into (the nearest one that holds
// every value): <f2 -> float32, <f4 -> float32, <f8 -> float64, <i1 <i2 <i4 <i8 and
// |u1 -> int64, |b1 -> bool; big-endian ('>') variants too. `where` starts every
// error ("load_npy: 'x.npy'", "Module::load: 'net.npz' entry 'w.npy'").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad::detail {

// One stored element type.
struct StoredType {
  char kind = 'f';          // 'f' floating, 'i' signed, 'u' unsigned, 'b' bool
  int size = 4;             // bytes per element
  bool big_endian = false;  // byte order of multi-byte elements
  Dtype dtype = kFloat32;   // what it reads into
};

// The stored type of an xgrad dtype, little-endian.
StoredType stored_type_of(Dtype dtype);

// A tensor of `shape` whose element i (row-major) is the stored element at
// index offset + sum(index_d * strides[d]) of `storage`, converted to
// type.dtype. The caller has checked that every such element lies inside
// `storage` (see strided_extent).
Tensor gather_elements(std::string_view storage, const StoredType& type, const Shape& shape,
                       const std::vector<std::int64_t>& strides, std::int64_t offset, std::string_view op);

// One past the largest element index a (shape, strides, offset) view reads, or
// -1 if a stride or the offset is negative or the arithmetic overflows; 0 for
// an empty view.
std::int64_t strided_extent(const Shape& shape, const std::vector<std::int64_t>& strides, std::int64_t offset);

// ---- .npy ----

// What the magic, version and header length say: the header dict is bytes
// [header_start, data_start) of the file.
struct NpyPreamble {
  std::size_t header_start = 0;
  std::uint64_t header_size = 0;
};
// Length of the fixed preamble to read before parse_npy_preamble can decide
// (10 bytes; versions 2 and 3 take 2 more, reported by `header_start`).
inline constexpr std::size_t kNpyPreambleSize = 10;
// `bytes` holds at least the first 10 bytes (12 for version 2 and 3 headers, as
// header_start says; call again with them).
NpyPreamble parse_npy_preamble(std::string_view bytes, std::string_view where);

struct NpyHeader {
  std::string descr;
  StoredType type;
  bool fortran_order = false;
  Shape shape;
  std::int64_t numel = 0;
  std::uint64_t data_size = 0;  // bytes of data that follow the header
};
NpyHeader parse_npy_header(std::string_view dict, std::string_view where);

// The tensor from `data` (at least header.data_size bytes), C order.
Tensor decode_npy_data(const NpyHeader& header, std::string_view data, std::string_view where);

// A whole .npy file held in memory.
Tensor decode_npy(std::string_view bytes, std::string_view where);

// A version 1.0 .npy file of `tensor` (little-endian, C order, data 64-byte aligned).
std::string encode_npy(const Tensor& tensor, std::string_view where);

}  // namespace xgrad::detail
