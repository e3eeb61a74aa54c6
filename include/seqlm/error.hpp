/// \file
/// Every failure seqlm reports on bad input is an exception derived from seqlm::error
/// (itself a std::runtime_error), so callers can catch one type. The message always
/// says where it happened (layer, file, byte offset) and what was expected vs found.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace seqlm {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A tensor or sequence had the wrong shape, e.g. "LSTM: input has 9 rows, expected 10".
class shape_error : public error {
 public:
  using error::error;
};

/// A value was outside its allowed range: a token id >= vocabulary size, a negative size,
/// a probability outside [0, 1), an empty sequence.
class value_error : public error {
 public:
  using error::error;
};

/// Text that is not valid UTF-8, or a character the tokenizer cannot encode.
class text_error : public error {
 public:
  using error::error;
};

/// A file could not be read or written, or its contents are corrupt or inconsistent.
class file_error : public error {
 public:
  using error::error;
};

/// Training hit a NaN or infinity.
class numeric_error : public error {
 public:
  using error::error;
};

namespace detail {

// Builds a message from any streamable parts: make_message("LSTM: ", 3, " rows").
template <class... Parts>
std::string make_message(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

}  // namespace detail
}  // namespace seqlm
