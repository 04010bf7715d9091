// The register-blocked k loop shared by the GEMM kernels with fp32 accumulation
// (gemm_fp32_kernel.cpp, panel_gemm.cpp), and the cache-blocked loops around it: for one tile of C of
// kTileRows rows (6 on AVX2, 8 elsewhere) x 32 columns,
//   C[r][j] = fused(A[r][k], B[k][j], C[r][j])   for k = 0, 1, ..., K-1 in this order,
// one IEEE fusedMultiplyAdd (one rounding) per term: gemm.md rule 6 for an fp32 accumulator with
// exact products and rne, whatever the operands are (overflow, underflow, infinities, NaN, signed
// zeros). The multiply-adds are Highway's MulAdd, which is one fused instruction on every target
// compiled here (AVX2, AVX-512, NEON, SVE); a target without one is refused below rather than given
// other bits. The project compiles with -ffp-contract=off, so nothing else is fused.
//
// How the tile is cut into register blocks, and K into chunks, depends on the target's registers and
// caches; each element's chain is the same whatever the cut, so every target gives the same bits.
//
// A Highway per-target header: included once per target, inside that target's attributes.
#if defined(BITSIM_SIM_KERNELS_FMA_TILE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef BITSIM_SIM_KERNELS_FMA_TILE_INL_H_
#undef BITSIM_SIM_KERNELS_FMA_TILE_INL_H_
#else
#define BITSIM_SIM_KERNELS_FMA_TILE_INL_H_
#endif

#include <hwy/highway.h>

#include <cstdint>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace bitsim::sim::kernels::HWY_NAMESPACE {

#if HWY_TARGET == HWY_SSSE3 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_EMU128 || HWY_TARGET == HWY_SCALAR
#error "the fp32 GEMM kernels need a fused multiply-add instruction; this SIMD target has none"
#endif

namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET == HWY_AVX2
inline constexpr int kTileRows = 6;
#else
inline constexpr int kTileRows = 8;
#endif
inline constexpr int kTileCols = 32;
// k per chunk: a chunk of one 32-column panel of B is 16 KiB, which stays in the L1 cache while the
// row tiles take turns on it.
inline constexpr std::int64_t kChunkK = 128;
// Rows of A per packed block: 16 tiles, kChunkK deep (48-64 KiB, in the L2 cache).
inline constexpr std::int64_t kBlockRows = 16 * kTileRows;

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
inline constexpr std::size_t kLanes = 16;
#elif HWY_TARGET == HWY_AVX2
inline constexpr std::size_t kLanes = 8;
#else
inline constexpr std::size_t kLanes = 4;  // 128-bit vectors (NEON; SVE used at 128 bits)
#endif
using D = hn::FixedTag<float, kLanes>;

// A's rows a .. a + (rows-1)*lda as the k-major block the tile loops read (ap[k * kTileRows + r]);
// the entries of rows past `rows` are left as they are: the tile loops compute only `rows` rows.
HWY_INLINE void pack_a_block(const float* a, std::int64_t lda, int rows, std::int64_t K, float* ap) {
  for (std::int64_t k = 0; k < K; ++k)
    for (int r = 0; r < rows; ++r) ap[k * kTileRows + r] = a[r * lda + k];
}

// The calling thread's buffer for PackedA (kBlockRows * kChunkK floats), one per thread and target.
HWY_INLINE float* packing_buffer() {
  thread_local std::vector<float> buffer(static_cast<std::size_t>(kBlockRows * kChunkK));
  return buffer.data();
}

// Rows r0 .. r0+R-1, columns col0 .. col0 + V*kLanes - 1 of the tile at c (row stride ldc), held in
// R x V registers through the whole k loop. b(k) points at B's row k (the tile's 32 columns), a(k, r)
// is A's value at row r. Starts from C's values (accumulate) or from +0.
template <int R, int V, class BRow, class AValue>
HWY_INLINE void fma_block(float* c, std::int64_t ldc, bool accumulate, std::int64_t K, int r0, int col0, BRow b,
                          AValue a) {
  const D d;
  hn::Vec<D> acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v)
      acc[r][v] = accumulate ? hn::LoadU(d, c + (r0 + r) * ldc + col0 + v * static_cast<int>(kLanes)) : hn::Zero(d);
  for (std::int64_t k = 0; k < K; ++k) {
    const float* bk = b(k) + col0;
    hn::Vec<D> bv[V];
    for (int v = 0; v < V; ++v) bv[v] = hn::LoadU(d, bk + v * static_cast<int>(kLanes));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const hn::Vec<D> av = hn::Set(d, a(k, r0 + r));
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) hn::StoreU(acc[r][v], d, c + (r0 + r) * ldc + col0 + v * static_cast<int>(kLanes));
}

// Rows 0 .. R-1 of the tile at c (row stride ldc), all of its 32 columns or, with `half`, its left 16
// (a narrow C, e.g. 16 output channels, does not pay for 32), over k = 0 .. K-1. How the rows and
// columns are cut into register blocks depends on the target's registers.
template <int R, class BRow, class AValue>
HWY_INLINE void fma_rows(float* c, std::int64_t ldc, bool accumulate, std::int64_t K, bool half, BRow b, AValue a) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  // 32 registers of 16 floats: 8 rows x 32 columns are 16 accumulators.
  if (half) fma_block<R, 1>(c, ldc, accumulate, K, 0, 0, b, a);
  else fma_block<R, 2>(c, ldc, accumulate, K, 0, 0, b, a);
#elif HWY_TARGET == HWY_AVX2
  // 16 registers of 8 floats: 6 rows x 16 columns (12 accumulators, enough independent chains to
  // hide the FMA latency, plus 2 for B and one for A) once or twice; 3 rows or fewer take all 32
  // columns at once, so that a short edge still has enough chains.
  if (R <= 3 && !half) {
    fma_block<R, 4>(c, ldc, accumulate, K, 0, 0, b, a);
    return;
  }
  fma_block<R, 2>(c, ldc, accumulate, K, 0, 0, b, a);
  if (!half) fma_block<R, 2>(c, ldc, accumulate, K, 0, 16, b, a);
#else
  // 128-bit vectors: blocks of R rows x 8 columns.
  const int cols = half ? 16 : kTileCols;
  for (int col0 = 0; col0 < cols; col0 += 8) fma_block<R, 2>(c, ldc, accumulate, K, 0, col0, b, a);
#endif
}

// The tile's first `rows` rows (1 .. kTileRows) at c, all 32 columns or the left 16 (`half`), over
// k = 0 .. K-1 (one chunk of blocked_product's); every element of them must be addressable.
template <class BRow, class AValue>
HWY_INLINE void fma_tile(float* c, std::int64_t ldc, int rows, bool accumulate, std::int64_t K, bool half, BRow b,
                         AValue a) {
  switch (rows) {
    case 1: fma_rows<1>(c, ldc, accumulate, K, half, b, a); break;
    case 2: fma_rows<2>(c, ldc, accumulate, K, half, b, a); break;
    case 3: fma_rows<3>(c, ldc, accumulate, K, half, b, a); break;
    case 4: fma_rows<4>(c, ldc, accumulate, K, half, b, a); break;
    case 5: fma_rows<5>(c, ldc, accumulate, K, half, b, a); break;
    case 6: fma_rows<6>(c, ldc, accumulate, K, half, b, a); break;
#if HWY_TARGET != HWY_AVX2
    case 7: fma_rows<7>(c, ldc, accumulate, K, half, b, a); break;
    case 8: fma_rows<8>(c, ldc, accumulate, K, half, b, a); break;
#endif
    default: break;
  }
}

// fma_tile on a tile of C that may be cut by C's edge (rows <= kTileRows and cols <= 32 of it exist).
// Missing rows are simply not computed; a tile cut on the right runs on a local copy, whose other
// columns start at +0 and are dropped.
template <class BRow, class AValue>
HWY_INLINE void fma_tile_clipped(float* c, std::int64_t ldc, int rows, int cols, bool accumulate, std::int64_t K,
                                 BRow b, AValue a) {
  const bool half = cols <= 16;
  if (cols == (half ? 16 : kTileCols)) {
    fma_tile(c, ldc, rows, accumulate, K, half, b, a);
    return;
  }
  alignas(64) float tile[kTileRows][kTileCols] = {};
  if (accumulate)
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) tile[r][j] = c[r * ldc + j];
  fma_tile(&tile[0][0], kTileCols, rows, accumulate, K, half, b, a);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) c[r * ldc + j] = tile[r][j];
}

// A operand of blocked_product given as a row-major matrix (row stride lda): each block of rows is
// packed, chunk by chunk, into the k-major tiles the register loops read.
struct PackedA {
  const float* a;
  std::int64_t lda;
  float* buffer;  // kBlockRows * kChunkK floats, e.g. packing_buffer()
  void prepare(std::int64_t i0, std::int64_t rows, std::int64_t k0, std::int64_t k_count) {
    for (std::int64_t t = 0; t * kTileRows < rows; ++t) {
      const int r = static_cast<int>(rows - t * kTileRows < kTileRows ? rows - t * kTileRows : kTileRows);
      pack_a_block(a + (i0 + t * kTileRows) * lda + k0, lda, r, k_count, buffer + t * kChunkK * kTileRows);
    }
  }
  auto tile(std::int64_t t) const {
    const float* p = buffer + t * kChunkK * kTileRows;
    return [p](std::int64_t k, int r) { return p[k * kTileRows + r]; };
  }
};

// A operand of blocked_product given as a row-major matrix (row stride lda), read in place: for a
// product with one or two column panels, each value of A is used by only one or two tiles, and
// packing it would cost about as much as its multiply-adds.
struct InPlaceA {
  const float* a;
  std::int64_t lda;
  std::int64_t i0 = 0, k0 = 0;
  void prepare(std::int64_t block_i0, std::int64_t, std::int64_t chunk_k0, std::int64_t) {
    i0 = block_i0;
    k0 = chunk_k0;
  }
  auto tile(std::int64_t t) const {
    const float* p = a + (i0 + t * kTileRows) * lda + k0;
    const std::int64_t stride = lda;
    return [p, stride](std::int64_t k, int r) { return p[r * stride + k]; };
  }
};

// A operand of blocked_product given by row pointers (A[i][k] = rows[i][k]), read in place: one
// sequential stream per row of a tile, which the hardware prefetches; for a product with few column panels
// packing would cost as much as the multiply-adds.
struct RowPointerA {
  const float* const* rows;
  std::int64_t i0 = 0, k0 = 0;
  void prepare(std::int64_t block_i0, std::int64_t, std::int64_t chunk_k0, std::int64_t) {
    i0 = block_i0;
    k0 = chunk_k0;
  }
  auto tile(std::int64_t t) const {
    const float* const* r0 = rows + i0 + t * kTileRows;
    const std::int64_t k_start = k0;
    return [r0, k_start](std::int64_t k, int r) { return r0[r][k_start + k]; };
  }
};

// C (rows 0 .. M-1, the columns of panels q_begin .. q_end-1; panel q is columns 32q .. 32q+31, cut at
// N) = A x B, or += with `accumulate`, blocked for the caches the way BLIS and OpenBLAS are: K in
// chunks of kChunkK; within a chunk, rows in packed blocks of kBlockRows (L2); within a block, for
// each column panel, whose chunk stays in L1, every row tile. Between chunks each tile of C goes to
// memory and comes back: an fp32 store and load, exact, so every element is still the one chain of
// fused multiply-adds in k order described at the top, whatever the blocking.
// `a` is a PackedA, InPlaceA or RowPointerA; b_panel(q) returns the BRow (k -> pointer to B's row k, the panel's
// 32 columns) of panel q.
template <class AOperand, class BPanel>
HWY_INLINE void blocked_product(std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t q_begin,
                                std::int64_t q_end, float* c, std::int64_t ldc, bool accumulate, AOperand& a,
                                BPanel b_panel) {
  for (std::int64_t k0 = 0; k0 < K || k0 == 0; k0 += kChunkK) {
    const std::int64_t kn = K - k0 < kChunkK ? K - k0 : kChunkK;
    const bool acc = accumulate || k0 > 0;
    for (std::int64_t i0 = 0; i0 < M; i0 += kBlockRows) {
      const std::int64_t block_rows = M - i0 < kBlockRows ? M - i0 : kBlockRows;
      a.prepare(i0, block_rows, k0, kn);
      for (std::int64_t q = q_begin; q < q_end; ++q) {
        const auto bq = b_panel(q);
        auto b = [&](std::int64_t k) { return bq(k0 + k); };
        const int cols = static_cast<int>(N - q * kTileCols < kTileCols ? N - q * kTileCols : kTileCols);
        for (std::int64_t t = 0; t * kTileRows < block_rows; ++t) {
          const int rows = static_cast<int>(block_rows - t * kTileRows < kTileRows ? block_rows - t * kTileRows : kTileRows);
          fma_tile_clipped(c + (i0 + t * kTileRows) * ldc + q * kTileCols, ldc, rows, cols, acc, kn, b, a.tile(t));
        }
      }
    }
  }
}

}  // namespace bitsim::sim::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
