// The safetensors container: round trips of every dtype, the matrix layout, interop with
// files written and read by Python (tests/golden/make_safetensors.py), atomic writes, and
// corrupt or hostile files (each a file_error with a precise message, never a crash).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <seqlm/io/checksum.hpp>
#include <seqlm/io/safetensors.hpp>
#include <string>
#include <vector>

namespace safetensors_tests {

using namespace seqlm;
namespace st = seqlm::safetensors;

namespace {

std::string golden_path(const std::string& name) { return std::string(SEQLM_GOLDEN_DIR) + "/" + name; }

std::string scratch_path(const std::string& name) {
  return "/tmp/seqlm_safetensors_" + std::to_string(::getpid()) + "_" + name;
}

// Runs `action`, which must throw a file_error whose message contains every fragment.
template <class Action>
void check_file_error(Action&& action, const std::vector<std::string>& fragments) {
  try {
    action();
    FAIL("no file_error thrown; expected one mentioning \"" << fragments.front() << "\"");
  } catch (const file_error& e) {
    const std::string message = e.what();
    for (const std::string& fragment : fragments) {
      INFO("message: " << message);
      CHECK(message.find(fragment) != std::string::npos);
    }
  }
}

// A file with a given JSON header (padded as the writer pads) and data bytes.
std::string make_bytes(const std::string& header, const std::string& data,
                       std::uint64_t length_override = 0) {
  std::string padded = header;
  padded.append((8 - padded.size() % 8) % 8, ' ');
  const std::uint64_t length = length_override != 0 ? length_override : padded.size();
  std::string bytes;
  for (int k = 0; k < 8; ++k) bytes += static_cast<char>((length >> (8 * k)) & 0xFF);
  return bytes + padded + data;
}

// A file with one tensor of every dtype, used by several tests.
st::File sample_file() {
  Matrix<float> matrix(2, 3);
  matrix << 1, 2, 3, 4, 5, 6;
  Vector<float> bias(3);
  bias << 0.5f, -0.5f, 0.25f;
  Matrix<double> twice(2, 2);
  twice << 0, 0.1, 0.2, 0.3;
  st::File file;
  file.add("matrix", st::Tensor::from_matrix(matrix))
      .add("bias", st::Tensor::from_matrix(bias))
      .add("double", st::Tensor::from_matrix(twice))
      .add("ids", st::Tensor::from_values<std::int32_t>({1, 2, 3, 4, 5, 6}, {2, 3}))
      .add("big", st::Tensor::from_values<std::int64_t>(
                      {-(std::int64_t{1} << 62), (std::int64_t{1} << 62) + 1}, {2}))
      .add("bytes", st::Tensor::from_values<std::uint8_t>({255, 0, 128}, {3}));
  std::string data;
  for (const auto& entry : file.tensors) data += entry.tensor.bytes();
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x", static_cast<unsigned>(crc32(data)));
  file.metadata = {{"producer", "seqlm test"}, {"crc32", crc}};
  return file;
}

}  // namespace

TEST_CASE("CRC-32 matches zlib's check values") {
  CHECK(crc32("") == 0u);
  CHECK(crc32("123456789") == 0xCBF43926u);
  CHECK(crc32("The quick brown fox jumps over the lazy dog") == 0x414FA339u);
  Crc32 pieces;
  pieces.update("1234");
  pieces.update("56789");
  CHECK(pieces.value() == 0xCBF43926u);
  CHECK(format_crc32(0x0000ABCDu) == "crc32:0000abcd");
}

TEST_CASE("matrices are stored transposed (column-major bytes) and vectors as 1-D tensors") {
  Matrix<double> m(2, 3);
  m << 1, 2, 3, 4, 5, 6;
  const st::Tensor tensor = st::Tensor::from_matrix(m);
  CHECK(tensor.dtype() == st::DType::F64);
  CHECK(tensor.shape() == std::vector<std::int64_t>{3, 2});
  CHECK(tensor.values<double>() == std::vector<double>{1, 4, 2, 5, 3, 6});  // row-major view of m^T
  CHECK(tensor.has_matrix_shape(2, 3));
  CHECK_FALSE(tensor.has_matrix_shape(3, 2));
  CHECK(tensor.to_matrix<double>() == m);
  CHECK(tensor.to_matrix<float>() == m.cast<float>());

  const st::Tensor column = st::Tensor::from_matrix(Vector<float>::LinSpaced(4, 0, 3));
  CHECK(column.shape() == std::vector<std::int64_t>{4});
  CHECK(column.to_matrix<float>().rows() == 4);
  CHECK(column.to_matrix<float>().cols() == 1);

  const st::Tensor scalar = st::Tensor::from_values<double>({2.5}, {});
  CHECK(scalar.to_matrix<double>()(0, 0) == 2.5);
  CHECK_THROWS_AS(st::Tensor::from_values<float>(std::vector<float>(24), {2, 3, 4}).to_matrix<float>(),
                  shape_error);
  CHECK_THROWS_AS(st::Tensor::from_values<std::int32_t>({1}, {1}).to_matrix<float>(), value_error);
  CHECK_THROWS_AS(st::Tensor::from_values<std::int32_t>({1, 2}, {3}), value_error);
  CHECK_THROWS_AS(scalar.values<float>(), value_error);
}

TEST_CASE("round trip of every dtype through a file, with header padding and metadata") {
  const st::File file = sample_file();
  const std::string path = scratch_path("round_trip.safetensors");
  st::write(path, file);
  const std::string bytes = read_text_file(path);
  std::uint64_t header_length = 0;
  for (int k = 7; k >= 0; --k) header_length = (header_length << 8) | static_cast<unsigned char>(bytes[k]);
  CHECK((8 + header_length) % 8 == 0);
  CHECK(bytes == st::serialize(file));

  const st::File back = st::read(path);
  ::unlink(path.c_str());
  CHECK(back.metadata == file.metadata);
  REQUIRE(back.tensors.size() == file.tensors.size());
  for (std::size_t k = 0; k < file.tensors.size(); ++k) {
    CAPTURE(file.tensors[k].name);
    CHECK(back.tensors[k].name == file.tensors[k].name);
    CHECK(back.tensors[k].tensor.dtype() == file.tensors[k].tensor.dtype());
    CHECK(back.tensors[k].tensor.shape() == file.tensors[k].tensor.shape());
    CHECK(back.tensors[k].tensor.bytes() == file.tensors[k].tensor.bytes());
  }
  CHECK(back.at("big").values<std::int64_t>()[1] == (std::int64_t{1} << 62) + 1);
  CHECK(back.at("bytes").values<std::uint8_t>() == std::vector<std::uint8_t>{255, 0, 128});
  CHECK(back.find("absent") == nullptr);
  check_file_error([&] { back.at("absent"); }, {"no tensor named \"absent\""});

  // Special floating-point values survive bit for bit.
  Matrix<float> special(1, 4);
  special << std::numeric_limits<float>::infinity(), -0.0f, std::numeric_limits<float>::denorm_min(),
      std::numeric_limits<float>::quiet_NaN();
  st::File with_special;
  with_special.add("special", st::Tensor::from_matrix(special));
  const Matrix<float> special_back =
      st::parse(st::serialize(with_special), "memory").at("special").to_matrix<float>();
  CHECK(std::isinf(special_back(0, 0)));
  CHECK(std::signbit(special_back(0, 1)));
  CHECK(special_back(0, 2) == std::numeric_limits<float>::denorm_min());
  CHECK(std::isnan(special_back(0, 3)));

  // An empty file (no tensors, no metadata) is valid too.
  CHECK(st::parse(st::serialize(st::File{}), "memory").tensors.empty());
}

TEST_CASE("writing refuses bad tensor names") {
  st::File file;
  file.add("a", st::Tensor::from_values<float>({1}, {1})).add("a", st::Tensor::from_values<float>({2}, {1}));
  CHECK_THROWS_WITH_AS(st::serialize(file), doctest::Contains("two tensors are named \"a\""), value_error);
  st::File empty_name;
  empty_name.add("", st::Tensor::from_values<float>({1}, {1}));
  CHECK_THROWS_AS(st::serialize(empty_name), value_error);
  st::File reserved;
  reserved.add("__metadata__", st::Tensor::from_values<float>({1}, {1}));
  CHECK_THROWS_AS(st::serialize(reserved), value_error);
  st::File bad_utf8;
  bad_utf8.metadata["key"] = "\xFF";
  CHECK_THROWS_AS(st::serialize(bad_utf8), value_error);
}

TEST_CASE("a failed write leaves the old file intact") {
  const std::string path = scratch_path("atomic.safetensors");
  const st::File original = sample_file();
  st::write(path, original);
  st::File invalid = original;
  invalid.add("matrix", st::Tensor::from_values<float>({1}, {1}));  // duplicate name: refused before writing
  CHECK_THROWS_AS(st::write(path, invalid), value_error);
  CHECK(read_text_file(path) == st::serialize(original));
  // A failure inside the atomic writer (the sink throws part-way) also keeps the old bytes.
  CHECK_THROWS_AS(write_file_atomically(path,
                                        [&](FileSink& sink) {
                                          sink.write(st::serialize(original).substr(0, 20));
                                          throw file_error("injected failure");
                                        }),
                  file_error);
  CHECK(st::read(path).metadata == original.metadata);
  ::unlink(path.c_str());
  check_file_error([&] { st::read(path); }, {"cannot open", path});
}

TEST_CASE("Python -> C++: the file written by make_safetensors.py") {
  const st::File file = st::read(golden_path("python_written.safetensors"));
  CHECK(file.metadata.at("format") == "pt");
  CHECK(file.metadata.at("unicode") == "caf\xC3\xA9 \xE2\x9C\x93");
  // Tensors come back in data order, which the script reversed.
  REQUIRE(file.tensors.size() == 8);
  CHECK(file.tensors.front().name == "empty");
  CHECK(file.tensors.back().name == "weights/f32");

  // Python's row-major (2, 3) array a is our (3 x 2) matrix a^T.
  const Matrix<float> f32 = file.at("weights/f32").to_matrix<float>();
  REQUIRE(f32.rows() == 3);
  REQUIRE(f32.cols() == 2);
  CHECK(f32(0, 0) == 1.5f);
  CHECK(f32(1, 0) == -2.25f);
  CHECK(f32(2, 1) == -7.0f);
  CHECK(f32(1, 1) == 1e-3f);
  const std::vector<double> f64 = file.at("weights/f64").values<double>();
  CHECK(f64 == std::vector<double>{M_PI, -M_E, 1e300, -0.0});
  CHECK(std::signbit(f64[3]));
  CHECK(file.at("ids/i32").values<std::int32_t>() ==
        std::vector<std::int32_t>{0, -1, 2147483647, std::numeric_limits<std::int32_t>::min()});
  CHECK(file.at("counts/i64").values<std::int64_t>() == std::vector<std::int64_t>{9007199254740993, -5});
  CHECK(file.at("bytes/u8").values<std::uint8_t>() == std::vector<std::uint8_t>{0, 7, 255});
  CHECK(file.at("scalar").shape().empty());
  CHECK(file.at("scalar").values<double>() == std::vector<double>{42.5});
  CHECK(file.at("cube").shape() == std::vector<std::int64_t>{2, 3, 4});
  CHECK(file.at("cube").values<float>()[23] == 23.0f);
  CHECK(file.at("empty").shape() == std::vector<std::int64_t>{0, 3});
  CHECK(file.at("empty").element_count() == 0);
}

TEST_CASE("C++ -> Python: the committed seqlm_written.safetensors is what the writer produces") {
  // make_safetensors.py reads this file with NumPy and checks every value. Regenerate it with
  // SEQLM_UPDATE_GOLDEN=1 after an intended format change, then rerun the script.
  const std::string bytes = st::serialize(sample_file());
  const std::string path = golden_path("seqlm_written.safetensors");
  if (std::getenv("SEQLM_UPDATE_GOLDEN") != nullptr) write_file_atomically(path, bytes);
  CHECK(read_text_file(path) == bytes);
}

TEST_CASE("corrupt files: each problem is a file_error naming the file and the field") {
  const std::string good_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data(8, '\0');
  CHECK(st::parse(make_bytes(good_header, data), "ok").tensors.size() == 1);

  auto parse = [](const std::string& bytes) { return [bytes] { st::parse(bytes, "bad.safetensors"); }; };
  auto header = [&](const std::string& text, const std::string& d = std::string(8, '\0')) {
    return parse(make_bytes(text, d));
  };

  check_file_error(parse(""), {"bad.safetensors", "0 bytes long, too short"});
  check_file_error(parse("1234567"), {"7 bytes long"});
  check_file_error(parse(make_bytes(good_header, data, std::uint64_t{1} << 40)),
                   {"header length 1099511627776 exceeds the limit"});
  check_file_error(parse(make_bytes(good_header, data, 4096)), {"header length 4096 goes beyond the end"});
  check_file_error(parse(make_bytes(good_header, data, std::numeric_limits<std::uint64_t>::max())),
                   {"exceeds the limit"});
  check_file_error(header("[1, 2]"), {"does not start with '{'"});
  check_file_error(header("{\"a\": "), {"not valid JSON"});
  check_file_error(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}"),
                   {"not valid JSON"});
  check_file_error(header("{\"\xC3\x28\":1}"), {"not valid JSON", "UTF-8"});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"),
                   {"not valid JSON", "duplicate"});
  check_file_error(header(R"({"__metadata__":{"k":1}})", ""),
                   {"metadata \"k\" is a number, expected a string"});
  check_file_error(header(R"({"__metadata__":[]})", ""), {"\"__metadata__\" is an array"});
  check_file_error(header(R"({"a":{"shape":[2],"data_offsets":[0,8]}})"),
                   {"tensor \"a\"", "missing field \"dtype\""});
  check_file_error(header(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})"), {"missing field \"shape\""});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[2]}})"), {"missing field \"data_offsets\""});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})"),
                   {"unknown field \"x\""});
  check_file_error(header(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})"),
                   {"tensor \"a\"", "dtype \"Q7\" is unknown"});
  check_file_error(header(R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})"),
                   {"dtype \"F16\" is not supported"});
  check_file_error(header(R"({"a":{"dtype":3,"shape":[2],"data_offsets":[0,8]}})"), {"dtype is a number"});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})"),
                   {"shape dimension 0 must be a non-negative integer, got -2"});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})"),
                   {"shape dimension 0 must be a non-negative integer"});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})"),
                   {"shape is a string"});
  check_file_error(header(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})"),
                   {"more elements than fit in 64 bits"});
  check_file_error(header(R"({"a":{"dtype":"F64","shape":[2305843009213693952,4],"data_offsets":[0,8]}})"),
                   {"more bytes than fit in 64 bits"});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})"),
                   {"hold 8 bytes, but dtype F32 x shape [3] needs 12"});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})"),
                   {"go beyond the 8 bytes of data"});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})"),
                   {"end before they begin"});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})"),
                   {"data_offsets must be an array of two integers"});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}})"),
                   {"data_offsets end must be a non-negative integer"});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"),
                   {"tensor \"b\"", "overlap tensor \"a\""});
  check_file_error(header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"), {"leave a gap of 4"});
  check_file_error(header(good_header, std::string(12, '\0')), {"4 bytes of trailing data"});
  check_file_error(header(good_header, std::string(5, '\0')), {"go beyond the 5 bytes of data"});
  check_file_error(header(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"), {"empty name"});
  check_file_error(header(R"({"a":[]})"), {"tensor \"a\"", "entry is an array"});
  check_file_error(header("\"text\""), {"does not start with '{'"});
  // Deep nesting cannot exhaust the stack.
  check_file_error(header("{\"a\":" + std::string(100000, '[')), {"not valid JSON"});
  // A smaller header limit is honoured.
  st::ReadOptions strict;
  strict.max_header_bytes = 16;
  check_file_error([&] { st::parse(make_bytes(good_header, data), "x", strict); },
                   {"exceeds the limit of 16"});
}

TEST_CASE("fuzz: every truncation and every flipped header byte is rejected, never a crash") {
  const std::string bytes = st::serialize(sample_file());
  std::uint64_t header_end = 8;
  for (int k = 7; k >= 0; --k) header_end += std::uint64_t{static_cast<unsigned char>(bytes[k])} << (8 * k);

  for (std::size_t length = 0; length < bytes.size(); ++length) {
    CAPTURE(length);
    CHECK_THROWS_AS(st::parse(bytes.substr(0, length), "truncated"), file_error);
  }
  // Flipping all bits of a byte of the length or the (ASCII) header always breaks the file.
  for (std::size_t position = 0; position < header_end; ++position) {
    std::string corrupt = bytes;
    corrupt[position] = static_cast<char>(corrupt[position] ^ 0xFF);
    CAPTURE(position);
    CHECK_THROWS_AS(st::parse(corrupt, "flipped"), file_error);
  }
  // Other single-bit flips may give a different valid file, but never anything but a file_error.
  for (std::size_t position = 0; position < header_end; ++position) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string corrupt = bytes;
      corrupt[position] = static_cast<char>(corrupt[position] ^ (1 << bit));
      try {
        st::parse(corrupt, "bit flip");
      } catch (const file_error&) {
      }
    }
  }
}

}  // namespace safetensors_tests
