// JSON (io/json.hpp): json::parse on arbitrary bytes.
//
// Properties of every accepted text:
//   * parse(dump(x)) == x for the compact and the indented form, and dump is a fixed point:
//     dump(parse(dump(x))) == dump(x) (deterministic bytes);
//   * the nesting limit is exact: with max_depth = d the text parses iff its depth is <= d;
//   * an ObjectReader over every object sees every member and finish() accepts it.
#include <cstddef>
#include <cstdint>
#include <seqlm/io/json.hpp>
#include <string>

#include "fuzz_common.hpp"

using namespace seqlm;

namespace {

// Containers nested around the deepest value: 0 for a scalar, 1 for [] or [1].
std::size_t depth(const json::Value& value) {
  std::size_t deepest = 0;
  if (value.is_array()) {
    for (const json::Value& item : value.as_array()) deepest = std::max(deepest, depth(item));
    return deepest + 1;
  }
  if (value.is_object()) {
    for (const json::Value::Member& member : value.as_object())
      deepest = std::max(deepest, depth(member.second));
    return deepest + 1;
  }
  return 0;
}

void read_every_member(const json::Value& value) {
  if (value.is_array()) {
    for (const json::Value& item : value.as_array()) read_every_member(item);
  } else if (value.is_object()) {
    json::ObjectReader reader(value, "fuzz", &json::throw_as<value_error>);
    for (const json::Value::Member& member : value.as_object()) {
      fuzz::check(&reader.value(member.first) == &member.second, "ObjectReader finds each member");
      read_every_member(member.second);
    }
    reader.finish();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::bytes(data, size);
  const std::optional<json::Value> value = fuzz::refused_or([&] { return json::parse(text); });
  if (!value) return 0;

  const std::string compact = fuzz::must("dump()", [&] { return value->dump(); });
  const json::Value again = fuzz::must("parse(dump())", [&] { return json::parse(compact); });
  fuzz::check(again == *value, "parse(dump(x)) == x");
  fuzz::check(again.dump() == compact, "dump(parse(dump(x))) == dump(x)");
  const std::string pretty = fuzz::must("dump(2)", [&] { return value->dump(2); });
  fuzz::check(fuzz::must("parse(dump(2))", [&] { return json::parse(pretty); }) == *value,
              "parse(dump(x, 2)) == x");

  // The depth limit: accepted exactly when the depth is within it.
  const std::size_t levels = depth(*value);
  json::ParseOptions shallow;
  shallow.max_depth = size % 8;
  const bool within = fuzz::accepted([&] { json::parse(text, shallow); });
  fuzz::check(within == (levels <= shallow.max_depth), "max_depth refuses exactly the deeper texts");

  fuzz::must("ObjectReader over every object", [&] { read_every_member(*value); });
  return 0;
}
