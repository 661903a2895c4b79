// load_npy / save_npy: files and streams around the .npy codec
// (core/serialization/npy_format.hpp), which the .npz archive shares.
#include "core/io.hpp"

#include <algorithm>
#include <string_view>

#include "core/file_io.hpp"
#include "core/serialization/npy_format.hpp"

namespace xgrad {

namespace {

// Appends exactly `size` bytes of `file` to `bytes`, in pieces of at most 16 MiB: from a
// stream, memory grows only as fast as data arrives, so a header that claims terabytes
// cannot make the reader allocate them.
void append_exact(InputFile& file, std::string& bytes, std::uint64_t size, std::string_view where,
                  std::string_view what, std::uint64_t total) {
  const std::size_t start = bytes.size();
  while (bytes.size() - start < size) {
    const auto step = static_cast<std::size_t>(std::min<std::uint64_t>(size - (bytes.size() - start), 1 << 24));
    const std::size_t old_size = bytes.size();
    bytes.resize(old_size + step);
    const std::size_t got = file.read(bytes.data() + old_size, step);
    XGRAD_CHECK(got == step, "{} is truncated: {} needs {} bytes of data, the {} ended after {}", where, what, total,
                file.is_fifo() ? "stream" : "file", old_size - start + got);
  }
}

Tensor read_npy(const std::string& path) {
  InputFile file(path, "load_npy", InputFile::Accept::regular_or_fifo);
  const std::string where = fmt::format("load_npy: '{}'", path);
  // A FIFO's size is unknown: its reads stop at the end of the stream instead.
  const bool sized = !file.is_fifo();
  std::string preamble(detail::kNpyPreambleSize, '\0');
  const std::size_t got = file.read(preamble.data(), preamble.size());
  preamble.resize(got);
  detail::NpyPreamble layout = detail::parse_npy_preamble(preamble, where);
  if (layout.header_start > preamble.size()) {
    append_exact(file, preamble, layout.header_start - preamble.size(), where, "the header length", 2);
    layout = detail::parse_npy_preamble(preamble, where);
  }
  XGRAD_CHECK(!sized || file.size() - file.position() >= layout.header_size,
              "{} is truncated (header of {} bytes, file of {} bytes)", where, layout.header_size, file.size());
  std::string dict;
  append_exact(file, dict, layout.header_size, where, "the header", layout.header_size);
  const detail::NpyHeader header = detail::parse_npy_header(dict, where);
  if (sized) {
    const std::uint64_t available = file.size() - file.position();
    XGRAD_CHECK(available >= header.data_size,
                "{} is truncated: shape {} of '{}' needs {} bytes of data, the file has {}", where, header.shape,
                header.descr, header.data_size, available);
  }
  std::string data;
  append_exact(file, data, header.data_size, where, fmt::format("shape {} of '{}'", header.shape, header.descr),
               header.data_size);
  return detail::decode_npy_data(header, data, where);
}

}  // namespace

Tensor load_npy(const std::string& path) {
  return with_file_errors("load_npy", path, [&] { return read_npy(path); });
}

void save_npy(const std::string& path, const Tensor& tensor) {
  with_file_errors("save_npy", path, [&] {
    XGRAD_CHECK(tensor.defined(), "save_npy: cannot save an undefined tensor to '{}'", path);
    const std::string bytes = detail::encode_npy(tensor, fmt::format("save_npy: '{}'", path));
    write_file_atomically(path, bytes, "save_npy");
  });
}

}  // namespace xgrad
