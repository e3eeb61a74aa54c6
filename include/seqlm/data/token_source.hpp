/// \file
/// Where a dataset's tokens come from: a random-access stream of token ids.
///
/// Every dataset in seqlm/data reads its tokens through a TokenStream, a cheap value that
/// shares ownership of a TokenSource and looks at a contiguous range [begin, begin + size)
/// of it. Copying a TokenStream or taking a slice (a train/validation/test split) copies
/// two integers and a shared_ptr, never the tokens. Windows and lines are read straight
/// into a batch's buffers, so no example is ever materialised on its own.
///
/// The only thing a source must do is copy a range of ids into a caller's buffer:
///
/// ```cpp
///   class TokenSource { Index size() const; void read(Index begin, Index count, TokenId* out) const; };
/// ```
///
/// VectorTokenSource serves an in-memory std::vector<TokenId>. A file-backed source plugs in
/// the same way: derive from TokenSource, return the number of ids in the file from size(),
/// and in read() either memcpy from a memory-mapped array of int32 ids or pread() the range
/// (count * 4 bytes at offset begin * 4). Datasets call read() once per window or line, with
/// count = window length, so the cost of a virtual call is amortised over the whole range.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"

namespace seqlm {

/// A random-access sequence of token ids. Implementations must be safe to read from
/// several threads at once (read() is const and must not touch shared mutable state).
class TokenSource {
 public:
  virtual ~TokenSource() = default;

  /// Number of token ids in the source.
  virtual Index size() const = 0;

  /// \details Copies ids [begin, begin + count) into out[0 .. count). The caller guarantees the range
  /// is inside [0, size()) (TokenStream checks it).
  virtual void read(Index begin, Index count, TokenId* out) const = 0;
};

/// A TokenSource over an in-memory vector, shared (not copied) with whoever else holds it.
class VectorTokenSource final : public TokenSource {
 public:
  explicit VectorTokenSource(std::shared_ptr<const std::vector<TokenId>> tokens)
      : tokens_(std::move(tokens)) {
    if (!tokens_) throw value_error("VectorTokenSource: null token vector");
  }

  Index size() const override { return static_cast<Index>(tokens_->size()); }
  void read(Index begin, Index count, TokenId* out) const override {
    if (count > 0) std::memcpy(out, tokens_->data() + begin, static_cast<size_t>(count) * sizeof(TokenId));
  }
  const std::vector<TokenId>& tokens() const { return *tokens_; }

 private:
  std::shared_ptr<const std::vector<TokenId>> tokens_;
};

/// A view of the range [begin, begin + size) of a shared TokenSource. Cheap to copy.
class TokenStream {
 public:
  TokenStream() = default;

  /// Takes the vector (move it in to avoid a copy) and owns it from now on.
  explicit TokenStream(std::vector<TokenId> tokens)
      : TokenStream(std::make_shared<const std::vector<TokenId>>(std::move(tokens))) {}

  /// Shares a vector that the caller may also keep.
  explicit TokenStream(std::shared_ptr<const std::vector<TokenId>> tokens)
      : TokenStream(
            std::shared_ptr<const TokenSource>(std::make_shared<VectorTokenSource>(std::move(tokens)))) {}

  /// Any source, e.g. a file-backed one; the stream covers all of it.
  explicit TokenStream(std::shared_ptr<const TokenSource> source) : source_(std::move(source)) {
    if (!source_) throw value_error("TokenStream: null token source");
    size_ = source_->size();
  }

  Index size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// Copies ids [begin, begin + count) of this stream into out[0 .. count).
  void read(Index begin, Index count, TokenId* out) const {
    if (begin < 0 || count < 0 || begin + count > size_) {
      throw value_error(detail::make_message("TokenStream: range [", begin, ", ", begin + count,
                                             ") is outside the stream of ", size_, " tokens"));
    }
    if (count > 0) source_->read(begin_ + begin, count, out);
  }

  /// One id. Convenient for tests and small loops; datasets use read() on whole ranges.
  TokenId operator[](Index position) const {
    TokenId id = 0;
    read(position, 1, &id);
    return id;
  }

  /// The sub-stream [begin, begin + count), sharing the same source.
  TokenStream slice(Index begin, Index count) const {
    if (begin < 0 || count < 0 || begin + count > size_) {
      throw value_error(detail::make_message("TokenStream: slice [", begin, ", ", begin + count,
                                             ") is outside the stream of ", size_, " tokens"));
    }
    TokenStream sub = *this;
    sub.begin_ = begin_ + begin;
    sub.size_ = count;
    return sub;
  }

  /// A copy of the ids, for small streams and tests.
  std::vector<TokenId> to_vector() const {
    std::vector<TokenId> ids(static_cast<size_t>(size_));
    read(0, size_, ids.data());
    return ids;
  }

  /// Where this view starts inside its source (slices of slices add up).
  Index offset_in_source() const { return begin_; }
  const std::shared_ptr<const TokenSource>& source() const { return source_; }

 private:
  std::shared_ptr<const TokenSource> source_;
  Index begin_ = 0;
  Index size_ = 0;
};

}  // namespace seqlm
