// seqlm sample: a model continues a prompt.
//
//   seqlm sample MODEL [--prompt S] [--length N] [--temperature T] [--top-k K] [--top-p P]
//                [--seed S] [--stream] [--context N] [--beam W]
//
// generate_text (include/seqlm/text_model/generate_text.hpp) reads the prompt once through the
// model's streaming state and then takes one step per token; with --context N every token re-runs
// the model over the last N tokens instead (the only way for a model that predicts after a
// window's last step: without --context it uses the window stored in the model file, if any).
// Each token is drawn from the model's distribution at --temperature (0: the most probable),
// kept to the --top-k most probable tokens and the --top-p nucleus; the same --seed gives the
// same text. --beam W (word models) searches for the most probable continuation instead.
// The prompt, then the continuation, is printed once at the end, or token by token with --stream.

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <seqlm/io/json.hpp>
#include <seqlm/io/utf8.hpp>
#include <seqlm/text_model/generate_text.hpp>
#include <seqlm/text_model/text_model.hpp>
#include <string>
#include <utility>

#include "commands.hpp"
#include "common.hpp"
#include "common/cli.hpp"

namespace {

using seqlm::Index;

constexpr const char* program = "seqlm sample";

struct Settings {
  std::string model_path, prompt;
  seqlm::GenerateTextOptions options;
  bool stream = false;
};

Settings read_settings(const examples::CommandLine& cli) {
  Settings s;
  s.model_path = seqlm_tool::the_file_argument(cli, "model file");
  s.prompt = cli.text("prompt");
  if (!seqlm::utf8::is_valid(s.prompt)) throw seqlm::text_error("--prompt is not valid UTF-8");
  seqlm::GenerationOptions& sampling = s.options.sampling;
  sampling.max_tokens = static_cast<Index>(cli.integer("length"));
  sampling.temperature = cli.real("temperature");
  if (!(sampling.temperature >= 0) || !std::isfinite(sampling.temperature)) {
    throw seqlm::value_error("--temperature must be a number >= 0 (0: the most probable token), got '" +
                             cli.text("temperature") + "'");
  }
  sampling.top_k = static_cast<Index>(cli.integer("top-k"));
  sampling.top_p = cli.real("top-p");
  if (!(sampling.top_p > 0 && sampling.top_p <= 1)) {
    throw seqlm::value_error("--top-p must be in (0, 1], got '" + cli.text("top-p") + "'");
  }
  const std::string& seed = cli.text("seed");
  char* end = nullptr;
  const unsigned long long parsed = std::strtoull(seed.c_str(), &end, 10);
  if (seed.empty() || *end != '\0' || seed[0] == '-') {
    throw seqlm::value_error("--seed expects a non-negative integer, got '" + seed + "'");
  }
  sampling.seed = parsed;
  s.options.context = static_cast<Index>(cli.integer("context"));
  s.options.beam = static_cast<Index>(cli.integer("beam"));
  s.stream = cli.has("stream");
  return s;
}

// The window a model that drops the time axis was trained on, as stored by the trainer: the
// metadata "window" (nietzsche) or "input_steps" (headlines), or the training configuration's
// "window" / "context"; 0 if none.
Index stored_window(const seqlm::TextModel<float>& model) {
  for (const char* key : {"window", "input_steps"}) {
    const auto entry = model.metadata.find(key);
    if (entry == model.metadata.end()) continue;
    char* end = nullptr;
    const long long window = std::strtoll(entry->second.c_str(), &end, 10);
    if (!entry->second.empty() && *end == '\0' && window > 0 && window <= examples::max_window) return window;
  }
  for (const char* key : {"window", "context"}) {
    const seqlm::json::Value* value =
        model.training_config.is_object() ? model.training_config.find(key) : nullptr;
    if (value != nullptr && value->is_integer() && value->as_int64() > 0 &&
        value->as_int64() <= examples::max_window) {
      return static_cast<Index>(value->as_int64());
    }
  }
  return 0;
}

int run(Settings s) {
  examples::doing("reading the model");
  seqlm_tool::check_input_file(s.model_path, "model file");
  const seqlm::TextModel<float> model = seqlm::load_text_model<float>(s.model_path);
  if (s.options.context == 0 && !model.model.output_keeps_time_axis())
    s.options.context = stored_window(model);
  if (s.options.beam > 0 && model.level() == seqlm::TokenLevel::character) {
    throw seqlm::value_error("--beam searches over words; \"" + s.model_path +
                             "\" is a character model (use --temperature, --top-k or --top-p)");
  }

  examples::doing("generating");
  std::string text;
  if (s.stream) {
    std::cout << s.prompt << std::flush;
    s.options.on_text = [](const std::string& piece) { std::cout << piece << std::flush; };
  }
  try {
    text = seqlm::generate_text(model, s.prompt, s.options);
  } catch (const seqlm::text_error& e) {
    if (s.stream) std::cout << "\n";
    throw seqlm::text_error(std::string("--prompt: ") + e.what());
  } catch (...) {
    if (s.stream) std::cout << "\n";
    throw;
  }
  if (!s.stream) std::cout << s.prompt << text;
  std::cout << "\n";
  return 0;
}

}  // namespace

int seqlm_tool::sample_command(int argc, char** argv) {
  examples::CommandLine cli(program, "a model continues a prompt");
  cli.positional_arguments("MODEL");
  cli.option("prompt", "", "the text to continue (empty: from the start token of a word model)");
  cli.option("length", "100", "tokens to generate (characters or words)",
             examples::Range{0, examples::max_generated});
  cli.option("temperature", "1.0", "sharpens (< 1) or flattens (> 1) the distribution; 0: the most probable");
  cli.option("top-k", "0", "draw from the K most probable tokens only (0: all)", examples::Range{0, 1 << 24});
  cli.option("top-p", "1.0", "draw from the smallest set of tokens holding this probability (1: all)");
  cli.option("seed", "0", "random seed: the same seed gives the same text");
  cli.flag("stream", "print each token as soon as it is chosen");
  cli.option("context", "0", "re-run the model over the last N tokens per token (0: streaming state)",
             examples::Range{0, examples::max_window});
  cli.option("beam", "0", "word models: beam search of this width for the most probable continuation",
             examples::Range{0, 1000});
  Settings settings;
  return seqlm_tool::read_then_run(
      program,
      [&] {
        cli.parse(argc, argv);
        settings = read_settings(cli);
      },
      [&] { return run(std::move(settings)); });
}
