// Compiles math/xsimd_compat.hpp against one spelling of xsimd's API: tests/CMakeLists.txt
// builds this file twice, once with the xsimd 8 stand-in (v8/: hadd) and once with the xsimd
// 9-14 one (v14/: reduce_add) first on the include path, so that CI, which has Debian's
// xsimd 8.1 only, also checks the spelling of today's xsimd. Exits 0 when the sum is right.
#include <cstdio>
#include <seqlm/math/xsimd_compat.hpp>

int main() {
  const xsimd::batch<float> b{{1.0f, 2.0f, 3.0f, 4.5f}};
  const float sum = seqlm::simd::reduce_add(b);
  std::printf("xsimd %d: seqlm::simd::reduce_add = %g\n", XSIMD_VERSION_MAJOR, double(sum));
  return sum == 10.5f ? 0 : 1;
}
