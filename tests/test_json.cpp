// JSON: round trips, exact integers, escapes, strictness (every error class) and limits.
#include <doctest/doctest.h>

#include <cstdio>
#include <seqlm/io/json.hpp>
#include <string>

namespace json_tests {

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
  CHECK_THROWS_AS(json::Value{std::numeric_limits<std::uint64_t>::max()}, value_error);
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

// ---- ObjectReader ------------------------------------------------------------------------------

namespace {

// The message of the error `read` throws as `Error` ("" when it throws nothing).
template <class Error = file_error, class Read>
std::string read_error(const Read& read) {
  try {
    read();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const char* const architecture_text =
    R"({"layers":[{"type":"Embedding","config":{"vocabulary_size":50,"dimension":8}},)"
    R"({"type":"LSTM","config":{"input_size":8,"units":16,"return_sequences":true,"rate":0.5,)"
    R"("activation":"relu","input":{"tokens":true}}}],"note":null})";

}  // namespace

TEST_CASE("an object reader returns every field with its type and range checked") {
  const json::Value value = json::parse(architecture_text);
  json::ObjectReader read(value, "model architecture");
  json::ArrayReader layers = read.array("layers");
  REQUIRE(layers.size() == 2);
  json::ObjectReader layer = layers.object(1);
  CHECK(layer.path() == "model architecture/layers[1]");
  CHECK(layer.text("type") == "LSTM");
  json::ObjectReader config = layer.object("config");
  CHECK(config.path() == "model architecture/layers[1]/config");
  CHECK(config.size("input_size") == 8);
  CHECK(config.integer("units", 1, 16) == 16);
  CHECK(config.count("units") == 16);
  CHECK(config.flag("return_sequences"));
  CHECK(config.number("rate") == 0.5);
  CHECK(config.text("activation") == "relu");
  json::ObjectReader input = config.object("input");
  CHECK(input.path() == "model architecture/layers[1]/config/input");
  CHECK(input.flag("tokens"));
  CHECK_NOTHROW(input.finish());
  CHECK_NOTHROW(config.finish());
  CHECK_NOTHROW(layer.finish());
  CHECK(read.value("note").is_null());
  CHECK_NOTHROW(read.finish());
}

TEST_CASE("optional fields are empty when absent and checked when present") {
  const json::Value value = json::parse(R"({"units":4,"name":"x","nested":{},"list":[1]})");
  json::ObjectReader read(value, "options");
  CHECK(read.optional_size("units") == 4);
  CHECK_FALSE(read.optional_size("filters").has_value());
  CHECK(read.optional_text("name") == std::string("x"));
  CHECK_FALSE(read.optional_flag("verbose").has_value());
  CHECK_FALSE(read.optional_number("rate").has_value());
  CHECK_FALSE(read.optional_count("steps").has_value());
  CHECK(read.optional_object("nested").has_value());
  CHECK_FALSE(read.optional_object("other").has_value());
  CHECK(read.optional_array("list")->size() == 1);
  CHECK(read.find("absent") == nullptr);
  CHECK_NOTHROW(read.finish());
  CHECK(read_error([&] { json::ObjectReader(value, "options").optional_flag("units"); }) ==
        "options: field \"units\" is a number, expected a boolean");
}

TEST_CASE("reader messages name the full path, the field, what was found and what was expected") {
  const json::Value value = json::parse(architecture_text);
  auto config = [&value]() {
    return json::ObjectReader(value, "model architecture").array("layers").object(1).object("config");
  };
  const std::string where = "model architecture/layers[1]/config: ";
  CHECK(read_error([&] { config().size("filters"); }) == where + "field \"filters\" is missing");
  CHECK(read_error([&] { config().size("activation"); }) ==
        where + "field \"activation\" is a string, expected an integer");
  CHECK(read_error([&] { config().size("rate"); }) == where + "field \"rate\" is 0.5, expected an integer");
  CHECK(read_error([&] { config().integer("units", 1, 8); }) ==
        where + "field \"units\" is 16, expected an integer in [1, 8]");
  CHECK(read_error([&] { config().size("units", 4); }) ==
        where + "field \"units\" is 16, expected an integer in [1, 4]");
  CHECK(read_error([&] { config().integer("units", 20); }) ==
        where + "field \"units\" is 16, expected an integer >= 20");
  CHECK(read_error([&] { config().flag("units"); }) ==
        where + "field \"units\" is a number, expected a boolean");
  CHECK(read_error([&] { config().number("activation"); }) ==
        where + "field \"activation\" is a string, expected a number");
  CHECK(read_error([&] { config().text("units"); }) ==
        where + "field \"units\" is a number, expected a string");
  CHECK(read_error([&] { config().object("units"); }) ==
        where + "field \"units\" is a number, expected an object");
  CHECK(read_error([&] { config().array("input"); }) ==
        where + "field \"input\" is an object, expected an array");
  CHECK(read_error([&] { config().object("input").flag("ids"); }) ==
        where.substr(0, where.size() - 2) + "/input: field \"ids\" is missing");
  CHECK(read_error([&] { config().fail("rate", "is 0.5, expected [0, 0.25)"); }) ==
        where + "field \"rate\" is 0.5, expected [0, 0.25)");
}

TEST_CASE("array elements are named by index and checked like fields") {
  const json::Value value = json::parse(R"({"epochs":[0,1,"two",-3],"layers":[{"units":0}]})");
  json::ObjectReader read(value, "history");
  const json::ArrayReader epochs = read.array("epochs");
  CHECK(epochs.count(1) == 1);
  CHECK(read_error([&] { epochs.count(2); }) ==
        "history: field \"epochs[2]\" is a string, expected an integer");
  CHECK(read_error([&] { epochs.count(3); }) ==
        "history: field \"epochs[3]\" is -3, expected an integer >= 0");
  CHECK(read_error([&] { epochs.value(4); }) ==
        "history: field \"epochs\" has 4 elements, element 4 was asked for");
  CHECK(read_error([&] { epochs.fail("has 4 values for 3 epochs"); }) ==
        "history: field \"epochs\" has 4 values for 3 epochs");
  CHECK(read_error([&] { read.array("layers").object(0).size("units"); }) ==
        "history/layers[0]: field \"units\" is 0, expected an integer in [1, 16777216]");
  CHECK(read_error([&] { epochs.object(0); }) ==
        "history: field \"epochs[0]\" is a number, expected an object");
}

TEST_CASE("finish refuses a field nobody asked for and lists the expected ones") {
  const json::Value value = json::parse(R"({"units":3,"unit":4})");
  json::ObjectReader read(value, "layer config of Dense");
  read.size("units");
  read.optional_flag("bias");
  CHECK(read_error([&] { read.finish(); }) ==
        "layer config of Dense: unknown field \"unit\" (expected \"units\", \"bias\")");
  CHECK(read_error([&] { json::ObjectReader(json::parse(R"({"x":1})"), "empty").finish(); }) ==
        "empty: unknown field \"x\" (expected no fields)");
}

TEST_CASE("a reader refuses a value that is not an object and throws the error type it is given") {
  CHECK(read_error([] { json::ObjectReader(json::parse("[1]"), "tokenizer"); }) ==
        "tokenizer: expected an object, got an array");
  const json::Value value = json::parse(R"({"n":"x"})");
  CHECK(read_error<value_error>([&] {
          json::ObjectReader(value, "state", &json::throw_as<value_error>).count("n");
        }) == "state: field \"n\" is a string, expected an integer");
  CHECK_THROWS_AS(json::ObjectReader(value, "state", &json::throw_as<value_error>).count("n"), value_error);
  CHECK(read_error([&] { json::ObjectReader(value, "").count("n"); }) ==
        "field \"n\" is a string, expected an integer");
}

TEST_CASE("check_type_and_version names the field that is wrong") {
  CHECK(read_error<value_error>([] {
          json::check_type_and_version(json::parse(R"({"type":"a","version":1})"), "b", 1);
        }) == "field \"type\" is \"a\", expected \"b\"");
  CHECK(read_error<value_error>([] {
          json::check_type_and_version(json::parse(R"({"type":"b","version":2})"), "b", 1);
        }) == "field \"version\" holds unsupported version 2, expected 1");
  CHECK_NOTHROW(json::check_type_and_version(json::parse(R"({"type":"b","version":1,"x":0})"), "b", 1));
}

}  // namespace json_tests
