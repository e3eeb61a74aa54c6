// The resource limits of docs/file-format.md#limits, one test each: an input just over a
// limit is refused with a seqlm::error naming the field and the limit, and (where that is
// cheap) one at the limit is accepted. The inputs declare huge counts rather than hold them
// (a sparse file, a header length, a shape, a list of names), so the whole file runs in well
// under a second and allocates a few tens of MiB at most.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <seqlm/files/layer_table.hpp>
#include <seqlm/files/model_file.hpp>
#include <seqlm/io/json.hpp>
#include <seqlm/io/safetensors.hpp>
#include <seqlm/ngram.hpp>
#include <seqlm/optim/adam.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <seqlm/text/csv.hpp>
#include <seqlm/text/word_tokenizer.hpp>
#include <seqlm/train/checkpoint.hpp>
#include <string>
#include <vector>

namespace limits_tests {

using namespace seqlm;
namespace st = seqlm::safetensors;

namespace {

// A file in /tmp, removed at the end of the test.
struct ScratchFile {
  std::string path;
  explicit ScratchFile(const std::string& name)
      : path("/tmp/seqlm_limits_" + std::to_string(::getpid()) + "_" + name) {}
  ~ScratchFile() { ::unlink(path.c_str()); }
  const std::string& write(const std::string& bytes) const {
    write_file_atomically(path, bytes);
    return path;
  }
  // A sparse file of `size` bytes: it takes no disk space and no memory.
  const std::string& sparse(std::uint64_t size) const {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
    ::close(fd);
    return path;
  }
};

// `action` must throw an E whose message contains every fragment.
template <class E = error, class Action>
void check_refused(Action&& action, const std::vector<std::string>& fragments) {
  try {
    action();
    FAIL("accepted; expected an error mentioning \"" << fragments.front() << "\"");
  } catch (const E& e) {
    const std::string message = e.what();
    INFO("message: " << message);
    for (const std::string& fragment : fragments) CHECK(message.find(fragment) != std::string::npos);
  }
}

std::string repeat(const std::string& text, std::size_t times, const std::string& separator = ",") {
  std::string out;
  for (std::size_t k = 0; k < times; ++k) out += (k > 0 ? separator : "") + text;
  return out;
}

std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// A safetensors file of one header and no data: the 8-byte length, then the header.
std::string safetensors_bytes(const std::string& header) {
  std::string bytes(8, '\0');
  for (int k = 0; k < 8; ++k) bytes[k] = static_cast<char>(std::uint64_t{header.size()} >> (8 * k));
  return bytes + header;
}

json::Value architecture(const std::string& input, const std::string& layers) {
  return json::parse(R"({"format": "seqlm.sequential", "input": )" + input + R"(, "layers": [)" + layers +
                     "]}");
}

std::string dense(std::int64_t input_size, std::int64_t units) {
  return R"({"type": "Dense", "config": {"input_size": )" + std::to_string(input_size) + R"(, "units": )" +
         std::to_string(units) + "}}";
}

// Writes `file` with a freshly computed checksum, so that the loader reaches the check a test
// is about.
void write_resealed(const std::string& path, st::File file) {
  file.metadata["checksum"] = format_crc32(detail::model_file_checksum(file));
  st::write(path, file);
}

Sequential<float> small_model() {
  Sequential<float> model(InputSpec::token_ids(5));
  model.add(layers::embedding<float>(5, 3)).add(layers::dense<float>(3, 5));
  Rng rng(7);
  model.initialize(rng);
  return model;
}

}  // namespace

TEST_CASE("a JSON file longer than max_bytes is refused by its size before it is read") {
  CHECK(json::default_max_bytes == std::size_t{256} << 20);
  ScratchFile file("big.json");
  // 256 MiB + 1 byte, sparse: read, it would take 256 MiB of memory before the parser refused it.
  file.sparse(json::default_max_bytes + 1);
  check_refused<file_error>([&] { json::parse_file(file.path); },
                            {file.path, "has 268435457 bytes, more than the limit of 268435456 bytes"});
  // Every JSON loader reads through parse_file.
  check_refused<file_error>([&] { CharTokenizer::load(file.path); }, {file.path, "268435457 bytes"});
  check_refused<file_error>([&] { WordTokenizer::load(file.path); }, {file.path, "268435457 bytes"});
  check_refused<file_error>([&] { NGramModel::load(file.path); }, {file.path, "268435457 bytes"});

  json::ParseOptions small;
  small.max_bytes = 7;
  CHECK(json::parse_file(file.write("[1,2,3]"), small).size() == 3);  // at the limit
  check_refused<file_error>([&] { json::parse_file(file.write("[1,2,3] "), small); },
                            {"has 8 bytes, more than the limit of 7 bytes"});
  // A file whose size is not known in advance (/proc) is cut off once it gives more.
  check_refused<file_error>([] { read_text_file("/proc/self/status", 16); },
                            {"/proc/self/status\" has at least", "more than the limit of 16 bytes"});
}

TEST_CASE("JSON nesting deeper than max_depth is refused") {
  CHECK(json::default_max_depth == 256);
  CHECK(json::parse(nested_arrays(256)).is_array());
  check_refused<value_error>([] { json::parse(nested_arrays(257)); },
                             {"nesting deeper than the limit of 256"});
}

TEST_CASE("a JSON text of more than max_values values is refused") {
  // 104 bytes per value: the default bound keeps a 256 MiB text of "0,0,0,..." (2^27 values,
  // 14 GB) to 2^24 values (1.7 GB).
  CHECK(json::default_max_values == std::size_t{1} << 24);
  json::ParseOptions small;
  small.max_values = 4;
  CHECK(json::parse("[1, [2]]", small).size() == 2);  // 4 values: the two arrays, 1 and 2
  CHECK(json::parse("[1, {\"a\": 2}]", small).size() == 2);
  check_refused<value_error>([&] { json::parse("[1, [2], 3]", small); },
                             {"more values than the limit of 4 at byte offset 9"});
}

TEST_CASE("a safetensors header above max_header_bytes is refused before it is read") {
  CHECK(st::default_max_header_bytes == std::uint64_t{100} << 20);
  std::string bytes(16, ' ');
  const std::uint64_t over = st::default_max_header_bytes + 1;
  for (int k = 0; k < 8; ++k) bytes[k] = static_cast<char>(over >> (8 * k));
  check_refused<file_error>(
      [&] { st::parse(bytes, "big"); },
      {"safetensors \"big\"", "header length 104857601 exceeds the limit of 104857600 bytes"});
  // At the limit the length passes that check and fails the next one: the file is shorter.
  for (int k = 0; k < 8; ++k) bytes[k] = static_cast<char>(st::default_max_header_bytes >> (8 * k));
  check_refused<file_error>([&] { st::parse(bytes, "big"); }, {"goes beyond the end of the file"});
}

TEST_CASE("a model file longer than max_file_bytes is refused, also a device that never ends") {
  CHECK(st::default_max_file_bytes == std::uint64_t{2} << 30);
  ScratchFile file("big.safetensors");
  // 2 GiB + 1 byte, sparse: refused by its size before anything is read.
  file.sparse(st::default_max_file_bytes + 1);
  check_refused<file_error>([&] { st::read(file.path); }, {file.path, "has 2147483649 bytes"});
  check_refused<file_error>([&] { load_model<float>(file.path); }, {"2147483649 bytes"});
  // /dev/zero has no size and never ends: it is read until the limit, then refused (it was
  // read until memory ran out).
  st::ReadOptions small;
  small.max_file_bytes = 1 << 20;
  check_refused<file_error>([&] { st::read("/dev/zero", small); },
                            {"\"/dev/zero\" has at least", "more than the limit of 1048576 bytes"});
}

TEST_CASE("a safetensors header nested deeper than max_header_depth is refused") {
  CHECK(st::max_header_depth == 64);
  // The object itself is depth 1, so 63 arrays inside it reach the limit.
  const std::string at_limit = R"({"__metadata__": {}, "x": )" + nested_arrays(63) + "}";
  check_refused<file_error>([&] { st::parse(safetensors_bytes(at_limit), "deep"); },
                            {"tensor \"x\": entry is an array, expected an object"});
  const std::string over = R"({"__metadata__": {}, "x": )" + nested_arrays(64) + "}";
  check_refused<file_error>([&] { st::parse(safetensors_bytes(over), "deep"); },
                            {"nesting deeper than the limit of 64"});
}

TEST_CASE("a tensor of more than max_dimensions dimensions is refused; its bytes must be in the file") {
  CHECK(st::max_dimensions == 8);
  const std::string eight = R"({"t": {"dtype": "U8", "shape": [1,1,1,1,1,1,1,1], "data_offsets": [0, 1]}})";
  std::string bytes = safetensors_bytes(eight) + "x";
  CHECK(st::parse(bytes, "shape").tensors.at(0).tensor.shape().size() == 8);
  const std::string nine = R"({"t": {"dtype": "U8", "shape": [1,1,1,1,1,1,1,1,1], "data_offsets": [0, 1]}})";
  check_refused<file_error>([&] { st::parse(safetensors_bytes(nine) + "x", "shape"); },
                            {"tensor \"t\": shape has 9 dimensions, more than the limit of 8"});
  // The element count needs no limit of its own: a tensor holds exactly its bytes.
  const std::string huge = R"({"t": {"dtype": "F32", "shape": [1099511627776], "data_offsets": [0, 4]}})";
  check_refused<file_error>([&] { st::parse(safetensors_bytes(huge) + "abcd", "huge"); },
                            {"tensor \"t\"", "hold 4 bytes", "needs 4398046511104"});
}

TEST_CASE("an architecture of more than max_layers layers is refused before any layer is built") {
  // Before the limit there was none: a 40 MB file of Dropout layers built a million layers.
  CHECK(ArchitectureLimits{}.max_layers == 1024);
  const std::string dropout = R"({"type": "Dropout", "config": {"rate": 0.5}})";
  const std::string input = R"({"kind": "features", "size": 3})";
  const Sequential<float> at_limit =
      sequential_from_architecture<float>(architecture(input, repeat(dropout, 1024)));
  CHECK(at_limit.size() == 1024);
  check_refused<file_error>(
      [&] { sequential_from_architecture<float>(architecture(input, repeat(dropout, 1025))); },
      {"model architecture: field \"layers\" has 1025 layers, more than the limit of 1024"});
}

TEST_CASE("layer sizes above 2^24 and parameter counts above the limits are refused before allocating") {
  CHECK(json::ObjectReader::max_size == std::int64_t{1} << 24);
  const std::string input = R"({"kind": "features", "size": 3})";
  check_refused<file_error>(
      [&] { sequential_from_architecture<float>(architecture(input, dense(3, (1 << 24) + 1))); },
      {"layers[0]/config: field \"units\" is 16777217, expected an integer in [1, 16777216]"});
  // One layer: 2^14 x (2^14 + 1) weights and biases = 2^28 + 2^15 > 2^28 (nothing allocated).
  CHECK(ArchitectureLimits{}.max_layer_parameters == Index{1} << 28);
  check_refused<file_error>(
      [&] {
        sequential_from_architecture<float>(
            architecture(R"({"kind": "features", "size": 16384})", dense(16384, 16385)));
      },
      {"layers[0]: field \"config\" describes 268468225 parameters, more than the limit of 268435456"});
  // The model: three layers of 2^28 - 2^14 each, 6 GB of floats, refused at the third.
  CHECK(ArchitectureLimits{}.max_parameters == Index{1} << 29);
  const std::string big = dense(16384, 16383);
  check_refused<file_error>(
      [&] {
        sequential_from_architecture<float>(
            architecture(R"({"kind": "features", "size": 16384})",
                         big + ", " + dense(16383, 16384) + ", " + dense(16384, 16383)));
      },
      {"layers[2]: field \"config\" brings the model to", "more than the limit of 536870912"});
}

TEST_CASE("a Conv1D whose streaming history exceeds max_conv1d_history is refused") {
  CHECK(max_conv1d_history == Index{1} << 28);
  auto conv = [](std::int64_t kernel_size) {
    return architecture(R"({"kind": "features", "size": 1})",
                        R"({"type": "Conv1D", "config": {"input_size": 1, "filters": 1, "kernel_size": )" +
                            std::to_string(kernel_size) + R"(, "dilation": 16384, "activation": "linear"}})");
  };
  // (kernel_size - 1) x dilation x input_size = 2^14 x 2^14 x 1 = 2^28: at the limit.
  CHECK(sequential_from_architecture<float>(conv(16385)).size() == 1);
  check_refused<file_error>([&] { sequential_from_architecture<float>(conv(16386)); },
                            {"field \"kernel_size\" and dilation give a streaming history of 268451840",
                             "more than the limit of 268435456"});
}

TEST_CASE("test vectors needing more than max_test_vector_values values are refused, saved or loaded") {
  // Before the limit, steps and batch were only kept below 2^30 each: a small file could ask
  // the loader to run 2^60 columns (the forward pass allocated first and asked questions after).
  CHECK(max_test_vector_values == Index{1} << 24);
  ScratchFile file("test_vectors.safetensors");
  Sequential<float> model = small_model();  // outputs 3 + 5 = 8 values per column
  ModelFileContents contents;
  // 2^21 steps x 8 = 2^24: at the limit, so save_model goes on to find that one id does not
  // fill 2^21 steps (running them would take 64 MiB).
  contents.test_vectors = TestVectors::token_ids({1}, Index{1} << 21, 1);
  try {
    save_model(file.path, model, contents);
    FAIL("one id for 2^21 steps was accepted");
  } catch (const error& e) {
    CHECK(std::string(e.what()).find("more than the limit") == std::string::npos);
  }
  contents.test_vectors = TestVectors::token_ids({1}, (Index{1} << 21) + 1, 1);
  check_refused<value_error>([&] { save_model(file.path, model, contents); },
                             {"save_model: test vectors: steps 2097153 x batch 1 x the layers' outputs is "
                              "16777224 values, more than the limit of 16777216"});

  contents.test_vectors = TestVectors::token_ids({1, 2, 3}, 3, 1);
  save_model(file.path, model, contents);
  st::File saved = st::read(file.path);
  saved.metadata["test_vectors"] = R"({"input": "token_ids", "steps": 2097153, "batch": 1})";
  write_resealed(file.path, saved);
  check_refused<file_error>(
      [&] { load_model<float>(file.path); },
      {file.path, "metadata \"test_vectors\": steps 2097153 x batch 1", "more than the limit of 16777216"});
  saved.metadata["test_vectors"] = R"({"input": "token_ids", "steps": 4611686018427387904, "batch": 4})";
  write_resealed(file.path, saved);
  check_refused<file_error>([&] { load_model<float>(file.path); }, {"more than the limit of 16777216"});
}

TEST_CASE("a checkpoint listing more than max_checkpoint_slots slots or training tensors is refused") {
  CHECK(max_checkpoint_slots == Index{1} << 16);
  CHECK(max_checkpoint_training_tensors == Index{1} << 16);
  ScratchFile file("slots.checkpoint");
  Sequential<float> model = small_model();
  Adam<float> optimizer;
  save_checkpoint(file.path, model, optimizer, TrainingState{});
  const st::File good = st::read(file.path);

  st::File slots = good;
  json::Value optimizer_json = json::parse(slots.metadata.at("optimizer"));
  json::Value names = json::Value::array();
  for (int k = 0; k <= (1 << 16); ++k) names.push_back("s" + std::to_string(k));
  optimizer_json.set("slots", names);
  slots.metadata["optimizer"] = optimizer_json.dump();
  write_resealed(file.path, slots);
  check_refused<file_error>([&] { load_checkpoint<float>(file.path); },
                            {file.path,
                             "metadata \"optimizer\": field \"slots\" lists 65537 slots, "
                             "more than the limit of 65536"});

  st::File training = good;
  json::Value training_json = json::parse(training.metadata.at("training"));
  training_json.set("tensors", names);
  training.metadata["training"] = training_json.dump();
  write_resealed(file.path, training);
  check_refused<file_error>([&] { load_checkpoint<float>(file.path); },
                            {"metadata \"training\": field \"tensors\" lists 65537 tensors, "
                             "more than the limit of 65536"});
}

TEST_CASE("an empty checkpoint tensor with a dimension above 2^31 - 1 is refused") {
  CHECK(detail::max_checkpoint_tensor_dimension == (Index{1} << 31) - 1);
  CHECK(Optimizer<float>::max_slot_dimension == (Index{1} << 31) - 1);
  ScratchFile file("dimension.checkpoint");
  Sequential<float> model = small_model();
  Adam<float> optimizer;
  for (const auto& p : model.parameters()) p.gradient->setConstant(0.5f);
  optimizer.step(model.parameters());
  save_checkpoint(file.path, model, optimizer, TrainingState{});
  st::File changed = st::read(file.path);
  for (auto& entry : changed.tensors) {
    if (entry.name == "optimizer/0/embedding/embeddings/momentum") {
      entry.tensor = st::Tensor(st::DType::F64, {std::int64_t{1} << 31, 0}, "");
    }
  }
  write_resealed(file.path, changed);
  check_refused<file_error>([&] { load_checkpoint<float>(file.path); },
                            {"optimizer slot \"0/embedding/embeddings/momentum\" has shape [2147483648, 0]",
                             "no model has a dimension above 2147483647"});
}

TEST_CASE("an n-gram file above max_vocabulary_size or max_order is refused") {
  CHECK(NGramModel::max_vocabulary_size == Index{1} << 22);
  CHECK(NGramModel::max_order == 64);
  ScratchFile file("model.ngram");
  auto ngram = [&](std::int64_t order, std::int64_t vocabulary_size) {
    return NGramModel::load(file.write(
        R"({"format": "seqlm.ngram", "version": 1, "order": )" + std::to_string(order) +
        R"(, "vocabulary_size": )" + std::to_string(vocabulary_size) +
        R"(, "begin_token": null, "end_token": null, "add_k": 0, "backoff": false, "contexts": []})"));
  };
  CHECK(ngram(64, 4194304).vocabulary_size() == 4194304);  // nothing is allocated for V on loading
  check_refused<file_error>(
      [&] { ngram(2, 4194305); },
      {file.path, "vocabulary_size 4194305 is out of range: it must be in [1, 4194304]"});
  check_refused<file_error>([&] { ngram(65, 10); }, {file.path, "order must be in [2, 64], got 65"});
}

TEST_CASE("a character vocabulary of more than max_characters characters is refused before it is checked") {
  // Every Unicode scalar value once; more must repeat one. The count is checked first, so the
  // file's "characters" are not decoded one by one.
  CHECK(CharTokenizer::max_characters == 1112064);
  std::u32string characters(static_cast<std::size_t>(CharTokenizer::max_characters) + 1, U'a');
  check_refused<value_error>([&] { (void)CharTokenizer(characters, {}); },
                             {"the vocabulary has 1112065 characters, more than the limit of 1112064"});
}

TEST_CASE("a CSV field longer than max_field_bytes or a record of more than max_fields fields is refused") {
  CHECK(CsvReader::max_field_bytes == std::size_t{1} << 20);
  CHECK(CsvReader::max_fields == std::size_t{1} << 16);
  ScratchFile file("limits.csv");
  std::vector<std::string> row;
  {
    CsvReader reader(file.write(repeat("", CsvReader::max_fields)));  // 65535 commas: 65536 fields
    CHECK(reader.read_row(row));
    CHECK(row.size() == CsvReader::max_fields);
  }
  check_refused<file_error>(
      [&] {
        CsvReader reader(file.write("a\n" + repeat("", CsvReader::max_fields + 1)));
        while (reader.read_row(row)) {
        }
      },
      {file.path, "line 2: the record has more fields than the limit of 65536"});
  // A quoted field left open: before the limit it swallowed the rest of the file, whatever its size.
  std::string field(CsvReader::max_field_bytes, 'x');
  {
    CsvReader reader(file.write(field));
    CHECK(reader.read_row(row));
    CHECK(row.at(0).size() == CsvReader::max_field_bytes);
  }
  check_refused<file_error>(
      [&] {
        CsvReader reader(file.write("\"" + field + "x"));
        reader.read_row(row);
      },
      {file.path, "line 1: a field is longer than the limit of 1048576 bytes"});
}

}  // namespace limits_tests
