// Zip containers of weight files (.pt, .npz), through Debian's libzip: a reader
// over an archive held in memory and a writer of stored (uncompressed) entries.
//
//   ZipReader zip(read_file_bytes(path, op), fmt::format("{}: '{}'", op, path));
//   std::string pickle = zip.read(*zip.find("archive/data.pkl"), "the pickle");
//
//   ZipWriter out(where);
//   out.add("archive/data/0", bytes, {.align = 64});   // data starts on a 64-byte boundary
//   write_file_atomically(path, out.finish(), op);
//
// Every failure is an xgrad::Error starting with `where` ("Module::load: 'net.pt'").
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <string>
#include <string_view>
#include <vector>

struct zip;
struct zip_source;

namespace xgrad::detail {

// The whole content of a regular file (core/file_io.hpp's InputFile: devices,
// FIFOs and directories are refused before anything is read).
std::string read_file_bytes(const std::string& path, const std::string& op);

class ZipReader {
 public:
  // Opens the archive in `bytes` (kept by the reader), checking its central
  // directory against the local headers.
  ZipReader(std::string bytes, std::string where);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  std::size_t size() const { return names_.size(); }
  const std::string& name(std::size_t index) const { return names_[index]; }
  std::optional<std::size_t> find(std::string_view name) const;
  // The uncompressed content of entry `index`. Its declared sizes are checked
  // against the archive before anything is allocated: a stored entry is no larger
  // than the archive, a deflated one no larger than deflate's maximum ratio allows;
  // the CRC-32 is checked. `what` names the entry's role in errors.
  std::string read(std::size_t index, std::string_view what) const;

 private:
  std::string bytes_, where_;
  zip* archive_ = nullptr;
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::size_t> index_;  // name -> its first entry
};

struct ZipEntryOptions {
  // The entry's data starts at a multiple of `align` bytes in the file (PyTorch
  // aligns tensor data to 64 so that it can be memory-mapped); 0 or 1: no padding.
  std::size_t align = 0;
};

class ZipWriter {
 public:
  explicit ZipWriter(std::string where);
  ~ZipWriter();
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  // Adds a stored (uncompressed) entry; entries are written in the order added.
  void add(const std::string& name, std::string data, ZipEntryOptions options = {});
  // The archive's bytes. Once only.
  std::string finish();

 private:
  [[noreturn]] void give_up(std::string_view step);

  std::string where_;
  zip_source* buffer_ = nullptr;
  zip* archive_ = nullptr;
  std::deque<std::string> contents_;  // libzip reads the entries' data at finish()
  std::uint64_t offset_ = 0;          // where the next local header starts
};

}  // namespace xgrad::detail
