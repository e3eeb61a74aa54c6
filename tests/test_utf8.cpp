// UTF-8 decoding/encoding, strict validation of every invalid class, chunked decoding,
// lower-casing modes and read_text_file.
#include <doctest/doctest.h>

#include <cstdio>
#include <seqlm/io/utf8.hpp>
#include <string>

namespace utf8_tests {

using namespace seqlm;

namespace {

// The message of the text_error thrown by decoding `bytes` ("" when it decodes).
std::string decode_error(std::string_view bytes) {
  try {
    utf8::decode(bytes);
  } catch (const text_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("decode and encode round trip 1- to 4-byte characters") {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀
  const std::u32string points = utf8::decode(text);
  REQUIRE(points.size() == 4);
  CHECK(points[0] == U'a');
  CHECK(points[1] == 0xE9);
  CHECK(points[2] == 0x20AC);
  CHECK(points[3] == 0x1F600);
  CHECK(utf8::encode(points) == text);
  CHECK(utf8::length(text) == 4);
  // Boundaries of every length.
  for (char32_t c : {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xD7FFu, 0xE000u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    CHECK(utf8::decode(utf8::encode(c)) == std::u32string(1, c));
  }
  CHECK(utf8::decode("").empty());
  CHECK(utf8::encode(std::u32string()).empty());
  CHECK(utf8::is_valid(""));
}

TEST_CASE("Portuguese accents are single characters") {
  const std::u32string points = utf8::decode("ação é já");
  CHECK(points.size() == 9);
  CHECK(points[1] == 0xE7);  // ç
  CHECK(points[2] == 0xE3);  // ã
}

TEST_CASE("encoding surrogates or values above U+10FFFF is a text_error") {
  CHECK_THROWS_AS(utf8::encode(char32_t(0xD800)), text_error);
  CHECK_THROWS_AS(utf8::encode(char32_t(0x110000)), text_error);
  CHECK(utf8::code_point_name(0xE9) == "U+00E9");
  CHECK(utf8::code_point_name(0x1F600) == "U+1F600");
  CHECK(utf8::describe(0xE9) == "U+00E9 '\xC3\xA9'");
  CHECK(utf8::describe(U'\n') == "U+000A");
}

TEST_CASE("every invalid class is reported with offset and bytes") {
  // stray continuation byte
  std::string message = decode_error("ab\x80z");
  CHECK(contains(message, "0x80 at byte offset 2"));
  CHECK(contains(message, "stray continuation"));
  // bytes never valid
  CHECK(contains(decode_error("\xC0\xAF"), "0xC0 at byte offset 0: overlong"));
  CHECK(contains(decode_error("x\xF5\x80\x80\x80"), "0xF5 at byte offset 1"));
  CHECK(contains(decode_error("\xFF"), "0xFF at byte offset 0"));
  // overlong 3- and 4-byte forms
  CHECK(contains(decode_error("\xE0\x80\xAF"), "0xE0 0x80 at byte offset 0: overlong"));
  CHECK(contains(decode_error("\xF0\x8F\xBF\xBF"), "0xF0 0x8F at byte offset 0: overlong"));
  // surrogates
  message = decode_error("ok\xED\xA0\x80");
  CHECK(contains(message, "0xED 0xA0 at byte offset 2"));
  CHECK(contains(message, "surrogate"));
  // above U+10FFFF
  CHECK(contains(decode_error("\xF4\x90\x80\x80"), "above U+10FFFF"));
  // a sequence cut short by a non-continuation byte
  message = decode_error("\xC3(");
  CHECK(contains(message, "0xC3 0x28 at byte offset 0"));
  CHECK(contains(message, "not a continuation byte"));
  // truncated at the end of the buffer
  message = decode_error("abc\xE2\x82");
  CHECK(contains(message, "truncated sequence 0xE2 0x82 at byte offset 3"));
  CHECK(contains(decode_error("\xF0"), "truncated sequence 0xF0 at byte offset 0"));
  CHECK_FALSE(utf8::is_valid("\xE2\x82"));
  CHECK_THROWS_AS(utf8::validate("\xED\xBF\xBF"), text_error);
}

TEST_CASE("the incremental decoder handles sequences split across chunks") {
  const std::string text = "x\xC3\xA9y\xE2\x82\xAC\xF0\x9F\x98\x80z";
  // Split the text at every possible pair of positions into three chunks.
  for (std::size_t first = 0; first <= text.size(); ++first) {
    for (std::size_t second = first; second <= text.size(); ++second) {
      utf8::Decoder decoder;
      std::u32string out;
      decoder.feed(std::string_view(text).substr(0, first), out);
      decoder.feed(std::string_view(text).substr(first, second - first), out);
      decoder.feed(std::string_view(text).substr(second), out);
      decoder.finish();
      CHECK(out == utf8::decode(text));
    }
  }
  // Offsets are those of the whole stream; an empty chunk changes nothing.
  utf8::Decoder decoder;
  std::vector<std::size_t> offsets;
  auto record = [&offsets](char32_t, std::size_t offset) { offsets.push_back(offset); };
  decoder.feed("a\xE2", record);
  decoder.feed("", record);
  CHECK_FALSE(decoder.at_boundary());
  decoder.feed(
      "\x82\xAC"
      "b",
      record);
  decoder.finish();
  CHECK(offsets == std::vector<std::size_t>{0, 1, 4});
  CHECK(decoder.bytes_consumed() == 5);

  // An error in the second chunk reports its stream offset; a truncated tail only on finish().
  utf8::Decoder bad;
  std::u32string out;
  bad.feed("abcd", out);
  try {
    bad.feed("\xC3\xC3", out);
    FAIL("expected a text_error");
  } catch (const text_error& e) {
    CHECK(contains(e.what(), "0xC3 0xC3 at byte offset 4"));
  }
  utf8::Decoder truncated;
  truncated.feed("ab\xF0\x9F", out);
  CHECK_THROWS_WITH_AS(truncated.finish(), doctest::Contains("byte offset 2"), text_error);
}

TEST_CASE("printable escapes control characters and invalid bytes for messages") {
  using namespace std::string_literals;
  CHECK(utf8::printable("plain ASCII, ação, 日本, 😀") == "plain ASCII, ação, 日本, 😀");
  CHECK(utf8::printable("\x01\x02"
                        "bin\0ary,\x1b[31mred\n\t\x7f"s) ==
        "\\x01\\x02bin\\x00ary,\\x1B[31mred\\x0A\\x09\\x7F");
  CHECK(utf8::printable("\xff\xc3 \xe2\x82") == "\\xFF\\xC3 \\xE2\\x82");           // invalid or cut short
  CHECK(utf8::printable("\xc0\xaf \xed\xa0\x80") == "\\xC0\\xAF \\xED\\xA0\\x80");  // overlong, surrogate
  CHECK(utf8::printable("\xc2\x85|\xc2\xa0") ==
        "\\xC2\\x85|\xc2\xa0");  // C1 control NEL; no-break space kept
  CHECK(utf8::printable("") == "");
}

TEST_CASE("lower-casing modes") {
  const std::string text = "ÀÉÎÕÜ×Þ ĀŽ Ÿ İ ΑΩΣ АЯЁ ẞẠ Kelvin\xE2\x84\xAA ABC";
  CHECK(to_lower(text, LowerCase::none) == text);
  CHECK(to_lower(text, LowerCase::ascii) == "ÀÉÎÕÜ×Þ ĀŽ Ÿ İ ΑΩΣ АЯЁ ẞẠ kelvin\xE2\x84\xAA abc");
  CHECK(to_lower(text, LowerCase::unicode) == "àéîõü×þ āž ÿ i αωσ аяё ßạ kelvink abc");
  // Every letter of Latin-1 À..Þ except × maps to +0x20; Latin Extended-A pairs.
  for (char32_t c = 0xC0; c <= 0xDE; ++c)
    CHECK(to_lower(c, LowerCase::unicode) == (c == 0xD7 ? c : c + 0x20));
  for (char32_t c = 0x100; c <= 0x12F; ++c) CHECK(to_lower(c, LowerCase::unicode) == (c | 1));
  CHECK(to_lower(char32_t(0x139), LowerCase::unicode) == 0x13A);
  CHECK(to_lower(char32_t(0x17F), LowerCase::unicode) == 0x17F);  // ſ has no lower case
  CHECK(to_lower(char32_t(0x1C4), LowerCase::unicode) == 0x1C6);  // Ǆ -> ǆ
  CHECK(to_lower(char32_t(0x1C5), LowerCase::unicode) == 0x1C6);  // ǅ -> ǆ
  CHECK(to_lower(char32_t(0x386), LowerCase::unicode) == 0x3AC);  // Ά -> ά
  CHECK(to_lower(char32_t(0x410), LowerCase::ascii) == 0x410);
  CHECK(to_lower(char32_t(0x4E9), LowerCase::unicode) == 0x4E9);  // already lower
  CHECK(to_lower(char32_t(0x1F600), LowerCase::unicode) == 0x1F600);
  CHECK_THROWS_AS(to_lower("A\xC3", LowerCase::ascii), text_error);
  CHECK_THROWS_AS(to_lower("A\xC3", LowerCase::unicode), text_error);
  CHECK(lower_case_from_name(lower_case_name(LowerCase::unicode)) == LowerCase::unicode);
  CHECK_THROWS_AS(lower_case_from_name("upper"), value_error);
}

TEST_CASE("ascii_lower lower-cases only A to Z and leaves every other byte alone") {
  CHECK(ascii_lower("RMSprop") == "rmsprop");
  CHECK(ascii_lower("") == "");
  CHECK(ascii_lower("ÀB@[`{Z") == "Àb@[`{z");  // '@' and '[' border 'A'..'Z'; UTF-8 bytes kept
  CHECK(ascii_lower("A\xC3") == "a\xC3");      // no validation: names are compared, not decoded
}

TEST_CASE("read_text_file reads bytes and names the path on failure") {
  const std::string path = "seqlm_test_utf8_read.txt";
  {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    REQUIRE(file != nullptr);
    std::fputs("line 1\r\nação\n", file);
    std::fclose(file);
  }
  CHECK(read_text_file(path) == "line 1\r\nação\n");
  std::remove(path.c_str());
  CHECK_THROWS_WITH_AS(read_text_file("/nonexistent/seqlm.txt"),
                       doctest::Contains("\"/nonexistent/seqlm.txt\": No such file or directory"),
                       file_error);
  CHECK_THROWS_AS(read_text_file("/"), file_error);  // a directory cannot be read
}

}  // namespace utf8_tests
