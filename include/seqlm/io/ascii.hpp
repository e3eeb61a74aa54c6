/// \file
/// ASCII helpers for the names in file formats and options ("Adam", "LSTM"), kept apart from
/// io/utf8.hpp so that code which only compares such names does not pull in UTF-8 decoding.
#pragma once

#include <string>
#include <string_view>

namespace seqlm {

/// `text` with 'A'-'Z' lower-cased and every other byte unchanged ("RMSprop" -> "rmsprop").
/// No multi-byte UTF-8 sequence contains a byte in 'A'-'Z', so UTF-8 text stays valid.
inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& byte : out) {
    if (byte >= 'A' && byte <= 'Z') byte = static_cast<char>(byte - 'A' + 'a');
  }
  return out;
}

}  // namespace seqlm
