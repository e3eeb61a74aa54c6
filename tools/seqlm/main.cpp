// seqlm: one command for any text. `seqlm <command> --help` describes each command.
//
//   seqlm train  --data FILE... --out MODEL      train a char- or word-level model
//   seqlm eval   MODEL --data FILE               loss, bits per token, perplexity, accuracy
//   seqlm sample MODEL [--prompt S]              generate text
//   seqlm info   MODEL                           summary, vocabulary, configuration, history
//   seqlm plot   HISTORY.csv -o loss.svg         the loss curves of a training run
//   seqlm import MODEL.keras --out MODEL         a Keras model as a seqlm model file
//   seqlm serve  MODEL [--port P]                a web page that streams the model's text
//
// It uses only the public API of the library (and examples/common/cli.hpp for its options;
// `serve` runs the poem site's server, examples/poem_server/server.hpp).
#include <cstring>
#include <iostream>
#include <seqlm/version.hpp>
#include <string>

#include "commands.hpp"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

const Command commands[] = {
    {"train", seqlm_tool::train_command, "train a model on text files"},
    {"eval", seqlm_tool::eval_command, "loss, bits per token, perplexity and accuracy of a model on a file"},
    {"sample", seqlm_tool::sample_command, "generate text from a model"},
    {"info", seqlm_tool::info_command, "what a model file holds: layers, vocabulary, training, history"},
    {"plot", seqlm_tool::plot_command, "draw a training history (CSV) as an SVG chart"},
    {"import", seqlm_tool::import_command, "convert a Keras model (.keras, .h5) to a seqlm model file"},
    {"serve", seqlm_tool::serve_command,
     "serve a web page that streams a character model's text as it is written"},
};

void print_usage(std::ostream& out) {
  out << "usage: seqlm <command> [options]   (seqlm <command> --help for its options)\n\ncommands:\n";
  for (const Command& c : commands)
    out << "  " << c.name << std::string(8 - std::strlen(c.name), ' ') << c.help << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    std::cout << "seqlm " << seqlm::version_string << "\n";
    return 0;
  }
  for (const Command& c : commands) {
    if (name == c.name) return c.run(argc - 1, argv + 1);
  }
  std::cerr << "seqlm: unknown command '" << name << "'\n";
  print_usage(std::cerr);
  return 2;
}
