/// \file
/// UTF-8 <-> Unicode code points, strict validation, and lower-casing.
///
/// Every text in seqlm is UTF-8 bytes (std::string / std::string_view). The tokenizers work
/// on code points (char32_t): "é" is one character, not two bytes. Decoding is strict; any
/// of these is a text_error whose message gives the byte offset and the offending bytes:
///   * a stray continuation byte (0x80-0xBF where a sequence should start),
///   * a byte that never occurs in UTF-8 (0xC0, 0xC1, 0xF5-0xFF),
///   * an overlong form (e.g. 0xE0 0x80 0xAF for '/'),
///   * a UTF-16 surrogate (U+D800-U+DFFF, 0xED 0xA0-0xBF ..),
///   * a code point above U+10FFFF (0xF4 0x90-0xBF ..),
///   * a sequence cut short by the next lead byte or by the end of the input.
///
/// The valid byte patterns (Unicode Table 3-7) that the decoder enforces:
/// ```text
///   U+0000..U+007F     00-7F
///   U+0080..U+07FF     C2-DF 80-BF
///   U+0800..U+0FFF     E0    A0-BF 80-BF
///   U+1000..U+CFFF     E1-EC 80-BF 80-BF
///   U+D000..U+D7FF     ED    80-9F 80-BF
///   U+E000..U+FFFF     EE-EF 80-BF 80-BF
///   U+10000..U+3FFFF   F0    90-BF 80-BF 80-BF
///   U+40000..U+FFFFF   F1-F3 80-BF 80-BF 80-BF
///   U+100000..U+10FFFF F4    80-8F 80-BF 80-BF
/// ```
///
/// utf8::Decoder works incrementally over chunks, so a file can be streamed and a multi-byte
/// sequence may be split across two chunks. read_text_file() reads a whole file into memory.
/// printable() escapes any bytes for showing them in a message.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "ascii.hpp"
#include "posix_file.hpp"

namespace seqlm {

/// How to lower-case text before it is tokenized.
/// ```text
///   none    - keep the text as it is;
///   ascii   - only 'A'-'Z' -> 'a'-'z';
///   unicode - Unicode simple case mapping (one code point to one code point) for ASCII, Latin-1
///             Supplement, Latin Extended-A/B, Greek and Coptic, Cyrillic (+ Supplement), Latin
///             Extended Additional and the Ohm/Kelvin/Angstrom signs. Other code points are kept.
///             This equals Python's str.lower() on those ranges except where Python applies a
///             multi-character or context rule: U+0130 'İ' -> 'i' (Python: "i̇"), and final
///             sigma (Python lower-cases a word-final 'Σ' to 'ς'; here it is always 'σ').
/// ```
enum class LowerCase { none, ascii, unicode };

namespace detail {

// A run of upper-case code points first, first+stride, ..., last whose lower case is
// code point + delta. Generated from Python 3's unicodedata (Unicode 14) with
// chr(c).lower() where it is a single code point; sorted by `first`.
struct LowerCaseRun {
  char32_t first;
  char32_t last;
  int stride;
  int delta;
};

inline constexpr LowerCaseRun lower_case_runs[] = {
    {0x00C0, 0x00D6, 1, 32},    {0x00D8, 0x00DE, 1, 32},    {0x0100, 0x012E, 2, 1},
    {0x0130, 0x0130, 1, -199},  {0x0132, 0x0136, 2, 1},     {0x0139, 0x0147, 2, 1},
    {0x014A, 0x0176, 2, 1},     {0x0178, 0x0178, 1, -121},  {0x0179, 0x017D, 2, 1},
    {0x0181, 0x0181, 1, 210},   {0x0182, 0x0184, 2, 1},     {0x0186, 0x0186, 1, 206},
    {0x0187, 0x0187, 1, 1},     {0x0189, 0x018A, 1, 205},   {0x018B, 0x018B, 1, 1},
    {0x018E, 0x018E, 1, 79},    {0x018F, 0x018F, 1, 202},   {0x0190, 0x0190, 1, 203},
    {0x0191, 0x0191, 1, 1},     {0x0193, 0x0193, 1, 205},   {0x0194, 0x0194, 1, 207},
    {0x0196, 0x0196, 1, 211},   {0x0197, 0x0197, 1, 209},   {0x0198, 0x0198, 1, 1},
    {0x019C, 0x019C, 1, 211},   {0x019D, 0x019D, 1, 213},   {0x019F, 0x019F, 1, 214},
    {0x01A0, 0x01A4, 2, 1},     {0x01A6, 0x01A6, 1, 218},   {0x01A7, 0x01A7, 1, 1},
    {0x01A9, 0x01A9, 1, 218},   {0x01AC, 0x01AC, 1, 1},     {0x01AE, 0x01AE, 1, 218},
    {0x01AF, 0x01AF, 1, 1},     {0x01B1, 0x01B2, 1, 217},   {0x01B3, 0x01B5, 2, 1},
    {0x01B7, 0x01B7, 1, 219},   {0x01B8, 0x01B8, 1, 1},     {0x01BC, 0x01BC, 1, 1},
    {0x01C4, 0x01C4, 1, 2},     {0x01C5, 0x01C5, 1, 1},     {0x01C7, 0x01C7, 1, 2},
    {0x01C8, 0x01C8, 1, 1},     {0x01CA, 0x01CA, 1, 2},     {0x01CB, 0x01DB, 2, 1},
    {0x01DE, 0x01EE, 2, 1},     {0x01F1, 0x01F1, 1, 2},     {0x01F2, 0x01F4, 2, 1},
    {0x01F6, 0x01F6, 1, -97},   {0x01F7, 0x01F7, 1, -56},   {0x01F8, 0x021E, 2, 1},
    {0x0220, 0x0220, 1, -130},  {0x0222, 0x0232, 2, 1},     {0x023A, 0x023A, 1, 10795},
    {0x023B, 0x023B, 1, 1},     {0x023D, 0x023D, 1, -163},  {0x023E, 0x023E, 1, 10792},
    {0x0241, 0x0241, 1, 1},     {0x0243, 0x0243, 1, -195},  {0x0244, 0x0244, 1, 69},
    {0x0245, 0x0245, 1, 71},    {0x0246, 0x024E, 2, 1},     {0x0370, 0x0372, 2, 1},
    {0x0376, 0x0376, 1, 1},     {0x037F, 0x037F, 1, 116},   {0x0386, 0x0386, 1, 38},
    {0x0388, 0x038A, 1, 37},    {0x038C, 0x038C, 1, 64},    {0x038E, 0x038F, 1, 63},
    {0x0391, 0x03A1, 1, 32},    {0x03A3, 0x03AB, 1, 32},    {0x03CF, 0x03CF, 1, 8},
    {0x03D8, 0x03EE, 2, 1},     {0x03F4, 0x03F4, 1, -60},   {0x03F7, 0x03F7, 1, 1},
    {0x03F9, 0x03F9, 1, -7},    {0x03FA, 0x03FA, 1, 1},     {0x03FD, 0x03FF, 1, -130},
    {0x0400, 0x040F, 1, 80},    {0x0410, 0x042F, 1, 32},    {0x0460, 0x0480, 2, 1},
    {0x048A, 0x04BE, 2, 1},     {0x04C0, 0x04C0, 1, 15},    {0x04C1, 0x04CD, 2, 1},
    {0x04D0, 0x052E, 2, 1},     {0x1E00, 0x1E94, 2, 1},     {0x1E9E, 0x1E9E, 1, -7615},
    {0x1EA0, 0x1EFE, 2, 1},     {0x2126, 0x2126, 1, -7517}, {0x212A, 0x212A, 1, -8383},
    {0x212B, 0x212B, 1, -8262},
};

inline std::string hex_byte(unsigned char byte) {
  const char* digits = "0123456789ABCDEF";
  std::string text = "0x";
  text += digits[byte >> 4];
  text += digits[byte & 0xF];
  return text;
}

// "0xE2 0x82" for the bytes of a (partial) sequence.
inline std::string hex_bytes(const unsigned char* bytes, std::size_t count) {
  std::string text;
  for (std::size_t k = 0; k < count; ++k) {
    if (k > 0) text += ' ';
    text += hex_byte(bytes[k]);
  }
  return text;
}

}  // namespace detail

namespace utf8 {

inline constexpr char32_t max_code_point = 0x10FFFF;

/// True for U+0000..U+10FFFF without the surrogates U+D800..U+DFFF.
inline bool is_scalar_value(char32_t c) { return c <= max_code_point && !(c >= 0xD800 && c <= 0xDFFF); }

/// Appends the UTF-8 bytes of code point c (1 to 4 bytes). Surrogates and values above
/// U+10FFFF cannot be encoded: text_error.
inline void append(std::string& out, char32_t c) {
  if (!is_scalar_value(c)) {
    throw text_error(detail::make_message("UTF-8: cannot encode U+", std::hex, std::uppercase,
                                          static_cast<std::uint32_t>(c), " (a surrogate or above U+10FFFF)"));
  }
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

/// The UTF-8 bytes of one code point.
inline std::string encode(char32_t c) {
  std::string out;
  append(out, c);
  return out;
}

/// The UTF-8 bytes of a sequence of code points.
inline std::string encode(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t c : code_points) append(out, c);
  return out;
}

/// "U+00E9" - the conventional name of a code point, for messages.
inline std::string code_point_name(char32_t c) {
  const char* digits = "0123456789ABCDEF";
  std::string hex;
  for (auto value = static_cast<std::uint32_t>(c); value != 0 || hex.size() < 4; value >>= 4) {
    hex.insert(hex.begin(), digits[value & 0xF]);
  }
  return "U+" + hex;
}

/// "U+00E9 'é'" - the code point and, when printable, the character itself (control
/// characters and whitespace are shown by name only).
inline std::string describe(char32_t c) {
  std::string text = code_point_name(c);
  if (c > 0x20 && c != 0x7F && !(c >= 0x80 && c < 0xA0) && is_scalar_value(c)) {
    text += " '" + encode(c) + "'";
  }
  return text;
}

/// Incremental, strict UTF-8 decoder. Feed it chunks of bytes in order; it emits each code
/// point as soon as its last byte arrives, keeping an incomplete sequence at the end of a
/// chunk until the next one. Call finish() after the last chunk: an incomplete sequence
/// left over then is an error ("truncated"). Byte offsets in messages count from the first
/// byte ever fed.
///
/// ```cpp
///   utf8::Decoder decoder;
///   std::u32string text;
///   decoder.feed(chunk1, [&](char32_t c, std::size_t offset) { text += c; });
///   decoder.feed(chunk2, ...);
///   decoder.finish();
/// ```
class Decoder {
 public:
  /// `first_offset` is the stream offset of the first byte that will be fed (for messages
  /// about a text embedded in a larger buffer, e.g.\ a JSON string).
  explicit Decoder(std::size_t first_offset = 0) : offset_(first_offset) {}

  /// Decodes `bytes`, calling on_code_point(char32_t c, std::size_t byte_offset) for every
  /// complete code point; byte_offset is where its first byte sits in the whole stream.
  template <class OnCodePoint>
  void feed(std::string_view bytes, OnCodePoint&& on_code_point) {
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t size = bytes.size();
    std::size_t k = 0;
    // First complete a sequence left over from the previous chunk.
    while (pending_count_ > 0 && k < size) {
      accept_continuation(data[k], offset_ + k);
      if (pending_count_ == expected_length_) {
        on_code_point(pending_value_, pending_offset_);
        pending_count_ = 0;
      }
      ++k;
    }
    while (k < size) {
      const unsigned char lead = data[k];
      if (lead < 0x80) {  // ASCII fast path
        on_code_point(static_cast<char32_t>(lead), offset_ + k);
        ++k;
        continue;
      }
      start_sequence(lead, offset_ + k);
      ++k;
      while (pending_count_ < expected_length_ && k < size) {
        accept_continuation(data[k], offset_ + k);
        ++k;
      }
      if (pending_count_ == expected_length_) {
        on_code_point(pending_value_, pending_offset_);
        pending_count_ = 0;
      }
    }
    offset_ += size;
  }

  /// Decodes `bytes`, appending the code points to `out`.
  void feed(std::string_view bytes, std::u32string& out) {
    feed(bytes, [&out](char32_t c, std::size_t) { out += c; });
  }

  /// Declares the end of the input: a sequence still incomplete is a text_error.
  void finish() {
    if (pending_count_ > 0) {
      const std::size_t count = pending_count_;
      pending_count_ = 0;
      throw text_error(detail::make_message("UTF-8: truncated sequence ", detail::hex_bytes(pending_, count),
                                            " at byte offset ", pending_offset_, ": expected ",
                                            expected_length_, " bytes, the input ended after ", count));
    }
  }

  /// Stream offset of the next byte to be fed (first_offset + bytes fed so far).
  std::size_t bytes_consumed() const { return offset_; }

  /// True when no partial sequence is waiting for more bytes.
  bool at_boundary() const { return pending_count_ == 0; }

 private:
  // Reads a lead byte >= 0x80 and sets the expected sequence length and the allowed range
  // of the second byte (which rules out overlongs, surrogates and values > U+10FFFF).
  void start_sequence(unsigned char lead, std::size_t offset) {
    pending_offset_ = offset;
    pending_[0] = lead;
    pending_count_ = 1;
    second_min_ = 0x80;
    second_max_ = 0xBF;
    if (lead >= 0x80 && lead <= 0xBF) {
      fail(offset, 1, "stray continuation byte (no lead byte before it)");
    } else if (lead == 0xC0 || lead == 0xC1) {
      fail(offset, 1, "overlong encoding (lead byte 0xC0/0xC1 encodes an ASCII character in 2 bytes)");
    } else if (lead <= 0xDF) {
      expected_length_ = 2;
      pending_value_ = lead & 0x1F;
    } else if (lead <= 0xEF) {
      expected_length_ = 3;
      pending_value_ = lead & 0x0F;
      if (lead == 0xE0) second_min_ = 0xA0;  // below: overlong
      if (lead == 0xED) second_max_ = 0x9F;  // above: surrogates U+D800..U+DFFF
    } else if (lead <= 0xF4) {
      expected_length_ = 4;
      pending_value_ = lead & 0x07;
      if (lead == 0xF0) second_min_ = 0x90;  // below: overlong
      if (lead == 0xF4) second_max_ = 0x8F;  // above: > U+10FFFF
    } else {
      fail(offset, 1, "byte never valid in UTF-8 (0xF5-0xFF would encode a code point above U+10FFFF)");
    }
  }

  void accept_continuation(unsigned char byte, std::size_t offset) {
    pending_[pending_count_ & 3] = byte;  // pending_count_ is 1..3 here; the mask tells the compiler so
    const bool is_second = pending_count_ == 1;
    if (byte < 0x80 || byte > 0xBF) {
      fail(pending_offset_, pending_count_ + 1,
           detail::make_message("sequence cut short: byte ", detail::hex_byte(byte), " at byte offset ",
                                offset, " is not a continuation byte (expected ", expected_length_,
                                " bytes)"));
    }
    if (is_second && (byte < second_min_ || byte > second_max_)) {
      const unsigned char lead = pending_[0];
      const char* what = (lead == 0xE0 || lead == 0xF0) ? "overlong encoding"
                         : lead == 0xED                 ? "UTF-16 surrogate (U+D800..U+DFFF)"
                                                        : "code point above U+10FFFF";
      fail(pending_offset_, 2, what);
    }
    pending_value_ = (pending_value_ << 6) | (byte & 0x3F);
    ++pending_count_;
  }

  [[noreturn]] void fail(std::size_t offset, std::size_t count, const std::string& what) {
    const std::string bytes = detail::hex_bytes(pending_, count);
    pending_count_ = 0;
    throw text_error(
        detail::make_message("UTF-8: invalid byte sequence ", bytes, " at byte offset ", offset, ": ", what));
  }

  std::size_t offset_ = 0;           // stream offset of the first byte of the current chunk
  unsigned char pending_[4] = {};    // bytes of the incomplete sequence
  std::size_t pending_count_ = 0;    // how many of them we have
  std::size_t expected_length_ = 0;  // how many the sequence needs
  std::size_t pending_offset_ = 0;   // stream offset of its lead byte
  char32_t pending_value_ = 0;       // code point bits accumulated so far
  unsigned char second_min_ = 0x80, second_max_ = 0xBF;
};

/// Decodes a whole UTF-8 text to code points (text_error on invalid input).
inline std::u32string decode(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  Decoder decoder;
  decoder.feed(bytes, out);
  decoder.finish();
  return out;
}

/// Throws text_error (with the byte offset) unless `bytes` is valid UTF-8.
inline void validate(std::string_view bytes) {
  Decoder decoder;
  decoder.feed(bytes, [](char32_t, std::size_t) {});
  decoder.finish();
}

/// True when `bytes` is valid UTF-8.
inline bool is_valid(std::string_view bytes) {
  try {
    validate(bytes);
    return true;
  } catch (const text_error&) {
    return false;
  }
}

/// `text` made safe to show in a message, on one line: printable ASCII and valid UTF-8
/// sequences of printable characters are kept; control characters (newlines and NUL included),
/// DEL, C1 controls (U+0080..U+009F) and bytes that are not valid UTF-8 become "\xNN". For
/// echoing file contents such as a binary CSV header.
inline std::string printable(std::string_view text) {
  static const char* const digits = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (std::size_t k = 0; k < text.size();) {
    const auto lead = static_cast<unsigned char>(text[k]);
    // The sequence's length from its lead byte (1 for ASCII); kept when it is valid UTF-8 and
    // printable, otherwise only its first byte is escaped and the next byte is looked at.
    const std::size_t length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    const bool keep = length == 1 ? (lead >= 0x20 && lead != 0x7F)
                                  : k + length <= text.size() && is_valid(text.substr(k, length)) &&
                                        !(lead == 0xC2 && static_cast<unsigned char>(text[k + 1]) < 0xA0);
    if (keep) {
      out.append(text.substr(k, length));
      k += length;
    } else {
      out += "\\x";
      out += digits[lead >> 4];
      out += digits[lead & 0xF];
      ++k;
    }
  }
  return out;
}

/// Number of code points in a valid UTF-8 text (text_error otherwise).
inline std::size_t length(std::string_view bytes) {
  std::size_t count = 0;
  Decoder decoder;
  decoder.feed(bytes, [&count](char32_t, std::size_t) { ++count; });
  decoder.finish();
  return count;
}

}  // namespace utf8

/// Lower case of one code point under `mode` (see LowerCase).
inline char32_t to_lower(char32_t c, LowerCase mode) {
  if (mode == LowerCase::none) return c;
  if (c >= U'A' && c <= U'Z') return c + (U'a' - U'A');
  if (mode == LowerCase::ascii || c < 0xC0) return c;
  // Binary search for the last run starting at or before c.
  const auto* begin = std::begin(detail::lower_case_runs);
  const auto* end = std::end(detail::lower_case_runs);
  const auto* after = std::upper_bound(
      begin, end, c, [](char32_t value, const detail::LowerCaseRun& run) { return value < run.first; });
  if (after == begin) return c;
  const detail::LowerCaseRun& run = *(after - 1);
  if (c > run.last || (c - run.first) % static_cast<char32_t>(run.stride) != 0) return c;
  return static_cast<char32_t>(static_cast<std::int64_t>(c) + run.delta);
}

/// Lower-cases a UTF-8 text under `mode` (text_error on invalid UTF-8 unless mode is none,
/// which returns the bytes unchanged).
inline std::string to_lower(std::string_view text, LowerCase mode) {
  if (mode == LowerCase::none) return std::string(text);
  std::string out;
  out.reserve(text.size());
  if (mode == LowerCase::ascii) {
    // Only bytes 'A'-'Z' change and no UTF-8 multi-byte sequence contains them, but the
    // input must still be valid UTF-8.
    utf8::validate(text);
    return ascii_lower(text);
  }
  utf8::Decoder decoder;
  decoder.feed(text, [&out](char32_t c, std::size_t) { utf8::append(out, to_lower(c, LowerCase::unicode)); });
  decoder.finish();
  return out;
}

/// Parses "none" / "ascii" / "unicode" (value_error otherwise) and back.
inline const char* lower_case_name(LowerCase mode) {
  switch (mode) {
    case LowerCase::none: return "none";
    case LowerCase::ascii: return "ascii";
    case LowerCase::unicode: return "unicode";
  }
  return "none";
}

inline LowerCase lower_case_from_name(std::string_view name) {
  if (name == "none") return LowerCase::none;
  if (name == "ascii") return LowerCase::ascii;
  if (name == "unicode") return LowerCase::unicode;
  throw value_error(detail::make_message("LowerCase: unknown mode \"", name,
                                         "\", expected \"none\", \"ascii\" or \"unicode\""));
}

/// Reads a whole file as bytes (no decoding, no newline translation). file_error naming the
/// path and the system's reason (errno text) when it cannot be opened or read, and when it
/// holds more than `max_bytes` bytes: a regular file is refused by its size before anything
/// is read, anything else (a pipe, /proc) once it has given more.
inline std::string read_text_file(const std::string& path,
                                  std::size_t max_bytes = std::numeric_limits<std::size_t>::max()) {
  detail::ReadOnlyFile file(path, "read_text_file");
  auto too_long = [&](const std::string& size) {
    throw file_error(detail::make_message("read_text_file: \"", path, "\" has ", size,
                                          " bytes, more than the limit of ", max_bytes, " bytes"));
  };
  std::string bytes;
  const std::int64_t size = file.regular_size();
  if (size > 0) {
    if (static_cast<std::uint64_t>(size) > max_bytes) too_long(std::to_string(size));
    bytes.reserve(static_cast<std::size_t>(size));
  }
  std::vector<char> buffer(1 << 16);
  while (const std::size_t count = file.read_some(buffer.data(), buffer.size())) {
    if (count > max_bytes - bytes.size()) too_long(detail::make_message("at least ", bytes.size() + count));
    bytes.append(buffer.data(), count);
  }
  return bytes;
}

}  // namespace seqlm
