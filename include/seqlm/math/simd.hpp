/// \file
/// Vectorised elementwise math on top of xsimd.
///
/// Kernels in seqlm are written once as a generic lambda over a "lane" type V that is
/// either a scalar S or an xsimd::batch<S>. vectorized_loop() runs the lambda on whole
/// SIMD batches and then on the scalar tail, so the same source handles both, e.g.
///
/// ```cpp
///   simd::vectorized_loop<float>(n, [&](Index k, auto lane) {
///     using V = decltype(lane);
///     V x = simd::load<V>(in + k);
///     simd::store(out + k, simd::sigmoid(x));
///   });
/// ```
///
/// The batch width is the widest the compiler targets (-mavx2: 8 floats / 4 doubles).
#pragma once

#include <cmath>
#include <xsimd/xsimd.hpp>

#include "../tensor.hpp"
#include "xsimd_compat.hpp"

// seqlm's kernels are tuned for AVX2 + FMA (x86-64-v3). A plain -O2 build for x86-64 targets
// SSE2 only; a plain Release build of a consumer was reported to train 2.65x slower than with
// -march=x86-64-v3 (same loss). So say so at compile time: build with -march=x86-64-v3 or -march=native, or
// define SEQLM_WARN_NO_SIMD=0 to silence the note (e.g. for a portable binary on purpose).
#ifndef SEQLM_WARN_NO_SIMD
#define SEQLM_WARN_NO_SIMD 1
#endif
#if SEQLM_WARN_NO_SIMD && (defined(__x86_64__) || defined(_M_X64)) && !(defined(__AVX2__) && defined(__FMA__))
#if defined(_MSC_VER) && !defined(__clang__)
#pragma message( \
    "seqlm: compiled without AVX2+FMA, the slow path; build with /arch:AVX2 (or define SEQLM_WARN_NO_SIMD=0)")
#else
// #warning, not #pragma GCC warning: GCC and Clang drop the pragma in system headers (-isystem,
// as CMake and Conan include installed packages) but still print #warning.
#warning \
    "seqlm: compiled without AVX2+FMA, the slow path; build with -march=x86-64-v3 or -march=native (or define SEQLM_WARN_NO_SIMD=0)"
#endif
#endif

namespace seqlm::simd {

template <class S>
using Batch = xsimd::batch<S>;

template <class S>
inline constexpr Index width = static_cast<Index>(Batch<S>::size);

/// The vector registers the compiler may allocate: 32 with AVX-512 (zmm0-zmm31), else 16
/// (ymm0-ymm15 with AVX2). Register tiles are sized by it (math/gemm.hpp).
inline constexpr int vector_registers =
#if defined(__AVX512F__)
    32;
#else
    16;
#endif

// ---- load / store for both lane types ----------------------------------------------------
template <class V, class S>
V load(const S* p) {
  if constexpr (std::is_same_v<V, S>) {
    return *p;
  } else {
    return V::load_unaligned(p);
  }
}

template <class S>
void store(S* p, S value) {
  *p = value;
}
template <class S, class A>
void store(S* p, const xsimd::batch<S, A>& value) {
  value.store_unaligned(p);
}

// ---- exp and the activations -----------------------------------------------------------
// The batch versions clamp their argument before calling xsimd: its exp converts
// round(x / ln 2) to an integer (for double through a scalar int64 conversion on AVX2), which
// is undefined behaviour for NaN and for |x| beyond the integer range (e.g. 1e300). The
// clamp bounds are where the result already saturates, so every non-NaN input gives the same
// result as before; a NaN lane computes on 0 and is then put back, so NaN stays NaN. The
// scalar versions use <cmath>, which is defined for every input.

/// x with NaN lanes replaced by 0 and the rest clamped to [lo, hi].
template <class S, class A>
xsimd::batch<S, A> clamp_or_zero(const xsimd::batch<S, A>& x, S lo, S hi) {
  using B = xsimd::batch<S, A>;
  const B clamped = xsimd::min(xsimd::max(x, B(lo)), B(hi));
  return xsimd::select(xsimd::isnan(x), B(S(0)), clamped);
}

/// exp(x): 0 below xsimd's minlog (about -708.4 for double, -88.4 for float), +inf above maxlog
/// (709.8, 88.4), NaN for NaN.
template <class S>
S exp(S x) {
  return std::exp(x);
}
template <class S, class A>
xsimd::batch<S, A> exp(const xsimd::batch<S, A>& x) {
  using B = xsimd::batch<S, A>;
  // Clamped to [minlog, maxlog]: xsimd maps those bounds themselves to exactly 0 and +inf.
  const B y = xsimd::exp(clamp_or_zero(x, xsimd::constants::minlog<S>(), xsimd::constants::maxlog<S>()));
  return xsimd::select(xsimd::isnan(x), x, y);
}

/// sigmoid(x) = 1 / (1 + exp(-x)); exact limits at +-inf (exp overflow gives 1/inf = 0).
template <class S>
S sigmoid(S x) {
  return S(1) / (S(1) + std::exp(-x));
}
template <class S, class A>
xsimd::batch<S, A> sigmoid(const xsimd::batch<S, A>& x) {
  const xsimd::batch<S, A> one(S(1));
  return one / (one + simd::exp(-x));
}

/// tanh(x) for |x| >= 22 (double) or 10 (float) rounds to +-1 exactly; xsimd computes it from
/// exp(2|x|), so the argument is clamped there (2 * 22 < maxlog).
template <class S>
S tanh(S x) {
  return std::tanh(x);
}
template <class S, class A>
xsimd::batch<S, A> tanh(const xsimd::batch<S, A>& x) {
  constexpr S saturated = std::is_same_v<S, double> ? S(22) : S(10);
  const xsimd::batch<S, A> y = xsimd::tanh(clamp_or_zero(x, -saturated, saturated));
  return xsimd::select(xsimd::isnan(x), x, y);
}

template <class S>
S relu(S x) {
  return x > S(0) ? x : S(0);
}
template <class S, class A>
xsimd::batch<S, A> relu(const xsimd::batch<S, A>& x) {
  return xsimd::max(x, xsimd::batch<S, A>(S(0)));
}

// ---- elementwise helpers for both lane types ----------------------------------------------

template <class S>
S sqrt(S x) {
  return std::sqrt(x);
}
template <class S, class A>
xsimd::batch<S, A> sqrt(const xsimd::batch<S, A>& x) {
  return xsimd::sqrt(x);
}

template <class S>
S max(S a, S b) {
  return a < b ? b : a;
}
template <class S, class A>
xsimd::batch<S, A> max(const xsimd::batch<S, A>& a, const xsimd::batch<S, A>& b) {
  return xsimd::max(a, b);
}

// ---- the loop driver ----------------------------------------------------------------------
/// Calls `body(k, Batch<S>{})` for k = 0, W, 2W, ... while a whole batch fits, then
/// `body(k, S{})` for the remaining scalar elements.
template <class S, class Body>
void vectorized_loop(Index n, Body&& body) {
  const Index whole_batches_end = n - n % width<S>;
  for (Index k = 0; k < whole_batches_end; k += width<S>) body(k, Batch<S>{});
  for (Index k = whole_batches_end; k < n; ++k) body(k, S{});
}

// ---- whole-array helpers ------------------------------------------------------------------

/// True when no element of data[0, n) is infinite or NaN. One branch-free pass: x * 0 is 0 for
/// a finite x and NaN otherwise, and a sum with one NaN term is NaN.
template <class S>
bool all_finite(const S* data, Index n) {
  Batch<S> batch_sum(S(0));
  S tail_sum = 0;
  vectorized_loop<S>(n, [&](Index k, auto lane) {
    using V = decltype(lane);
    if constexpr (std::is_same_v<V, S>) {
      tail_sum += data[k] * S(0);
    } else {
      batch_sum += load<V>(data + k) * V(S(0));
    }
  });
  return !std::isnan(simd::reduce_add(batch_sum) + tail_sum);
}

/// sum_k a[k] * b[k]. Four independent SIMD partial sums (so that the adds do not wait for
/// each other), then single batches, then the scalar tail.
template <class S>
S dot(const S* a, const S* b, Index n) {
  constexpr Index W = width<S>;
  Batch<S> sum0(S(0)), sum1(S(0)), sum2(S(0)), sum3(S(0));
  Index k = 0;
  for (; k + 4 * W <= n; k += 4 * W) {
    sum0 += Batch<S>::load_unaligned(a + k) * Batch<S>::load_unaligned(b + k);
    sum1 += Batch<S>::load_unaligned(a + k + W) * Batch<S>::load_unaligned(b + k + W);
    sum2 += Batch<S>::load_unaligned(a + k + 2 * W) * Batch<S>::load_unaligned(b + k + 2 * W);
    sum3 += Batch<S>::load_unaligned(a + k + 3 * W) * Batch<S>::load_unaligned(b + k + 3 * W);
  }
  for (; k + W <= n; k += W) sum0 += Batch<S>::load_unaligned(a + k) * Batch<S>::load_unaligned(b + k);
  S sum = simd::reduce_add((sum0 + sum1) + (sum2 + sum3));
  for (; k < n; ++k) sum += a[k] * b[k];
  return sum;
}

/// y[k] -= alpha * x[k] for k in [0, n).
template <class S>
void subtract_scaled(S* y, S alpha, const S* x, Index n) {
  vectorized_loop<S>(n, [&](Index k, auto lane) {
    using V = decltype(lane);
    simd::store(y + k, simd::load<V>(y + k) - V(alpha) * simd::load<V>(x + k));
  });
}

template <class S>
void sigmoid_inplace(S* data, Index n) {
  vectorized_loop<S>(n, [&](Index k, auto lane) {
    using V = decltype(lane);
    simd::store(data + k, simd::sigmoid(simd::load<V>(data + k)));
  });
}

template <class S>
void tanh_inplace(S* data, Index n) {
  vectorized_loop<S>(n, [&](Index k, auto lane) {
    using V = decltype(lane);
    simd::store(data + k, simd::tanh(simd::load<V>(data + k)));
  });
}

template <class S>
void relu_inplace(S* data, Index n) {
  vectorized_loop<S>(n, [&](Index k, auto lane) {
    using V = decltype(lane);
    simd::store(data + k, simd::relu(simd::load<V>(data + k)));
  });
}

}  // namespace seqlm::simd
