/// \file
/// The few xsimd functions whose names changed between the xsimd versions seqlm supports
/// (8.1, Debian 12's, through 14, today's vcpkg and Conan Center). seqlm calls these
/// wrappers instead of xsimd directly, so one source builds against all of them.
///
/// ```text
///   xsimd 8:  xsimd::hadd(batch)        horizontal sum b[0] + b[1] + ... + b[W-1]
///   xsimd 9+: xsimd::reduce_add(batch)  the same, renamed
/// ```
#pragma once

#include <xsimd/xsimd.hpp>

#if !defined(XSIMD_VERSION_MAJOR)
#error "seqlm: <xsimd/xsimd.hpp> did not define XSIMD_VERSION_MAJOR; seqlm needs xsimd 8.1 to 14"
#elif XSIMD_VERSION_MAJOR < 8 || (XSIMD_VERSION_MAJOR == 8 && XSIMD_VERSION_MINOR < 1)
#error "seqlm: xsimd is older than 8.1; seqlm needs xsimd 8.1 to 14"
#endif

namespace seqlm::simd {

/// Horizontal sum of one batch: b[0] + b[1] + ... + b[W-1].
template <class S, class A>
S reduce_add(const xsimd::batch<S, A>& b) {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_add(b);
#else
  return xsimd::hadd(b);
#endif
}

}  // namespace seqlm::simd
