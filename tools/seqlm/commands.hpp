// The subcommands of the `seqlm` program, one source file each (train.cpp, eval.cpp, ...).
//
// Each takes the arguments after the program name, so that argv[0] is the subcommand's own
// name ("train") and argv[1..] its options, parses them with examples::CommandLine (usage
// "seqlm <command>"), and returns the process exit status: 0 on success, 1 after reporting an
// error as one line on stderr ("seqlm <command>: <what went wrong>"), 2 for a usage error.
#pragma once

namespace seqlm_tool {

int train_command(int argc, char** argv);   // train a model on text files
int eval_command(int argc, char** argv);    // loss, bits, perplexity, accuracy of a model on a file
int sample_command(int argc, char** argv);  // generate text
int info_command(int argc, char** argv);    // what a model file holds
int plot_command(int argc, char** argv);    // a training history as an SVG (and PNG) chart
int import_command(int argc, char** argv);  // a Keras model (.keras / .h5) as a seqlm model file
int serve_command(int argc, char** argv);   // a web page streaming a character model's text

}  // namespace seqlm_tool
