/// \file
/// Crash-safe file writing (POSIX).
///
/// write_file_atomically(path, ...) never leaves a half-written file at `path`:
///   1. create a new temporary file in the same directory (".<name>.tmp-<pid>-<n>"),
///   2. write the bytes and fsync the temporary file,
///   3. rename() it over `path` (atomic on POSIX file systems),
///   4. fsync the directory so that the rename itself is durable.
///
/// Readers see either the old file or the new one. On any failure the temporary file is
/// removed, the old file is left untouched, and a file_error naming the path is thrown (a
/// failure inside a writer callback is nested in it: std::rethrow_if_nested recovers it).
///
/// What `path` may be. A missing file (created) or a regular file (replaced). A symbolic link
/// is written THROUGH: it is resolved (all links in the chain) and the regular file it points
/// to is replaced atomically, with the temporary file in that file's directory; the link
/// itself stays. Refused with a file_error, before anything is written: a directory, FIFO,
/// socket or device node (rename() would swap it for a regular file, as root even /dev/null),
/// a link to one of those, and a dangling link (nothing to replace). The check and the rename
/// are separate system calls, so a target swapped between them by another process is not
/// detected.
///
/// Stale temporaries. A writer killed between steps 1 and 3 leaves its temporary file behind.
/// Each write_file_atomically removes, from the target's directory, the temporaries of the same
/// target name whose writer pid no longer exists (kill(pid, 0) fails with ESRCH). Temporaries
/// of this process (another thread may be writing) and of live processes are never touched.
/// Pids are only meaningful on one machine: writers on other hosts (network file systems) or in
/// other pid namespaces sharing the directory would look dead, so do not share one output
/// directory across them.
///
/// Two files together. prepare_file_atomically(path, ...) does steps 1-2 and returns a
/// PendingFile; its commit() does steps 3-4, and destroying it uncommitted removes the
/// temporary file. A program that must change two files together (the greetings example: the
/// model and the dataset it was learned from) prepares the first, changes the second, then
/// commits: a failure before the commit changes neither. (A crash between the two steps can
/// still leave them disagreeing; that needs a journal.)
///
/// append_line(path, line) appends one line with a single write() and an fsync, for logs
/// that grow while a program runs (e.g. the greetings example's online learning).
#pragma once

// The calls below (open, fsync, rename, kill, opendir) are POSIX: posix_file.hpp includes
// their system headers, after its #error has stopped a non-POSIX build.
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "posix_file.hpp"

namespace seqlm {

namespace detail {

inline std::string errno_text(int code) { return std::strerror(code); }

// write() all of `size` bytes, retrying after EINTR and short writes. Returns 0 or errno.
inline int write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return 0;
}

inline int fsync_retrying(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

// "dir/" part of a path ("." when there is none) and the file name after it.
inline std::string directory_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

inline std::string file_name_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "a directory", "a FIFO", ... for the file type bits of a mode.
inline const char* file_kind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFLNK: return "a symbolic link";
    default: return "not a regular file";
  }
}

// The file write_file_atomically(path) replaces: `path` itself when it does not exist (or its
// directory does not: creating the temporary file reports that) or is a regular file; the
// regular file a symbolic link resolves to. file_error for anything else (see the top).
inline std::string replacement_target(const std::string& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return path;
  if (S_ISREG(info.st_mode)) return path;
  if (!S_ISLNK(info.st_mode)) {
    throw file_error(make_message("write_file_atomically: \"", path, "\" is ", file_kind(info.st_mode),
                                  ", not a regular file; refusing to replace it"));
  }
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    const int code = errno;
    throw file_error(make_message(
        "write_file_atomically: \"", path, "\" is a symbolic link that does not resolve to a file (",
        code == ENOENT ? "dangling" : std::strerror(code), "); refusing to write through it"));
  }
  std::string target(resolved);
  std::free(resolved);
  if (::stat(target.c_str(), &info) != 0) {
    const int code = errno;
    throw file_error(make_message("write_file_atomically: cannot stat \"", target, "\", the target of \"",
                                  path, "\": ", std::strerror(code)));
  }
  if (!S_ISREG(info.st_mode)) {
    throw file_error(make_message("write_file_atomically: \"", path, "\" is a symbolic link to \"", target,
                                  "\", ", file_kind(info.st_mode),
                                  ", not a regular file; refusing to replace it"));
  }
  return target;
}

// The writer pid in "<pid>-<n>" (the part of a temporary file name after ".<name>.tmp-"),
// or 0 when `rest` is not exactly two decimal numbers joined by '-' or the pid is not > 0.
inline pid_t temporary_writer_pid(std::string_view rest) {
  const std::size_t dash = rest.find('-');
  if (dash == 0 || dash == std::string_view::npos || dash + 1 == rest.size() || dash > 10) return 0;
  for (std::size_t k = 0; k < rest.size(); ++k) {
    if (k != dash && (rest[k] < '0' || rest[k] > '9')) return 0;
  }
  long long pid = 0;
  for (std::size_t k = 0; k < dash; ++k) pid = pid * 10 + (rest[k] - '0');
  return pid > 0 && pid <= INT_MAX ? static_cast<pid_t>(pid) : 0;
}

// Removes the temporary files ".<name>.tmp-<pid>-<n>" in `directory` whose writer pid no
// longer exists (kill(pid, 0) fails with ESRCH); never this process's own. Best effort:
// errors (an unreadable directory, a file that cannot be removed) are ignored.
inline void remove_stale_temporaries(const std::string& directory, const std::string& name) {
  const std::string prefix = "." + name + ".tmp-";
  DIR* listing = ::opendir(directory.c_str());
  if (listing == nullptr) return;
  std::vector<std::string> stale;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string_view entry_name = entry->d_name;
    if (entry_name.compare(0, prefix.size(), prefix) != 0) continue;
    const pid_t pid = temporary_writer_pid(entry_name.substr(prefix.size()));
    if (pid == 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) stale.emplace_back(entry_name);
  }
  ::closedir(listing);
  for (const std::string& file : stale) ::unlink((directory + "/" + file).c_str());
}

}  // namespace detail

class PendingFile;

/// The sink a write_file_atomically callback writes to. Buffers in memory-sized chunks and
/// writes through to the temporary file; a failed write throws file_error.
class FileSink {
 public:
  void write(const void* data, std::size_t size) {
    const char* bytes = static_cast<const char*>(data);
    if (buffer_.size() + size > capacity) flush();
    if (size >= capacity) {
      write_through(bytes, size);
    } else {
      buffer_.insert(buffer_.end(), bytes, bytes + size);
    }
    bytes_written_ += size;
  }
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }

  /// Total bytes accepted so far.
  std::size_t bytes_written() const { return bytes_written_; }

 private:
  friend PendingFile prepare_file_atomically(const std::string&, const std::function<void(FileSink&)>&);
  static constexpr std::size_t capacity = 1 << 16;

  FileSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) { buffer_.reserve(capacity); }

  void flush() {
    if (!buffer_.empty()) write_through(buffer_.data(), buffer_.size());
    buffer_.clear();
  }

  void write_through(const char* data, std::size_t size) {
    const int code = detail::write_all(fd_, data, size);
    if (code != 0) {
      throw file_error(detail::make_message("write_file_atomically: cannot write \"", path_,
                                            "\": ", detail::errno_text(code)));
    }
  }

  int fd_;
  std::string path_;  // the temporary file, for messages
  std::vector<char> buffer_;
  std::size_t bytes_written_ = 0;
};

/// A temporary file written and fsynced by prepare_file_atomically(), not yet renamed over its
/// target. commit() renames it (step 3) and syncs the directory (step 4); destroying it
/// without commit() removes the temporary file, leaving the target as it was. Move-only.
class PendingFile {
 public:
  PendingFile(PendingFile&& other) noexcept
      : path_(std::move(other.path_)),
        target_(std::move(other.target_)),
        temporary_(std::exchange(other.temporary_, std::string())) {}
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  PendingFile& operator=(PendingFile&&) = delete;
  ~PendingFile() {
    if (!temporary_.empty()) ::unlink(temporary_.c_str());
  }

  /// The path given to prepare_file_atomically.
  const std::string& path() const { return path_; }

  /// Replaces the target with the prepared file. file_error naming the path when the rename
  /// fails (the old file is then unchanged and the temporary file removed), when the directory
  /// cannot be synced afterwards (the file was replaced), or when called a second time.
  void commit() {
    if (temporary_.empty()) {
      throw file_error("write_file_atomically: \"" + path_ + "\" was already committed (or moved from)");
    }
    const std::string temporary = std::exchange(temporary_, std::string());
    const std::string& target = target_;
    const std::string& path = path_;
    const std::string directory = detail::directory_of(target);
    // 3. Atomically replace the target.
    if (::rename(temporary.c_str(), target.c_str()) != 0) {
      const int code = errno;
      ::unlink(temporary.c_str());
      throw file_error(detail::make_message("write_file_atomically: cannot rename the temporary file over \"",
                                            path, "\": ", detail::errno_text(code),
                                            "; the old file is unchanged"));
    }

    // 4. Make the rename durable. Some file systems cannot fsync a directory (EINVAL): fine.
    const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory_fd >= 0) {
      const int code = detail::fsync_retrying(directory_fd);
      ::close(directory_fd);
      if (code != 0 && code != EINVAL && code != ENOTSUP) {
        throw file_error(detail::make_message(
            "write_file_atomically: \"", path,
            "\" was replaced but its directory could not be synced: ", detail::errno_text(code)));
      }
    }
  }

 private:
  friend PendingFile prepare_file_atomically(const std::string&, const std::function<void(FileSink&)>&);
  PendingFile(std::string path, std::string target, std::string temporary)
      : path_(std::move(path)), target_(std::move(target)), temporary_(std::move(temporary)) {}

  std::string path_;       // as given
  std::string target_;     // what is replaced: path_, or the regular file a link at path_ points to
  std::string temporary_;  // the prepared file; empty once committed or moved from
};

/// Steps 1-2 of write_file_atomically (see the top of this file): checks the target, writes the
/// file produced by `writer` to a fresh temporary file next to it and fsyncs it; the target is
/// untouched until commit(). Throws file_error (the writer's own exception nested) like
/// write_file_atomically, leaving no temporary file.
inline PendingFile prepare_file_atomically(const std::string& path,
                                           const std::function<void(FileSink&)>& writer) {
  if (path.empty()) throw file_error("write_file_atomically: empty path");
  if (detail::file_name_of(path).empty())
    throw file_error("write_file_atomically: \"" + path + "\" names a directory, not a file");
  // The file actually replaced: `path`, or the regular file a symbolic link points to.
  const std::string target = detail::replacement_target(path);
  const std::string directory = detail::directory_of(target);
  const std::string name = detail::file_name_of(target);
  detail::remove_stale_temporaries(directory, name);

  // 1. A fresh temporary file next to the target (O_EXCL: never reuse an existing one).
  static std::atomic<unsigned> counter{0};
  std::string temporary;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    const std::string directory_prefix = target.substr(0, target.size() - name.size());  // "dir/" or ""
    temporary = directory_prefix + "." + name + ".tmp-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++);
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST && errno != EINTR) break;
  }
  if (fd < 0) {
    const int code = errno;
    throw file_error(detail::make_message("write_file_atomically: cannot create a temporary file for \"",
                                          path, "\" in \"", directory, "\": ", detail::errno_text(code)));
  }

  // On failure: close and delete the temporary file, then report.
  auto abandon = [&](const std::string& what, int code) {
    ::close(fd);
    ::unlink(temporary.c_str());
    throw file_error(detail::make_message("write_file_atomically: ", what, " \"", path, "\"",
                                          code != 0 ? ": " : "", code != 0 ? detail::errno_text(code) : "",
                                          "; the old file is unchanged"));
  };

  // 2. Write and fsync.
  try {
    FileSink sink(fd, temporary);
    writer(sink);
    sink.flush();
  } catch (const std::exception& e) {
    ::close(fd);
    ::unlink(temporary.c_str());
    std::throw_with_nested(file_error(detail::make_message(
        "write_file_atomically: writing \"", path, "\" failed: ", e.what(), "; the old file is unchanged")));
  } catch (...) {
    ::close(fd);
    ::unlink(temporary.c_str());
    std::throw_with_nested(file_error(detail::make_message("write_file_atomically: writing \"", path,
                                                           "\" failed; the old file is unchanged")));
  }
  if (const int code = detail::fsync_retrying(fd); code != 0)
    abandon("cannot fsync the temporary file for", code);
  if (::close(fd) != 0) {
    const int code = errno;
    fd = -1;
    ::unlink(temporary.c_str());
    throw file_error(detail::make_message("write_file_atomically: cannot close the temporary file for \"",
                                          path, "\": ", detail::errno_text(code),
                                          "; the old file is unchanged"));
  }
  return PendingFile(path, target, temporary);
}

/// Writes the file produced by `writer` to `path` atomically (see the top of this file: a
/// symbolic link is written through; a directory, FIFO, socket, device node, a link to one and
/// a dangling link are refused). New files get mode 0666 minus the umask, like any file
/// created with open().
inline void write_file_atomically(const std::string& path, const std::function<void(FileSink&)>& writer) {
  prepare_file_atomically(path, writer).commit();
}

/// Writes `bytes` to `path` atomically.
inline void write_file_atomically(const std::string& path, std::string_view bytes) {
  write_file_atomically(path, [bytes](FileSink& sink) { sink.write(bytes); });
}

/// Prepares `bytes` for `path` (see prepare_file_atomically).
inline PendingFile prepare_file_atomically(const std::string& path, std::string_view bytes) {
  return prepare_file_atomically(path, [bytes](FileSink& sink) { sink.write(bytes); });
}

/// Appends `line` and a ``'\n'`` to `path` (created with mode 0666 minus umask if missing) with
/// one write() in O_APPEND mode, then fsyncs. A line containing ``'\n'`` or ``'\r'`` is a
/// value_error (it would become several lines); I/O failures are file_error naming the path.
inline void append_line(const std::string& path, std::string_view line) {
  const std::size_t newline = line.find_first_of("\r\n");
  if (newline != std::string_view::npos) {
    throw value_error(detail::make_message("append_line: the line for \"", path, "\" contains a ",
                                           line[newline] == '\n' ? "newline" : "carriage return",
                                           " at byte offset ", newline));
  }
  int fd = -1;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int code = errno;
    throw file_error(
        detail::make_message("append_line: cannot open \"", path, "\": ", detail::errno_text(code)));
  }
  std::string record(line);
  record += '\n';
  // One write() call carries the whole line, so concurrent appenders do not interleave
  // (write_all only loops on the rare short write).
  int code = detail::write_all(fd, record.data(), record.size());
  if (code == 0) code = detail::fsync_retrying(fd);
  if (::close(fd) != 0 && code == 0) code = errno;
  if (code != 0) {
    throw file_error(
        detail::make_message("append_line: cannot append to \"", path, "\": ", detail::errno_text(code)));
  }
}

}  // namespace seqlm
