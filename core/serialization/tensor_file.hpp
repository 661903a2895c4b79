// xgrad's tensor file: named tensors in one binary file, written atomically and
// checked completely before anything is read into a receiver. Module::save/load
// (by default), Optimizer::save/load and the checkpoints of model + optimizer
// (optim/checkpoint.hpp) all use it.
//
//   save_tensors("weights.xgrad", model.state_dict());
//   StateDict back = load_tensors("weights.xgrad");
//
// ## File format (version 1). All integers are little-endian.
//
//   offset  size  field
//   0       8     magic: the bytes "XGRADCKP"
//   8       4     u32 format version (1)
//   12      4     u32 entry count
//   then, per entry:
//           4     u32 name length in bytes (1 .. 4096)
//           n     name, UTF-8, no terminator ("conv1.weight", "optimizer.momentum_buffer.0")
//           1     u8 dtype: 0 = float32, 1 = float64, 2 = int64, 3 = bool (one byte, 0 or 1)
//           1     u8 rank (0 .. 16)
//           8*r   i64 extents
//           8     u64 data size in bytes (= numel * element size, checked)
//           d     the values, row-major, little-endian (IEEE-754; int64 two's complement)
//   last 4        u32 CRC-32 (IEEE 802.3, zlib's crc32) of every byte before it
//
// Module::save writes the module's state_dict() names as they are.
// save_checkpoint prefixes them: "model.<name>", "optimizer.<name>",
// "scheduler.<name>".
//
// Writing goes through xgrad's one atomic writer (core/file_io.hpp): a
// temporary in the destination's directory (unnamed where the file system
// allows), fsync'ed and renamed over the destination, then the directory is
// fsync'ed. A crash, a kill or a full disk mid-save leaves the previous file
// intact; a kill leaves at most a named temporary, which the next save of the
// same destination removes. A device, FIFO or directory is never replaced; a
// symbolic link is followed and its target replaced; a replaced file keeps its
// mode. Loading opens regular files only and reads front to back in one pass:
// magic, version and every declared size are checked against the file's size
// before anything is allocated (a file cannot make the reader allocate more than
// it holds), the CRC-32 is checked at the end (and before believing an unknown
// version), then every name, dtype and shape against the receiver(s) before
// changing anything: a truncated, corrupted or mismatched file is an xgrad::Error
// and the model (and optimizer) keep their values. Every failure of these entry
// points, including out-of-memory, is an xgrad::Error naming the operation and
// the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/state_dict.hpp"

namespace xgrad {

inline constexpr std::uint32_t kCheckpointVersion = 1;

// Writes named tensors in the format above (atomically). `op` names the caller in
// errors.
void save_tensors(const std::string& path, const StateDict& tensors, const std::string& op = "save_tensors");
// Reads and fully validates a file in the format above; throws xgrad::Error
// naming the operation, the file and the problem.
StateDict load_tensors(const std::string& path, const std::string& op = "load_tensors");

// CRC-32 (IEEE, reflected, polynomial 0xEDB88320), continuing from `crc`
// (0 to start): crc32("123456789") == 0xCBF43926.
std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0);

}  // namespace xgrad
