// Writes the seed inputs of every harness: files written by the library itself (tokenizers,
// n-gram models, model files, checkpoints, CSV logs, their JSON parts), small enough to
// mutate quickly.
//
//   fuzz_make_seeds OUT      -> OUT/<harness>/<seed name>, one directory per harness
//
// scripts/fuzz.sh runs it before fuzzing; the committed corpus (tests/fuzz/corpus) started
// as these seeds, minimised with libFuzzer's -merge=1.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <seqlm/io/safetensors.hpp>
#include <seqlm/ngram.hpp>
#include <seqlm/optim/make_optimizer.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <seqlm/text/word_tokenizer.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "resume_run.hpp"

#ifdef SEQLM_FUZZ_KERAS
#include <seqlm/keras/keras.hpp>

#include "keras_reference.hpp"
#endif

using namespace seqlm;

namespace {

std::string out_directory;

void make_directory(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    std::perror(path.c_str());
    std::exit(1);
  }
}

void write_seed(const std::string& harness, const std::string& name, const std::string& bytes) {
  make_directory(out_directory + "/" + harness);
  write_file_atomically(out_directory + "/" + harness + "/" + name, bytes);
}

std::string scratch(const std::string& name) { return out_directory + "/.scratch-" + name; }

std::string take_file(const std::string& path) {
  std::string bytes = read_text_file(path);
  ::unlink(path.c_str());
  return bytes;
}

const char* const texts[] = {
    "To be, or not to be: that is the question.\n",
    "Caminante, no hay camino, se hace camino al andar. ÁÉÍÓÚ ñ Ç ß ẞ İ K Å",
    "Ελληνικά ΣΊΣΥΦΟΣ, кириллица ЁЖИК, 日本語 😀 \t\r\n\"quoted\" back\\slash",
};

void utf8_and_json_seeds() {
  for (std::size_t k = 0; k < std::size(texts); ++k) {
    write_seed("utf8", "text" + std::to_string(k), texts[k]);
    write_seed("utf8", "lower" + std::to_string(k), to_lower(texts[k], LowerCase::unicode));
  }
  std::string every_length;  // one code point of each UTF-8 length, and the edges
  for (const char32_t c : {U'\0', U'\x7F', U'\x80', U'\x7FF', U'\x800', U'\xD7FF', U'\xE000', U'\xFFFF',
                           U'\x10000', U'\x10FFFF'}) {
    every_length += utf8::encode(c);
  }
  write_seed("utf8", "edges", every_length);

  json::Value numbers = json::Value::array();
  for (const json::Value& number :
       {json::Value(0), json::Value(-1), json::Value(std::int64_t{9007199254740993}),
        json::Value(std::numeric_limits<std::int64_t>::min()), json::Value(0.1), json::Value(-0.0),
        json::Value(1e300), json::Value(4.9406564584124654e-324), json::Value(123456789.125)}) {
    numbers.push_back(number);
  }
  json::Value document = json::Value::object();
  document.set("numbers", std::move(numbers))
      .set("strings", json::Value(json::Value::Array{json::Value(texts[2]), json::Value(""),
                                                     json::Value(std::string("nul\0byte", 8))}))
      .set("literals", json::Value(json::Value::Array{json::Value(true), json::Value(false), json::Value()}))
      .set("nested", json::Value::object().set("a", json::Value::object().set("b", json::Value::array())));
  write_seed("json", "document", document.dump());
  write_seed("json", "document_indented", document.dump(2));
}

void tokenizer_and_ngram_seeds() {
  int count = 0;
  for (const VocabularyOrder order : {VocabularyOrder::sorted, VocabularyOrder::frequency}) {
    for (const LowerCase lower : {LowerCase::none, LowerCase::unicode}) {
      CharTokenizerOptions options;
      options.order = order;
      options.lower = lower;
      options.reserve_special_tokens = count % 2 == 1;
      options.unknown = count == 1   ? UnknownPolicy::unk
                        : count == 2 ? UnknownPolicy::skip
                                     : UnknownPolicy::error;
      const std::string text = texts[count % 3];
      const CharTokenizer tokenizer = CharTokenizer::build(text, options);
      const std::string file = tokenizer.to_json().dump(1) + "\n";
      write_seed("char_tokenizer", "tokenizer" + std::to_string(count), file + '\0' + texts[(count + 1) % 3]);
      write_seed("json", "char_tokenizer" + std::to_string(count), file);
      ++count;
    }
  }

  for (int variant = 0; variant < 3; ++variant) {
    WordTokenizerOptions options;
    if (variant == 1) options.oov_token = "<oov>";
    if (variant == 2) {
      options.num_words = 5;
      options.lower = false;
      options.filters = "!,.;";
    }
    WordTokenizer tokenizer(options);
    tokenizer.fit_on_texts({texts[0], texts[variant], "the the the question"});
    const std::string file = tokenizer.to_json().dump(1) + "\n";
    write_seed("word_tokenizer", "tokenizer" + std::to_string(variant),
               file + '\0' + texts[(variant + 1) % 3]);
    write_seed("json", "word_tokenizer" + std::to_string(variant), file);
  }

  for (int variant = 0; variant < 3; ++variant) {
    NGramOptions options;
    if (variant == 1) {
      options.begin_token = 0;
      options.end_token = 1;
    }
    if (variant == 2) {
      options.add_k = 0.5;
      options.backoff = true;
    }
    NGramModel model(2 + variant, 6, options);
    model.learn({2, 3, 4, 2, 3, 5});
    model.learn({3, 4, 2});
    const std::string file = model.to_json().dump();
    write_seed("ngram", "model" + std::to_string(variant), file);
    write_seed("json", "ngram" + std::to_string(variant), file);
  }
}

// ids -> Embedding(6, 3) -> LSTM(3, 4, sequences) -> Dense(4, 6).
template <class Scalar>
Sequential<Scalar> lstm_model() {
  Sequential<Scalar> model(InputSpec::token_ids(6));
  model.add(layers::embedding<Scalar>(6, 3));
  LSTMOptions lstm;
  lstm.return_sequences = true;
  model.add(layers::lstm<Scalar>(3, 4, lstm));
  model.add(layers::dense<Scalar>(4, 6));
  return model;
}

// ids -> Embedding(5, 2) -> Conv1D(2, 3, k=3, d=2, relu) -> Dropout -> GRU(3, 3, reset_after) -> Dense.
template <class Scalar>
Sequential<Scalar> conv_gru_model() {
  Sequential<Scalar> model(InputSpec::token_ids(5));
  model.add(layers::embedding<Scalar>(5, 2));
  Conv1DOptions conv;
  conv.dilation = 2;
  conv.activation = Activation::relu;
  model.add(layers::conv1d<Scalar>(2, 3, 3, conv));
  model.add(layers::dropout<Scalar>(0.25));
  GRUOptions gru;
  gru.reset_after = true;
  model.add(layers::gru<Scalar>(3, 3, gru));
  model.add(layers::dense<Scalar>(3, 5));
  return model;
}

// features(3) -> GRU(3, 2, reset before) -> Dense(2, 2).
template <class Scalar>
Sequential<Scalar> features_model() {
  Sequential<Scalar> model(InputSpec::features(3));
  GRUOptions gru;
  gru.reset_after = false;
  model.add(layers::gru<Scalar>(3, 2, gru));
  model.add(layers::dense<Scalar>(2, 2));
  return model;
}

template <class Scalar>
void model_seed(const std::string& name, Sequential<Scalar> model, bool test_vectors) {
  Rng rng(11);
  model.initialize(rng);
  ModelFileContents contents;
  contents.tokenizer = CharTokenizer::build("abcd").to_json();
  contents.training_config = json::Value::object().set("epochs", 2).set("optimizer", "Adam");
  contents.metadata["dataset"] = "fuzz seeds";
  if (test_vectors) {
    if (model.input_spec().tokens) {
      contents.test_vectors = TestVectors::token_ids({1, 2, 3, 0, 4, 1}, 3, 2);
    } else {
      contents.test_vectors = TestVectors::dense(Matrix<double>::Constant(3, 4, 0.25), 2);
    }
  }
  save_model(scratch(name), model, contents);
  const std::string bytes = take_file(scratch(name));
  write_seed("model_file", name, bytes);
  write_seed("safetensors", name, bytes);
  write_seed("architecture", name, architecture_of(model).dump());
  const safetensors::File file = safetensors::parse(bytes, name);
  write_seed("json", name + "_architecture", file.metadata.at("architecture"));
}

void model_seeds() {
  model_seed("lstm_float", lstm_model<float>(), true);
  model_seed("lstm_double", lstm_model<double>(), false);
  model_seed("conv_gru_float", conv_gru_model<float>(), true);
  model_seed("features_double", features_model<double>(), true);

  safetensors::File plain;  // every dtype, a 0-D and an empty tensor, no metadata
  plain.add("f32", safetensors::Tensor::from_values(std::vector<float>{1.5f, -2, 0}, {3}));
  plain.add("f64", safetensors::Tensor::from_values(std::vector<double>{0.25, 1e-300}, {1, 2}));
  plain.add("i32", safetensors::Tensor::from_values(std::vector<std::int32_t>{-7}, {}));
  plain.add("i64", safetensors::Tensor::from_values(std::vector<std::int64_t>{}, {0, 4}));
  plain.add("u8", safetensors::Tensor::from_values(std::vector<std::uint8_t>{1, 2, 3, 4}, {2, 1, 2}));
  write_seed("safetensors", "plain", safetensors::serialize(plain));
}

// Checkpoints of the run fuzz_checkpoint resumes: after batch 2 of epoch 1 (mid-epoch, every
// callback with state), and saved directly with each optimizer before any training.
void checkpoint_seeds() {
  const std::string path = scratch("run.checkpoint");
  const std::string csv_path = scratch("run.csv");
  Sequential<float> model = conv_gru_model<float>();
  Rng rng(3);
  model.initialize(rng);
  const fuzz::CountingSequences data{3 * fuzz::resume_batch_size, 5, 5};
  {
    fuzz::ResumeRun run(path, csv_path);
    run.options.epochs = 2;
    auto optimizer = make_optimizer<float>("Adam", {{"learning_rate", 0.01}});
    // Stop after batch 2 of epoch 1 (global step 5): the file then holds a mid-epoch state.
    LambdaCallback<float> crash;
    crash.batch_end = [](Index, const Logs&, TrainingContext<float>& context) {
      if (context.state->global_step == 5) throw std::runtime_error("stop");
    };
    run.options.callbacks.insert(run.options.callbacks.begin(), &crash);
    try {
      fit(model, *optimizer, data, run.options);
    } catch (const std::runtime_error&) {
    }
  }
  write_seed("checkpoint", "mid_epoch", take_file(path));
  write_seed("csv", "csv_logger", take_file(csv_path));

  Sequential<float> small = lstm_model<float>();
  small.initialize(rng);
  for (const char* name : {"SGD", "RMSprop", "Nadam"}) {
    auto optimizer = make_optimizer<float>(name, {});
    save_checkpoint(path, small, *optimizer, TrainingState{});
    write_seed("checkpoint", name, take_file(path));
  }
}

#ifdef SEQLM_FUZZ_KERAS
// fuzz_keras: .keras files of every layer type ('A' + file), the reference model's config.json
// ('C' + JSON, see fuzz_keras.cpp) and its weights file ('W' + HDF5); 11-letter vocabularies.
void keras_seeds() {
  Sequential<float> ids(InputSpec::token_ids(11));
  ids.add(layers::embedding<float>(11, 5));
  Conv1DOptions causal;
  causal.dilation = 2;
  ids.add(layers::conv1d<float>(5, 4, 3, causal));
  GRUOptions before;
  before.reset_after = false;
  before.return_sequences = true;
  ids.add(layers::gru<float>(4, 3, before));
  ids.add(layers::dropout<float>(0.25));
  ids.add(layers::lstm<float>(3, 3));
  ids.add(layers::dense<float>(3, 11));
  ids.initialize(1);

  Sequential<float> one_hot = fuzz::keras_reference_model();

  int written = 0;
  for (Sequential<float>* model : {&ids, &one_hot}) {
    for (const char* optimizer : {"", "RMSprop", "Adam", "Nadam", "SGD"}) {
      keras::SaveOptions options;
      options.sequence_length = 8;
      if (*optimizer != '\0') {
        auto made = make_optimizer<float>(optimizer, std::string(optimizer) == "SGD"
                                                         ? std::map<std::string, double>{{"momentum", 0.9}}
                                                         : std::map<std::string, double>{});
        for (int step = 0; step < 2; ++step) {
          for (const auto& parameter : model->parameters())
            parameter.gradient->setConstant(0.01f * float(step + 1));
          made->step(model->parameters());
        }
        options.optimizer = made->export_state();
      }
      const std::string path = scratch("model.keras");
      keras::save(*model, path, options);
      const std::string bytes = take_file(path);
      write_seed("keras", "file-" + std::to_string(written++), "A" + bytes);
      if (model == &one_hot && *optimizer == '\0') {
        keras::save(*model, path, options);
        keras::zip::Reader archive(path);
        write_seed("keras", "config", "C" + archive.read("config.json", 1 << 20));
        write_seed("keras", "weights", "W" + archive.read("model.weights.h5", 16 << 20));
        ::unlink(path.c_str());
      }
    }
  }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIRECTORY\n", argv[0]);
    return 2;
  }
  out_directory = argv[1];
  make_directory(out_directory);
  try {
    utf8_and_json_seeds();
    tokenizer_and_ngram_seeds();
    model_seeds();
    checkpoint_seeds();
#ifdef SEQLM_FUZZ_KERAS
    keras_seeds();
#endif
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    return 1;
  }
  write_seed("csv", "quoted", "\xEF\xBB\xBFname,text\r\n\"a, b\",\"say \"\"hi\"\"\"\n\nx,\"two\nlines\"\r");
  return 0;
}
