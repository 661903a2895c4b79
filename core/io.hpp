// NumPy .npy files: float32 ('<f4'), float64 ('<f8'), int64 ('<i8') and bool ('|b1'), C or Fortran order.
#pragma once

#include <string>

#include "core/tensor.hpp"

namespace xgrad {

// Reads a .npy file (a regular file or a FIFO) into a new tensor of the stored
// dtype. A missing, malformed, truncated or unsupported file, a directory or a
// device is an xgrad::Error naming the file and what is wrong; the header is
// checked against the file size before any allocation (from a FIFO, memory grows
// only as the data arrives).
Tensor load_npy(const std::string& path);

// Writes `tensor` as a version 1.0 .npy file readable by numpy.load, atomically
// through core/file_io.hpp's AtomicFile (a failed save leaves the old file).
void save_npy(const std::string& path, const Tensor& tensor);

}  // namespace xgrad
