#include "core/serialization/zip_archive.hpp"

#include <zip.h>

#include <ctime>
#include <utility>

#include "core/error.hpp"
#include "core/file_io.hpp"

namespace xgrad::detail {

namespace {

// Deflate expands at most 1032:1 (a run of one byte); anything claiming more is corrupted.
constexpr std::uint64_t kMaxDeflateRatio = 1032;
// The local file header's fixed part and the header of one extra field.
constexpr std::uint64_t kLocalHeaderSize = 30;
constexpr std::uint64_t kExtraFieldHeaderSize = 4;
// PyTorch's padding extra field ("FB"), which its reader and zip tools skip.
constexpr zip_uint16_t kPaddingFieldId = 0x4246;
// Entries carry a fixed time (1980-01-02, the DOS epoch) so that equal weights give equal files.
constexpr std::time_t kEntryTime = 315619200;

std::string error_text(zip_error_t* error) { return zip_error_strerror(error); }

}  // namespace

std::string read_file_bytes(const std::string& path, const std::string& op) {
  InputFile file(path, op);
  std::string bytes(static_cast<std::size_t>(file.size()), '\0');
  file.read_exact(bytes.data(), bytes.size(), "the archive");
  return bytes;
}

ZipReader::ZipReader(std::string bytes, std::string where) : bytes_(std::move(bytes)), where_(std::move(where)) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes_.data(), bytes_.size(), 0, &error);
  if (source == nullptr) {
    const std::string text = error_text(&error);
    zip_error_fini(&error);
    fail("{}: cannot read the zip archive: {}", where_, text);
  }
  archive_ = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (archive_ == nullptr) {
    zip_source_free(source);
    const std::string text = error_text(&error);
    zip_error_fini(&error);
    fail("{}: is not a valid zip archive ({} bytes): {}", where_, bytes_.size(), text);
  }
  zip_error_fini(&error);
  const zip_int64_t count = zip_get_num_entries(archive_, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(archive_, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
    if (name == nullptr) {
      const std::string text = error_text(zip_get_error(archive_));
      zip_discard(archive_);
      fail("{}: entry {} of the zip archive has no readable name: {}", where_, i, text);
    }
    names_.emplace_back(name);
    index_.try_emplace(names_.back(), names_.size() - 1);
  }
}

ZipReader::~ZipReader() {
  if (archive_ != nullptr) zip_discard(archive_);
}

std::optional<std::size_t> ZipReader::find(std::string_view name) const {
  const auto found = index_.find(std::string(name));
  if (found == index_.end()) return std::nullopt;
  return found->second;
}

std::string ZipReader::read(std::size_t index, std::string_view what) const {
  XGRAD_CHECK(index < names_.size(), "{}: the zip archive has no entry {}", where_, index);
  const std::string& name = names_[index];
  zip_stat_t stat;
  zip_stat_init(&stat);
  XGRAD_CHECK(zip_stat_index(archive_, index, 0, &stat) == 0, "{}: cannot read entry '{}' ({}): {}", where_, name,
              what, error_text(zip_get_error(archive_)));
  const zip_uint64_t needed = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
  XGRAD_CHECK((stat.valid & needed) == needed, "{}: entry '{}' ({}) has no sizes in the zip directory", where_, name,
              what);
  XGRAD_CHECK(stat.comp_size <= bytes_.size(),
              "{}: entry '{}' ({}) claims {} bytes of data, more than the archive's {} bytes", where_, name, what,
              stat.comp_size, bytes_.size());
  if (stat.comp_method == ZIP_CM_STORE) {
    XGRAD_CHECK(stat.size == stat.comp_size, "{}: stored entry '{}' ({}) claims {} bytes but holds {}", where_, name,
                what, stat.size, stat.comp_size);
  } else if (stat.comp_method == ZIP_CM_DEFLATE) {
    XGRAD_CHECK(stat.size / kMaxDeflateRatio <= stat.comp_size,
                "{}: deflated entry '{}' ({}) claims {} bytes from {} compressed bytes, more than deflate can give",
                where_, name, what, stat.size, stat.comp_size);
  } else {
    fail("{}: entry '{}' ({}) uses zip compression method {}; xgrad reads stored and deflated entries", where_, name,
         what, stat.comp_method);
  }
  zip_file_t* file = zip_fopen_index(archive_, index, 0);
  XGRAD_CHECK(file != nullptr, "{}: cannot open entry '{}' ({}): {}", where_, name, what,
              error_text(zip_get_error(archive_)));
  std::string data;
  try {
    data.resize(static_cast<std::size_t>(stat.size));
    zip_uint64_t got = 0;
    while (got < stat.size) {
      const zip_int64_t n = zip_fread(file, data.data() + got, stat.size - got);
      XGRAD_CHECK(n >= 0, "{}: entry '{}' ({}) is corrupted: {}", where_, name, what, error_text(zip_file_get_error(file)));
      XGRAD_CHECK(n > 0, "{}: entry '{}' ({}) is truncated: {} of {} bytes", where_, name, what, got, stat.size);
      got += static_cast<zip_uint64_t>(n);
    }
    // One more read reaches the end of the entry, where libzip checks its CRC-32.
    char extra = 0;
    const zip_int64_t n = zip_fread(file, &extra, 1);
    XGRAD_CHECK(n == 0, "{}: entry '{}' ({}) is corrupted: {}", where_, name, what,
                n > 0 ? std::string("it holds more bytes than its declared size") : error_text(zip_file_get_error(file)));
  } catch (...) {
    zip_fclose(file);
    throw;
  }
  zip_fclose(file);
  return data;
}

ZipWriter::ZipWriter(std::string where) : where_(std::move(where)) {
  zip_error_t error;
  zip_error_init(&error);
  buffer_ = zip_source_buffer_create(nullptr, 0, 0, &error);
  if (buffer_ == nullptr) {
    const std::string text = error_text(&error);
    zip_error_fini(&error);
    fail("{}: cannot create a zip archive: {}", where_, text);
  }
  zip_source_keep(buffer_);  // finish() reads the archive back from it after zip_close
  archive_ = zip_open_from_source(buffer_, ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (archive_ == nullptr) {
    zip_source_free(buffer_);
    const std::string text = error_text(&error);
    zip_error_fini(&error);
    fail("{}: cannot create a zip archive: {}", where_, text);
  }
  zip_error_fini(&error);
}

ZipWriter::~ZipWriter() {
  if (archive_ != nullptr) zip_discard(archive_);
  if (buffer_ != nullptr) zip_source_free(buffer_);
}

void ZipWriter::give_up(std::string_view step) {
  fail("{}: cannot write the zip archive ({}): {}", where_, step,
       archive_ != nullptr ? error_text(zip_get_error(archive_)) : std::string("closed"));
}

void ZipWriter::add(const std::string& name, std::string data, ZipEntryOptions options) {
  XGRAD_CHECK(archive_ != nullptr, "{}: the zip archive is already finished", where_);
  XGRAD_CHECK(name.size() <= 0xffff, "{}: zip entry name of {} bytes is too long", where_, name.size());
  const std::string& content = contents_.emplace_back(std::move(data));
  zip_source_t* source = zip_source_buffer_create(content.data(), content.size(), 0, zip_get_error(archive_));
  if (source == nullptr) give_up("entry " + name);
  const zip_int64_t index = zip_file_add(archive_, name.c_str(), source, ZIP_FL_ENC_GUESS);
  if (index < 0) {
    zip_source_free(source);
    give_up("entry " + name);
  }
  const auto i = static_cast<zip_uint64_t>(index);
  if (zip_set_file_compression(archive_, i, ZIP_CM_STORE, 0) != 0) give_up("entry " + name);
  if (zip_file_set_mtime(archive_, i, kEntryTime, 0) != 0) give_up("entry " + name);
  std::uint64_t header = kLocalHeaderSize + name.size();
  if (options.align > 1) {
    // Pad the local header with an extra field so that the data after it is aligned.
    const std::uint64_t unpadded = offset_ + header + kExtraFieldHeaderSize;
    const std::uint64_t padding = (options.align - unpadded % options.align) % options.align;
    const std::string filler(padding, 'Z');  // what PyTorch pads with
    if (zip_file_extra_field_set(archive_, i, kPaddingFieldId, ZIP_EXTRA_FIELD_NEW,
                                 reinterpret_cast<const zip_uint8_t*>(filler.data()),
                                 static_cast<zip_uint16_t>(padding), ZIP_FL_LOCAL) != 0) {
      give_up("padding of entry " + name);
    }
    header += kExtraFieldHeaderSize + padding;
  }
  offset_ += header + content.size();
}

std::string ZipWriter::finish() {
  XGRAD_CHECK(archive_ != nullptr, "{}: the zip archive is already finished", where_);
  if (contents_.empty()) {
    // libzip deletes an archive without entries; an empty zip is its end record alone.
    zip_discard(archive_);
    archive_ = nullptr;
    return std::string("PK\x05\x06", 4) + std::string(18, '\0');
  }
  if (zip_close(archive_) != 0) give_up("closing");
  archive_ = nullptr;
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_source_stat(buffer_, &stat) != 0 || (stat.valid & ZIP_STAT_SIZE) == 0 || zip_source_open(buffer_) != 0) {
    fail("{}: cannot read back the zip archive: {}", where_, error_text(zip_source_error(buffer_)));
  }
  std::string bytes(static_cast<std::size_t>(stat.size), '\0');
  const zip_int64_t got = zip_source_read(buffer_, bytes.data(), bytes.size());
  zip_source_close(buffer_);
  XGRAD_CHECK(got == static_cast<zip_int64_t>(bytes.size()), "{}: cannot read back the zip archive ({} of {} bytes)",
              where_, got, bytes.size());
  return bytes;
}

}  // namespace xgrad::detail
