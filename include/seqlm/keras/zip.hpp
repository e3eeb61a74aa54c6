/// \file
/// ZIP archives through libzip (Debian's libzip-dev): reading the entries of a Keras `.keras`
/// file, and writing a new archive of stored (uncompressed) entries in memory, the way Keras 3
/// writes its own.
///
/// ```cpp
///   zip::Reader archive("model.keras");
///   std::string config = archive.read("config.json", 64 << 20);
///   std::string bytes = zip::write_stored({{"metadata.json", text, when}, ...});
/// ```
///
/// Every failure is a seqlm::file_error naming the archive, the entry and what is wrong, with
/// libzip's own explanation (a truncated archive, a CRC mismatch, a missing entry).
///
/// Part of the optional seqlm::keras component (link seqlm::keras).
#pragma once

#include <zip.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "../error.hpp"

namespace seqlm::keras::zip {

namespace detail {

// libzip's message for an error code ("Not a zip archive").
inline std::string error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

struct ArchiveCloser {
  void operator()(zip_t* archive) const { zip_discard(archive); }  // read-only: nothing to write
};

}  // namespace detail

/// 1980-01-01 00:00 local time: the earliest time a ZIP entry can have (ZIP stores local
/// times), which Python's zipfile gives the entries Keras writes through ZipFile.open.
inline std::time_t earliest_time() {
  std::tm parts{};
  parts.tm_year = 80;
  parts.tm_mday = 1;
  parts.tm_isdst = -1;
  return std::mktime(&parts);
}

/// One entry of an archive to write: its name, its bytes and its modification time.
struct Entry {
  std::string name;
  std::string data;
  std::time_t modified = earliest_time();
};

/// Reads the entries of a ZIP archive on disk.
class Reader {
 public:
  /// Opens `path`, checking the archive's consistency (a truncated or damaged central directory
  /// is refused here).
  explicit Reader(std::string path) : path_(std::move(path)) {
    int code = 0;
    archive_.reset(zip_open(path_.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
    if (archive_ == nullptr) {
      throw file_error("\"" + path_ + "\": not a readable ZIP archive (libzip: " + detail::error_text(code) +
                       ")");
    }
  }

  const std::string& path() const { return path_; }

  /// The names of all entries, in archive order.
  std::vector<std::string> names() const {
    std::vector<std::string> names;
    const zip_int64_t count = zip_get_num_entries(archive_.get(), 0);
    for (zip_int64_t k = 0; k < count; ++k) {
      const char* name = zip_get_name(archive_.get(), static_cast<zip_uint64_t>(k), ZIP_FL_ENC_RAW);
      if (name == nullptr) fail("entry " + std::to_string(k) + " has no readable name");
      names.emplace_back(name);
    }
    return names;
  }

  bool has(const std::string& name) const { return zip_name_locate(archive_.get(), name.c_str(), 0) >= 0; }

  /// The whole entry `name`, refused (before allocating) when it holds more than max_bytes.
  /// Its CRC-32 is checked by libzip while reading.
  std::string read(const std::string& name, std::uint64_t max_bytes) const {
    const zip_int64_t index = zip_name_locate(archive_.get(), name.c_str(), 0);
    if (index < 0) fail("has no entry \"" + name + "\"");
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(archive_.get(), static_cast<zip_uint64_t>(index), 0, &stat) != 0 ||
        (stat.valid & ZIP_STAT_SIZE) == 0) {
      fail("entry \"" + name + "\" has no readable size (libzip: " + zip_strerror(archive_.get()) + ")");
    }
    if (stat.size > max_bytes) {
      fail("entry \"" + name + "\" holds " + std::to_string(stat.size) + " bytes, more than the limit of " +
           std::to_string(max_bytes));
    }
    std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> file(
        zip_fopen_index(archive_.get(), static_cast<zip_uint64_t>(index), 0), &zip_fclose);
    if (file == nullptr) {
      fail("entry \"" + name + "\" cannot be opened (libzip: " + zip_strerror(archive_.get()) + ")");
    }
    std::string bytes(static_cast<std::size_t>(stat.size), '\0');
    std::uint64_t done = 0;
    while (done < stat.size) {
      const zip_int64_t got = zip_fread(file.get(), bytes.data() + done, stat.size - done);
      if (got < 0) {
        fail("entry \"" + name + "\" cannot be read (libzip: " + zip_file_strerror(file.get()) + ")");
      }
      if (got == 0) break;
      done += static_cast<std::uint64_t>(got);
    }
    if (done != stat.size) {
      fail("entry \"" + name + "\" ends after " + std::to_string(done) + " of its " +
           std::to_string(stat.size) + " bytes (the archive is truncated)");
    }
    char extra = 0;  // reading past the end makes libzip check the CRC-32 of a stored entry
    if (zip_fread(file.get(), &extra, 1) < 0) {
      fail("entry \"" + name + "\" is damaged (libzip: " + zip_file_strerror(file.get()) + ")");
    }
    return bytes;
  }

  [[noreturn]] void fail(const std::string& problem) const {
    throw file_error("\"" + path_ + "\": " + problem);
  }

 private:
  std::string path_;
  std::unique_ptr<zip_t, detail::ArchiveCloser> archive_;
};

/// A ZIP archive of `entries`, in order, stored without compression, made in memory. The entries
/// carry Unix permissions 0600 like those Python's zipfile writes. `where` names the archive
/// in messages.
inline std::string write_stored(const std::vector<Entry>& entries, const std::string& where) {
  auto fail = [&where](const std::string& problem) -> void {
    throw file_error("\"" + where + "\": " + problem);
  };
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &error);
  if (buffer == nullptr) {
    const std::string text = zip_error_strerror(&error);
    zip_error_fini(&error);
    fail("cannot create an archive in memory (libzip: " + text + ")");
  }
  std::unique_ptr<zip_source_t, void (*)(zip_source_t*)> source(buffer, &zip_source_free);
  zip_t* archive = zip_open_from_source(buffer, ZIP_TRUNCATE, &error);
  if (archive == nullptr) {
    const std::string text = zip_error_strerror(&error);
    zip_error_fini(&error);
    fail("cannot create an archive in memory (libzip: " + text + ")");
  }
  zip_error_fini(&error);
  zip_source_keep(buffer);  // the archive owns one reference; this one keeps its bytes after zip_close
  std::unique_ptr<zip_t, detail::ArchiveCloser> open_archive(archive);
  for (const Entry& entry : entries) {
    zip_source_t* data = zip_source_buffer(archive, entry.data.data(), entry.data.size(), 0);
    if (data == nullptr)
      fail("entry \"" + entry.name + "\" cannot be added (libzip: " + zip_strerror(archive) + ")");
    const zip_int64_t index = zip_file_add(archive, entry.name.c_str(), data, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(data);
      fail("entry \"" + entry.name + "\" cannot be added (libzip: " + zip_strerror(archive) + ")");
    }
    const auto k = static_cast<zip_uint64_t>(index);
    if (zip_set_file_compression(archive, k, ZIP_CM_STORE, 0) != 0 ||
        zip_file_set_mtime(archive, k, entry.modified, 0) != 0 ||
        zip_file_set_external_attributes(archive, k, 0, ZIP_OPSYS_UNIX, std::uint32_t{0600} << 16) != 0) {
      fail("entry \"" + entry.name + "\" cannot be described (libzip: " + zip_strerror(archive) + ")");
    }
  }
  if (zip_close(archive) != 0) {
    fail(std::string("cannot be assembled (libzip: ") + zip_strerror(archive) + ")");
  }
  open_archive.release();  // zip_close freed it

  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_source_stat(buffer, &stat) != 0 || (stat.valid & ZIP_STAT_SIZE) == 0 ||
      zip_source_open(buffer) != 0) {
    fail("the assembled archive cannot be read back from memory");
  }
  std::string bytes(static_cast<std::size_t>(stat.size), '\0');
  const zip_int64_t got = zip_source_read(buffer, bytes.data(), stat.size);
  zip_source_close(buffer);
  if (got < 0 || static_cast<zip_uint64_t>(got) != stat.size) {
    fail("the assembled archive cannot be read back from memory");
  }
  return bytes;
}

}  // namespace seqlm::keras::zip
