/// \file
/// A small, strict JSON value type: parse(), dump() and accessors that explain failures.
///
/// Used for tokenizer files and model-file headers (safetensors), so it is strict (RFC 8259):
///   * no comments, no trailing commas, no NaN/Infinity, no leading zeros, no single quotes;
///   * strings must be valid UTF-8; control characters must be escaped; `\uXXXX` escapes are
///     decoded, UTF-16 surrogate pairs combined, a lone surrogate is an error;
///   * duplicate keys in one object are an error (naming the key);
///   * nesting deeper than ParseOptions::max_depth (256), texts longer than
///     ParseOptions::max_bytes (256 MiB) and texts of more than ParseOptions::max_values
///     values (2^24) are refused before they can exhaust the stack or memory; parse_file()
///     checks the file's size before reading it.
///
/// Every syntax error is a value_error "JSON: <what> at byte offset N (line L, column C)";
/// parse_file() reports the same as a file_error naming the path.
///
/// Numbers are kept as a double and, when the literal is an integer that fits, also as an
/// exact int64 (so 2^53 + 1 survives a round trip). Objects keep their insertion order, and
/// dump() is deterministic: the same value always gives the same bytes.
///
/// ```cpp
///   json::Value header = json::parse(text);
///   std::int64_t n = header.get_int64("vocabulary_size");   // value_error naming the key
///   json::Value out = json::Value::object();
///   out.set("name", "lstm").set("units", 128);
///   std::string compact = out.dump(), pretty = out.dump(2);
/// ```
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "utf8.hpp"

namespace seqlm::json {

/// Limits that keep hostile input from exhausting the stack or memory. Every value (each
/// number, string, literal, array and object) takes sizeof(Value) = 104 bytes plus its text,
/// two bytes of input ("0,") can make one, so the bound that matters for memory is max_values:
/// at most 2^24 values, about 1.7 GB on a 64-bit host, whatever the length of the text.
inline constexpr std::size_t default_max_depth = 256;
inline constexpr std::size_t default_max_bytes = std::size_t{256} << 20;
inline constexpr std::size_t default_max_values = std::size_t{1} << 24;

struct ParseOptions {
  std::size_t max_depth = default_max_depth;    ///< arrays/objects nested deeper than this are refused
  std::size_t max_bytes = default_max_bytes;    ///< longer texts are refused (256 MiB)
  std::size_t max_values = default_max_values;  ///< texts of more values are refused
};

class Value {
 public:
  enum class Type { null, boolean, number, string, array, object };
  using Array = std::vector<Value>;
  using Member = std::pair<std::string, Value>;
  using Object = std::vector<Member>;  ///< insertion order

  Value() = default;  ///< null
  Value(std::nullptr_t) {}
  Value(bool value) : type_(Type::boolean), bool_(value) {}
  /// Any integer type (not bool). Values beyond the int64 range are a value_error.
  template <class Int, std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>, int> = 0>
  Value(Int value) : type_(Type::number) {
    if constexpr (std::is_unsigned_v<Int>) {
      if (static_cast<std::uint64_t>(value) >
          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw value_error(detail::make_message("JSON: integer ", value, " does not fit in int64"));
      }
    }
    integer_ = static_cast<std::int64_t>(value);
    number_ = static_cast<double>(integer_);
    is_integer_ = true;
  }
  Value(double value) : type_(Type::number), number_(value) {}
  Value(float value) : Value(static_cast<double>(value)) {}
  Value(std::string value) : type_(Type::string), string_(std::move(value)) {}
  Value(std::string_view value) : Value(std::string(value)) {}
  Value(const char* value) : Value(std::string(value)) {}
  Value(Array value) : type_(Type::array), array_(std::move(value)) {}
  Value(Object value) : type_(Type::object), object_(std::move(value)) {}

  static Value array() { return Value(Array{}); }
  static Value object() { return Value(Object{}); }

  Type type() const { return type_; }
  /// "null", "a boolean", "a number", "a string", "an array", "an object" - for messages.
  const char* type_name() const { return type_name(type_); }
  static const char* type_name(Type type) {
    switch (type) {
      case Type::null: return "null";
      case Type::boolean: return "a boolean";
      case Type::number: return "a number";
      case Type::string: return "a string";
      case Type::array: return "an array";
      case Type::object: return "an object";
    }
    return "?";
  }

  bool is_null() const { return type_ == Type::null; }
  bool is_bool() const { return type_ == Type::boolean; }
  bool is_number() const { return type_ == Type::number; }
  bool is_string() const { return type_ == Type::string; }
  bool is_array() const { return type_ == Type::array; }
  bool is_object() const { return type_ == Type::object; }
  /// A number whose value is an integer that fits in int64 (as_int64() will succeed).
  bool is_integer() const {
    return type_ == Type::number &&
           (is_integer_ || (std::isfinite(number_) && std::trunc(number_) == number_ &&
                            number_ >= -9223372036854775808.0 && number_ < 9223372036854775808.0));
  }

  /// Typed access; a different type is a value_error "JSON: expected a string, got a number".
  bool as_bool() const {
    expect(Type::boolean);
    return bool_;
  }
  double as_double() const {
    expect(Type::number);
    return number_;
  }
  std::int64_t as_int64() const {
    expect(Type::number);
    if (is_integer_) return integer_;
    if (!is_integer()) {
      throw value_error(detail::make_message("JSON: expected an integer, got ", number_));
    }
    return static_cast<std::int64_t>(number_);
  }
  const std::string& as_string() const {
    expect(Type::string);
    return string_;
  }
  const Array& as_array() const {
    expect(Type::array);
    return array_;
  }
  Array& as_array() {
    expect(Type::array);
    return array_;
  }
  const Object& as_object() const {
    expect(Type::object);
    return object_;
  }
  Object& as_object() {
    expect(Type::object);
    return object_;
  }

  /// Number of elements of an array or members of an object (value_error otherwise).
  std::size_t size() const {
    if (type_ == Type::array) return array_.size();
    if (type_ == Type::object) return object_.size();
    throw value_error(
        detail::make_message("JSON: size() of ", type_name(), ", expected an array or an object"));
  }

  /// Array element; an index out of range is a value_error.
  const Value& at(std::size_t index) const {
    const Array& items = as_array();
    if (index >= items.size()) {
      throw value_error(detail::make_message("JSON: index ", index, " is outside the array of ", items.size(),
                                             " elements"));
    }
    return items[index];
  }
  Value& push_back(Value value) {
    as_array().push_back(std::move(value));
    return array_.back();
  }

  /// Object member lookup (linear: objects here are small headers). find() returns nullptr
  /// when the key is absent; at() throws value_error naming the missing key.
  const Value* find(std::string_view key) const {
    for (const Member& member : as_object()) {
      if (member.first == key) return &member.second;
    }
    return nullptr;
  }
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const Value& at(std::string_view key) const {
    const Value* value = find(key);
    if (value == nullptr) throw value_error(detail::make_message("JSON: missing key \"", key, "\""));
    return *value;
  }
  /// Sets a member: replaces the value of an existing key in place, otherwise appends.
  /// Returns *this so that calls chain.
  Value& set(std::string_view key, Value value) {
    for (Member& member : as_object()) {
      if (member.first == key) {
        member.second = std::move(value);
        return *this;
      }
    }
    object_.emplace_back(std::string(key), std::move(value));
    return *this;
  }

  /// Member access with the type checked; both errors name the key:
  /// "JSON: key \"units\" is a string, expected a number".
  bool get_bool(std::string_view key) const { return member(key, Type::boolean).bool_; }
  double get_double(std::string_view key) const { return member(key, Type::number).number_; }
  std::int64_t get_int64(std::string_view key) const {
    const Value& value = member(key, Type::number);
    if (!value.is_integer()) {
      throw value_error(
          detail::make_message("JSON: key \"", key, "\" is ", value.number_, ", expected an integer"));
    }
    return value.as_int64();
  }
  const std::string& get_string(std::string_view key) const { return member(key, Type::string).string_; }
  const Array& get_array(std::string_view key) const { return member(key, Type::array).array_; }
  const Value& get_object(std::string_view key) const { return member(key, Type::object); }

  /// Serialises deterministically. indent < 0: compact, no whitespace at all; indent >= 0:
  /// one element per line indented by `indent` spaces per level, ": " after keys.
  /// Non-ASCII characters are written as UTF-8. NaN/infinity or a string that is not valid
  /// UTF-8 cannot be written: value_error.
  std::string dump(int indent = -1) const {
    std::string out;
    write(out, indent, 0);
    return out;
  }

  /// Structural equality; object member order matters, numbers compare by value.
  friend bool operator==(const Value& a, const Value& b) {
    if (a.type_ != b.type_) return false;
    switch (a.type_) {
      case Type::null: return true;
      case Type::boolean: return a.bool_ == b.bool_;
      case Type::number:
        if (a.is_integer_ && b.is_integer_) return a.integer_ == b.integer_;
        return a.number_ == b.number_;
      case Type::string: return a.string_ == b.string_;
      case Type::array: return a.array_ == b.array_;
      case Type::object: return a.object_ == b.object_;
    }
    return false;
  }
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

 private:
  friend class Parser;

  void expect(Type type) const {
    if (type_ != type) {
      throw value_error(detail::make_message("JSON: expected ", type_name(type), ", got ", type_name()));
    }
  }

  const Value& member(std::string_view key, Type type) const {
    const Value& value = at(key);
    if (value.type_ != type) {
      throw value_error(detail::make_message("JSON: key \"", key, "\" is ", value.type_name(), ", expected ",
                                             type_name(type)));
    }
    return value;
  }

  static void write_string(std::string& out, const std::string& text) {
    try {
      utf8::validate(text);
    } catch (const text_error& e) {
      throw value_error(std::string("JSON: cannot write a string that is not valid UTF-8: ") + e.what());
    }
    const char* digits = "0123456789abcdef";
    out += '"';
    for (char ch : text) {
      const auto byte = static_cast<unsigned char>(ch);
      switch (ch) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (byte < 0x20) {
            out += "\\u00";
            out += digits[byte >> 4];
            out += digits[byte & 0xF];
          } else {
            out += ch;
          }
      }
    }
    out += '"';
  }

  void write_number(std::string& out) const {
    char buffer[32];
    std::to_chars_result result{};
    if (is_integer_) {
      result = std::to_chars(buffer, buffer + sizeof buffer, integer_);
    } else {
      if (!std::isfinite(number_)) {
        throw value_error(detail::make_message("JSON: cannot write the number ", number_,
                                               " (JSON has no NaN or infinity)"));
      }
      result = std::to_chars(buffer, buffer + sizeof buffer, number_);  // shortest round-trip form
    }
    out.append(buffer, result.ptr);
  }

  static void new_line(std::string& out, int indent, int level) {
    out += '\n';
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
  }

  void write(std::string& out, int indent, int level) const {
    switch (type_) {
      case Type::null: out += "null"; return;
      case Type::boolean: out += bool_ ? "true" : "false"; return;
      case Type::number: write_number(out); return;
      case Type::string: write_string(out, string_); return;
      case Type::array: {
        out += '[';
        for (std::size_t k = 0; k < array_.size(); ++k) {
          if (k > 0) out += ',';
          if (indent >= 0) new_line(out, indent, level + 1);
          array_[k].write(out, indent, level + 1);
        }
        if (indent >= 0 && !array_.empty()) new_line(out, indent, level);
        out += ']';
        return;
      }
      case Type::object: {
        out += '{';
        for (std::size_t k = 0; k < object_.size(); ++k) {
          if (k > 0) out += ',';
          if (indent >= 0) new_line(out, indent, level + 1);
          write_string(out, object_[k].first);
          out += indent >= 0 ? ": " : ":";
          object_[k].second.write(out, indent, level + 1);
        }
        if (indent >= 0 && !object_.empty()) new_line(out, indent, level);
        out += '}';
        return;
      }
    }
  }

  Type type_ = Type::null;
  bool bool_ = false;
  bool is_integer_ = false;  // integer_ holds the exact value
  double number_ = 0.0;
  std::int64_t integer_ = 0;
  std::string string_;
  Array array_;
  Object object_;
};

/// Recursive-descent parser; recursion depth is bounded by ParseOptions::max_depth.
class Parser {
 public:
  Parser(std::string_view text, const ParseOptions& options) : text_(text), options_(options) {}

  Value parse_document() {
    if (text_.size() > options_.max_bytes) {
      throw value_error(detail::make_message("JSON: text of ", text_.size(), " bytes exceeds the limit of ",
                                             options_.max_bytes, " bytes"));
    }
    skip_whitespace();
    Value value = parse_value(0);
    skip_whitespace();
    if (position_ != text_.size()) fail("unexpected text after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_at(position_, what); }

  [[noreturn]] void fail_at(std::size_t offset, const std::string& what) const {
    std::size_t line = 1, column = 1;
    for (std::size_t k = 0; k < offset && k < text_.size(); ++k) {
      if (text_[k] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw value_error(detail::make_message("JSON: ", what, " at byte offset ", offset, " (line ", line,
                                           ", column ", column, ")"));
  }

  // "'x'" for a printable ASCII byte, "byte 0xC3" otherwise, "end of input" past the end.
  std::string describe_current() const {
    if (position_ >= text_.size()) return "end of input";
    const auto byte = static_cast<unsigned char>(text_[position_]);
    if (byte >= 0x21 && byte < 0x7F) return std::string("'") + static_cast<char>(byte) + "'";
    return "byte " + detail::hex_byte(byte);
  }

  void skip_whitespace() {
    while (position_ < text_.size()) {
      const char c = text_[position_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++position_;
    }
  }

  bool at_end() const { return position_ >= text_.size(); }

  Value parse_value(std::size_t depth) {
    if (at_end()) fail("expected a value, found end of input");
    if (++values_ > options_.max_values) {
      fail(detail::make_message("more values than the limit of ", options_.max_values));
    }
    const char c = text_[position_];
    switch (c) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': return Value(parse_string());
      case 't': expect_word("true"); return Value(true);
      case 'f': expect_word("false"); return Value(false);
      case 'n': expect_word("null"); return Value();
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        fail("expected a value, found " + describe_current());
    }
  }

  void expect_word(std::string_view word) {
    if (text_.substr(position_, word.size()) != word)
      fail("invalid literal, expected '" + std::string(word) + "'");
    position_ += word.size();
  }

  void check_depth(std::size_t depth) const {
    if (depth > options_.max_depth) {
      fail(detail::make_message("nesting deeper than the limit of ", options_.max_depth));
    }
  }

  Value parse_array(std::size_t depth) {
    check_depth(depth);
    ++position_;  // '['
    Value result = Value::array();
    Value::Array& items = result.array_;
    skip_whitespace();
    if (!at_end() && text_[position_] == ']') {
      ++position_;
      return result;
    }
    while (true) {
      skip_whitespace();
      items.push_back(parse_value(depth));
      skip_whitespace();
      if (at_end()) fail("unterminated array, expected ',' or ']'");
      const char c = text_[position_++];
      if (c == ']') return result;
      if (c != ',') {
        --position_;
        fail("expected ',' or ']' in array, found " + describe_current());
      }
    }
  }

  Value parse_object(std::size_t depth) {
    check_depth(depth);
    ++position_;  // '{'
    Value result = Value::object();
    Value::Object& members = result.object_;
    std::unordered_set<std::string> keys;  // duplicate detection in O(1) per key
    skip_whitespace();
    if (!at_end() && text_[position_] == '}') {
      ++position_;
      return result;
    }
    while (true) {
      skip_whitespace();
      if (at_end() || text_[position_] != '"')
        fail("expected a string key in object, found " + describe_current());
      const std::size_t key_offset = position_;
      std::string key = parse_string();
      if (!keys.insert(key).second) fail_at(key_offset, "duplicate key \"" + key + "\"");
      skip_whitespace();
      if (at_end() || text_[position_] != ':')
        fail("expected ':' after key \"" + key + "\", found " + describe_current());
      ++position_;
      skip_whitespace();
      Value value = parse_value(depth);
      members.emplace_back(std::move(key), std::move(value));
      skip_whitespace();
      if (at_end()) fail("unterminated object, expected ',' or '}'");
      const char c = text_[position_++];
      if (c == '}') return result;
      if (c != ',') {
        --position_;
        fail("expected ',' or '}' in object, found " + describe_current());
      }
    }
  }

  // Four hex digits after "\u".
  char32_t parse_hex4() {
    if (position_ + 4 > text_.size()) fail("truncated \\u escape");
    char32_t value = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text_[position_];
      value <<= 4;
      if (c >= '0' && c <= '9') {
        value |= static_cast<char32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        value |= static_cast<char32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        value |= static_cast<char32_t>(c - 'A' + 10);
      } else {
        fail("invalid hex digit in \\u escape: " + describe_current());
      }
      ++position_;
    }
    return value;
  }

  std::string parse_string() {
    const std::size_t start = position_;
    ++position_;  // opening quote
    std::string out;
    while (true) {
      // Copy a run of ordinary bytes, checking that it is valid UTF-8.
      const std::size_t run_start = position_;
      while (position_ < text_.size()) {
        const auto byte = static_cast<unsigned char>(text_[position_]);
        if (byte == '"' || byte == '\\' || byte < 0x20) break;
        ++position_;
      }
      const std::string_view run = text_.substr(run_start, position_ - run_start);
      try {
        utf8::Decoder decoder(run_start);
        decoder.feed(run, [](char32_t, std::size_t) {});
        decoder.finish();
      } catch (const text_error& e) {
        throw value_error(std::string("JSON: invalid UTF-8 in a string: ") + e.what());
      }
      out.append(run);
      if (at_end()) fail_at(start, "unterminated string starting");
      const char c = text_[position_];
      if (c == '"') {
        ++position_;
        return out;
      }
      if (c != '\\') fail("unescaped control character " + describe_current() + " in string");
      ++position_;  // backslash
      if (at_end()) fail_at(start, "unterminated string starting");
      const char escape = text_[position_++];
      switch (escape) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const std::size_t escape_offset = position_ - 2;
          char32_t code = parse_hex4();
          if (code >= 0xDC00 && code <= 0xDFFF) fail_at(escape_offset, "lone low surrogate \\u escape");
          if (code >= 0xD800 && code <= 0xDBFF) {
            // A high surrogate must be followed by "\u" and a low surrogate.
            if (text_.substr(position_, 2) != "\\u")
              fail_at(escape_offset, "high surrogate \\u escape without a low surrogate");
            position_ += 2;
            const char32_t low = parse_hex4();
            if (low < 0xDC00 || low > 0xDFFF)
              fail_at(escape_offset, "high surrogate \\u escape without a low surrogate");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          utf8::append(out, code);
          break;
        }
        default:
          --position_;
          fail("invalid escape character " + describe_current() + " after a backslash in string");
      }
    }
  }

  Value parse_number() {
    const std::size_t start = position_;
    auto digits = [this]() {
      const std::size_t first = position_;
      while (!at_end() && text_[position_] >= '0' && text_[position_] <= '9') ++position_;
      return position_ - first;
    };
    if (text_[position_] == '-') ++position_;
    const std::size_t integer_start = position_;
    const std::size_t integer_digits = digits();
    if (integer_digits == 0) fail("expected a digit in number, found " + describe_current());
    if (integer_digits > 1 && text_[integer_start] == '0') fail_at(integer_start, "leading zero in number");
    bool is_integer_literal = true;
    bool negative_exponent = false;
    if (!at_end() && text_[position_] == '.') {
      is_integer_literal = false;
      ++position_;
      if (digits() == 0) fail("expected a digit after the decimal point, found " + describe_current());
    }
    if (!at_end() && (text_[position_] == 'e' || text_[position_] == 'E')) {
      is_integer_literal = false;
      ++position_;
      if (!at_end() && (text_[position_] == '+' || text_[position_] == '-')) {
        negative_exponent = text_[position_] == '-';
        ++position_;
      }
      if (digits() == 0) fail("expected a digit in the exponent, found " + describe_current());
    }
    const std::string_view literal = text_.substr(start, position_ - start);
    const char* first = literal.data();
    const char* last = literal.data() + literal.size();
    if (is_integer_literal && literal != "-0") {
      std::int64_t integer = 0;
      const auto [end, error] = std::from_chars(first, last, integer);
      if (error == std::errc() && end == last) return Value(integer);
      // Too large for int64: fall through to double.
    }
    double number = 0.0;
    const auto [end, error] = std::from_chars(first, last, number);
    if (error == std::errc::result_out_of_range) {
      if (!negative_exponent)
        fail_at(start, "number " + std::string(literal) + " is out of the double range");
      number = literal[0] == '-' ? -0.0 : 0.0;  // underflow: as close to zero as it gets
    } else if (error != std::errc() || end != last) {
      fail_at(start, "invalid number " + std::string(literal));
    }
    return Value(number);
  }

  std::string_view text_;
  ParseOptions options_;
  std::size_t position_ = 0;
  std::size_t values_ = 0;  // values started so far
};

/// Parses a complete JSON text (value_error with the byte offset on any error).
inline Value parse(std::string_view text, const ParseOptions& options = {}) {
  return Parser(text, options).parse_document();
}

/// Reads and parses a JSON file; every failure is a file_error naming the path. A file longer
/// than options.max_bytes is refused before it is read.
inline Value parse_file(const std::string& path, const ParseOptions& options = {}) {
  const std::string text = read_text_file(path, options.max_bytes);
  try {
    return parse(text, options);
  } catch (const value_error& e) {
    throw file_error("JSON file \"" + path + "\": " + e.what());
  }
}

// ---- strict field reading -------------------------------------------------------------------
//
// ObjectReader reads the fields of one JSON object the way every seqlm file format needs:
// each field is looked up by name, its type and range are checked, and finish() refuses any
// field that was not asked for (a misspelt or unknown key). It carries the path of the object
// from the document root, so every message says exactly where the problem is:
//
//   json::ObjectReader read(architecture, "model architecture");          // file_error
//   json::ObjectReader layer = read.array("layers").object(2);            // ".../layers[2]"
//   json::ObjectReader config = layer.object("config");                   // ".../layers[2]/config"
//   const std::int64_t units = config.size("units");                      // integer in [1, 2^24]
//   const bool sequences = config.flag("return_sequences");
//   config.finish();                                                      // no other fields
//
//   -> file_error "model architecture/layers[2]/config: field \"units\" is 0, expected an
//      integer in [1, 16777216]"
//
// Messages are "<path>: field \"<name>\" <problem>", with the problem saying what was found and
// what was expected ("is a string, expected an integer", "is missing"). The error type is
// file_error unless another is given (json::throw_as<value_error>). The reader refers to the
// Value, which must outlive it (and any reader or array it hands out).

/// Throws `message` as an Error; pass &throw_as<value_error> (or any function that throws) to
/// a reader to choose what it throws.
using Thrower = void (*)(const std::string& message);
template <class Error>
[[noreturn]] void throw_as(const std::string& message) {
  throw Error(message);
}

}  // namespace seqlm::json

namespace seqlm::detail {

// "<path>: field \"<name>\" <problem>", or without the path at the top of an unnamed document.
inline std::string field_message(const std::string& path, const std::string& field,
                                 const std::string& problem) {
  std::string message = path.empty() ? std::string() : path + ": ";
  return message + "field \"" + field + "\" " + problem;
}

// The checks shared by ObjectReader (fields by name) and ArrayReader (elements by index):
// `value` is the field called `field` in the object at `path`.
class FieldCheck {
 public:
  FieldCheck(const json::Value& value, const std::string& path, std::string field, json::Thrower thrower)
      : value_(value), path_(path), field_(std::move(field)), thrower_(thrower) {}

  [[noreturn]] void fail(const std::string& problem) const {
    const std::string message = field_message(path_, field_, problem);
    thrower_(message);
    throw file_error(message);  // only if the thrower returned
  }
  void expect(json::Value::Type type) const {
    if (value_.type() != type) {
      fail(make_message("is ", value_.type_name(), ", expected ", json::Value::type_name(type)));
    }
  }
  std::int64_t integer(std::int64_t min, std::int64_t max) const {
    if (!value_.is_number()) fail(make_message("is ", value_.type_name(), ", expected an integer"));
    if (!value_.is_integer()) fail(make_message("is ", value_.as_double(), ", expected an integer"));
    const std::int64_t n = value_.as_int64();
    if (n < min || n > max) {
      if (max == std::numeric_limits<std::int64_t>::max()) {
        fail(make_message("is ", n, ", expected an integer >= ", min));
      }
      fail(make_message("is ", n, ", expected an integer in [", min, ", ", max, "]"));
    }
    return n;
  }
  double number() const {
    expect(json::Value::Type::number);
    const double x = value_.as_double();
    if (!std::isfinite(x)) fail(make_message("is ", x, ", expected a finite number"));
    return x;
  }
  bool flag() const {
    expect(json::Value::Type::boolean);
    return value_.as_bool();
  }
  const std::string& text() const {
    expect(json::Value::Type::string);
    return value_.as_string();
  }
  // The path of the field itself, for a reader of a nested object or array.
  std::string nested_path() const { return path_.empty() ? field_ : path_ + "/" + field_; }

 private:
  const json::Value& value_;
  const std::string& path_;
  std::string field_;
  json::Thrower thrower_;
};

}  // namespace seqlm::detail

namespace seqlm::json {

class ArrayReader;

class ObjectReader {
 public:
  /// Sizes larger than this are refused by size() unless another limit is given: a hostile
  /// file could otherwise ask for terabytes.
  static constexpr std::int64_t max_size = std::int64_t{1} << 24;

  /// Reads `value`, which must be an object ("<path>: expected an object, got an array"
  /// otherwise). `path` names it in messages; errors are thrown through `thrower`.
  ObjectReader(const Value& value, std::string path, Thrower thrower = &throw_as<file_error>)
      : value_(value), path_(std::move(path)), thrower_(thrower) {
    if (!value.is_object()) fail_here(detail::make_message("expected an object, got ", value.type_name()));
  }

  const std::string& path() const { return path_; }
  Thrower thrower() const { return thrower_; }

  /// Required fields; each throws naming the field when it is missing or has the wrong type.
  /// An integer in [min, max].
  std::int64_t integer(const std::string& field, std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                       std::int64_t max = std::numeric_limits<std::int64_t>::max()) {
    return check(field).integer(min, max);
  }
  /// An integer in [0, max]: a counter.
  std::int64_t count(const std::string& field, std::int64_t max = std::numeric_limits<std::int64_t>::max()) {
    return integer(field, 0, max);
  }
  /// An integer in [1, max]: a dimension that will be allocated.
  std::int64_t size(const std::string& field, std::int64_t max = max_size) { return integer(field, 1, max); }
  bool flag(const std::string& field) { return check(field).flag(); }
  /// A finite number.
  double number(const std::string& field) { return check(field).number(); }
  const std::string& text(const std::string& field) { return check(field).text(); }
  /// A nested object, read with the path "<path>/<field>".
  ObjectReader object(const std::string& field);
  /// A nested array ("<path>: field \"<field>[k]\" ..." for its elements).
  ArrayReader array(const std::string& field);
  /// The field as it is, of any type.
  const Value& value(const std::string& field) {
    const Value* found = find(field);
    if (found == nullptr) fail(field, "is missing");
    return *found;
  }

  /// Optional fields: std::nullopt (or nullptr) when absent, checked like the above otherwise.
  const Value* find(const std::string& field) {
    known_.push_back(field);
    return value_.find(field);
  }
  bool has(const std::string& field) { return find(field) != nullptr; }
  std::optional<std::int64_t> optional_integer(const std::string& field,
                                               std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                                               std::int64_t max = std::numeric_limits<std::int64_t>::max()) {
    if (!has(field)) return std::nullopt;
    return integer(field, min, max);
  }
  std::optional<std::int64_t> optional_count(const std::string& field,
                                             std::int64_t max = std::numeric_limits<std::int64_t>::max()) {
    return optional_integer(field, 0, max);
  }
  std::optional<std::int64_t> optional_size(const std::string& field, std::int64_t max = max_size) {
    return optional_integer(field, 1, max);
  }
  std::optional<bool> optional_flag(const std::string& field) {
    if (!has(field)) return std::nullopt;
    return flag(field);
  }
  std::optional<double> optional_number(const std::string& field) {
    if (!has(field)) return std::nullopt;
    return number(field);
  }
  std::optional<std::string> optional_text(const std::string& field) {
    if (!has(field)) return std::nullopt;
    return text(field);
  }
  std::optional<ObjectReader> optional_object(const std::string& field);
  std::optional<ArrayReader> optional_array(const std::string& field);

  /// Every member, for objects used as maps with free-form keys ("metrics": {"loss": [...]}).
  /// Reading a member through the accessors above marks it as read.
  const Value::Object& members() const { return value_.as_object(); }

  /// Refuses any field that no accessor asked for: "<path>: unknown field \"x\" (expected
  /// \"a\", \"b\")". Call it after reading every field.
  void finish() const {
    for (const Value::Member& member : value_.as_object()) {
      if (std::find(known_.begin(), known_.end(), member.first) != known_.end()) continue;
      std::string expected;
      for (const std::string& name : known_) {
        if (expected.find("\"" + name + "\"") != std::string::npos) continue;
        expected += (expected.empty() ? "" : ", ") + ("\"" + name + "\"");
      }
      fail_here("unknown field \"" + member.first + "\" (expected " +
                (expected.empty() ? std::string("no fields") : expected) + ")");
    }
  }

  /// Throws "<path>: field \"<field>\" <problem>", for checks the accessors cannot make
  /// (`problem` says what was found and what was expected: "is 1.5, expected [0, 1)").
  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    detail::FieldCheck(value_, path_, field, thrower_).fail(problem);
  }
  /// Throws "<path>: <problem>", for a problem of the object as a whole.
  [[noreturn]] void fail_here(const std::string& problem) const {
    const std::string message = path_.empty() ? problem : path_ + ": " + problem;
    thrower_(message);
    throw file_error(message);  // only if the thrower returned
  }

 private:
  detail::FieldCheck check(const std::string& field) {
    return detail::FieldCheck(value(field), path_, field, thrower_);
  }

  const Value& value_;
  std::string path_;
  Thrower thrower_;
  std::vector<std::string> known_;  // every field asked for, present or not
};

/// The elements of one array field, read by index: messages name "<field>[k]".
class ArrayReader {
 public:
  /// `value` must be an array; it is the field `field` of the object at `path`.
  ArrayReader(const Value& value, std::string path, std::string field,
              Thrower thrower = &throw_as<file_error>)
      : value_(value), path_(std::move(path)), field_(std::move(field)), thrower_(thrower) {
    detail::FieldCheck(value, path_, field_, thrower_).expect(Value::Type::array);
  }

  std::size_t size() const { return value_.size(); }
  bool empty() const { return size() == 0; }
  /// Element k, of any type; an index past the end is refused like a bad field.
  const Value& value(std::size_t k) const {
    if (k >= size()) fail(detail::make_message("has ", size(), " elements, element ", k, " was asked for"));
    return value_.at(k);
  }

  std::int64_t integer(std::size_t k, std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                       std::int64_t max = std::numeric_limits<std::int64_t>::max()) const {
    return check(k).integer(min, max);
  }
  std::int64_t count(std::size_t k, std::int64_t max = std::numeric_limits<std::int64_t>::max()) const {
    return integer(k, 0, max);
  }
  bool flag(std::size_t k) const { return check(k).flag(); }
  double number(std::size_t k) const { return check(k).number(); }
  const std::string& text(std::size_t k) const { return check(k).text(); }
  ObjectReader object(std::size_t k) const {
    const detail::FieldCheck element_check = check(k);
    element_check.expect(Value::Type::object);
    return ObjectReader(value(k), element_check.nested_path(), thrower_);
  }
  ArrayReader array(std::size_t k) const { return ArrayReader(value(k), path_, element(k), thrower_); }

  /// "<field>[k]": how messages name element k.
  std::string element(std::size_t k) const { return detail::make_message(field_, "[", k, "]"); }
  /// Throws "<path>: field \"<field>[k]\" <problem>".
  [[noreturn]] void fail(std::size_t k, const std::string& problem) const {
    detail::FieldCheck(value(k), path_, element(k), thrower_).fail(problem);
  }
  /// Throws "<path>: field \"<field>\" <problem>", for the array as a whole ("has 3 values,
  /// expected 4").
  [[noreturn]] void fail(const std::string& problem) const {
    detail::FieldCheck(value_, path_, field_, thrower_).fail(problem);
  }

 private:
  detail::FieldCheck check(std::size_t k) const {
    return detail::FieldCheck(value(k), path_, element(k), thrower_);
  }

  const Value& value_;
  std::string path_;
  std::string field_;
  Thrower thrower_;
};

inline ObjectReader ObjectReader::object(const std::string& field) {
  const detail::FieldCheck field_check = check(field);
  field_check.expect(Value::Type::object);
  return ObjectReader(value(field), field_check.nested_path(), thrower_);
}

inline ArrayReader ObjectReader::array(const std::string& field) {
  return ArrayReader(value(field), path_, field, thrower_);
}

inline std::optional<ObjectReader> ObjectReader::optional_object(const std::string& field) {
  if (!has(field)) return std::nullopt;
  return object(field);
}

inline std::optional<ArrayReader> ObjectReader::optional_array(const std::string& field) {
  if (!has(field)) return std::nullopt;
  return array(field);
}

/// Checks the header every serialised seqlm object starts with: an object whose "type" is
/// `type` and whose "version" is `version` (value_error saying which is wrong otherwise).
inline void check_type_and_version(const Value& value, const std::string& type, std::int64_t version) {
  ObjectReader read(value, "", &throw_as<value_error>);
  const std::string& found = read.text("type");
  if (found != type) read.fail("type", "is \"" + found + "\", expected \"" + type + "\"");
  const std::int64_t found_version = read.integer("version");
  if (found_version != version) {
    read.fail("version",
              detail::make_message("holds unsupported version ", found_version, ", expected ", version));
  }
}

/// Reads a JSON file and converts it with `convert` (e.g.\ CharTokenizer::from_json). Any
/// failure, in the file or in the conversion, is a file_error naming `what` and the path:
/// ```text
///   load_file(path, "CharTokenizer", CharTokenizer::from_json)
/// ```
template <class Convert>
auto load_file(const std::string& path, const char* what, Convert&& convert) {
  const Value value = parse_file(path);
  try {
    return convert(value);
  } catch (const error& e) {
    throw file_error(std::string(what) + " file \"" + path + "\": " + e.what());
  }
}

}  // namespace seqlm::json
