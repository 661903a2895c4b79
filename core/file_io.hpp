// Files xgrad reads and writes: one atomic writer and one checked reader, used by
// every format (.npy, checkpoints, optimizer state) and by the examples' outputs.
//
//   AtomicFile out(path, "save_npy");      // resolves symlinks, refuses devices and FIFOs
//   out.write(header.data(), header.size());
//   out.write(tensor_bytes, n);
//   out.commit();                          // fsync, rename over the destination, fsync the directory
//
//   InputFile in(path, "load_npy", InputFile::Accept::regular_or_fifo);
//   in.read_exact(buffer, 10, "the preamble");
//
// Writing. A destination that exists must be a regular file (a device, FIFO, socket
// or directory is refused: replacing /dev/null with a regular file would break the
// system); a symbolic link is followed (chains too; a loop is an error) and its
// target is replaced, so the link stays a link. The new content goes to a temporary
// in the target's directory: an unnamed O_TMPFILE where the file system has it,
// else ".<name>.<hash>.xgrad-tmp.<pid>.<random>". It is written, fsync'ed, given a
// name and renamed over the target, and the directory is fsync'ed: a crash, a kill
// or a full disk at any moment leaves the old file or the new one, never a mix.
// A temporary that a killed process left (it exists only between linkat and
// rename with O_TMPFILE) is removed by the next save of the same destination once
// no process holds its lock. A new file gets mode 0666 & ~umask; an overwritten
// file keeps its mode (and owner, where permitted).
//
// Reading. A path is opened only after stat says it is a regular file (or, where
// the caller accepts streams, a FIFO): /dev/zero, directories and devices are
// refused before any byte is read, and the file size is known before anything is
// allocated. Every failure is an xgrad::Error naming the operation and the path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <exception>
#include <new>
#include <string_view>

#include "core/error.hpp"

namespace xgrad {

struct AtomicFileOptions {
  // O_TMPFILE where the file system supports it; false always uses a named temporary.
  bool unnamed_temporary = true;
};

class AtomicFile {
 public:
  // Resolves and checks the destination, removes stale temporaries of it and opens
  // the temporary. `op` names the caller in errors ("save_npy", "Module::save").
  AtomicFile(std::string path, std::string op, AtomicFileOptions options = {});
  // Without commit(), the destination is untouched and the temporary removed.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends bytes (buffered); a failing write (disk full, file size limit) is an
  // xgrad::Error saying the destination was left as it was.
  void write(const void* data, std::size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // Makes the new content the destination's, durably. Once only.
  void commit();

  // The file that will be replaced: the path with every symbolic link resolved.
  const std::string& target() const { return target_; }
  std::uint64_t bytes_written() const { return written_ + buffer_.size(); }

 private:
  void flush_buffer();
  [[noreturn]] void give_up(const std::string& step, int error);

  std::string path_, op_, target_, directory_, name_;
  std::string temporary_;  // the named temporary, "" while unnamed (O_TMPFILE) or none
  int directory_fd_ = -1;
  int fd_ = -1;
  bool committed_ = false;
  std::uint64_t written_ = 0;
  std::string buffer_;
};

// `bytes` as the whole new content of `path`, through AtomicFile.
void write_file_atomically(const std::string& path, std::string_view bytes, const std::string& op);

// The name every temporary of a destination called `file_name` starts with
// (".<up to 64 bytes of the name>.<16 hex digits of its hash>.xgrad-tmp."), so that
// temporaries never exceed NAME_MAX and stale ones are recognised safely.
std::string temporary_name_prefix(std::string_view file_name);

class InputFile {
 public:
  enum class Accept { regular, regular_or_fifo };
  // Opens `path` for reading; anything that is not a regular file (or an accepted
  // FIFO) is an xgrad::Error naming what it is. A FIFO blocks until a writer opens it.
  InputFile(const std::string& path, std::string op, Accept accept = Accept::regular);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  bool is_fifo() const { return fifo_; }
  // Size in bytes of a regular file (a FIFO's size is unknown: 0).
  std::uint64_t size() const { return size_; }
  // Bytes consumed so far.
  std::uint64_t position() const { return position_; }
  // Reads up to `size` bytes; fewer only at the end of the file.
  std::size_t read(void* data, std::size_t size);
  // Reads exactly `size` bytes or throws "<op>: '<path>' is truncated: <what> ...".
  void read_exact(void* data, std::size_t size, std::string_view what);
  // Moves forward `size` bytes in a regular file.
  void skip(std::uint64_t size);

  const std::string& path() const { return path_; }
  const std::string& op() const { return op_; }

 private:
  std::string path_, op_;
  int fd_ = -1;
  bool fifo_ = false;
  std::uint64_t size_ = 0, position_ = 0;
};

// Runs `body`; any exception other than xgrad::Error (std::bad_alloc,
// std::filesystem::filesystem_error, std::ios_base::failure, ...) becomes an
// xgrad::Error naming `op` and `path`, so only xgrad::Error leaves file entry points.
template <class F>
decltype(auto) with_file_errors(std::string_view op, const std::string& path, F&& body) {
  try {
    return body();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    fail("{}: out of memory while handling '{}'", op, path);
  } catch (const std::exception& error) {
    fail("{}: '{}': {}", op, path, error.what());
  }
}

}  // namespace xgrad
