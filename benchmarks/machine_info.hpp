// The machine a benchmark ran on, as /proc/cpuinfo names it, for the results files: CPU model,
// family, model number and flags (family 26 is AMD Zen 5; its flags say which vector widths
// the numbers could have used).
#pragma once

#include <fstream>
#include <string>

namespace seqlm::bench {

// The first value of "key : value" lines in /proc/cpuinfo (empty when absent).
inline std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    if (name == key) return colon + 2 <= line.size() ? line.substr(colon + 2) : std::string();
  }
  return {};
}

}  // namespace seqlm::bench
