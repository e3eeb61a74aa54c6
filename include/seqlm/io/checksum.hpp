/// \file
/// CRC-32 checksums for model files.
///
/// The checksum is the standard CRC-32 of zlib, PNG and Ethernet (reflected polynomial
/// 0xEDB88320, initial value and final XOR 0xFFFFFFFF), so Python's zlib.crc32() gives the
/// same number:
///
/// ```cpp
///   Crc32 crc;                       // or crc32(bytes) for one buffer
///   crc.update(header_part);
///   crc.update(data_part);           // crc.value() == zlib.crc32(header_part + data_part)
/// ```
///
/// It detects every error burst of up to 32 bits (in particular any single flipped byte),
/// which is what a model file needs against truncation and bit rot. It is not a defence
/// against deliberate tampering.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace seqlm {

namespace detail {

// The 256-entry lookup table of the byte-at-a-time CRC-32 algorithm, built at compile time.
inline constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    table[byte] = crc;
  }
  return table;
}

inline constexpr std::array<std::uint32_t, 256> crc32_table = make_crc32_table();

}  // namespace detail

/// Incremental CRC-32: feed the bytes in any number of pieces, read value() at any time.
class Crc32 {
 public:
  void update(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    std::uint32_t crc = state_;
    for (std::size_t k = 0; k < size; ++k) crc = detail::crc32_table[(crc ^ bytes[k]) & 0xFFu] ^ (crc >> 8);
    state_ = crc;
  }
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

  /// The checksum of everything fed so far (0 for no bytes).
  std::uint32_t value() const { return state_ ^ 0xFFFFFFFFu; }

 private:
  std::uint32_t state_ = 0xFFFFFFFFu;
};

/// CRC-32 of one buffer: crc32("123456789") == 0xCBF43926.
inline std::uint32_t crc32(std::string_view bytes) {
  Crc32 crc;
  crc.update(bytes);
  return crc.value();
}

/// "crc32:" followed by 8 lower-case hex digits, the form stored in model files.
inline std::string format_crc32(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(value));
  return std::string("crc32:") + text;
}

}  // namespace seqlm
