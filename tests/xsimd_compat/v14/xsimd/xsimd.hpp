// A stand-in for <xsimd/xsimd.hpp> 9 to 14 with only what math/xsimd_compat.hpp uses: the
// horizontal sum is called reduce_add (hadd is gone). See check_xsimd_compat.cpp.
#pragma once
#define XSIMD_VERSION_MAJOR 14
#define XSIMD_VERSION_MINOR 0
#define XSIMD_VERSION_PATCH 0

namespace xsimd {
template <class T, class A = void>
struct batch {
  T lanes[4];
};
template <class T, class A>
T reduce_add(const batch<T, A>& b) {
  return (b.lanes[0] + b.lanes[1]) + (b.lanes[2] + b.lanes[3]);
}
}  // namespace xsimd
