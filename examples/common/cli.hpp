// A small command-line parser shared by the example programs:
//
//   program SUBCOMMAND [--option VALUE] [--flag] [POSITIONAL...]
//
// Options are declared with a help line and a default; unknown options, missing values and
// malformed numbers are reported as seqlm::value_error naming the option. --help prints the
// generated usage text.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <seqlm/error.hpp>
#include <seqlm/tensor.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace examples {

class CommandLine {
 public:
  CommandLine(std::string program, std::string summary)
      : program_(std::move(program)), summary_(std::move(summary)) {}

  // Declares a subcommand (the first argument must be one of them when any is declared).
  void subcommand(const std::string& name, const std::string& help) { subcommands_.push_back({name, help}); }

  // Declares --name VALUE with a default ("" = none) and a help line.
  void option(const std::string& name, const std::string& default_value, const std::string& help) {
    options_.push_back({name, default_value, help, false});
    values_[name] = default_value;
  }

  // Declares --name, a switch that is off unless given.
  void flag(const std::string& name, const std::string& help) {
    options_.push_back({name, "", help, true});
    values_[name] = "";
  }

  // Parses argv; prints usage and exits 0 on --help.
  void parse(int argc, char** argv) {
    int k = 1;
    if (!subcommands_.empty()) {
      if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        std::cout << usage();
        std::exit(argc < 2 ? 2 : 0);
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
  }

  const std::string& command() const { return chosen_; }
  const std::vector<std::string>& positional() const { return positional_; }
  bool has(const std::string& name) const { return !value(name).empty(); }
  const std::string& text(const std::string& name) const { return value(name); }

  long long integer(const std::string& name) const {
    const std::string& v = value(name);
    char* end = nullptr;
    const long long parsed = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0')
      throw seqlm::value_error(std::string() + "--" + name + " expects an integer, got '" + v + "'");
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
        << (subcommands_.empty() ? "" : " COMMAND") << " [options]\n";
    if (!subcommands_.empty()) {
      out << "\nCommands:\n";
      for (const auto& s : subcommands_) out << "  " << pad(s.name, 22) << s.help << "\n";
    }
    out << "\nOptions:\n";
    for (const auto& o : options_) {
      const std::string left = "--" + o.name + (o.is_flag ? "" : " VALUE");
      out << "  " << pad(left, 22) << o.help;
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
  std::vector<Subcommand> subcommands_;
  std::vector<Option> options_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace examples
