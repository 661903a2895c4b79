// The atomic writer and the checked reader: see core/file_io.hpp.
#include "core/file_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace xgrad {

namespace {

// Linux's own limit for path resolution (MAXSYMLINKS).
constexpr int kMaxSymbolicLinks = 40;
// Writes smaller than this are gathered; larger ones go straight to the file.
constexpr std::size_t kBufferSize = std::size_t{1} << 20;
// One read() or write() moves at most this much (Linux caps a call below 2 GiB).
constexpr std::size_t kMaxTransfer = std::size_t{1} << 30;
// Bytes of the destination's name kept in a temporary's name (the hash tells apart
// names that share them), so a temporary stays far below NAME_MAX (255).
constexpr std::size_t kNameBytesInTemporary = 64;

std::string errno_text(int error) { return std::strerror(error); }

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_name_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Random bits for temporary names. Not xgrad's generator: saving must not change
// the random stream a seeded run draws from.
std::uint64_t random_bits() {
  thread_local std::mt19937_64 engine([] {
    std::random_device device;
    const auto now = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    std::seed_seq seed{device(), device(), static_cast<unsigned>(now), static_cast<unsigned>(now >> 32),
                       static_cast<unsigned>(::getpid()),
                       static_cast<unsigned>(std::hash<std::thread::id>{}(std::this_thread::get_id()))};
    return std::mt19937_64(seed);
  }());
  return engine();
}

// FNV-1a, 64 bits: a stable hash of the destination's name for its temporaries.
std::uint64_t name_hash(std::string_view name) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : name) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

// "<pid>.<16 hex digits>" after the prefix; returns the pid, or -1 for any other text.
long temporary_owner(std::string_view suffix) {
  const std::size_t dot = suffix.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot > 10 || suffix.size() != dot + 1 + 16) return -1;
  long pid = 0;
  for (std::size_t i = 0; i < dot; ++i) {
    if (suffix[i] < '0' || suffix[i] > '9') return -1;
    pid = pid * 10 + (suffix[i] - '0');
  }
  for (std::size_t i = dot + 1; i < suffix.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(suffix[i]))) return -1;
  }
  return pid > 0 ? pid : -1;
}

std::string new_temporary_name(const std::string& prefix) {
  return fmt::format("{}{}.{:016x}", prefix, ::getpid(), random_bits());
}

// Removes temporaries of this destination that a killed save left. One is stale
// when the process named in it is gone and nobody holds its lock (a live writer
// locks its temporary before it has a name, or right after creating it).
void remove_stale_temporaries(int directory_fd, const std::string& prefix) {
  const int listing_fd = ::openat(directory_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing_fd < 0) return;
  DIR* listing = ::fdopendir(listing_fd);
  if (listing == nullptr) {
    ::close(listing_fd);
    return;
  }
  std::vector<std::pair<std::string, long>> candidates;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string_view name = entry->d_name;
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) continue;
    const long pid = temporary_owner(name.substr(prefix.size()));
    if (pid > 0) candidates.emplace_back(std::string(name), pid);
  }
  ::closedir(listing);
  for (const auto& [name, pid] : candidates) {
    if (pid == static_cast<long>(::getpid())) continue;  // another thread of this process
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // its writer may be alive
    const int fd = ::openat(directory_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat status {};
    if (::fstat(fd, &status) == 0 && S_ISREG(status.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      ::unlinkat(directory_fd, name.c_str(), 0);
    }
    ::close(fd);
  }
}

bool write_all(int fd, const char* data, std::size_t size, int& error) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, std::min(size, kMaxTransfer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n == 0 ? EIO : errno;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::string temporary_name_prefix(std::string_view file_name) {
  std::size_t keep = std::min(file_name.size(), kNameBytesInTemporary);
  // Never cut a UTF-8 character in two.
  while (keep > 0 && keep < file_name.size() && (static_cast<unsigned char>(file_name[keep]) & 0xC0) == 0x80) --keep;
  return fmt::format(".{}.{:016x}.xgrad-tmp.", file_name.substr(0, keep), name_hash(file_name));
}

AtomicFile::AtomicFile(std::string path, std::string op, AtomicFileOptions options)
    : path_(std::move(path)), op_(std::move(op)) {
  XGRAD_CHECK(!path_.empty(), "{}: the path is empty", op_);
  // Follow symbolic links to the file that will be replaced.
  std::string current = path_;
  struct stat status {};
  bool exists = false;
  for (int links = 0;; ++links) {
    if (::lstat(current.c_str(), &status) != 0) {
      const int error = errno;
      XGRAD_CHECK(error == ENOENT, "{}: cannot write '{}'{}: {}", op_, path_,
                  current == path_ ? "" : fmt::format(" (link to '{}')", current), errno_text(error));
      break;
    }
    if (!S_ISLNK(status.st_mode)) {
      exists = true;
      break;
    }
    XGRAD_CHECK(links < kMaxSymbolicLinks,
                "{}: cannot write '{}': more than {} levels of symbolic links (a loop?)", op_, path_,
                kMaxSymbolicLinks);
    std::string link(static_cast<std::size_t>(status.st_size > 0 ? status.st_size : 255) + 1, '\0');
    ssize_t length = 0;
    while ((length = ::readlink(current.c_str(), link.data(), link.size())) == static_cast<ssize_t>(link.size())) {
      link.resize(link.size() * 2);
    }
    XGRAD_CHECK(length > 0, "{}: cannot write '{}': reading the symbolic link '{}' failed: {}", op_, path_, current,
                errno_text(errno));
    link.resize(static_cast<std::size_t>(length));
    current = link.front() == '/' ? link : parent_of(current) + "/" + link;
  }
  const std::string via = current == path_ ? "" : fmt::format(" (a symbolic link to '{}')", current);
  XGRAD_CHECK(!exists || S_ISREG(status.st_mode), "{}: '{}'{} is {}, not a regular file; refusing to replace it", op_,
              path_, via, kind_of(status.st_mode));
  target_ = current;
  directory_ = parent_of(target_);
  name_ = base_name_of(target_);
  XGRAD_CHECK(!name_.empty() && name_ != "." && name_ != "..", "{}: '{}' names a directory, not a file", op_, path_);
  XGRAD_CHECK(!exists || ::faccessat(AT_FDCWD, target_.c_str(), W_OK, AT_EACCESS) == 0, "{}: cannot write '{}'{}: {}",
              op_, path_, via, errno_text(errno));

  directory_fd_ = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  XGRAD_CHECK(directory_fd_ >= 0, "{}: cannot create a temporary file in '{}' to write '{}': {}", op_, directory_,
              path_, errno_text(errno));
  try {
    const std::string prefix = temporary_name_prefix(name_);
    remove_stale_temporaries(directory_fd_, prefix);
    // O_TMPFILE needs /proc/self/fd (or CAP_DAC_READ_SEARCH) to be linked into place later.
    if (options.unnamed_temporary && ::access("/proc/self/fd", X_OK) == 0) {
      fd_ = ::openat(directory_fd_, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
      const int error = errno;
      XGRAD_CHECK(fd_ >= 0 || error == EOPNOTSUPP || error == EISDIR || error == EINVAL,
                  "{}: cannot create a temporary file in '{}' to write '{}': {}", op_, directory_, path_,
                  errno_text(error));
    }
    for (int attempt = 0; fd_ < 0; ++attempt) {
      std::string name = new_temporary_name(prefix);
      fd_ = ::openat(directory_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
      const int error = errno;
      if (fd_ >= 0) {
        temporary_ = std::move(name);
      } else {
        XGRAD_CHECK(error == EEXIST && attempt < 100, "{}: cannot create a temporary file in '{}' to write '{}': {}",
                    op_, directory_, path_, errno_text(error));
      }
    }
    // Held until the rename: a live save's temporary is never taken for a stale one.
    ::flock(fd_, LOCK_EX);
    if (exists) {
      // Keep the replaced file's owner (only root may give a file away) and mode.
      if (status.st_uid != ::geteuid() || status.st_gid != ::getegid()) {
        [[maybe_unused]] const int ignored = ::fchown(fd_, status.st_uid, status.st_gid);
      }
      ::fchmod(fd_, status.st_mode & 07777);
    }
    buffer_.reserve(kBufferSize);
  } catch (...) {
    if (fd_ >= 0) ::close(fd_);
    if (!temporary_.empty()) ::unlinkat(directory_fd_, temporary_.c_str(), 0);
    ::close(directory_fd_);
    throw;
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temporary_.empty()) ::unlinkat(directory_fd_, temporary_.c_str(), 0);
  if (directory_fd_ >= 0) ::close(directory_fd_);
}

void AtomicFile::give_up(const std::string& step, int error) {
  ::close(fd_);
  fd_ = -1;
  if (!temporary_.empty()) ::unlinkat(directory_fd_, temporary_.c_str(), 0);
  temporary_.clear();
  fail("{}: {} '{}' failed after {} bytes: {}; '{}' was left as it was", op_, step, path_, written_, errno_text(error),
       path_);
}

void AtomicFile::flush_buffer() {
  int error = 0;
  if (!write_all(fd_, buffer_.data(), buffer_.size(), error)) give_up("writing", error);
  written_ += buffer_.size();
  buffer_.clear();
}

void AtomicFile::write(const void* data, std::size_t size) {
  XGRAD_CHECK(fd_ >= 0 && !committed_, "{}: writing '{}' after it was committed or failed", op_, path_);
  const char* bytes = static_cast<const char*>(data);
  if (buffer_.size() + size <= kBufferSize) {
    buffer_.append(bytes, size);
    return;
  }
  flush_buffer();
  if (size < kBufferSize) {
    buffer_.append(bytes, size);
    return;
  }
  int error = 0;
  if (!write_all(fd_, bytes, size, error)) give_up("writing", error);
  written_ += size;
}

void AtomicFile::commit() {
  XGRAD_CHECK(fd_ >= 0 && !committed_, "{}: '{}' was already committed or failed", op_, path_);
  flush_buffer();
  if (::fsync(fd_) != 0) give_up("flushing (fsync)", errno);
  if (temporary_.empty()) {
    // Name the unnamed temporary, then rename it over the target: linkat cannot
    // replace an existing file, rename can.
    const std::string prefix = temporary_name_prefix(name_);
    for (int attempt = 0;; ++attempt) {
      std::string name = new_temporary_name(prefix);
      int result = ::linkat(fd_, "", directory_fd_, name.c_str(), AT_EMPTY_PATH);
      if (result != 0 && errno != EEXIST) {
        const std::string self = fmt::format("/proc/self/fd/{}", fd_);
        result = ::linkat(AT_FDCWD, self.c_str(), directory_fd_, name.c_str(), AT_SYMLINK_FOLLOW);
      }
      if (result == 0) {
        temporary_ = std::move(name);
        break;
      }
      if (errno != EEXIST || attempt >= 100) give_up("naming the temporary file for", errno);
    }
  }
  if (::renameat(directory_fd_, temporary_.c_str(), directory_fd_, name_.c_str()) != 0) give_up("renaming into", errno);
  committed_ = true;
  temporary_.clear();
  ::close(fd_);
  fd_ = -1;
  // Make the rename itself durable (some file systems cannot fsync a directory: EINVAL).
  ::fsync(directory_fd_);
}

void write_file_atomically(const std::string& path, std::string_view bytes, const std::string& op) {
  with_file_errors(op, path, [&] {
    AtomicFile file(path, op);
    file.write(bytes);
    file.commit();
  });
}

InputFile::InputFile(const std::string& path, std::string op, Accept accept) : path_(path), op_(std::move(op)) {
  XGRAD_CHECK(!path_.empty(), "{}: the path is empty", op_);
  const char* accepted = accept == Accept::regular ? "a regular file" : "a regular file or a FIFO";
  auto check_kind = [&](const struct stat& status) {
    const bool ok = S_ISREG(status.st_mode) || (accept == Accept::regular_or_fifo && S_ISFIFO(status.st_mode));
    XGRAD_CHECK(ok, "{}: '{}' is {}, not {}", op_, path_, kind_of(status.st_mode), accepted);
  };
  // stat before open: opening a device can have effects, and /dev/zero never ends.
  struct stat status {};
  XGRAD_CHECK(::stat(path_.c_str(), &status) == 0, "{}: cannot open '{}': {}", op_, path_, errno_text(errno));
  check_kind(status);
  do {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);  // a FIFO waits here for its writer
  } while (fd_ < 0 && errno == EINTR);
  XGRAD_CHECK(fd_ >= 0, "{}: cannot open '{}': {}", op_, path_, errno_text(errno));
  try {
    XGRAD_CHECK(::fstat(fd_, &status) == 0, "{}: cannot read '{}': {}", op_, path_, errno_text(errno));
    check_kind(status);  // the path may have been replaced since stat
  } catch (...) {
    ::close(fd_);
    throw;
  }
  fifo_ = S_ISFIFO(status.st_mode);
  size_ = fifo_ ? 0 : static_cast<std::uint64_t>(status.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t InputFile::read(void* data, std::size_t size) {
  char* out = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd_, out + done, std::min(size - done, kMaxTransfer));
    if (n < 0 && errno == EINTR) continue;
    XGRAD_CHECK(n >= 0, "{}: reading '{}' failed at byte {}: {}", op_, path_, position_ + done, errno_text(errno));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  position_ += done;
  return done;
}

void InputFile::read_exact(void* data, std::size_t size, std::string_view what) {
  const std::uint64_t start = position_;
  const std::size_t got = read(data, size);
  XGRAD_CHECK(got == size, "{}: '{}' is truncated: {} needs {} bytes at offset {} but the file ends at {}", op_, path_,
              what, size, start, start + got);
}

void InputFile::skip(std::uint64_t size) {
  if (!fifo_) {
    XGRAD_CHECK(::lseek(fd_, static_cast<off_t>(size), SEEK_CUR) >= 0, "{}: seeking in '{}' failed: {}", op_, path_,
                errno_text(errno));
    position_ += size;
    return;
  }
  char scratch[4096];
  while (size > 0) {
    const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(size, sizeof(scratch)));
    read_exact(scratch, step, "skipped bytes");
    size -= step;
  }
}

}  // namespace xgrad
