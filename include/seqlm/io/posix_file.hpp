/// \file
/// The operating-system calls behind seqlm's file reading, in one place (POSIX).
///
/// Everything else that touches files goes through this header (reading: io/utf8.hpp,
/// text/csv.hpp; the terminal check: train/progress.hpp) or through io/atomic_file.hpp
/// (crash-safe writing), which includes it too. So a port to another system has exactly two
/// headers to implement, and a system without POSIX stops at the `#error` below with a message
/// that says so, instead of somewhere deep inside with a missing <unistd.h>.
///
/// What a Windows port would put here: _wopen(_O_RDONLY | _O_BINARY | _O_NOINHERIT), _read,
/// _fstat64, _close and _isatty(_fileno(stdout)); and in io/atomic_file.hpp
/// MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH), _commit / FlushFileBuffers,
/// and OpenProcess for the stale-temporary check. Until then Windows is refused at compile time
/// (the vcpkg port says "supports": "!windows", the Conan recipe refuses os=Windows).
#pragma once

#if !defined(__unix__) && !defined(__APPLE__)
#error \
    "seqlm: its file code (io/posix_file.hpp, io/atomic_file.hpp) needs a POSIX system (Linux, macOS, BSD); Windows is not supported yet"
#endif

#include <dirent.h>  // opendir, for io/atomic_file.hpp
#include <fcntl.h>
#include <signal.h>  // kill(pid, 0), for io/atomic_file.hpp
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "../error.hpp"

namespace seqlm {
namespace detail {

/// A file opened for reading, closed by the destructor. Every failure is a file_error that
/// names `who` (the caller, e.g. "CSV"), what failed, the path and the system's reason.
class ReadOnlyFile {
 public:
  ReadOnlyFile(std::string path, std::string who) : path_(std::move(path)), who_(std::move(who)) {
    do {
      fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) fail("cannot open", errno);
  }
  ~ReadOnlyFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  const std::string& path() const { return path_; }

  /// The size of a regular file with at least one byte; -1 for anything else (a pipe, a
  /// device, /proc files that report 0), whose size is only known by reading it.
  std::int64_t regular_size() const {
    struct stat info {};
    if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size <= 0) return -1;
    return static_cast<std::int64_t>(info.st_size);
  }

  /// Reads exactly `count` bytes at byte `offset` into `buffer` (pread: the file position is
  /// not used, so several threads may read one file at once). A file that ends before
  /// offset + count is a file_error, as is any error but EINTR (retried).
  void read_at(std::int64_t offset, char* buffer, std::size_t count) const {
    while (count > 0) {
      const ssize_t got = ::pread(fd_, buffer, count, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail("cannot read", errno);
      if (got == 0) {
        throw file_error(make_message(who_, ": \"", path_, "\" ends at byte ", offset, ", before the ", count,
                                      " more bytes expected there"));
      }
      buffer += got;
      count -= static_cast<std::size_t>(got);
      offset += got;
    }
  }

  /// Reads up to `capacity` bytes into `buffer`; 0 at the end of the file. Retries after a
  /// signal (EINTR); any other error is a file_error.
  std::size_t read_some(char* buffer, std::size_t capacity) {
    while (true) {
      const ssize_t count = ::read(fd_, buffer, capacity);
      if (count >= 0) return static_cast<std::size_t>(count);
      if (errno != EINTR) fail("cannot read", errno);
    }
  }

 private:
  [[noreturn]] void fail(const char* what, int code) const {
    throw file_error(make_message(who_, ": ", what, " \"", path_, "\": ", std::strerror(code)));
  }

  std::string path_;
  std::string who_;
  int fd_ = -1;
};

/// True when the process's standard output is a terminal (progress bars redraw in place).
inline bool stdout_is_terminal() { return ::isatty(::fileno(stdout)) == 1; }

}  // namespace detail
}  // namespace seqlm
