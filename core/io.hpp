// NumPy .npy files: float32 ('<f4'), float64 ('<f8'), int64 ('<i8') and bool ('|b1'), C or Fortran order.
#pragma once

#include <string>

#include "core/tensor.hpp"

namespace xgrad {

// Reads a .npy file into a new tensor of the stored dtype. A missing,
// malformed, truncated or unsupported file is an xgrad::Error naming the file and
// what is wrong; the header is checked against the file size before any allocation.
Tensor load_npy(const std::string& path);

// Writes `tensor` as a version 1.0 .npy file readable by numpy.load.
void save_npy(const std::string& path, const Tensor& tensor);

}  // namespace xgrad
