// The four neural tutorial models, built exactly as the example programs build them
// (examples/*/<name>.cpp, build_model), with their tutorial batch shapes and optimizers, and the
// tutorial data sets they are measured on: the real files when the data mirror is present,
// otherwise synthetic token ids of the same shape.
//
//   model       layers (V = vocabulary)                                     T    B    targets optimizer
//   nietzsche   ids -> LSTM(128) -> Dense(57)                               60   128  after window    RMSprop
//   0.01 poems       ids -> GRU(128, seq) -> GRU(128) -> Dense(60)               60   128  after window
//   RMSprop 0.001 machado     Embedding(82,16) -> Conv1D(32,3,causal,relu) -> GRU(128,    128  32   every
//   position  Nadam (Keras 3)
//               seq) -> Dense(82)
//   headlines   Embedding(3582,10) -> LSTM(100) -> Dropout(0.1) ->          17   32   last step       Adam
//               Dense(3582)      (prefix sharing: LSTM returns sequences,   <=17 32   every position,
//                                 one masked sequence per headline)                    masked
//
// Used by bench_models.cpp (training steps, generation, headline epochs) and train_rss.cpp.
#pragma once

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <seqlm/data/line_sequences.hpp>
#include <seqlm/data/token_source.hpp>
#include <seqlm/data/windows.hpp>
#include <seqlm/io/utf8.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/optim/adam.hpp>
#include <seqlm/optim/nadam.hpp>
#include <seqlm/optim/rmsprop.hpp>
#include <seqlm/random.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <seqlm/text/csv.hpp>
#include <seqlm/text/word_tokenizer.hpp>
#include <string>
#include <vector>

#ifndef SEQLM_BENCH_DEFAULT_DATA_DIR
#define SEQLM_BENCH_DEFAULT_DATA_DIR "../shared/data"
#endif

namespace seqlm::bench {

using Model = Sequential<float>;

enum class Tutorial { nietzsche, poems, machado, headlines };

inline const char* tutorial_name(Tutorial which) {
  switch (which) {
    case Tutorial::nietzsche: return "nietzsche";
    case Tutorial::poems: return "poems";
    case Tutorial::machado: return "machado";
    case Tutorial::headlines: return "headlines";
  }
  return "?";
}

// The shape of one training batch of a tutorial and how many sequences an epoch holds.
struct TutorialShape {
  Index vocabulary = 0;
  Index steps = 0;                // T: input tokens per sequence
  Index batch = 0;                // B: sequences per batch
  bool every_position = false;    // a target at every step (else only after the last one)
  Index sequences_per_epoch = 0;  // windows (or prefix examples) in one epoch of the real data
  std::string epoch_source;       // where sequences_per_epoch comes from
};

// ---- the data mirror ----------------------------------------------------------------------------

// The tutorial data directory: $SEQLM_DATA_DIR, else ../shared/data next to the repository.
inline std::string data_dir() {
  const char* from_env = std::getenv("SEQLM_DATA_DIR");
  return from_env != nullptr && *from_env != '\0' ? std::string(from_env)
                                                  : std::string(SEQLM_BENCH_DEFAULT_DATA_DIR);
}

inline std::string data_file(const std::string& relative) { return data_dir() + "/" + relative; }

inline bool file_exists(const std::string& path) { return static_cast<bool>(std::ifstream(path)); }

// ---- the models (the examples' build_model functions) ---------------------------------------------

// nietzsche: LSTM(units) -> Dense(V) on character ids, loss after the window.
inline Model build_nietzsche(Index vocabulary = 57, Index units = 128) {
  Model model(InputSpec::token_ids(vocabulary));
  LSTMOptions lstm;
  lstm.return_sequences = false;
  model.add(layers::lstm<float>(vocabulary, units, lstm));
  model.add(layers::dense<float>(units, vocabulary));
  return model;
}

// poems: GRU(128, return_sequences) -> GRU(128) -> Dense(V) on character ids.
inline Model build_poems(Index vocabulary = 60, Index units = 128) {
  Model model(InputSpec::token_ids(vocabulary));
  GRUOptions first;
  first.return_sequences = true;
  GRUOptions second;
  second.return_sequences = false;
  model.add(layers::gru<float>(vocabulary, units, first));
  model.add(layers::gru<float>(units, units, second));
  model.add(layers::dense<float>(units, vocabulary));
  return model;
}

// machado: Embedding(V, 16) -> Conv1D(32, 3, causal, relu) -> GRU(128, every step) -> Dense(V).
inline Model build_machado(Index vocabulary = 82) {
  Model model(InputSpec::token_ids(vocabulary));
  Conv1DOptions convolution;
  convolution.activation = Activation::relu;
  GRUOptions recurrent;
  recurrent.return_sequences = true;
  model.add(layers::embedding<float>(vocabulary, 16))
      .add(layers::conv1d<float>(16, 32, 3, convolution))
      .add(layers::gru<float>(32, 128, recurrent))
      .add(layers::dense<float>(128, vocabulary));
  return model;
}

// headlines: Embedding(V, 10) -> LSTM(100) -> Dropout(0.1) -> Dense(V); prefix_sharing: the
// LSTM returns every step (a prediction after each word).
inline Model build_headlines(Index vocabulary = 3582, bool prefix_sharing = false) {
  Model model(InputSpec::token_ids(vocabulary));
  LSTMOptions lstm;
  lstm.return_sequences = prefix_sharing;
  model.add(layers::embedding<float>(vocabulary, 10))
      .add(layers::lstm<float>(10, 100, lstm))
      .add(layers::dropout<float>(0.1))
      .add(layers::dense<float>(100, vocabulary));
  return model;
}

inline Model build_tutorial_model(Tutorial which) {
  switch (which) {
    case Tutorial::nietzsche: return build_nietzsche();
    case Tutorial::poems: return build_poems();
    case Tutorial::machado: return build_machado();
    case Tutorial::headlines: return build_headlines();
  }
  throw value_error("build_tutorial_model: unknown tutorial");
}

// The tutorial's optimizer with its settings (Keras defaults otherwise).
inline std::unique_ptr<Optimizer<float>> make_tutorial_optimizer(Tutorial which) {
  switch (which) {
    case Tutorial::nietzsche: {
      RmspropOptions options;
      options.learning_rate = 0.01;
      return std::make_unique<RMSprop<float>>(options);
    }
    case Tutorial::poems: {
      RmspropOptions options;
      options.learning_rate = 0.001;
      return std::make_unique<RMSprop<float>>(options);
    }
    case Tutorial::machado: return std::make_unique<Nadam<float>>(NadamOptions{});
    case Tutorial::headlines: return std::make_unique<Adam<float>>(AdamOptions{});
  }
  throw value_error("make_tutorial_optimizer: unknown tutorial");
}

// ---- the real data sets (when the mirror is present) -------------------------------------------

// The headlines tutorial's data: cleaned headlines of ArticlesMarch2018.csv without "Unknown",
// Keras Tokenizer() ids (as examples/headlines/headlines.cpp reads them).
struct HeadlineData {
  Index vocabulary = 0;
  Index headlines = 0;
  LineCorpus corpus;
};

inline std::string headlines_csv() { return data_file("headlines/ArticlesMarch2018.csv"); }

inline HeadlineData read_headline_data(const std::string& path) {
  std::vector<std::string> headlines;
  for (const std::string& headline : read_csv_column(path, "headline")) {
    if (headline != "Unknown") headlines.push_back(clean_headline(headline));
  }
  WordTokenizer tokenizer;
  tokenizer.fit_on_texts(headlines);
  HeadlineData data;
  data.vocabulary = tokenizer.vocabulary_size();
  data.headlines = static_cast<Index>(headlines.size());
  data.corpus = LineCorpus(tokenizer.texts_to_sequences(headlines));
  return data;
}

// The number of characters of poemas-10k-llama3.1.txt as the poems example reads it
// (lower-cased, every "@\n" removed), or nullopt when the file is absent.
inline std::optional<Index> poems_character_count() {
  const std::string path = data_file("poems/poemas-10k-llama3.1.txt");
  if (!file_exists(path)) return std::nullopt;
  const std::string text = to_lower(read_text_file(path), LowerCase::unicode);
  Index characters = 0;
  for (size_t k = 0; k < text.size(); ++k) {
    if (text.compare(k, 2, "@\n") == 0) {
      ++k;
      continue;
    }
    const auto byte = static_cast<unsigned char>(text[k]);
    if ((byte & 0xC0u) != 0x80u) ++characters;  // count UTF-8 lead bytes: one per code point
  }
  return characters;
}

// The batch shape of a tutorial and the sequences of one epoch (from the mirror where the count
// depends on the data and the file is there; the tutorial's published figure otherwise).
inline TutorialShape tutorial_shape(Tutorial which) {
  TutorialShape shape;
  switch (which) {
    case Tutorial::nietzsche:
      // 600,893 characters, windows of 60 every 3 characters: (600893 - 60 + 2) / 3.
      shape = {57,
               60,
               128,
               false,
               WindowDataset::window_count(600'893, 60, 3),
               "nietzsche.txt: 600,893 characters, window 60, step 3"};
      break;
    case Tutorial::poems: {
      const std::optional<Index> characters = poems_character_count();
      const Index n = characters.value_or(2'716'486);
      shape = {60,
               60,
               128,
               false,
               WindowDataset::window_count(n, 60, 3),
               std::string(characters ? "counted in poemas-10k-llama3.1.txt: " : "tutorial figure: ") +
                   std::to_string(n) + " characters, window 60, step 3, (n - 60 + 2) / 3 windows"};
      break;
    }
    case Tutorial::machado:
      // The first 1,000,000 characters, windows of 128 + 1 with shift 1.
      shape = {82,
               128,
               32,
               true,
               WindowDataset::window_count(1'000'000, 128, 1),
               "machado: 1,000,000 training characters, windows of 128+1, shift 1"};
      break;
    case Tutorial::headlines: {
      shape = {3582, 17, 32, false, 0, "ArticlesMarch2018.csv absent: no epoch figure"};
      if (file_exists(headlines_csv())) {
        const HeadlineData data = read_headline_data(headlines_csv());
        const PrefixSequences prefixes(data.corpus);
        shape.vocabulary = data.vocabulary;
        shape.steps = prefixes.input_steps();
        shape.sequences_per_epoch = prefixes.size();
        shape.epoch_source = "ArticlesMarch2018.csv: " + std::to_string(data.headlines) + " headlines, " +
                             std::to_string(prefixes.size()) + " prefix examples";
      }
      break;
    }
  }
  return shape;
}

// Synthetic training windows of the tutorial's shape: `token_count` uniform random ids cut into
// windows of shape.steps (every 3rd start for nietzsche and poems, every start otherwise), with
// the tutorial's targets. For headlines this stands in for the pre-padded prefix examples:
// the same batch tensor (17 x 32 ids, one target per sequence).
inline WindowDataset synthetic_windows(const TutorialShape& shape, Tutorial which, Index token_count,
                                       std::uint64_t seed) {
  Rng rng(seed);
  std::vector<TokenId> ids(static_cast<size_t>(token_count));
  for (TokenId& id : ids) id = static_cast<TokenId>(rng.below(static_cast<std::uint64_t>(shape.vocabulary)));
  const Index step = which == Tutorial::nietzsche || which == Tutorial::poems ? 3 : 1;
  return WindowDataset(
      TokenStream(std::move(ids)), shape.steps, step,
      shape.every_position ? WindowTargets::every_position : WindowTargets::next_token_after_window);
}

}  // namespace seqlm::bench
