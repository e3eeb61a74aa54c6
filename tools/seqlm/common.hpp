// What the subcommands that read one model (or Keras) file share: the file named as the one
// positional argument, checked before it is read, and the two phases of a command -- reading
// the command line (any error: exit status 2) and running (any error: exit status 1), each
// error reported as one line on stderr (commands.hpp).
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/cli.hpp"

namespace seqlm_tool {

// The one positional argument, a `what` ("model file", "Keras file"); value_error when there
// is none ("give the model file (see --help)") or more than one ("give one model file, got 2").
inline std::string the_file_argument(const examples::CommandLine& cli, const std::string& what) {
  const auto count = cli.positional().size();
  if (count == 0) throw seqlm::value_error("give the " + what + " (see --help)");
  if (count > 1) throw seqlm::value_error("give one " + what + ", got " + std::to_string(count));
  return cli.positional().front();
}

// file_error unless `path` is a regular file, in one line: "cannot open "x": No such file or
// directory", ""x" is a directory, not a model file" (`what` = "model file").
inline void check_input_file(const std::string& path, const std::string& what) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) {
    throw seqlm::file_error("cannot open \"" + path + "\": " + std::strerror(errno));
  }
  if (!S_ISREG(status.st_mode)) {
    throw seqlm::file_error("\"" + path + "\" is " +
                            (S_ISDIR(status.st_mode) ? "a directory" : "not a regular file") + ", not a " +
                            what);
  }
}

// A command's two phases: `read_command_line()` (an exception is a usage error: one line,
// status 2), then `run()` (an exception: one line, status 1; out of memory is named as such).
template <class ReadCommandLine, class Run>
int read_then_run(const char* program, ReadCommandLine read_command_line, Run run) {
  try {
    read_command_line();
  } catch (...) {
    examples::report_error(program);
    return 2;
  }
  try {
    return run();
  } catch (...) {
    return examples::report_error(program);
  }
}

}  // namespace seqlm_tool
