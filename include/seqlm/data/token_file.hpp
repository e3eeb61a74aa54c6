/// \file
/// Token ids in a file, read range by range: a TokenSource for corpora larger than memory, and
/// for data-parallel ranks that should hold only what they read (docs/distributed.md).
///
/// Format (little-endian), written by write_token_file():
///
/// ```text
///   bytes 0-7    "SEQLMTOK"            magic
///   bytes 8-15   uint64 count          number of ids
///   bytes 16-    int32 id x count      the ids, in order
/// ```
///
/// A FileTokenSource keeps only the open file: every TokenSource::read() is one pread() of the
/// range it asks for (a window of 61 ids is 244 bytes), so a dataset over it holds a batch's ids
/// at a time, and the operating system's page cache, shared by every process on the machine,
/// holds the rest. Opening checks the magic and that the file's size is 16 + 4 x count bytes;
/// every read checks its ids against [0, vocabulary_size): a corrupt or truncated file is a
/// file_error naming the file and the position, never garbage ids.
///
/// ```cpp
///   write_token_file("corpus.tok", tokenizer.encode(text));       // once, e.g. on rank 0
///   TokenStream tokens = open_token_file("corpus.tok", vocabulary_size);
///   WindowDataset windows(tokens, 60, 3, WindowTargets::last);   // reads windows from the file
/// ```
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../io/atomic_file.hpp"
#include "../io/posix_file.hpp"
#include "../tensor.hpp"
#include "token_source.hpp"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "seqlm: data/token_file.hpp reads and writes little-endian ids in place; this is a big-endian target"
#endif

namespace seqlm {

namespace detail {
inline constexpr char token_file_magic[8] = {'S', 'E', 'Q', 'L', 'M', 'T', 'O', 'K'};
inline constexpr std::int64_t token_file_header_bytes = 16;
}  // namespace detail

/// Writes `ids` as a token file at `path`, atomically (io/atomic_file.hpp: the old file or the
/// new one, never half of it). Negative ids are a value_error (nothing is written).
inline void write_token_file(const std::string& path, const std::vector<TokenId>& ids) {
  for (size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] < 0) {
      throw value_error(
          detail::make_message("write_token_file: id ", ids[k], " at position ", k, " is negative"));
    }
  }
  write_file_atomically(path, [&ids](FileSink& sink) {
    const std::uint64_t count = ids.size();
    sink.write(detail::token_file_magic, sizeof detail::token_file_magic);
    sink.write(&count, sizeof count);
    if (!ids.empty()) sink.write(ids.data(), ids.size() * sizeof(TokenId));
  });
}

/// The ids of a token file, read on demand (see the top of the file). Safe to read from several
/// threads at once.
class FileTokenSource final : public TokenSource {
 public:
  /// Opens and checks `path`. vocabulary_size > 0: every id read must be below it;
  /// 0: ids are only checked to be non-negative.
  explicit FileTokenSource(const std::string& path, Index vocabulary_size = 0)
      : file_(path, "token file"), vocabulary_size_(vocabulary_size) {
    if (vocabulary_size < 0) {
      throw value_error(
          detail::make_message("FileTokenSource: vocabulary_size must be >= 0, got ", vocabulary_size));
    }
    const std::int64_t size = file_.regular_size();
    if (size < detail::token_file_header_bytes) {
      throw file_error(
          detail::make_message("token file \"", path, "\": ", size < 0 ? 0 : size,
                               " bytes, shorter than its 16-byte header (or not a regular file)"));
    }
    char header[detail::token_file_header_bytes];
    file_.read_at(0, header, sizeof header);
    if (std::memcmp(header, detail::token_file_magic, sizeof detail::token_file_magic) != 0) {
      throw file_error(
          detail::make_message("token file \"", path, "\": not a token file (no SEQLMTOK magic)"));
    }
    std::uint64_t count = 0;
    std::memcpy(&count, header + 8, sizeof count);
    const std::uint64_t payload = static_cast<std::uint64_t>(size - detail::token_file_header_bytes);
    if (count > payload / sizeof(TokenId) || payload != count * sizeof(TokenId)) {
      throw file_error(detail::make_message("token file \"", path, "\": the header says ", count, " ids (",
                                            count * sizeof(TokenId), " bytes) but ", payload,
                                            " bytes follow it"));
    }
    size_ = static_cast<Index>(count);
  }

  Index size() const override { return size_; }

  /// Copies ids [begin, begin + count) into out (one pread), then checks them.
  void read(Index begin, Index count, TokenId* out) const override {
    if (count <= 0) return;
    file_.read_at(detail::token_file_header_bytes + begin * static_cast<Index>(sizeof(TokenId)),
                  reinterpret_cast<char*>(out), static_cast<size_t>(count) * sizeof(TokenId));
    for (Index k = 0; k < count; ++k) {
      if (out[k] < 0 || (vocabulary_size_ > 0 && out[k] >= vocabulary_size_)) {
        throw file_error(detail::make_message("token file \"", file_.path(), "\": id ", out[k],
                                              " at position ", begin + k, " is outside the vocabulary [0, ",
                                              vocabulary_size_ > 0 ? vocabulary_size_ : Index{1} << 31, ")"));
      }
    }
  }

 private:
  detail::ReadOnlyFile file_;
  Index vocabulary_size_;
  Index size_ = 0;
};

/// A TokenStream over the whole token file at `path` (FileTokenSource).
inline TokenStream open_token_file(const std::string& path, Index vocabulary_size = 0) {
  return TokenStream(
      std::shared_ptr<const TokenSource>(std::make_shared<FileTokenSource>(path, vocabulary_size)));
}

}  // namespace seqlm
