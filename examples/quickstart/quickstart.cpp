// seqlm quickstart: a character-level LSTM learns a short text, then writes new text.
//
// Everything happens in plain sight with the layers themselves:
//   text --CharTokenizer--> ids --windows--> batches
//   ids --LSTM(128, one-hot ids, every step)--> h --Dense(V)--> logits --softmax CE--> loss
//   backward in reverse order, then one optimizer step over all parameters;
//   generation streams: prime the LSTM state on a prompt, then one step per new character.
//
// Usage: quickstart [--data FILE] [--epochs N] [--seed N] [--temperature T] [--length N]
// Without --data it learns a short text written for this demo (works offline).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <seqlm/seqlm.hpp>
#include <string>

#include "demo_text.hpp"

namespace {

struct Settings {
  std::string data_path;  // empty: the built-in text
  int epochs = 40;
  std::uint64_t seed = 1;
  double temperature = 0.5;
  int length = 400;
  seqlm::Index window = 64;      // characters per training window
  seqlm::Index window_step = 8;  // windows start every 8 characters
  seqlm::Index batch_size = 32;
  seqlm::Index units = 128;
};

void print_usage() {
  std::cout << "Usage: quickstart [--data FILE] [--epochs N] [--seed N] [--temperature T] [--length N]\n"
               "Trains a character-level LSTM(128) on FILE (UTF-8 text; default: a built-in text)\n"
               "and then generates --length characters at --temperature.\n";
}

Settings parse_arguments(int argc, char** argv) {
  Settings settings;
  for (int k = 1; k < argc; ++k) {
    const std::string flag = argv[k];
    if (flag == "--help" || flag == "-h") {
      print_usage();
      std::exit(0);
    }
    if (k + 1 >= argc) throw seqlm::value_error("quickstart: " + flag + " needs a value (see --help)");
    const std::string value = argv[++k];
    if (flag == "--data") {
      settings.data_path = value;
    } else if (flag == "--epochs") {
      settings.epochs = std::stoi(value);
    } else if (flag == "--seed") {
      settings.seed = std::stoull(value);
    } else if (flag == "--temperature") {
      settings.temperature = std::stod(value);
    } else if (flag == "--length") {
      settings.length = std::stoi(value);
    } else {
      throw seqlm::value_error("quickstart: unknown option " + flag + " (see --help)");
    }
  }
  if (settings.epochs < 0 || settings.length < 0) throw seqlm::value_error("quickstart: negative count");
  return settings;
}

// Writes `length` characters continuing `prompt`, one LSTM step per character.
void generate(const seqlm::LSTM<float>& lstm, const seqlm::Dense<float>& dense,
              const seqlm::CharTokenizer& tokenizer, const std::string& prompt, const Settings& settings) {
  auto state = lstm.make_state(1);
  seqlm::Matrix<float> logits(dense.units(), 1);
  std::vector<double> probabilities(static_cast<size_t>(dense.units()));
  seqlm::GenerationOptions options;
  options.temperature = settings.temperature;
  seqlm::Rng rng(settings.seed);

  const std::vector<seqlm::TokenId> prompt_ids = tokenizer.encode(prompt);
  for (seqlm::TokenId id : prompt_ids) lstm.step(&id, state);  // prime the state on the prompt
  std::cout << prompt;
  for (int k = 0; k < settings.length; ++k) {
    dense.step(state.h, logits);  // logits of the next character
    seqlm::softmax(logits, logits);
    for (seqlm::Index v = 0; v < logits.rows(); ++v) probabilities[static_cast<size_t>(v)] = logits(v, 0);
    const seqlm::TokenId next = seqlm::choose_next_token(probabilities, options, rng);
    std::cout << tokenizer.decode(&next, 1) << std::flush;
    lstm.step(&next, state);  // O(1) work per character: no window is re-run
  }
  std::cout << "\n";
}

}  // namespace

int main(int argc, char** argv) try {
  const Settings settings = parse_arguments(argc, argv);
  const std::string text =
      settings.data_path.empty() ? std::string(seqlm_demo::text) : seqlm::read_text_file(settings.data_path);

  // 1. Characters to ids (sorted set of the text's characters, like Chollet's tutorial).
  const auto tokenizer = seqlm::CharTokenizer::build(text);
  const seqlm::Index vocabulary = tokenizer.vocabulary_size();
  std::vector<seqlm::TokenId> ids = tokenizer.encode(text);
  std::cout << "text: " << ids.size() << " characters, " << vocabulary << " distinct\n";

  // 2. Windows of 64 characters; the target at every position is the next character.
  const seqlm::WindowDataset dataset(seqlm::TokenStream(std::move(ids)), settings.window,
                                     settings.window_step, seqlm::WindowTargets::every_position);
  seqlm::BatchOptions batch_options;
  batch_options.seed = settings.seed;
  seqlm::BatchSchedule schedule(dataset.size(), settings.batch_size, batch_options);

  // 3. The model: LSTM(128) reading one-hot characters as ids, then Dense(V) + softmax.
  seqlm::Rng rng(settings.seed);
  seqlm::LSTMOptions lstm_options;
  lstm_options.return_sequences = true;
  seqlm::LSTM<float> lstm(vocabulary, settings.units, lstm_options);
  seqlm::Dense<float> dense(settings.units, vocabulary);
  lstm.initialize(rng);
  dense.initialize(rng);
  seqlm::ParameterList<float> parameters = lstm.parameters();
  for (const auto& p : dense.parameters()) parameters.push_back(p);
  std::cout << "model: LSTM(" << settings.units << ") + Dense(" << vocabulary << "), "
            << seqlm::count_parameters(parameters) << " parameters\n";

  seqlm::AdamOptions adam;
  adam.learning_rate = 0.005;
  adam.clip.global_clip_norm = 5.0;
  seqlm::Adam<float> optimizer(adam);
  seqlm::SoftmaxCrossEntropy<float> loss;
  seqlm::Batch batch;

  // 4. Training: forward, loss, backward in reverse order, one optimizer step per batch.
  for (int epoch = 0; epoch < settings.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    schedule.start_epoch(epoch);
    double loss_sum = 0.0;
    for (seqlm::Index k = 0; k < schedule.batch_count(); ++k) {
      dataset.fill(schedule.batch(k), batch);
      const auto& hidden = lstm.forward(batch.input_view());  // H x T*B
      const auto& logits = dense.forward(hidden);             // V x T*B
      loss_sum += loss.forward(logits, batch.target_view()).loss;
      seqlm::zero_gradients(parameters);
      dense.backward(loss.logits_gradient());
      lstm.backward(dense.input_gradient());
      optimizer.step(parameters);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double mean_loss = loss_sum / static_cast<double>(schedule.batch_count());
    std::printf("epoch %2d/%d  loss %.4f  bits/char %.3f  %.2f s  %.0f chars/s\n", epoch + 1, settings.epochs,
                mean_loss, mean_loss / std::log(2.0), seconds,
                static_cast<double>(dataset.size() * settings.window) / seconds);
  }

  // 5. Generation, streamed character by character.
  std::cout << "\n--- temperature " << settings.temperature << " ---\n";
  const std::string prompt = text.substr(0, text.find(' ') + 1);
  generate(lstm, dense, tokenizer, prompt, settings);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "quickstart: " << e.what() << "\n";
  return 1;
}
