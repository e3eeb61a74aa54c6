// UTF-8 (io/utf8.hpp): the strict decoder on arbitrary bytes, whole and in chunks.
//
// Properties:
//   * chunked == whole: feeding the bytes in pieces (cut where the input's first byte says)
//     gives the same code points at the same offsets, or the same error message;
//   * decode, validate, is_valid and length agree on every input;
//   * every decoded code point is a Unicode scalar value and encode(decode(x)) == x;
//   * lower-casing valid text gives valid text, the ASCII mode keeps the length, and
//     lower-casing twice changes nothing more (to_lower is idempotent).
#include <cstddef>
#include <cstdint>
#include <seqlm/io/utf8.hpp>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_common.hpp"

using namespace seqlm;

namespace {

struct Decoded {
  std::vector<std::pair<char32_t, std::size_t>> points;  // code point, offset of its first byte
  std::string error;                                     // empty when the text is valid
};

// Decodes `text` fed in pieces of `piece` bytes (0: all at once).
Decoded decode_in_pieces(std::string_view text, std::size_t piece) {
  Decoded out;
  utf8::Decoder decoder;
  const auto emit = [&out](char32_t c, std::size_t offset) { out.points.emplace_back(c, offset); };
  try {
    if (piece == 0) {
      decoder.feed(text, emit);
    } else {
      for (std::size_t at = 0; at < text.size(); at += piece) decoder.feed(text.substr(at, piece), emit);
    }
    fuzz::check(decoder.bytes_consumed() == text.size(), "the decoder counts every byte fed");
    decoder.finish();
    fuzz::check(decoder.at_boundary(), "no partial sequence after finish()");
  } catch (const text_error& e) {
    out.error = e.what();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::bytes(data, size);
  const Decoded whole = decode_in_pieces(text, 0);
  const std::size_t piece = size == 0 ? 1 : 1 + data[0] % 5;
  for (const std::size_t cut : {std::size_t{1}, piece}) {
    const Decoded chunked = decode_in_pieces(text, cut);
    fuzz::check(chunked.error == whole.error, "chunked decoding fails exactly like whole decoding");
    if (whole.error.empty()) fuzz::check(chunked.points == whole.points, "chunked == whole decoding");
  }

  const bool valid = whole.error.empty();
  fuzz::check(utf8::is_valid(text) == valid, "is_valid agrees with the decoder");
  fuzz::check(fuzz::accepted([&] { utf8::validate(text); }) == valid, "validate agrees with the decoder");
  const std::optional<std::u32string> points = fuzz::refused_or([&] { return utf8::decode(text); });
  fuzz::check(points.has_value() == valid, "decode agrees with the decoder");
  if (!valid) {
    // Every mode but `none` refuses invalid text; `none` returns it unchanged.
    fuzz::check(!fuzz::accepted([&] { to_lower(text, LowerCase::unicode); }), "to_lower refuses bad UTF-8");
    fuzz::check(!fuzz::accepted([&] { to_lower(text, LowerCase::ascii); }), "to_lower refuses bad UTF-8");
    fuzz::check(to_lower(text, LowerCase::none) == text, "LowerCase::none keeps the bytes");
    return 0;
  }

  fuzz::check(utf8::length(text) == points->size(), "length() counts the code points");
  for (const char32_t c : *points) {
    fuzz::check(utf8::is_scalar_value(c), "decoded code points are scalar values");
    fuzz::check(!utf8::describe(c).empty(), "describe() names every code point");
  }
  fuzz::check(fuzz::must("encode(decode(x))", [&] { return utf8::encode(*points); }) == text,
              "encode(decode(x)) == x");

  const std::string ascii = fuzz::must("to_lower ascii", [&] { return to_lower(text, LowerCase::ascii); });
  fuzz::check(ascii.size() == text.size(), "ASCII lower-casing keeps the length");
  const std::string lower =
      fuzz::must("to_lower unicode", [&] { return to_lower(text, LowerCase::unicode); });
  fuzz::check(utf8::is_valid(lower), "lower-cased text is valid UTF-8");
  fuzz::check(utf8::length(lower) == points->size(), "lower-casing maps one code point to one");
  fuzz::check(to_lower(lower, LowerCase::unicode) == lower, "to_lower is idempotent");
  fuzz::check(to_lower(ascii, LowerCase::ascii) == ascii, "ASCII to_lower is idempotent");
  return 0;
}
