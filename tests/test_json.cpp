// JSON: round trips, exact integers, escapes, strictness (every error class) and limits.
#include <doctest/doctest.h>

#include <cstdio>
#include <seqlm/io/json.hpp>
#include <string>

using namespace seqlm;

namespace {

// The message of the value_error thrown by parsing `text` ("" when it parses).
std::string parse_error(std::string_view text, const json::ParseOptions& options = {}) {
  try {
    json::parse(text, options);
  } catch (const value_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("parse and dump round trip, keeping member order") {
  const std::string text =
      R"({"name":"lstm","units":128,"ratio":0.25,"ok":true,"none":null,"list":[1,-2,3.5e-07,"x",[],{}],)"
      R"("zeta":{"b":1,"a":2}})";
  const json::Value value = json::parse(text);
  CHECK(value.dump() == text);
  CHECK(json::parse(value.dump(2)) == value);
  CHECK(value.get_string("name") == "lstm");
  CHECK(value.get_int64("units") == 128);
  CHECK(value.get_double("ratio") == 0.25);
  CHECK(value.get_bool("ok"));
  CHECK(value.at("none").is_null());
  CHECK(value.get_array("list").size() == 6);
  CHECK(value.at("list").at(2).as_double() == 3.5e-7);
  CHECK(value.get_object("zeta").as_object()[0].first == "b");
  CHECK(value.size() == 7);
  CHECK(value.find("missing") == nullptr);
  CHECK(json::parse("  [ 1 , 2 ]\n").dump() == "[1,2]");
  CHECK(json::parse("\"\"").as_string().empty());
}

TEST_CASE("pretty printing is deterministic") {
  json::Value value = json::Value::object();
  value.set("a", 1).set("b", json::Value::Array{true, nullptr}).set("c", json::Value::object());
  value.set("a", "replaced");  // replaces in place, order kept
  CHECK(value.dump() == R"({"a":"replaced","b":[true,null],"c":{}})");
  CHECK(value.dump(2) == "{\n  \"a\": \"replaced\",\n  \"b\": [\n    true,\n    null\n  ],\n  \"c\": {}\n}");
  CHECK(value.dump(0) == "{\n\"a\": \"replaced\",\n\"b\": [\ntrue,\nnull\n],\n\"c\": {}\n}");
}

TEST_CASE("numbers: exact int64, shortest doubles, strict grammar") {
  CHECK(json::parse("9007199254740993").as_int64() == 9007199254740993LL);  // 2^53 + 1
  CHECK(json::parse("-9223372036854775808").as_int64() == std::numeric_limits<std::int64_t>::min());
  CHECK(json::parse("9223372036854775808").as_double() == 9223372036854775808.0);  // beyond int64
  CHECK(json::parse("1e3").as_int64() == 1000);  // integral value in double form
  CHECK_THROWS_AS(json::parse("1.5").as_int64(), value_error);
  CHECK(json::parse("0.1").dump() == "0.1");
  CHECK(json::Value(1.0 / 3.0).dump() == "0.3333333333333333");
  CHECK(json::parse(json::Value(1.0 / 3.0).dump()).as_double() == 1.0 / 3.0);
  CHECK(json::Value(std::uint64_t{42}).dump() == "42");
  CHECK(std::signbit(json::parse("-0").as_double()));
  CHECK(json::parse("1e-400").as_double() == 0.0);
  CHECK(contains(parse_error("1e400"), "out of the double range"));
  CHECK(contains(parse_error("01"), "leading zero in number at byte offset 0"));
  CHECK(contains(parse_error("[1.]"), "expected a digit after the decimal point"));
  CHECK(contains(parse_error("1e"), "expected a digit in the exponent"));
  CHECK(contains(parse_error("-"), "expected a digit in number"));
  CHECK(contains(parse_error("+1"), "expected a value, found '+'"));
  CHECK(contains(parse_error("NaN"), "expected a value"));
  CHECK(contains(parse_error("[Infinity]"), "expected a value"));
  CHECK_THROWS_AS(json::Value(std::nan("")).dump(), value_error);
  CHECK_THROWS_AS(json::Value(std::numeric_limits<std::uint64_t>::max()), value_error);
}

TEST_CASE("strings: every escape, surrogate pairs, UTF-8 validation") {
  const json::Value value = json::parse(R"("q\" b\\ s\/ \b\f\n\r\t \u00e9 \u20AC \ud83d\ude00 \u0000!")");
  CHECK(value.as_string() == std::string("q\" b\\ s/ \b\f\n\r\t é € 😀 ") + std::string(1, '\0') + "!");
  CHECK(json::parse(value.dump()) == value);
  CHECK(json::Value(std::string("\x01\x1F\x7F")).dump() == "\"\\u0001\\u001f\x7F\"");
  CHECK(json::parse("\"ação\"").as_string() == "ação");
  CHECK(contains(parse_error(R"("\ud83d")"),
                 "high surrogate \\u escape without a low surrogate at byte offset 1"));
  CHECK(contains(parse_error(R"("\ud83d\u0041")"), "without a low surrogate"));
  CHECK(contains(parse_error(R"("\ude00")"), "lone low surrogate"));
  CHECK(contains(parse_error(R"("\u12G4")"), "invalid hex digit"));
  CHECK(contains(parse_error(R"("\u12")"), "truncated \\u escape"));
  CHECK(contains(parse_error(R"("\x")"), "invalid escape character 'x'"));
  CHECK(contains(parse_error("\"a\nb\""),
                 "unescaped control character byte 0x0A in string at byte offset 2 (line 1"));
  CHECK(contains(parse_error("\"abc"), "unterminated string starting at byte offset 0"));
  CHECK(contains(parse_error("[\"ok\", \"\xC3(\"]"),
                 "invalid UTF-8 in a string: UTF-8: invalid byte sequence 0xC3 0x28 at byte offset 8"));
  CHECK(contains(parse_error("\"\xED\xA0\x80\""), "surrogate"));
  CHECK_THROWS_AS(json::Value(std::string("\xFF")).dump(), value_error);
}

TEST_CASE("structure errors name the offset, line and column") {
  CHECK(contains(parse_error(""), "expected a value, found end of input"));
  CHECK(contains(parse_error("[1,]"), "expected a value, found ']' at byte offset 3"));
  CHECK(contains(parse_error("{\"a\":1,}"), "expected a string key in object, found '}'"));
  CHECK(contains(parse_error("{\"a\" 1}"), "expected ':' after key \"a\""));
  CHECK(contains(parse_error("{\"a\":1 \"b\":2}"), "expected ',' or '}' in object, found '\"'"));
  CHECK(contains(parse_error("[1 2]"), "expected ',' or ']' in array, found '2'"));
  CHECK(contains(parse_error("[1"), "unterminated array"));
  CHECK(contains(parse_error("{\"a\":1"), "unterminated object"));
  CHECK(contains(parse_error("{'a':1}"), "expected a string key"));
  CHECK(contains(parse_error("tru"), "invalid literal, expected 'true'"));
  CHECK(contains(parse_error("nul"), "expected 'null'"));
  CHECK(contains(parse_error("{} x"), "unexpected text after the JSON value at byte offset 3"));
  CHECK(contains(parse_error("// c\n1"), "expected a value"));
  CHECK(contains(parse_error("\xEF\xBB\xBF{}"), "byte 0xEF"));  // a BOM is not JSON
  CHECK(contains(parse_error("{\n  \"a\": 1,\n  \"a\": 2\n}"),
                 "duplicate key \"a\" at byte offset 14 (line 3, column 3)"));
}

TEST_CASE("hostile input: depth and size limits, no stack blowup") {
  const std::string deep_ok = std::string(256, '[') + std::string(256, ']');
  CHECK_NOTHROW(json::parse(deep_ok));
  const std::string too_deep = std::string(257, '[') + std::string(257, ']');
  CHECK(contains(parse_error(too_deep), "nesting deeper than the limit of 256"));
  const std::string huge_depth(1000000, '[');  // would overflow the stack without the limit
  CHECK(contains(parse_error(huge_depth), "nesting deeper"));
  std::string objects;
  for (int k = 0; k < 300; ++k) objects += "{\"k\":";
  CHECK(contains(parse_error(objects), "nesting deeper"));
  json::ParseOptions small;
  small.max_bytes = 8;
  CHECK(contains(parse_error("[1,2,3,4,5]", small), "exceeds the limit of 8 bytes"));
  small.max_depth = 1;
  small.max_bytes = 100;
  CHECK(contains(parse_error("[[1]]", small), "nesting deeper than the limit of 1"));
}

TEST_CASE("accessors explain type mismatches and missing keys") {
  const json::Value value = json::parse(R"({"units":"12","list":[1]})");
  CHECK_THROWS_WITH_AS(value.get_int64("units"), "JSON: key \"units\" is a string, expected a number",
                       value_error);
  CHECK_THROWS_WITH_AS(value.get_string("order"), "JSON: missing key \"order\"", value_error);
  CHECK_THROWS_WITH_AS(value.at("list").as_string(), "JSON: expected a string, got an array", value_error);
  CHECK_THROWS_AS(value.at("list").at(1), value_error);
  CHECK_THROWS_AS(value.at(0), value_error);  // not an array
  CHECK_THROWS_AS(json::Value(3).size(), value_error);
  CHECK_THROWS_WITH_AS(json::parse(R"({"n":1.5})").get_int64("n"),
                       "JSON: key \"n\" is 1.5, expected an integer", value_error);
}

TEST_CASE("parse_file reports the path") {
  const std::string path = "seqlm_test_json.json";
  std::FILE* file = std::fopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  std::fputs("{\"a\": [1, 2,]}", file);
  std::fclose(file);
  CHECK_THROWS_WITH_AS(
      json::parse_file(path),
      doctest::Contains("JSON file \"seqlm_test_json.json\": JSON: expected a value, found ']'"), file_error);
  std::remove(path.c_str());
  CHECK_THROWS_AS(json::parse_file("/nonexistent.json"), file_error);
}
