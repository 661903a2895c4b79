// NumPy .npy files: float16/32/64, int8/16/32/64, uint8 and bool, either byte order, C or Fortran order.
#pragma once

#include <string>

#include "core/tensor.hpp"

namespace xgrad {

// Reads a .npy file (a regular file or a FIFO) into a new C-order tensor of the
// nearest xgrad dtype: <f2 and <f4 -> float32, <f8 -> float64, <i1 <i2 <i4 <i8 and
// |u1 -> int64, |b1 -> bool; big-endian ('>f4') and fortran_order files converted.
// Any other dtype is an xgrad::Error naming its dtype string. A missing,
// malformed, truncated or unsupported file, a directory or a device is an
// xgrad::Error naming the file and what is wrong; the header is checked against
// the file size before any allocation (from a FIFO, memory grows only as the
// data arrives).
Tensor load_npy(const std::string& path);

// Writes `tensor` as a version 1.0 .npy file readable by numpy.load ('<f4', '<f8',
// '<i8' or '|b1'), atomically through core/file_io.hpp's AtomicFile (a failed
// save leaves the old file).
void save_npy(const std::string& path, const Tensor& tensor);

}  // namespace xgrad
