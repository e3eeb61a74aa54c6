/// \file
/// Matrix multiplication (GEMM) for seqlm's layers:  C = op(A) op(B)  or  C += op(A) op(B),
/// op(X) = X or X^T, every matrix column-major with unit inner stride.
///
/// Why seqlm multiplies matrices itself instead of calling Eigen's product (measurements and
/// the comparison with OpenBLAS: docs/performance.md, "GEMM strategy"):
///   * a recurrent layer multiplies by the SAME matrix at every time step (U h_{t-1} forward,
///     U^T dZ_t backward). PackedMatrix packs it once per pass; Eigen re-packs it every step.
///   * the packed copy is owned by the layer and sized on the first call, and multiplying by it
///     needs no other memory: nothing is allocated inside a time loop, nor on a second call
///     with the same shapes (Eigen's product heap-allocates its blocking buffers above 128 KB
///     on every call), and several threads can multiply by it at once.
///   * every other product of the layers (math/products.hpp) runs on Multiplier, the general
///     form (both operands packed on the fly into buffers it owns), or on multiply_vector for
///     one column: as fast as Eigen's at the layers' shapes, the same bits on any number of
///     threads, and a shorter compile of a training program than with Eigen's GEMM.
///
/// The algorithm is GotoBLAS/BLIS's, in three layers (docs/design.md, "The GEMM kernel"):
///
/// ```text
///   1. Micro-kernel: a tile of MR x NR numbers of C (MR = 2 SIMD registers of rows, NR = 6
///      columns: 16 x 6 floats with AVX2) is kept in 12 registers while
///          for p in 0..kc:  tile += a_p (MR x 1) * b_p (1 x NR)
///      runs: per step 2 loads of A, 6 broadcasts of B and 12 fused multiply-adds. AVX2 has 16
///      vector registers: 12 for the tile, 2 for a_p, 1 for the broadcast. AVX-512 has 32 and
///      16-float registers: MR = 32 rows and NR = 8 columns, 16 registers of tile (NR = 6, 8 and
///      12 were measured: within 3-8% of each other at the layers' shapes, 8 ahead by a little
///      and a divisor of the usual batch sizes; docs/performance.md, "AVX-512").
///   2. Packing: A is copied into "panels" of MR rows stored step by step (the MR numbers of
///      column p are contiguous), B into panels of NR columns stored step by step, so the
///      micro-kernel reads both strictly sequentially (transposes are absorbed here).
///   3. Blocking: the depth is cut in blocks of KC = 256 so that one A panel (MR x KC, 16 KB;
///      32 KB with AVX-512, where KC = 128 and 512 measured no better) stays in L1 and one B
///      panel (KC x NR) streams through it; rows in blocks of MC = 128 (an A block of MC x KC
///      in L2) and columns in blocks of NC = 4080 (a packed B block in L3).
/// ```
///
/// ```text
///     for jc in columns by NC:                    C(:, jc) ...
///       for pc in depth by KC:                      pack B(pc, jc) -> KC x NC panels
///         for ic in rows by MC:                       pack A(ic, pc) -> MC x KC panels (or use PackedMatrix)
///           for jr in NC by NR:  for ir in MC by MR:    micro-kernel on C(ic+ir, jc+jr)
/// ```
///
/// Every element of C is a sum over p in increasing order, each product added with one fused
/// multiply-add, whatever the tile it falls in: the result of a column does not depend on how
/// many columns are multiplied at once (a recurrent layer gives the same numbers for a
/// sequence in a batch of 1 or 128).
#pragma once

#include <algorithm>

#include "../error.hpp"
#include "../tensor.hpp"
#include "simd.hpp"

namespace seqlm::gemm {

/// op(X) = X or X^T
enum class Op { none, transpose };
/// C = op(A) op(B)  or  C += op(A) op(B)
enum class Update { overwrite, accumulate };

/// Register tile and cache blocks (see the top of the file).
template <class Scalar>
inline constexpr Index tile_rows = 2 * simd::width<Scalar>;               ///< MR
inline constexpr Index tile_cols = simd::vector_registers >= 32 ? 8 : 6;  ///< NR
inline constexpr Index depth_block = 256;                                 ///< KC
inline constexpr Index row_block = 128;                                   ///< MC, a multiple of every MR
inline constexpr Index column_block = 4080;                               ///< NC, a multiple of every NR

namespace detail {

inline Index round_up(Index value, Index multiple) { return (value + multiple - 1) / multiple * multiple; }

// op(X)(i, j) for a column-major X with column stride `stride`.
template <class Scalar>
struct Operand {
  const Scalar* data;
  Index stride;
  bool transposed;
  Scalar operator()(Index i, Index j) const {
    return transposed ? data[j + i * stride] : data[i + j * stride];
  }
};

// Asks the CPU to start loading the cache line of `address` (a hint; no effect elsewhere).
inline void prefetch(const void* address) {
#if defined(__GNUC__)
  __builtin_prefetch(address);
#else
  (void)address;
#endif
}

// NR columns of op(B) over the depth of a block: B(p, j) at data[p*step + j*column].
template <class Scalar>
struct RhsPanel {
  const Scalar* data;
  Index step, column;
};

// ---- 1. the micro-kernel -------------------------------------------------------------------
// c (rows x Cols, column stride ldc, rows <= MR) = or += sum_p a_p b_p^T over `depth` steps,
//   a: packed A panel, step p at a + p*MR (MR numbers; rows past `rows` are zero padding)
//   b: B(p, j) at b[p*b.step + j*b.column]: a packed panel (step Cols, column 1) or the
//      columns of B read in place (step 1, column = B's column stride)
template <class Scalar, int Cols>
void micro_kernel(Index depth, const Scalar* a, const RhsPanel<Scalar>& b_panel, Scalar* c, Index ldc,
                  Index rows, bool accumulate) {
  using V = simd::Batch<Scalar>;
  constexpr Index W = simd::width<Scalar>, MR = tile_rows<Scalar>;
  for (int j = 0; j < Cols; ++j) {  // C is read only at the end: start fetching it now
    prefetch(c + j * ldc);
    prefetch(c + j * ldc + MR - 1);
  }
  V top[Cols], bottom[Cols];  // rows [0, W) and [W, 2W) of the tile's columns
  for (int j = 0; j < Cols; ++j) top[j] = bottom[j] = V(Scalar(0));
  const Scalar* b = b_panel.data;
  Index column_offset[Cols];
  for (int j = 0; j < Cols; ++j) column_offset[j] = j * b_panel.column;
  for (Index p = 0; p < depth; ++p) {
    const V a_top = V::load_unaligned(a), a_bottom = V::load_unaligned(a + W);
    for (int j = 0; j < Cols; ++j) {
      const V b_pj(b[column_offset[j]]);  // broadcast B(p, j)
      top[j] = xsimd::fma(a_top, b_pj, top[j]);
      bottom[j] = xsimd::fma(a_bottom, b_pj, bottom[j]);
    }
    a += MR;
    b += b_panel.step;
  }
  if (rows == MR) {
    for (int j = 0; j < Cols; ++j) {
      Scalar* column = c + j * ldc;
      if (accumulate) {
        top[j] += V::load_unaligned(column);
        bottom[j] += V::load_unaligned(column + W);
      }
      top[j].store_unaligned(column);
      bottom[j].store_unaligned(column + W);
    }
  } else {  // the last rows of C: go through a full tile on the stack
    alignas(64) Scalar tile[MR * Cols];
    for (int j = 0; j < Cols; ++j) {
      top[j].store_unaligned(tile + j * MR);
      bottom[j].store_unaligned(tile + j * MR + W);
      for (Index i = 0; i < rows; ++i)
        c[i + j * ldc] = (accumulate ? c[i + j * ldc] : Scalar(0)) + tile[i + j * MR];
    }
  }
}

// ---- 2. packing --------------------------------------------------------------------------
// op(A)(row0 + i, p0 + p) for i < rows, p < depth into panels of MR rows:
//   panel q (rows q*MR ..), step p, row r  ->  out[q*panel_stride + p*MR + r],  zero for rows >= `rows`.
template <class Scalar>
void pack_lhs(const Operand<Scalar>& a, Index row0, Index rows, Index p0, Index depth, Scalar* out,
              Index panel_stride) {
  constexpr Index MR = tile_rows<Scalar>;
  for (Index q = 0; q * MR < rows; ++q) {
    Scalar* panel = out + q * panel_stride;
    const Index first = row0 + q * MR, height = std::min(MR, rows - q * MR);
    if (!a.transposed) {  // MR contiguous numbers of each column
      for (Index p = 0; p < depth; ++p) {
        const Scalar* column = a.data + first + (p0 + p) * a.stride;
        for (Index r = 0; r < height; ++r) panel[p * MR + r] = column[r];
        for (Index r = height; r < MR; ++r) panel[p * MR + r] = Scalar(0);
      }
    } else {  // op(A) = A^T: row r of the panel is the contiguous column first + r of A
      for (Index r = 0; r < height; ++r) {
        const Scalar* column = a.data + p0 + (first + r) * a.stride;
        for (Index p = 0; p < depth; ++p) panel[p * MR + r] = column[p];
      }
      for (Index r = height; r < MR; ++r) {
        for (Index p = 0; p < depth; ++p) panel[p * MR + r] = Scalar(0);
      }
    }
  }
}

// op(B)(p0 + p, col0 + j) for p < depth, j < cols into panels of NR columns (the last panel
// is narrower, w = cols - q*NR):  panel q, step p, column j  ->  out[q*NR*depth + p*w + j].
template <class Scalar>
void pack_rhs(const Operand<Scalar>& b, Index p0, Index depth, Index col0, Index cols, Scalar* out) {
  for (Index q = 0; q * tile_cols < cols; ++q) {
    Scalar* panel = out + q * tile_cols * depth;
    const Index first = col0 + q * tile_cols, w = std::min(tile_cols, cols - q * tile_cols);
    if (!b.transposed) {  // column j of the panel is a contiguous column of B
      for (Index j = 0; j < w; ++j) {
        const Scalar* column = b.data + p0 + (first + j) * b.stride;
        for (Index p = 0; p < depth; ++p) panel[p * w + j] = column[p];
      }
    } else {  // op(B) = B^T: step p of the panel is w contiguous numbers of column p0 + p of B
      for (Index p = 0; p < depth; ++p) {
        const Scalar* column = b.data + first + (p0 + p) * b.stride;
        for (Index j = 0; j < w; ++j) panel[p * w + j] = column[j];
      }
    }
  }
}

// micro_kernel<Scalar, w> for a run-time tile width w in [1, Cols]: the last columns of C
// (fewer than NR) get a kernel of their own width.
template <class Scalar, int Cols>
void micro_kernel_of_width(Index w, Index depth, const Scalar* a, const RhsPanel<Scalar>& b, Scalar* c,
                           Index ldc, Index rows, bool accumulate) {
  if constexpr (Cols > 1) {
    if (w < Cols) {
      micro_kernel_of_width<Scalar, Cols - 1>(w, depth, a, b, c, ldc, rows, accumulate);
      return;
    }
  }
  micro_kernel<Scalar, Cols>(depth, a, b, c, ldc, rows, accumulate);
}

// ---- 3. the loops around the micro-kernel ------------------------------------------------
// C (rows x cols) = or += packed A block (panels a_panel_stride apart) x B block, where B is
// either packed (pack_rhs, b_stride = 0) or read in place (column j at b + j*b_stride).
template <class Scalar>
void macro_kernel(Index rows, Index cols, Index depth, const Scalar* a, Index a_panel_stride, const Scalar* b,
                  Index b_stride, Scalar* c, Index ldc, bool accumulate) {
  constexpr Index MR = tile_rows<Scalar>;
  for (Index j = 0; j < cols; j += tile_cols) {
    const Index w = std::min(tile_cols, cols - j);
    const RhsPanel<Scalar> b_panel = b_stride == 0 ? RhsPanel<Scalar>{b + j * depth, w, 1}
                                                   : RhsPanel<Scalar>{b + j * b_stride, 1, b_stride};
    for (Index i = 0; i < rows; i += MR) {
      const Index h = std::min(MR, rows - i);
      const Scalar* a_panel = a + (i / MR) * a_panel_stride;
      Scalar* c_tile = c + i + j * ldc;
      micro_kernel_of_width<Scalar, static_cast<int>(tile_cols)>(w, depth, a_panel, b_panel, c_tile, ldc, h,
                                                                 accumulate);
    }
  }
}

inline void check_shapes(Index m, Index k, Index k_b, Index n, Index c_rows, Index c_cols) {
  if (k != k_b || c_rows != m || c_cols != n) {
    throw shape_error(seqlm::detail::make_message("gemm: op(A) is ", m, "x", k, ", op(B) ", k_b, "x", n,
                                                  ", C ", c_rows, "x", c_cols));
  }
}

// The blocked loops (top of the file): C (m x n, column stride ldc) = or += op(A) op(B).
// A is either packed beforehand (`packed_a`: panels of MR rows over the whole depth k) or read
// through `a` and packed block by block into `lhs_buffer`. B is read in place when plain, and
// packed block by block into `rhs_buffer` when transposed. Buffers that are not needed may be
// null; nothing else is written but C.
template <class Scalar>
void run(Index m, Index n, Index k, const Scalar* packed_a, const Operand<Scalar>& a,
         const Operand<Scalar>& b, Scalar* c, Index ldc, Update update, Scalar* lhs_buffer,
         Scalar* rhs_buffer) {
  constexpr Index MR = tile_rows<Scalar>;
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum
    if (update == Update::overwrite) {
      for (Index j = 0; j < n; ++j) std::fill(c + j * ldc, c + j * ldc + m, Scalar(0));
    }
    return;
  }
  for (Index jc = 0; jc < n; jc += column_block) {
    const Index nc = std::min(column_block, n - jc);
    for (Index pc = 0; pc < k; pc += depth_block) {
      const Index kc = std::min(depth_block, k - pc);
      const bool accumulate = update == Update::accumulate || pc > 0;
      // A plain B is read in place (its columns are contiguous); a transposed one is packed.
      const Scalar* b_block = b.data + pc + jc * b.stride;
      Index b_stride = b.stride;
      if (b.transposed) {
        pack_rhs(b, pc, kc, jc, nc, rhs_buffer);
        b_block = rhs_buffer;
        b_stride = 0;
      }
      for (Index ic = 0; ic < m; ic += row_block) {
        const Index mc = std::min(row_block, m - ic);
        const Scalar* a_block;
        Index a_panel_stride;
        if (packed_a != nullptr) {  // panels of the whole depth: skip to step pc of panel ic/MR
          a_panel_stride = MR * k;
          a_block = packed_a + (ic / MR) * a_panel_stride + pc * MR;
        } else {
          a_panel_stride = MR * kc;
          pack_lhs(a, ic, mc, pc, kc, lhs_buffer, a_panel_stride);
          a_block = lhs_buffer;
        }
        macro_kernel(mc, nc, kc, a_block, a_panel_stride, b_block, b_stride, c + ic + jc * ldc, ldc,
                     accumulate);
      }
    }
  }
}

}  // namespace detail

// ---- the matrix-vector product -----------------------------------------------------------
// y (rows) = or += A x, A (rows x depth, column stride lda) read in place: the product of a
// layer's streaming step for one sequence, where packing A would cost as much as the product.
// A is read down its columns, eight at a time, while y (a few KB) stays in the L1 cache:
//   for p in steps of 8:  y = (((y + A(:, p) x_p) + A(:, p+1) x_{p+1}) + ...)
// so y_i is the sum over p in increasing order, started from y_i or 0 (fused multiply-adds in
// the SIMD rows, plain ones in the last rows < W).
namespace detail {

// y += sum over the Columns columns from `a` of A(:, q) x_q, for `rows` rows.
template <class Scalar, int Columns>
void add_columns(Index rows, const Scalar* a, Index lda, const Scalar* x, Scalar* y) {
  using V = simd::Batch<Scalar>;
  constexpr Index W = simd::width<Scalar>;
  V x_batch[Columns];
  for (int q = 0; q < Columns; ++q) x_batch[q] = V(x[q]);
  Index i = 0;
  for (; i + W <= rows; i += W) {
    V sum = V::load_unaligned(y + i);
    for (int q = 0; q < Columns; ++q) sum = xsimd::fma(V::load_unaligned(a + i + q * lda), x_batch[q], sum);
    sum.store_unaligned(y + i);
  }
  for (; i < rows; ++i) {
    Scalar sum = y[i];
    for (int q = 0; q < Columns; ++q) sum += a[i + q * lda] * x[q];
    y[i] = sum;
  }
}

}  // namespace detail

template <class Scalar>
void multiply_vector(Index rows, Index depth, const Scalar* a, Index lda, const Scalar* x, Scalar* y,
                     Update update) {
  if (update == Update::overwrite) std::fill(y, y + rows, Scalar(0));
  Index p = 0;
  for (; p + 8 <= depth; p += 8) detail::add_columns<Scalar, 8>(rows, a + p * lda, lda, x + p, y);
  if (p + 4 <= depth) {
    detail::add_columns<Scalar, 4>(rows, a + p * lda, lda, x + p, y);
    p += 4;
  }
  switch (depth - p) {
    case 3: detail::add_columns<Scalar, 3>(rows, a + p * lda, lda, x + p, y); break;
    case 2: detail::add_columns<Scalar, 2>(rows, a + p * lda, lda, x + p, y); break;
    case 1: detail::add_columns<Scalar, 1>(rows, a + p * lda, lda, x + p, y); break;
    default: break;
  }
}

/// A left operand op(A) (rows x depth) packed once into MR-row panels, for a matrix that
/// multiplies many right-hand sides: a recurrent kernel U at every time step. Repacking the
/// same shape reuses the memory.
template <class Scalar>
class PackedMatrix {
 public:
  /// Packs op(a). The packed copy does not follow later changes of `a`: pack again.
  void pack(ConstMatrixRef<Scalar> a, Op op = Op::none) {
    const bool transposed = op == Op::transpose;
    rows_ = transposed ? a.cols() : a.rows();
    depth_ = transposed ? a.rows() : a.cols();
    const Index needed = detail::round_up(rows_, tile_rows<Scalar>) * depth_;
    if (data_.size() < needed) data_.resize(needed);
    detail::pack_lhs(detail::Operand<Scalar>{a.data(), a.outerStride(), transposed}, 0, rows_, 0, depth_,
                     data_.data(), tile_rows<Scalar> * depth_);
  }

  /// C = or += op(A) B, with op(A) as packed (B: depth() x n, C: rows() x n; shape_error
  /// otherwise). Uses no buffer and changes nothing but C, so several threads may multiply by
  /// the same PackedMatrix at once (into different columns of C).
  void multiply(ConstMatrixRef<Scalar> b, MatrixRef<Scalar> c, Update update) const {
    detail::check_shapes(rows_, depth_, b.rows(), b.cols(), c.rows(), c.cols());
    detail::run(rows_, b.cols(), depth_, data_.data(), detail::Operand<Scalar>{nullptr, 0, false},
                detail::Operand<Scalar>{b.data(), b.outerStride(), false}, c.data(), c.outerStride(), update,
                static_cast<Scalar*>(nullptr), static_cast<Scalar*>(nullptr));
  }

  Index rows() const { return rows_; }
  Index depth() const { return depth_; }

 private:
  Index rows_ = 0, depth_ = 0;
  Vector<Scalar> data_;  // panel q (rows q*MR ..), step p at q*MR*depth + p*MR
};

/// Multiplies any two matrices, packing both into its own buffers, which grow on demand and
/// are then reused: after a first call, calls with the same or smaller shapes allocate nothing.
/// Not to be shared between threads. seqlm's layers reach it through math/products.hpp (one
/// Multiplier per thread, large products split over the GEMM threads); tested against Eigen and
/// compared with Eigen and OpenBLAS in benchmarks/bench_gemm.cpp.
template <class Scalar>
class Multiplier {
 public:
  /// C = or += op(A) op(B). Throws shape_error when the shapes do not match.
  void multiply(ConstMatrixRef<Scalar> a, Op op_a, ConstMatrixRef<Scalar> b, Op op_b, MatrixRef<Scalar> c,
                Update update) {
    const bool a_transposed = op_a == Op::transpose, b_transposed = op_b == Op::transpose;
    const Index m = a_transposed ? a.cols() : a.rows(), k = a_transposed ? a.rows() : a.cols();
    const Index k_b = b_transposed ? b.cols() : b.rows(), n = b_transposed ? b.rows() : b.cols();
    detail::check_shapes(m, k, k_b, n, c.rows(), c.cols());
    const Index kc_max = std::min(k, depth_block), nc_max = std::min(n, column_block);
    reserve(packed_lhs_, detail::round_up(std::min(m, row_block), tile_rows<Scalar>) * kc_max);
    if (b_transposed) reserve(packed_rhs_, kc_max * detail::round_up(nc_max, tile_cols));
    detail::run(m, n, k, static_cast<const Scalar*>(nullptr),
                detail::Operand<Scalar>{a.data(), a.outerStride(), a_transposed},
                detail::Operand<Scalar>{b.data(), b.outerStride(), b_transposed}, c.data(), c.outerStride(),
                update, packed_lhs_.data(), packed_rhs_.data());
  }

 private:
  static void reserve(Vector<Scalar>& buffer, Index size) {
    if (buffer.size() < size) buffer.resize(size);
  }

  Vector<Scalar> packed_lhs_, packed_rhs_;
};

}  // namespace seqlm::gemm
