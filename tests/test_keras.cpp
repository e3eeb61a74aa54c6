// seqlm::keras without the shared data: every layer type and optimizer through a .keras round
// trip, weights-only files, functional chains, and the refusals -- truncated and incomplete
// archives, broken HDF5, wrong shapes, options and layers seqlm cannot compute, a vocabulary of
// the wrong size -- each a seqlm::error naming the file, the place and expected vs found.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <seqlm/keras/keras.hpp>
#include <seqlm/model/generate.hpp>
#include <seqlm/optim/make_optimizer.hpp>
#include <string>
#include <utility>
#include <vector>

#include "test_helpers.hpp"

namespace keras_tests {

using namespace seqlm;
using seqlm::testing::check_throws_with;

namespace {

// A scratch file removed when the test ends.
struct ScratchFile {
  std::string path;
  explicit ScratchFile(const std::string& name) : path("test_keras_" + name) {}
  ~ScratchFile() { std::remove(path.c_str()); }
};

keras::Vocabulary letters(Index count) {
  std::vector<std::string> characters;
  for (Index k = 0; k < count; ++k) characters.push_back(std::string(1, static_cast<char>('a' + k)));
  return keras::Vocabulary::characters(characters);
}

// Every layer seqlm has, on token ids: Embedding -> causal Conv1D (relu, dilation 2) -> Dropout
// -> GRU (reset_after=false, sequences) -> LSTM -> Dense.
template <class Scalar>
Sequential<Scalar> every_layer_model(std::uint64_t seed) {
  Sequential<Scalar> model(InputSpec::token_ids(11));
  model.add(layers::embedding<Scalar>(11, 6));
  Conv1DOptions conv;
  conv.dilation = 2;
  conv.activation = Activation::relu;
  model.add(layers::conv1d<Scalar>(6, 8, 3, conv));
  model.add(layers::dropout<Scalar>(0.25));
  GRUOptions gru;
  gru.reset_after = false;
  gru.return_sequences = true;
  model.add(layers::gru<Scalar>(8, 7, gru));
  model.add(layers::lstm<Scalar>(7, 5));
  model.add(layers::dense<Scalar>(5, 11));
  model.initialize(seed);
  return model;
}

// The tutorials' shape: one-hot characters into a GRU (reset_after), then Dense.
Sequential<float> one_hot_model(Index units = 9) {
  Sequential<float> model(InputSpec::token_ids(11));
  GRUOptions gru;
  gru.return_sequences = true;
  model.add(layers::gru<float>(11, units, gru));
  model.add(layers::gru<float>(units, units));
  model.add(layers::dense<float>(units, 11));
  model.initialize(3);
  return model;
}

// Takes `steps` optimizer steps on random gradients, so that every slot holds something.
template <class Scalar>
void take_steps(Sequential<Scalar>& model, Optimizer<Scalar>& optimizer, int steps) {
  Rng rng(17);
  for (int s = 0; s < steps; ++s) {
    for (const Parameter<Scalar>& p : model.parameters()) {
      for (Index k = 0; k < p.gradient->size(); ++k)
        p.gradient->data()[k] = static_cast<Scalar>(rng.uniform() - 0.5);
    }
    optimizer.step(model.parameters());
  }
}

template <class Scalar>
void check_same_weights(const Sequential<Scalar>& a, const Sequential<Scalar>& b) {
  const ConstParameterList<Scalar> x = a.parameters();
  const ConstParameterList<Scalar> y = b.parameters();
  REQUIRE(x.size() == y.size());
  for (std::size_t k = 0; k < x.size(); ++k) {
    CHECK(x[k].name == y[k].name);
    CHECK(*x[k].value == *y[k].value);
  }
}

void check_same_state(const OptimizerState& a, const OptimizerState& b) {
  CHECK(a.name == b.name);
  CHECK(a.iterations == b.iterations);
  CHECK(a.hyperparameters == b.hyperparameters);
  CHECK(a.scalars == b.scalars);
  REQUIRE(a.slots.size() == b.slots.size());
  for (std::size_t k = 0; k < a.slots.size(); ++k) {
    CHECK(a.slots[k].first == b.slots[k].first);
    CHECK(a.slots[k].second == b.slots[k].second);
  }
}

// The entries of an archive, in order.
std::vector<std::pair<std::string, std::string>> entries_of(const std::string& path) {
  keras::zip::Reader archive(path);
  std::vector<std::pair<std::string, std::string>> entries;
  for (const std::string& name : archive.names()) entries.emplace_back(name, archive.read(name, 1 << 30));
  return entries;
}

void write_archive(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries) {
  std::vector<keras::zip::Entry> list;
  for (const auto& [name, data] : entries) list.push_back({name, data, keras::zip::earliest_time()});
  write_file_atomically(path, keras::zip::write_stored(list, path));
}

std::string& entry(std::vector<std::pair<std::string, std::string>>& entries, const std::string& name) {
  for (auto& e : entries) {
    if (e.first == name) return e.second;
  }
  FAIL("no entry " << name);
  throw 0;
}

// `text` with the first occurrence of `from` replaced by `to` (which must occur).
std::string replace(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "\"" << from << "\" not found");
  return text.replace(at, from.size(), to);
}

// A .keras file of `model` whose config.json was edited by `edit`.
template <class Edit>
void write_edited(const std::string& path, const Sequential<float>& model, Edit&& edit,
                  const keras::SaveOptions& options = {}) {
  keras::save(model, path, options);
  auto entries = entries_of(path);
  std::string& config = entry(entries, "config.json");
  config = edit(config);
  write_archive(path, entries);
}

}  // namespace

TEST_CASE("every layer type survives seqlm -> .keras -> seqlm bit for bit, float and double") {
  const Sequential<float> model = every_layer_model<float>(5);
  ScratchFile file("every_layer.keras");
  keras::SaveOptions options;
  options.sequence_length = 12;
  keras::save(model, file.path, options);
  const auto back = keras::load<float>(file.path, letters(11));
  check_same_weights(model, back.model);
  CHECK(back.sequence_length == std::optional<Index>(12));
  CHECK_FALSE(back.one_hot_input);
  CHECK(back.softmax_output);
  CHECK_FALSE(back.optimizer.has_value());
  REQUIRE(back.model.size() == 6);
  CHECK(back.model.layer(1).type() == "Conv1D");
  CHECK(back.layers[1].weights_path == "layers/conv1d");
  CHECK(back.layers[3].cell);
  const auto* conv = layer_cast<Conv1D<float>>(back.model.layer(1));
  REQUIRE(conv != nullptr);
  CHECK(conv->config().options.dilation == 2);
  CHECK(conv->config().options.activation == Activation::relu);
  CHECK_FALSE(layer_cast<GRU<float>>(back.model.layer(3))->config().options.reset_after);
  // The same logits, hence the same text.
  Sequential<float> a = model, b = back.model;
  const std::vector<TokenId> ids = {1, 4, 2, 8, 5, 7, 3};
  CHECK(a.forward(TokenView(ids, 7, 1), {}) == b.forward(TokenView(ids, 7, 1), {}));

  const Sequential<double> dual = every_layer_model<double>(6);
  ScratchFile file64("every_layer64.keras");
  keras::save(dual, file64.path);
  check_same_weights(dual, keras::load<double>(file64.path, letters(11)).model);
}

TEST_CASE("every optimizer's state survives the round trip and continues identically") {
  std::vector<std::pair<std::string, std::map<std::string, double>>> optimizers = {
      {"RMSprop", {{"learning_rate", 0.01}}},
      {"RMSprop", {{"momentum", 0.5}, {"centered", 1}, {"clip_norm", 1.0}}},
      {"Adam", {{"amsgrad", 1}, {"global_clip_norm", 2.0}}},
      {"Adam", {}},
      {"Nadam", {{"clip_value", 0.5}}},
      {"SGD", {{"momentum", 0.9}, {"nesterov", 1}}},
      {"SGD", {}},
  };
  for (const auto& optimizer_case : optimizers) {
    const auto& name = optimizer_case.first;  // CAPTURE cannot read structured bindings
    const auto& hyperparameters = optimizer_case.second;
    CAPTURE(name);
    CAPTURE(hyperparameters.size());
    Sequential<float> model = every_layer_model<float>(7);
    auto optimizer = make_optimizer<float>(name, hyperparameters);
    take_steps(model, *optimizer, 3);
    ScratchFile file("optimizer.keras");
    keras::SaveOptions options;
    options.optimizer = optimizer->export_state();
    keras::save(model, file.path, options);
    auto back = keras::load<float>(file.path, letters(11));
    check_same_weights(model, back.model);
    REQUIRE(back.optimizer.has_value());
    check_same_state(*options.optimizer, *back.optimizer);
    // Three more steps from the imported state give what three more steps of the original give.
    auto resumed = restore_optimizer<float>(*back.optimizer);
    take_steps(model, *optimizer, 3);
    take_steps(back.model, *resumed, 3);
    check_same_weights(model, back.model);
  }
}

TEST_CASE("an optimizer saved before its first step keeps only iterations and learning rate") {
  const Sequential<float> model = one_hot_model();
  ScratchFile file("fresh_optimizer.keras");
  keras::SaveOptions options;
  options.optimizer = make_optimizer<float>("Nadam")->export_state();
  keras::save(model, file.path, options);
  const auto back = keras::load<float>(file.path, letters(11));
  REQUIRE(back.optimizer.has_value());
  CHECK(back.optimizer->iterations == 0);
  CHECK(back.optimizer->slots.empty());
  CHECK(back.optimizer->scalars.at("u_product") == 1.0);
}

TEST_CASE("one-hot inputs feeding a recurrent layer become token ids, or features on request") {
  const Sequential<float> model = one_hot_model();
  ScratchFile file("one_hot.keras");
  keras::save(model, file.path);
  const auto ids = keras::load<float>(file.path, letters(11));
  CHECK(ids.one_hot_input);
  CHECK(ids.model.input_spec().tokens);
  keras::LoadOptions options;
  options.one_hot_as_token_ids = false;
  auto features = keras::load<float>(file.path, letters(11), options);
  CHECK_FALSE(features.one_hot_input);
  CHECK_FALSE(features.model.input_spec().tokens);
  // Token id v and the one-hot vector e_v give the same logits.
  Sequential<float> a = ids.model;
  const std::vector<TokenId> tokens = {3, 0, 10, 6};
  Matrix<float> one_hot = Matrix<float>::Zero(11, 4);
  for (Index t = 0; t < 4; ++t) one_hot(tokens[static_cast<std::size_t>(t)], t) = 1;
  CHECK(a.forward(TokenView(tokens, 4, 1), {}).isApprox(features.model.forward(one_hot, 1, {}), 1e-6f));
}

TEST_CASE("weights-only files load into a model built in C++") {
  const Sequential<float> model = every_layer_model<float>(8);
  ScratchFile archive("weights_source.keras");
  keras::save(model, archive.path);
  ScratchFile weights("only.weights.h5");
  write_file_atomically(weights.path, entries_of(archive.path)[2].second);  // model.weights.h5 as a file

  Sequential<float> fresh = every_layer_model<float>(99);
  keras::load_weights(fresh, weights.path);
  check_same_weights(model, fresh);
  Sequential<float> from_archive = every_layer_model<float>(98);
  keras::load_weights(from_archive, archive.path);
  check_same_weights(model, from_archive);

  // A model of another architecture is refused and left as it was.
  Sequential<float> other = one_hot_model();
  const Sequential<float> before = other;
  check_throws_with<file_error>([&] { keras::load_weights(other, weights.path); }, "layers/gru");
  check_same_weights(before, other);
}

TEST_CASE("a functional chain imports like a Sequential; a branch is refused by name") {
  const Sequential<float> model = one_hot_model();
  ScratchFile file("functional.keras");
  const std::string tensor =
      R"({"class_name": "__keras_tensor__", "config": {"shape": [null, 5, 11], "dtype": "float32", "keras_history": ["FROM", 0, 0]}})";
  auto node = [&](const std::string& from) {
    return R"("inbound_nodes": [{"args": [)" + replace(tensor, "FROM", from) + R"(], "kwargs": {}}], )";
  };
  auto to_functional = [&](std::string config, const std::string& second_reads) {
    config = replace(config, R"("class_name": "Sequential")", R"("class_name": "Functional")");
    config = replace(
        config, R"("layers": [{"module": "keras.layers", "class_name": "InputLayer", )",
        R"("layers": [{"module": "keras.layers", "class_name": "InputLayer", "name": "input_layer", "inbound_nodes": [], )");
    config = replace(config, R"({"module": "keras.layers", "class_name": "GRU", "config": {"name": "gru", )",
                     R"({"module": "keras.layers", "class_name": "GRU", )" + node("input_layer") +
                         R"("config": {"name": "gru", )");
    config =
        replace(config, R"({"module": "keras.layers", "class_name": "GRU", "config": {"name": "gru_1", )",
                R"({"module": "keras.layers", "class_name": "GRU", )" + node(second_reads) +
                    R"("config": {"name": "gru_1", )");
    config =
        replace(config, R"({"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", )",
                R"({"module": "keras.layers", "class_name": "Dense", )" + node("gru_1") +
                    R"("config": {"name": "dense", )");
    return replace(
        config, R"("build_input_shape": )",
        R"("input_layers": [["input_layer", 0, 0]], "output_layers": [["dense", 0, 0]], "unused_shape": )");
  };
  write_edited(file.path, model, [&](const std::string& c) {
    return replace(to_functional(c, "gru"), R"("unused_shape": )", R"("build_input_shape": )");
  });
  const auto chain = keras::load<float>(file.path, letters(11));
  CHECK(chain.model.size() == 3);
  check_same_weights(model, chain.model);

  write_edited(file.path, model, [&](const std::string& c) {
    return replace(to_functional(c, "input_layer"), R"("unused_shape": )", R"("build_input_shape": )");
  });
  check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); },
                                "reads layer \"input_layer\", which \"gru\" reads too");
}

TEST_CASE("options seqlm cannot compute are refused with the layer, the option and the value") {
  const Sequential<float> model = one_hot_model();
  ScratchFile file("option.keras");
  const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> cases = {
      {{R"("recurrent_dropout": 0.0)", R"("recurrent_dropout": 0.2)"},
       R"(layer 1 "gru" (GRU): option "recurrent_dropout" is 0.2; seqlm's GRU has no recurrent dropout)"},
      {{R"("go_backwards": false)", R"("go_backwards": true)"}, R"(option "go_backwards" is true)"},
      {{R"("stateful": false)", R"("stateful": true)"}, R"(option "stateful" is true)"},
      {{R"("activation": "tanh")", R"("activation": "relu")"}, R"(option "activation" is "relu")"},
      {{R"("recurrent_activation": "sigmoid")", R"("recurrent_activation": "hard_sigmoid")"},
       R"(option "recurrent_activation" is "hard_sigmoid")"},
      {{R"("kernel_regularizer": null)", R"("kernel_regularizer": {"class_name": "L2"})"},
       R"(option "kernel_regularizer")"},
      {{R"("unroll": false)", R"("unroll": false, "frobnicate": 3)"},
       R"(option "frobnicate" is 3, an option seqlm's Keras importer does not know)"},
      {{R"("class_name": "GRU")", R"("class_name": "Bidirectional")"},
       R"("gru" (Bidirectional): is a layer class seqlm does not have)"},
      {{R"("activation": "softmax")", R"("activation": "sigmoid")"},
       R"(layer 3 "dense" (Dense): option "activation")"},
      {{R"("name": "float32"})", R"("name": "mixed_float16"})"}, R"(not in mixed precision)"},
      {{R"("batch_shape": [null, null, 11])", R"("batch_shape": [null, null])"},
       "reads token ids through an Embedding"},
  };
  for (const auto& edit_case : cases) {
    const auto& edit = edit_case.first;  // CAPTURE and the lambdas cannot read structured bindings
    const auto& message = edit_case.second;
    CAPTURE(edit.second);
    write_edited(file.path, model, [&](const std::string& c) { return replace(c, edit.first, edit.second); });
    check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); }, message);
  }
  // The file names itself in every message.
  write_edited(file.path, model, [&](const std::string& c) {
    return replace(c, R"("recurrent_dropout": 0.0)", R"("recurrent_dropout": 0.5)");
  });
  check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); },
                                file.path + ": config.json");
}

TEST_CASE("a configuration describing more parameters than the limits is refused before allocating") {
  // one_hot_model(): GRU(9) on 11 one-hot inputs (594 parameters) -> GRU(9) (540) -> Dense(11)
  // (110). A few bytes of config.json ask for a first GRU of 2^24 units (about 2^49.6
  // parameters): refused by its declared count before anything is allocated.
  const Sequential<float> model = one_hot_model();
  ScratchFile file("huge.keras");
  write_edited(file.path, model,
               [&](const std::string& c) { return replace(c, R"("units": 9)", R"("units": 16777216)"); });
  check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); },
                                R"(layer 1 "gru" (GRU): describes )");
  check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); },
                                "parameters, more than the limit of 268435456 for one layer");
  // The model's total counts too, with limits of one's own (LoadOptions::limits).
  keras::LoadOptions options;
  options.limits.max_layer_parameters = 1000;
  options.limits.max_parameters = 1200;
  check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11), options); },
                                "more than the limit of 1000 for one layer");
  write_edited(file.path, model, [](const std::string& c) { return c; });
  check_throws_with<file_error>(
      [&] { keras::load<float>(file.path, letters(11), options); },
      R"(layer 3 "dense" (Dense): brings the model to 1244 parameters, more than the limit of 1200)");
  options.limits.max_parameters = 1244;
  CHECK(keras::load<float>(file.path, letters(11), options).model.parameter_count() == 1244);
}

TEST_CASE("optimizers and losses seqlm does not train with are refused unless the model alone is asked for") {
  Sequential<float> model = one_hot_model();
  auto rmsprop = make_optimizer<float>("RMSprop");
  take_steps(model, *rmsprop, 1);
  keras::SaveOptions options;
  options.optimizer = rmsprop->export_state();
  ScratchFile file("compile.keras");
  const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> cases = {
      {{R"("class_name": "RMSprop")", R"("class_name": "Adagrad")"}, R"(class_name" is "Adagrad")"},
      {{R"("use_ema": false)", R"("use_ema": true)"}, R"(option "use_ema" is true)"},
      {{R"("weight_decay": null)", R"("weight_decay": 0.01)"}, R"(option "weight_decay" is 0.01)"},
      {{R"("learning_rate": 0.001)", R"("learning_rate": {"class_name": "ExponentialDecay"})"},
       "a constant learning rate"},
      {{R"("loss": "categorical_crossentropy")", R"("loss": "mean_squared_error")"}, "is not supported"},
      {{R"("loss_weights": null)", R"("loss_weights": [2])"}, R"(option "loss_weights")"},
  };
  for (const auto& edit_case : cases) {
    const auto& edit = edit_case.first;  // CAPTURE and the lambdas cannot read structured bindings
    const auto& message = edit_case.second;
    CAPTURE(edit.second);
    write_edited(
        file.path, model, [&](const std::string& c) { return replace(c, edit.first, edit.second); }, options);
    check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); }, message);
    keras::LoadOptions model_only;
    model_only.optimizer = false;
    const auto loaded = keras::load<float>(file.path, letters(11), model_only);
    CHECK_FALSE(loaded.optimizer.has_value());
    check_same_weights(model, loaded.model);
  }
  // optimizer/vars of another optimizer: RMSprop with momentum needs 2 slots per weight.
  write_edited(
      file.path, model,
      [&](const std::string& c) { return replace(c, R"("momentum": 0.0)", R"("momentum": 0.5)"); }, options);
  check_throws_with<file_error>(
      [&] { keras::load<float>(file.path, letters(11)); },
      "\"optimizer/vars/10\" is missing (optimizer RMSprop for 8 weights: expected 18");
}

TEST_CASE("broken archives, broken HDF5 and wrong shapes are file errors naming file and path") {
  const Sequential<float> model = one_hot_model();
  ScratchFile file("broken.keras");
  keras::save(model, file.path);
  const auto good = entries_of(file.path);
  std::string bytes;
  {
    std::ifstream in(file.path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }

  SUBCASE("a truncated archive") {
    for (const std::size_t keep : {bytes.size() / 2, bytes.size() - 10, std::size_t{30}, std::size_t{4}}) {
      CAPTURE(keep);
      write_file_atomically(file.path, bytes.substr(0, keep));
      check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); },
                                    "\"" + file.path + "\"");
    }
  }
  SUBCASE("a missing entry") {
    write_archive(file.path, {good[0], good[1]});
    check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); },
                                  "has no entry \"model.weights.h5\"");
  }
  SUBCASE("an entry seqlm does not read") {
    auto entries = good;
    entries.emplace_back("assets/vocabulary.txt", "a\nb\n");
    write_archive(file.path, entries);
    check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); },
                                  "holds the entry \"assets/vocabulary.txt\"");
  }
  SUBCASE("model.weights.h5 that is not HDF5, or cut short") {
    for (const std::string& weights :
         {std::string("not an HDF5 file"), good[2].second.substr(0, 900), std::string()}) {
      auto entries = good;
      entries[2].second = weights;
      write_archive(file.path, entries);
      check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); },
                                    file.path + ": model.weights.h5");
    }
  }
  SUBCASE("weights of the wrong shape") {
    ScratchFile other("other.keras");
    keras::save(one_hot_model(8), other.path);
    auto entries = good;
    entries[2].second = entries_of(other.path)[2].second;  // GRUs of 8 units under a config of 9
    write_archive(file.path, entries);
    check_throws_with<file_error>(
        [&] { keras::load<float>(file.path, letters(11)); },
        file.path +
            R"(: model.weights.h5: "layers/gru/cell/vars/0" (layer "gru" (GRU) kernel) has shape (11, 24), expected (11, 27))");
  }
  SUBCASE("a weight that is NaN") {
    Sequential<float> poisoned = model;
    poisoned.parameters()[4].value->data()[3] = std::nanf("");
    keras::save(poisoned, file.path);
    check_throws_with<file_error>(
        [&] { keras::load<float>(file.path, letters(11)); },
        "\"layers/gru_1/cell/vars/1\" (layer \"gru_1\" (GRU) recurrent_kernel) holds nan");
  }
  SUBCASE("a file that is neither ZIP nor HDF5, or empty") {
    write_file_atomically(file.path, "hello");
    check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); }, "not a Keras file");
    write_file_atomically(file.path, "");
    check_throws_with<file_error>([&] { keras::load<float>(file.path, letters(11)); }, "not a Keras file");
    check_throws_with<file_error>([&] { keras::load<float>("no/such/file.keras", letters(11)); },
                                  "cannot be opened");
  }
}

TEST_CASE("a vocabulary of the wrong size is refused with both sizes") {
  const Sequential<float> model = one_hot_model();
  ScratchFile file("vocabulary.keras");
  keras::save(model, file.path);
  check_throws_with<file_error>(
      [&] { keras::load<float>(file.path, letters(10)); },
      "the model reads 11 token ids (its input size), the vocabulary has 10 characters");
}

TEST_CASE(
    "vocabularies: character lists, prepared text, and Keras Tokenizer JSON checked against its index") {
  const auto from_text =
      keras::Vocabulary::sorted_characters_of("Ba@\nab\nc@\n", {LowerCase::unicode, {"@\n"}});
  CHECK(from_text.size() == 4);  // "\n", "a", "b", "c"
  CHECK(from_text.char_tokenizer()->encode("ABC") == std::vector<TokenId>{1, 2, 3});
  CHECK(keras::prepare_text("X@\ny@\n", {LowerCase::unicode, {"@\n"}}) == "xy");
  CHECK(keras::Vocabulary::characters({"z", "a"}).size() == 2);
  CHECK_THROWS_AS(keras::Vocabulary::characters({"ab"}), value_error);
  CHECK_THROWS_AS(keras::Vocabulary::characters({"a", "a"}), value_error);

  // What Keras's Tokenizer(oov_token="<oov>").fit_on_texts(["the cat", "the dog"]).to_json() writes.
  const std::string keras_json =
      R"({"class_name": "Tokenizer", "config": {"num_words": null, "filters": "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n", )"
      R"("lower": true, "split": " ", "char_level": false, "oov_token": "<oov>", "document_count": 2, )"
      R"("word_counts": "{\"the\": 2, \"cat\": 1, \"dog\": 1}", "word_docs": "{\"the\": 2, \"cat\": 1, \"dog\": 1}", )"
      R"("index_docs": "{\"2\": 2, \"3\": 1, \"4\": 1}", "index_word": "{\"1\": \"<oov>\", \"2\": \"the\", \"3\": \"cat\", \"4\": \"dog\"}", )"
      R"("word_index": "{\"<oov>\": 1, \"the\": 2, \"cat\": 3, \"dog\": 4}"}})";
  const auto words = keras::Vocabulary::keras_tokenizer_json(keras_json);
  REQUIRE(words.word_tokenizer() != nullptr);
  CHECK(words.size() == 5);
  CHECK(words.word_tokenizer()->text_to_sequence("The bird, the cat") == std::vector<TokenId>{2, 1, 2, 3});
  check_throws_with<value_error>(
      [&] { keras::Vocabulary::keras_tokenizer_json(replace(keras_json, R"(\"cat\": 3)", R"(\"cat\": 4)")); },
      "gives \"cat\" index 4, the counts give 3");
  check_throws_with<value_error>(
      [&] {
        keras::Vocabulary::keras_tokenizer_json(
            replace(keras_json, R"("char_level": false)", R"("char_level": true)"));
      },
      "char_level");
}

TEST_CASE("an imported model goes into a seqlm model file with its vocabulary and Keras origin") {
  const Sequential<float> model = one_hot_model();
  ScratchFile file("to_model_file.keras");
  keras::SaveOptions options;
  options.sequence_length = 40;
  auto rmsprop = make_optimizer<float>("RMSprop");
  options.optimizer = rmsprop->export_state();
  keras::save(model, file.path, options);
  const auto imported = keras::load<float>(file.path, letters(11));
  ScratchFile saved("to_model_file.safetensors");
  save_model(saved.path, imported.model, imported.model_file_contents());
  const LoadedModel<float> loaded = load_model<float>(saved.path);
  check_same_weights(model, loaded.model);
  CHECK(CharTokenizer::from_json(loaded.tokenizer).vocabulary_size() == 11);
  CHECK(loaded.metadata.at("keras_version") == "3.5.0");
  CHECK(loaded.metadata.at("window") == "40");
  CHECK(loaded.training_config.get_string("optimizer") == "RMSprop");
}

}  // namespace keras_tests
