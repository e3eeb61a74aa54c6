// Model files and checkpoints: exact round trips (float, double, converted), the stored
// names/shapes/metadata, bit-identical checkpoint resume, atomic replacement, and corrupt or
// inconsistent files (each a file_error saying what is wrong; never a crash, also under ASan).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <seqlm/files/model_file.hpp>
#include <seqlm/optim/adam.hpp>
#include <seqlm/optim/nadam.hpp>
#include <seqlm/train/checkpoint.hpp>
#include <string>
#include <vector>

namespace model_file_tests {

using namespace seqlm;
namespace st = seqlm::safetensors;

namespace {

std::string scratch_path(const std::string& name) {
  return "/tmp/seqlm_model_file_" + std::to_string(::getpid()) + "_" + name;
}

// Removes the file at the end of a test.
struct ScratchFile {
  std::string path;
  explicit ScratchFile(const std::string& name) : path(scratch_path(name)) {}
  ~ScratchFile() { ::unlink(path.c_str()); }
};

// A small token model: Embedding(7, 4) -> LSTM(5, return_sequences) -> Dropout -> Dense(7).
template <class Scalar>
Sequential<Scalar> token_model(std::uint64_t seed = 1) {
  Sequential<Scalar> model(InputSpec::token_ids(7));
  model.add(layers::embedding<Scalar>(7, 4));
  LSTMOptions sequences;
  sequences.return_sequences = true;
  model.add(layers::lstm<Scalar>(4, 5, sequences));
  model.add(layers::dropout<Scalar>(0.25));
  model.add(layers::dense<Scalar>(5, 7));
  Rng rng(seed);
  model.initialize(rng);
  return model;
}

ModelFileContents sample_contents() {
  ModelFileContents contents;
  contents.tokenizer = json::parse(R"({"type":"char","vocabulary":["a","b","c","d","e","f","g"]})");
  contents.training_config = json::parse(R"({"optimizer":"Adam","epochs":3})");
  contents.metadata = {{"dataset", "toy"}, {"author", "test"}};
  contents.test_vectors = TestVectors::token_ids({0, 1, 2, 3, 4, 5, 6, 0, 3}, 3, 3);
  return contents;
}

// Runs `action`, which must throw a file_error whose message contains every fragment.
template <class Action>
void check_file_error(Action&& action, const std::vector<std::string>& fragments) {
  try {
    action();
    FAIL("no file_error thrown; expected one mentioning \"" << fragments.front() << "\"");
  } catch (const file_error& e) {
    const std::string message = e.what();
    INFO("message: " << message);
    for (const std::string& fragment : fragments) CHECK(message.find(fragment) != std::string::npos);
  }
}

// Writes `file` with a freshly computed checksum, so that the loader gets past the checksum
// and reaches the check a test is about.
void write_resealed(const std::string& path, st::File file) {
  file.metadata["checksum"] = format_crc32(detail::model_file_checksum(file));
  st::write(path, file);
}

st::File replace_tensor(st::File file, const std::string& name, st::Tensor tensor) {
  for (auto& entry : file.tensors) {
    if (entry.name == name) entry.tensor = std::move(tensor);
  }
  return file;
}

template <class A, class B>
void check_same_weights(Sequential<A>& a, Sequential<B>& b) {
  const auto pa = a.parameters();
  const auto pb = b.parameters();
  REQUIRE(pa.size() == pb.size());
  for (std::size_t k = 0; k < pa.size(); ++k) {
    CAPTURE(pa[k].name);
    CHECK(pa[k].name == pb[k].name);
    CHECK(*pa[k].value == pb[k].value->template cast<A>());
  }
}

}  // namespace

TEST_CASE("float model round trip: weights, architecture, tokenizer, metadata, test vectors") {
  ScratchFile file("float.safetensors");
  Sequential<float> model = token_model<float>();
  save_model(file.path, model, sample_contents());

  LoadedModel<float> loaded = load_model<float>(file.path);
  check_same_weights(model, loaded.model);
  CHECK(architecture_of(loaded.model) == architecture_of(model));
  CHECK(loaded.tokenizer == sample_contents().tokenizer);
  CHECK(loaded.training_config == sample_contents().training_config);
  CHECK(loaded.metadata == sample_contents().metadata);
  CHECK(loaded.seqlm_version == version_string);
  CHECK(loaded.format_version == model_file_format_version);
  CHECK(loaded.stored_dtype == st::DType::F32);
  CHECK(loaded.test_vectors_checked);

  // The loaded model computes exactly the same logits.
  const std::vector<TokenId> ids = {6, 5, 4, 3, 2, 1};
  const Matrix<float> expected = model.forward(TokenView(ids, 3, 2), LayerContext{});
  CHECK(loaded.model.forward(TokenView(ids, 3, 2), LayerContext{}) == expected);

  // Without test vectors and with empty contents it loads too.
  save_model(file.path, model);
  LoadedModel<float> plain = load_model<float>(file.path);
  CHECK_FALSE(plain.test_vectors_checked);
  CHECK(plain.tokenizer.is_null());
  CHECK(plain.metadata.empty());
}

TEST_CASE("float files load as double models and double files as float models") {
  ScratchFile file("convert.safetensors");
  Sequential<float> single = token_model<float>(3);
  save_model(file.path, single, sample_contents());
  LoadedModel<double> as_double = load_model<double>(file.path);
  CHECK(as_double.stored_dtype == st::DType::F32);
  CHECK(as_double.test_vectors_checked);
  check_same_weights(as_double.model, single);  // float -> double is exact

  Sequential<double> twice = token_model<double>(4);
  save_model(file.path, twice, sample_contents());
  LoadedModel<double> exact = load_model<double>(file.path);
  check_same_weights(exact.model, twice);
  LoadedModel<float> as_float = load_model<float>(file.path);
  CHECK(as_float.stored_dtype == st::DType::F64);
  CHECK(as_float.test_vectors_checked);       // within the float tolerance
  check_same_weights(as_float.model, twice);  // double -> float rounds like a cast
}

TEST_CASE("feature-input models with dense test vectors") {
  ScratchFile file("features.safetensors");
  Sequential<double> model(InputSpec::features(3));
  model.add(layers::gru<double>(3, 4));  // drops the time axis
  model.add(layers::dense<double>(4, 5));
  Rng rng(9);
  model.initialize(rng);
  Matrix<double> features(3, 4 * 2);
  for (Index k = 0; k < features.size(); ++k) features.data()[k] = std::sin(0.7 * static_cast<double>(k));
  ModelFileContents contents;
  contents.test_vectors = TestVectors::dense(features, 2);
  save_model(file.path, model, contents);
  LoadedModel<double> loaded = load_model<double>(file.path);
  CHECK(loaded.test_vectors_checked);
  check_same_weights(loaded.model, model);
  const st::File raw = st::read(file.path);
  CHECK(raw.at("test_vectors/input").shape() == std::vector<std::int64_t>{8, 3});
  CHECK(raw.at("test_vectors/logits").shape() == std::vector<std::int64_t>{2, 5});  // V x B logits
}

TEST_CASE("the file uses Keras's names and shapes and documented metadata keys") {
  ScratchFile file("layout.safetensors");
  save_model(file.path, token_model<float>(), sample_contents());
  const st::File raw = st::read(file.path);
  std::vector<std::string> names;
  for (const auto& entry : raw.tensors) names.push_back(entry.name);
  CHECK(names == std::vector<std::string>{"embedding/embeddings", "lstm/kernel", "lstm/recurrent_kernel",
                                          "lstm/bias", "dense/kernel", "dense/bias", "test_vectors/input",
                                          "test_vectors/logits"});
  CHECK(raw.at("embedding/embeddings").shape() == std::vector<std::int64_t>{7, 4});  // (vocabulary, dim)
  CHECK(raw.at("lstm/kernel").shape() == std::vector<std::int64_t>{4, 20});          // (in, 4H)
  CHECK(raw.at("lstm/recurrent_kernel").shape() == std::vector<std::int64_t>{5, 20});
  CHECK(raw.at("lstm/bias").shape() == std::vector<std::int64_t>{20});
  CHECK(raw.at("dense/kernel").shape() == std::vector<std::int64_t>{5, 7});  // (in, units)
  CHECK(raw.at("lstm/kernel").dtype() == st::DType::F32);
  CHECK(raw.at("test_vectors/input").dtype() == st::DType::I32);
  CHECK(raw.at("test_vectors/input").shape() == std::vector<std::int64_t>{3, 3});
  CHECK(raw.at("test_vectors/logits").shape() == std::vector<std::int64_t>{9, 7});  // (T*B, V)
  for (const char* key : {"format", "format_version", "seqlm_version", "dtype", "architecture", "tokenizer",
                          "training_config", "test_vectors", "checksum", "user.dataset", "user.author"}) {
    CAPTURE(key);
    CHECK(raw.metadata.count(key) == 1);
  }
  CHECK(raw.metadata.at("format") == "seqlm.model");
  CHECK(raw.metadata.at("format_version") == "1");
  CHECK(raw.metadata.at("dtype") == "F32");
  CHECK(raw.metadata.at("checksum").rfind("crc32:", 0) == 0);
}

TEST_CASE(
    "checkpoint round trip restores weights, optimizer state and RNG exactly; resume is bit-identical") {
  ScratchFile file("checkpoint.safetensors");
  Sequential<float> model = token_model<float>(5);
  NadamOptions options;
  options.learning_rate = 0.01;
  options.clip.clip_norm = 1.0;
  auto optimizer = std::make_unique<Nadam<float>>(options);
  Rng gradient_rng(11);
  auto fake_step = [&gradient_rng](Sequential<float>& m, Optimizer<float>& o) {
    for (const auto& p : m.parameters())
      for (Index k = 0; k < p.gradient->size(); ++k)
        p.gradient->data()[k] = static_cast<float>(gradient_rng.normal());
    o.step(m.parameters());
  };
  for (int k = 0; k < 3; ++k) fake_step(model, *optimizer);

  Rng training_rng(77);
  training_rng.normal();  // leaves a spare normal in the state
  TrainingState position;
  position.epoch = 2;
  position.batch = 17;
  position.global_step = 123;
  position.epoch_totals.batches = 17;
  position.rng = training_rng.snapshot();
  position.schedule_state = {{"best", 0.5}, {"wait", 1}};
  position.history.epochs = {0, 1};
  position.history.metrics["loss"] = {1.25, 0.75};
  REQUIRE(position.rng.has_spare_normal);
  save_checkpoint(file.path, model, *optimizer, position, sample_contents());

  LoadedCheckpoint<float> loaded = load_checkpoint<float>(file.path);
  check_same_weights(loaded.model.model, model);
  CHECK(loaded.model.test_vectors_checked);
  const OptimizerState saved = optimizer->export_state();
  CHECK(loaded.optimizer.name == saved.name);
  CHECK(loaded.optimizer.iterations == 3);
  CHECK(loaded.optimizer.hyperparameters == saved.hyperparameters);
  CHECK(loaded.optimizer.scalars == saved.scalars);
  CHECK_FALSE(saved.scalars.empty());  // Nadam's u_product
  REQUIRE(loaded.optimizer.slots.size() == saved.slots.size());
  for (std::size_t k = 0; k < saved.slots.size(); ++k) {
    CHECK(loaded.optimizer.slots[k].first == saved.slots[k].first);
    CHECK(loaded.optimizer.slots[k].second == saved.slots[k].second);
  }
  CHECK(loaded.state.epoch == 2);
  CHECK(loaded.state.batch == 17);
  CHECK(loaded.state.global_step == 123);
  CHECK(loaded.state.rng.words == position.rng.words);
  CHECK(loaded.state.rng.has_spare_normal);
  CHECK(loaded.state.rng.spare_normal == position.rng.spare_normal);
  CHECK(loaded.state.schedule_state == position.schedule_state);
  CHECK(loaded.state.history.epochs == position.history.epochs);
  CHECK(loaded.state.history.metrics == position.history.metrics);
  Rng resumed_rng;
  resumed_rng.restore(loaded.state.rng);
  CHECK(resumed_rng.normal() == training_rng.normal());
  CHECK(resumed_rng.next() == training_rng.next());

  // Continue both runs by two steps with the same gradients: identical bits.
  auto resumed_optimizer = std::make_unique<Nadam<float>>(options);
  resumed_optimizer->import_state(loaded.optimizer);
  Rng gradient_copy = gradient_rng;
  for (int k = 0; k < 2; ++k) fake_step(model, *optimizer);
  gradient_rng = gradient_copy;
  for (int k = 0; k < 2; ++k) fake_step(loaded.model.model, *resumed_optimizer);
  check_same_weights(loaded.model.model, model);

  // A checkpoint's model loads with load_model; a model file is not a checkpoint.
  CHECK(load_model<float>(file.path).test_vectors_checked);
  save_model(file.path, model);
  check_file_error([&] { load_checkpoint<float>(file.path); }, {"not a checkpoint"});
}

TEST_CASE("a failed save leaves the old file intact") {
  ScratchFile file("atomic.safetensors");
  Sequential<float> model = token_model<float>();
  save_model(file.path, model, sample_contents());
  const std::string before = read_text_file(file.path);

  // Invalid test vectors are refused before anything is written.
  ModelFileContents bad = sample_contents();
  bad.test_vectors = TestVectors::token_ids({0, 1, 99}, 3, 1);
  CHECK_THROWS_AS(save_model(file.path, token_model<float>(8), bad), value_error);
  // An optimizer state that JSON cannot hold (NaN) fails while building the file.
  OptimizerState nan_state;
  nan_state.name = "SGD";
  nan_state.hyperparameters["learning_rate"] = std::nan("");
  CHECK_THROWS_AS(save_checkpoint(file.path, model, nan_state, TrainingState{}), value_error);
  // A failure part-way through writing the new file.
  CHECK_THROWS_AS(write_file_atomically(file.path,
                                        [&](FileSink& sink) {
                                          sink.write(before.substr(0, before.size() / 2));
                                          throw std::runtime_error("disk full (simulated)");
                                        }),
                  file_error);
  CHECK(read_text_file(file.path) == before);
  CHECK(load_model<float>(file.path).test_vectors_checked);
}

TEST_CASE("inconsistent model files: each gives a file_error saying what is wrong") {
  ScratchFile file("corrupt.safetensors");
  save_model(file.path, token_model<float>(), sample_contents());
  const std::string good_bytes = read_text_file(file.path);
  const st::File good = st::read(file.path);
  auto load = [&] { load_model<float>(file.path); };

  SUBCASE("flipped data byte: checksum") {
    std::string bytes = good_bytes;
    bytes[bytes.size() - 10] = static_cast<char>(bytes[bytes.size() - 10] ^ 0x01);
    write_file_atomically(file.path, bytes);
    check_file_error(load, {file.path, "checksum mismatch"});
  }
  SUBCASE("changed metadata: checksum") {
    st::File changed = good;
    changed.metadata["tokenizer"] = R"({"type":"char","vocabulary":["x"]})";
    st::write(file.path, changed);
    check_file_error(load, {"checksum mismatch"});
  }
  SUBCASE("missing checksum") {
    st::File changed = good;
    changed.metadata.erase("checksum");
    st::write(file.path, changed);
    check_file_error(load, {"\"checksum\" is missing"});
  }
  SUBCASE("weight with the wrong shape") {
    write_resealed(file.path,
                   replace_tensor(good, "lstm/kernel", st::Tensor::from_matrix(Matrix<float>::Zero(20, 5))));
    check_file_error(load, {"weight \"lstm/kernel\" has shape [5, 20], the architecture needs [4, 20]"});
  }
  SUBCASE("weight with the wrong dtype") {
    write_resealed(file.path,
                   replace_tensor(good, "dense/bias", st::Tensor::from_matrix(Vector<double>::Zero(7))));
    check_file_error(load, {"weight \"dense/bias\" has dtype F64, the file's dtype is F32"});
  }
  SUBCASE("missing weight") {
    st::File changed = good;
    changed.tensors.erase(changed.tensors.begin() + 5);
    write_resealed(file.path, changed);
    check_file_error(load, {"weight \"dense/bias\" is missing"});
  }
  SUBCASE("extra tensor") {
    st::File changed = good;
    changed.add("dense_9/kernel", st::Tensor::from_values<float>({1, 2}, {2}));
    write_resealed(file.path, changed);
    check_file_error(load, {"unexpected tensor \"dense_9/kernel\""});
  }
  SUBCASE("format version too new") {
    st::File changed = good;
    changed.metadata["format_version"] = "2";
    write_resealed(file.path, changed);
    check_file_error(load, {"format version 2 is newer than this seqlm", "upgrade"});
  }
  SUBCASE("bad format version") {
    st::File changed = good;
    changed.metadata["format_version"] = "one";
    write_resealed(file.path, changed);
    check_file_error(load, {"format_version \"one\" is not a positive integer"});
  }
  SUBCASE("not a seqlm file") {
    check_file_error([] { load_model<float>(std::string(SEQLM_GOLDEN_DIR) + "/python_written.safetensors"); },
                     {"not a seqlm file (format \"pt\""});
    st::File changed = good;
    changed.metadata.erase("format");
    write_resealed(file.path, changed);
    check_file_error(load, {"metadata \"format\" is missing"});
  }
  SUBCASE("architecture that is not JSON, or not a valid model") {
    st::File changed = good;
    changed.metadata["architecture"] = "{\"layers\": [";
    write_resealed(file.path, changed);
    check_file_error(load, {"metadata \"architecture\" is not valid JSON"});
    changed.metadata["architecture"] =
        R"({"format":"seqlm.sequential","input":{"kind":"token_ids","size":7},)"
        R"("layers":[{"type":"Transformer","name":"t","config":{}}]})";
    write_resealed(file.path, changed);
    check_file_error(load, {"invalid architecture", "Transformer"});
  }
  SUBCASE("test vectors the weights do not reproduce") {
    Matrix<float> bias = good.at("dense/bias").to_matrix<float>();
    bias(3) += 0.01f;
    write_resealed(file.path, replace_tensor(good, "dense/bias", st::Tensor::from_matrix(bias)));
    check_file_error(load, {"test vectors do not match: logit 3 of column 0"});
    ModelLoadOptions skip;
    skip.check_test_vectors = false;
    CHECK_FALSE(load_model<float>(file.path, skip).test_vectors_checked);
  }
  SUBCASE("container-level damage is reported with the path") {
    std::string bytes = good_bytes;
    bytes[7] = static_cast<char>(0x7F);  // header length ~ 2^63
    write_file_atomically(file.path, bytes);
    check_file_error(load, {file.path, "exceeds the limit"});
    bytes = good_bytes;
    bytes[2] = static_cast<char>(0x01);  // header length + 65536: beyond the file
    write_file_atomically(file.path, bytes);
    check_file_error(load, {"goes beyond the end of the file"});
    write_file_atomically(file.path, good_bytes.substr(0, good_bytes.size() - 1));
    check_file_error(load, {"go beyond"});
    write_file_atomically(file.path, good_bytes + "garbage!");
    check_file_error(load, {"8 bytes of trailing data"});
  }
}

TEST_CASE("a model file with a NaN or infinite weight is refused, naming the file and the tensor") {
  ScratchFile file("non_finite.safetensors");
  save_model(file.path, token_model<float>());  // no test vectors: nothing else would notice
  const st::File good = st::read(file.path);
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
    CAPTURE(bad);
    Matrix<float> kernel = good.at("lstm/kernel").to_matrix<float>();
    kernel(7, 2) = bad;
    write_resealed(file.path, replace_tensor(good, "lstm/kernel", st::Tensor::from_matrix(kernel)));
    check_file_error([&] { load_model<float>(file.path); },
                     {"model file \"" + file.path + "\"", "weight \"lstm/kernel\" holds ",
                      "at row 7, column 2 (of 20 x 4); the values must be finite"});
    check_file_error([&] { load_model<double>(file.path); }, {"weight \"lstm/kernel\" holds "});
  }
}

TEST_CASE("a double weight beyond the float range is refused when loading as float") {
  ScratchFile file("overflow.safetensors");
  Sequential<double> model = token_model<double>();
  model.parameters().back().value->coeffRef(3) = 1e300;  // dense/bias
  save_model(file.path, model);
  CHECK(load_model<double>(file.path).model.parameters().back().value->coeff(3) == 1e300);
  check_file_error([&] { load_model<float>(file.path); },
                   {"weight \"dense/bias\" holds 1e+300", "beyond the range of float"});
}

TEST_CASE("a checkpoint with a NaN in an optimizer slot or a training tensor is refused") {
  ScratchFile file("non_finite.checkpoint");
  Sequential<float> model = token_model<float>();
  Adam<float> optimizer;
  for (const auto& p : model.parameters()) p.gradient->setConstant(0.5f);
  optimizer.step(model.parameters());
  TrainingState state;
  CallbackState callback;
  callback.tensors.emplace_back("best_weights/dense/bias", Matrix<double>::Zero(7, 1));
  state.callback_states["early_stopping"] = callback;
  save_checkpoint(file.path, model, optimizer, state);
  REQUIRE(load_checkpoint<float>(file.path).optimizer.slots.size() > 0);
  const st::File good = st::read(file.path);

  const std::string slot = "optimizer/" + optimizer.export_state().slots.front().first;
  Matrix<double> moments = good.at(slot).to_matrix<double>();
  moments(0, 0) = std::numeric_limits<double>::quiet_NaN();
  write_resealed(file.path, replace_tensor(good, slot, st::Tensor::from_matrix(moments)));
  check_file_error([&] { load_checkpoint<float>(file.path); },
                   {"checkpoint \"" + file.path + "\"", "optimizer slot \"", "holds nan"});

  const std::string name = "training/callbacks/early_stopping/best_weights/dense/bias";
  Matrix<double> best = good.at(name).to_matrix<double>();
  best(6, 0) = -std::numeric_limits<double>::infinity();
  write_resealed(file.path, replace_tensor(good, name, st::Tensor::from_matrix(best)));
  check_file_error([&] { load_checkpoint<float>(file.path); },
                   {"training tensor \"callbacks/early_stopping/best_weights/dense/bias\" holds -inf"});
}

namespace {

// A checkpoint of token_model<float>() after one Adam step, with one callback tensor.
st::File checkpoint_with_slots_and_training_tensor(const std::string& path) {
  Sequential<float> model = token_model<float>();
  Adam<float> optimizer;
  for (const auto& p : model.parameters()) p.gradient->setConstant(0.5f);
  optimizer.step(model.parameters());
  TrainingState state;
  CallbackState callback;
  callback.tensors.emplace_back("best_weights/dense/bias", Matrix<double>::Zero(7, 1));
  state.callback_states["early_stopping"] = callback;
  save_checkpoint(path, model, optimizer, state);
  return st::read(path);
}

}  // namespace

TEST_CASE("a checkpoint's slot or training tensor beyond the float range is refused when loading as float") {
  // The values become float in the optimizer and in the callbacks; before the check, 1e306
  // turned into an infinite momentum and the resumed run into infinite weights.
  ScratchFile file("float_range.checkpoint");
  const st::File good = checkpoint_with_slots_and_training_tensor(file.path);
  const std::string slot = "optimizer/0/embedding/embeddings/momentum";
  Matrix<double> moments = good.at(slot).to_matrix<double>();
  moments(1, 2) = 1e306;
  write_resealed(file.path, replace_tensor(good, slot, st::Tensor::from_matrix(moments)));
  CHECK(load_checkpoint<double>(file.path).optimizer.slots.front().second(1, 2) == 1e306);
  check_file_error([&] { load_checkpoint<float>(file.path); },
                   {"optimizer slot \"0/embedding/embeddings/momentum\" holds 1e+306 at row 1, column 2",
                    "beyond the range of float"});

  const std::string name = "training/callbacks/early_stopping/best_weights/dense/bias";
  write_resealed(file.path,
                 replace_tensor(good, name, st::Tensor::from_matrix(Matrix<double>::Constant(7, 1, -1e300))));
  CHECK(load_checkpoint<double>(file.path).state.callback_states.count("early_stopping") == 1);
  check_file_error([&] { load_checkpoint<float>(file.path); },
                   {"training tensor \"callbacks/early_stopping/best_weights/dense/bias\" holds -1e+300",
                    "beyond the range of float"});
}

TEST_CASE("a checkpoint tensor with no elements but a huge dimension is refused at once") {
  // Zero elements cost no bytes, so the container accepts shape [2^62, 0]; before the check,
  // the reader then walked the 2^62 empty columns of the 0 x 2^62 matrix (it never returned).
  ScratchFile file("huge_dimension.checkpoint");
  const st::File good = checkpoint_with_slots_and_training_tensor(file.path);
  const std::string slot = "optimizer/0/embedding/embeddings/momentum";
  const std::int64_t huge = std::int64_t{1} << 62;
  write_resealed(file.path, replace_tensor(good, slot, st::Tensor(st::DType::F64, {huge, 0}, "")));
  check_file_error([&] { load_checkpoint<float>(file.path); },
                   {"optimizer slot \"0/embedding/embeddings/momentum\" has shape [4611686018427387904, 0]",
                    "no model has a dimension above 2147483647"});
  const std::string name = "training/callbacks/early_stopping/best_weights/dense/bias";
  write_resealed(file.path, replace_tensor(good, name, st::Tensor(st::DType::F64, {huge, 0}, "")));
  check_file_error([&] { load_checkpoint<double>(file.path); },
                   {"training tensor \"callbacks/early_stopping/best_weights/dense/bias\" has shape"});
  // At the bound the reader takes the empty tensor without walking its columns (the callback
  // that gets it compares the shape with the model's when a run resumes).
  const std::int64_t bound = (std::int64_t{1} << 31) - 1;
  write_resealed(file.path, replace_tensor(good, name, st::Tensor(st::DType::F64, {bound, 0}, "")));
  const LoadedCheckpoint<float> loaded = load_checkpoint<float>(file.path);
  CHECK(loaded.state.callback_states.at("early_stopping").tensors.at(0).second.cols() == bound);
}

TEST_CASE("save_model and save_checkpoint refuse a NaN or infinite weight, slot or training tensor") {
  // The loaders refuse such files, so writing one (a resumed run's ModelCheckpoint did) would
  // leave a file that can never be read; the old file stays instead.
  ScratchFile file("refused.safetensors");
  Sequential<float> model = token_model<float>();
  save_model(file.path, model);
  const std::string before = read_text_file(file.path);

  Sequential<float> broken = model;
  broken.parameters()[1].value->coeffRef(3, 1) = std::numeric_limits<float>::infinity();  // lstm/kernel
  try {
    save_model(file.path, broken);
    FAIL("save_model wrote an infinite weight");
  } catch (const value_error& e) {
    CHECK(std::string(e.what()) ==
          "save_model: weight \"lstm/kernel\" holds inf at row 3, column 1 (of 20 x 4); a seqlm file cannot "
          "hold NaN or infinity (loading would refuse it)");
  }
  Adam<float> optimizer;
  CHECK_THROWS_WITH_AS(save_checkpoint(file.path, broken, optimizer, TrainingState{}),
                       doctest::Contains("save_checkpoint: weight \"lstm/kernel\" holds inf"), value_error);

  OptimizerState slots = optimizer.export_state();
  slots.slots.emplace_back("0/embedding/embeddings/momentum",
                           Matrix<double>::Constant(4, 7, std::numeric_limits<double>::quiet_NaN()));
  CHECK_THROWS_WITH_AS(
      save_checkpoint(file.path, model, slots, TrainingState{}),
      doctest::Contains("optimizer slot \"0/embedding/embeddings/momentum\" holds nan at row 0"),
      value_error);

  TrainingState state;
  CallbackState callback;
  callback.tensors.emplace_back("best_weights/dense/bias", Matrix<double>::Constant(7, 1, -HUGE_VAL));
  state.callback_states["early_stopping"] = callback;
  CHECK_THROWS_WITH_AS(
      save_checkpoint(file.path, model, optimizer, state),
      doctest::Contains("training tensor \"callbacks/early_stopping/best_weights/dense/bias\" holds -inf"),
      value_error);
  CHECK(read_text_file(file.path) == before);
}

TEST_CASE("fuzz: truncations and flipped bytes of a model file are always a seqlm::error") {
  ScratchFile file("fuzz.safetensors");
  Sequential<float> model(InputSpec::token_ids(3));
  LSTMOptions sequences;
  sequences.return_sequences = true;
  model.add(layers::lstm<float>(3, 2, sequences));
  model.add(layers::dense<float>(2, 3));
  Rng rng(2);
  model.initialize(rng);
  ModelFileContents contents;
  contents.tokenizer = json::parse(R"({"chars":"abc"})");
  contents.test_vectors = TestVectors::token_ids({0, 1, 2}, 3, 1);
  save_model(file.path, model, contents);
  const std::string bytes = read_text_file(file.path);
  std::size_t header_end = 8;
  for (int k = 7; k >= 0; --k) header_end += std::size_t{static_cast<unsigned char>(bytes[k])} << (8 * k);
  REQUIRE(header_end < bytes.size());

  auto load_bytes = [&](const std::string& corrupt) {
    write_file_atomically(file.path, corrupt);
    load_model<float>(file.path);
  };
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    CAPTURE(length);
    CHECK_THROWS_AS(load_bytes(bytes.substr(0, length)), error);
  }
  // Every single-bit flip of the length and header, and every flipped data byte.
  for (std::size_t position = 0; position < bytes.size(); ++position) {
    const int bits = position < header_end ? 8 : 1;
    for (int bit = 0; bit < bits; ++bit) {
      std::string corrupt = bytes;
      corrupt[position] = static_cast<char>(corrupt[position] ^ (position < header_end ? 1 << bit : 0xFF));
      CAPTURE(position);
      CAPTURE(bit);
      CHECK_THROWS_AS(load_bytes(corrupt), error);
    }
  }
  write_file_atomically(file.path, bytes);
  CHECK(load_model<float>(file.path).test_vectors_checked);
}

}  // namespace model_file_tests
