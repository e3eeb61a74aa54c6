/// \file
/// A small, portable random number generator (xoshiro256**, seeded through splitmix64).
///
/// std::mt19937 is portable but std::uniform_real_distribution and friends are not: their
/// output differs between standard libraries. seqlm needs the same weights, dropout masks,
/// shuffles and samples for the same seed everywhere (and bit-identical resume from a
/// checkpoint), so every draw goes through this class, whose state is four integers.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace seqlm {

class Rng {
  __extension__ typedef unsigned __int128 uint128;  // GCC/Clang builtin; __extension__ keeps -Wpedantic quiet

 public:
  using State = std::array<std::uint64_t, 4>;

  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& word : state_) word = splitmix64(x);
    has_spare_normal_ = false;
  }

  /// Raw 64 random bits.
  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Uniform double in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }

  /// Uniform integer in [0, n), without modulo bias (Lemire's method). n must be > 0.
  std::uint64_t below(std::uint64_t n) {
    std::uint64_t x = next();
    uint128 m = static_cast<uint128>(x) * n;
    std::uint64_t low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        x = next();
        m = static_cast<uint128>(x) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  /// Standard normal N(0, 1) by the Box-Muller transform (portable, unlike std::normal_distribution).
  double normal() {
    if (has_spare_normal_) {
      has_spare_normal_ = false;
      return spare_normal_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 6.283185307179586476925286766559 * u2;
    spare_normal_ = radius * std::sin(angle);
    has_spare_normal_ = true;
    return radius * std::cos(angle);
  }

  /// The complete state, for checkpoints. A restored generator continues the same stream.
  struct Snapshot {
    State words{};
    bool has_spare_normal = false;
    double spare_normal = 0.0;
  };
  Snapshot snapshot() const { return {state_, has_spare_normal_, spare_normal_}; }
  void restore(const Snapshot& s) {
    state_ = s.words;
    has_spare_normal_ = s.has_spare_normal;
    spare_normal_ = s.spare_normal;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  State state_{};
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

}  // namespace seqlm
