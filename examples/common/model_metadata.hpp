// Reading values the example programs store in a model file's metadata.
#pragma once

#include <cstdlib>
#include <map>
#include <seqlm/error.hpp>
#include <seqlm/tensor.hpp>
#include <string>

namespace examples {

// The training window stored in a model file's metadata ("window"), or 60 when absent.
inline seqlm::Index stored_window(const std::map<std::string, std::string>& metadata,
                                  const std::string& path) {
  const auto stored = metadata.find("window");
  if (stored == metadata.end()) return 60;
  char* end = nullptr;
  const long long window = std::strtoll(stored->second.c_str(), &end, 10);
  if (stored->second.empty() || *end != '\0' || window <= 0 || window > 1000000) {
    throw seqlm::file_error("\"" + path + "\": metadata 'window' is '" + stored->second +
                            "', expected a positive number of characters");
  }
  return static_cast<seqlm::Index>(window);
}

}  // namespace examples
