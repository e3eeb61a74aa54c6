// A small command-line parser shared by the example programs:
//
//   program SUBCOMMAND [--option VALUE] [--flag] [POSITIONAL...]
//
// Options are declared with a help line, a default and, for sizes, the range of accepted
// integers; unknown options, missing values, malformed numbers and sizes outside their range
// are reported as seqlm::value_error naming the option. --help prints the generated usage text.
//
// Also the error reporting of the programs' main(): report_error() prints one line to stderr
// (escaped by seqlm::utf8::printable: no control characters or invalid UTF-8 reach the
// terminal) and turns std::bad_alloc into "out of memory while <what the program was doing>"
// (see doing()); check_data_file() says clearly when --data (or --model) names a directory, a
// device or a FIFO, check_output_file() refuses an --out or --log-csv that could not be
// written before a run starts, and check_utf8_lines() names the file and line of text that is
// not UTF-8.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <map>
#include <new>
#include <optional>
#include <seqlm/error.hpp>
#include <seqlm/io/atomic_file.hpp>
#include <seqlm/io/utf8.hpp>
#include <seqlm/tensor.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace examples {

// Upper limits of the size options, checked before anything is allocated: a typo such as
// --units 1000000000 gets "--units must be from 1 to 4096, got 1000000000" instead of an
// out-of-memory failure. Generous for these examples (the tutorials use 10..128 units).
inline constexpr long long max_width = 4096;          // --units, --embedding, --filters
inline constexpr long long max_batch_size = 65536;    // --batch-size
inline constexpr long long max_threads = 256;         // --threads
inline constexpr long long max_window = 100000;       // --window, --step
inline constexpr long long max_epochs = 1000000;      // --epochs, --patience
inline constexpr long long max_generated = 1000000;   // --length, --words, --sample-length, ...
inline constexpr long long max_batches = 1000000000;  // --max-batches

// The accepted integers of an option, inclusive.
struct Range {
  long long min, max;
};

class CommandLine {
 public:
  CommandLine(std::string program, std::string summary)
      : program_(std::move(program)), summary_(std::move(summary)) {}

  // Declares a subcommand (the first argument must be one of them when any is declared).
  void subcommand(const std::string& name, const std::string& help) { subcommands_.push_back({name, help}); }

  // Declares --name VALUE with a default ("" = none) and a help line; with a range, integer()
  // and positive() accept only values inside it.
  void option(const std::string& name, const std::string& default_value, const std::string& help,
              std::optional<Range> range = std::nullopt) {
    options_.push_back({name, default_value, help, false, range});
    values_[name] = default_value;
  }

  // Accepts arguments that are not options (they are refused otherwise), e.g. the message of
  // `greetings reply Olá!`; `what` names them in the usage text.
  void positional_arguments(const std::string& what) { positional_name_ = what; }

  // Declares --name, a switch that is off unless given.
  void flag(const std::string& name, const std::string& help) {
    options_.push_back({name, "", help, true, std::nullopt});
    values_[name] = "";
  }

  // Parses argv; prints usage and exits 0 on --help.
  void parse(int argc, char** argv) {
    int k = 1;
    if (!subcommands_.empty()) {
      if (argc < 2) {  // a usage error: the usage goes to stderr
        std::cerr << usage();
        std::exit(2);
      }
      if (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        std::cout << usage();
        std::exit(0);
      }
      chosen_ = argv[1];
      bool known = false;
      for (const auto& s : subcommands_) known = known || s.name == chosen_;
      if (!known) throw seqlm::value_error(std::string() + "unknown command '" + chosen_ + "' (see --help)");
      k = 2;
    }
    for (; k < argc; ++k) {
      const std::string argument = argv[k];
      if (argument == "--help" || argument == "-h") {
        std::cout << usage();
        std::exit(0);
      }
      if (argument.rfind("--", 0) != 0) {
        if (positional_name_.empty()) {
          throw seqlm::value_error("unexpected argument '" + argument +
                                   "' (options start with --; see --help)");
        }
        positional_.push_back(argument);
        continue;
      }
      const std::string name = argument.substr(2);
      const Option* declared = find(name);
      if (declared == nullptr)
        throw seqlm::value_error(std::string() + "unknown option --" + name + " (see --help)");
      if (declared->is_flag) {
        values_[name] = "1";
      } else {
        if (k + 1 >= argc) throw seqlm::value_error(std::string() + "option --" + name + " needs a value");
        values_[name] = argv[++k];
      }
    }
    // Sizes are checked now, before the program reads data or allocates anything.
    for (const Option& o : options_) {
      if (o.range) integer(o.name);
    }
  }

  const std::string& command() const { return chosen_; }
  const std::vector<std::string>& positional() const { return positional_; }
  bool has(const std::string& name) const { return !value(name).empty(); }
  const std::string& text(const std::string& name) const { return value(name); }

  // An integer option, inside its declared range if it has one.
  long long integer(const std::string& name) const {
    const std::string& v = value(name);
    char* end = nullptr;
    errno = 0;
    const long long parsed = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno == ERANGE)
      throw seqlm::value_error(std::string() + "--" + name + " expects an integer, got '" + v + "'");
    const Option* declared = find(name);
    if (declared != nullptr && declared->range &&
        (parsed < declared->range->min || parsed > declared->range->max)) {
      throw seqlm::value_error("--" + name + " must be from " + std::to_string(declared->range->min) +
                               " to " + std::to_string(declared->range->max) + ", got " + v);
    }
    return parsed;
  }

  double real(const std::string& name) const {
    const std::string& v = value(name);
    char* end = nullptr;
    const double parsed = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0')
      throw seqlm::value_error(std::string() + "--" + name + " expects a number, got '" + v + "'");
    return parsed;
  }

  // An integer option that must be > 0.
  seqlm::Index positive(const std::string& name) const {
    const long long parsed = integer(name);
    if (parsed <= 0) {
      throw seqlm::value_error("--" + name + " must be positive, got " + std::to_string(parsed));
    }
    return static_cast<seqlm::Index>(parsed);
  }

  // A comma-separated list of numbers >= 0: "0.2,0.5,1.0,1.2" -> {0.2, 0.5, 1.0, 1.2}.
  std::vector<double> numbers(const std::string& name) const {
    const std::string& text = value(name);
    std::vector<double> parsed;
    size_t begin = 0;
    while (begin <= text.size()) {
      const size_t end = std::min(text.find(',', begin), text.size());
      const std::string item = text.substr(begin, end - begin);
      char* stop = nullptr;
      const double number = std::strtod(item.c_str(), &stop);
      if (item.empty() || *stop != '\0' || !(number >= 0.0)) {
        throw seqlm::value_error("--" + name + " expects numbers >= 0 separated by commas, got '" + text +
                                 "'");
      }
      parsed.push_back(number);
      begin = end + 1;
    }
    return parsed;
  }

  std::string usage() const {
    std::ostringstream out;
    out << program_ << ": " << summary_ << "\n\nUsage: " << program_
        << (subcommands_.empty() ? "" : " COMMAND") << " [options]"
        << (positional_name_.empty() ? "" : " " + positional_name_) << "\n";
    if (!subcommands_.empty()) {
      out << "\nCommands:\n";
      for (const auto& s : subcommands_) out << "  " << pad(s.name, 22) << s.help << "\n";
    }
    out << "\nOptions:\n";
    for (const auto& o : options_) {
      const std::string left = "--" + o.name + (o.is_flag ? "" : " VALUE");
      out << "  " << pad(left, 22) << o.help;
      if (o.range) out << " [" << o.range->min << ".." << o.range->max << "]";
      if (!o.is_flag && !o.default_value.empty()) out << " (default: " << o.default_value << ")";
      out << "\n";
    }
    out << "  " << pad("--help", 22) << "print this help\n";
    return out.str();
  }

 private:
  struct Subcommand {
    std::string name, help;
  };
  struct Option {
    std::string name, default_value, help;
    bool is_flag;
    std::optional<Range> range;
  };

  const Option* find(const std::string& name) const {
    for (const auto& o : options_)
      if (o.name == name) return &o;
    return nullptr;
  }
  const std::string& value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end())
      throw seqlm::value_error(std::string() + "internal error, undeclared option --" + name);
    return it->second;
  }
  static std::string pad(const std::string& s, size_t width) {
    return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
  }

  std::string program_, summary_, chosen_;
  std::string positional_name_;  // empty: no positional arguments
  std::vector<Subcommand> subcommands_;
  std::vector<Option> options_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// ---- errors ----------------------------------------------------------------------------------

// What the program is doing now ("reading --data", "training", ...), named by the
// out-of-memory message of report_error(). Set it with doing() before each phase.
inline std::string& current_activity() {
  static std::string activity = "starting";
  return activity;
}
inline void doing(const char* activity) { current_activity() = activity; }

// For main's `catch (...)`: prints "<program>: <message>" as one line on stderr and returns
// the exit status 1. std::bad_alloc becomes "out of memory while <current_activity()>",
// followed by `hint` (e.g. which options make the program smaller) when given.
inline int report_error(const char* program, const char* hint = "") noexcept {
  try {
    try {
      throw;
    } catch (const std::bad_alloc&) {
      std::cerr << program << ": out of memory while " << current_activity() << hint << "\n";
    } catch (const std::exception& e) {
      std::cerr << program << ": " << seqlm::utf8::printable(e.what()) << "\n";
    } catch (...) {
      std::cerr << program << ": unknown error\n";
    }
  } catch (...) {  // printing itself failed (no memory left for the message)
    std::cerr << program << ": out of memory\n";
  }
  return 1;
}

// Throws text_error "\"<path>\" line N: UTF-8: ..." for the first line of `text` (the contents
// of the file `path`) that is not valid UTF-8; the byte offset in the message is within that
// line. A '\n' byte is never part of a multi-byte sequence, so the lines can be checked alone.
inline void check_utf8_lines(std::string_view text, const std::string& path) {
  if (seqlm::utf8::is_valid(text)) return;
  std::size_t line = 1;
  for (std::size_t begin = 0; begin <= text.size(); ++line) {
    const std::size_t end = std::min(text.find('\n', begin), text.size());
    try {
      seqlm::utf8::validate(text.substr(begin, end - begin));
    } catch (const seqlm::text_error& e) {
      throw seqlm::text_error("\"" + path + "\" line " + std::to_string(line) + ": " + e.what());
    }
    begin = end + 1;
  }
}

// Throws file_error when `path` (the value of --`option`) is a directory or another
// non-regular file; a path that does not exist is left to the reader, whose message says so.
inline void check_data_file(const std::string& path, const char* option = "data") {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return;
  if (S_ISDIR(info.st_mode)) {
    throw seqlm::file_error("--" + std::string(option) + " \"" + path + "\" is a directory; give a file");
  }
  if (!S_ISREG(info.st_mode)) {
    throw seqlm::file_error("--" + std::string(option) + " \"" + path + "\" is not a regular file");
  }
}

// For `train`: refuses, before any data is read or any epoch runs, an --`option` path (--out,
// --log-csv) that saving would refuse at the end of the run: a directory, FIFO, device, a
// link to one, a dangling link, a directory that does not exist or cannot be written, a name
// too long. It prepares an empty atomic write there and abandons it, so nothing visible
// changes (io/atomic_file.hpp). Does nothing when the option is empty. The first overload
// checks any path, named `what` in the message.
inline void check_output_file(const std::string& path, const std::string& what) {
  if (path.empty()) return;
  try {
    seqlm::prepare_file_atomically(path, std::string_view());  // removed again, uncommitted
  } catch (const seqlm::file_error& e) {
    throw seqlm::file_error(what + ": " + e.what());
  }
}
inline void check_output_file(const CommandLine& cli, const char* option) {
  check_output_file(cli.text(option), "--" + std::string(option));
}

}  // namespace examples
