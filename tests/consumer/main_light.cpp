// The lightest check that seqlm::seqlm brings its include path, Eigen and xsimd: a dot
// product through seqlm's SIMD kernels (math/simd.hpp).
#include <iostream>
#include <seqlm/math/simd.hpp>
#include <seqlm/version.hpp>
#include <vector>

int main() {
  const std::vector<float> a(37, 2.0f), b(37, 0.5f);
  const float dot = seqlm::simd::dot(a.data(), b.data(), seqlm::Index(a.size()));
  std::cout << "seqlm " << seqlm::version_string << " ok, dot = " << dot << "\n";
  return dot == 37.0f ? 0 : 1;
}
