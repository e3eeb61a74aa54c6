/// \file
/// seqlm version, as a number the preprocessor can compare and a string for model files.
#pragma once

#define SEQLM_VERSION_MAJOR 0
#define SEQLM_VERSION_MINOR 2
#define SEQLM_VERSION_PATCH 0

namespace seqlm {
inline constexpr const char* version_string = "0.2.0";
}  // namespace seqlm
