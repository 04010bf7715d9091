// The register-blocked k loop shared by the GEMM kernels with fp32 accumulation
// (gemm_fp32_kernel.cpp, panel_gemm.cpp): for one tile of C of 8 rows x 32 columns,
//   C[r][j] = fused(A[r][k], B[k][j], C[r][j])   for k = 0, 1, ..., K-1 in this order,
// one IEEE fusedMultiplyAdd (one rounding) per term: gemm.md rule 6 for an fp32 accumulator with
// exact products and rne, whatever the operands are (overflow, underflow, infinities, NaN, signed
// zeros). The multiply-adds are Highway's MulAdd, which is one fused instruction on every target
// compiled here (AVX2, AVX-512, NEON, SVE); a target without one is refused below rather than given
// other bits. The project compiles with -ffp-contract=off, so nothing else is fused.
//
// How the tile is cut into register blocks depends on the target's registers; each element's chain
// is the same whatever the cut, so every target gives the same bits.
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

HWY_BEFORE_NAMESPACE();
namespace bitsim::sim::kernels::HWY_NAMESPACE {

#if HWY_TARGET == HWY_SSSE3 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_EMU128 || HWY_TARGET == HWY_SCALAR
#error "the fp32 GEMM kernels need a fused multiply-add instruction; this SIMD target has none"
#endif

namespace hn = hwy::HWY_NAMESPACE;

inline constexpr int kTileRows = 8;
inline constexpr int kTileCols = 32;

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
inline constexpr std::size_t kLanes = 16;
#elif HWY_TARGET == HWY_AVX2
inline constexpr std::size_t kLanes = 8;
#else
inline constexpr std::size_t kLanes = 4;  // 128-bit vectors (NEON; SVE used at 128 bits)
#endif
using D = hn::FixedTag<float, kLanes>;

// A's rows a .. a + (rows-1)*lda as the k-major block the tile loops read (ap[k * kTileRows + r]);
// rows past `rows` are zero (their results are computed and dropped).
HWY_INLINE void pack_a_block(const float* a, std::int64_t lda, int rows, std::int64_t K, float* ap) {
  for (std::int64_t k = 0; k < K; ++k)
    for (int r = 0; r < kTileRows; ++r) ap[k * kTileRows + r] = r < rows ? a[r * lda + k] : 0.0f;
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

// The whole 8 x 32 tile (or, with `half`, its left 16 columns: a narrow C, e.g. 16 output channels,
// does not pay for 32) at c, row stride ldc; every row and column of it must be addressable.
template <class BRow, class AValue>
HWY_INLINE void fma_tile(float* c, std::int64_t ldc, bool accumulate, std::int64_t K, bool half, BRow b, AValue a) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  // 32 registers of 16 floats: the tile is 16 accumulators.
  if (half) fma_block<8, 1>(c, ldc, accumulate, K, 0, 0, b, a);
  else fma_block<8, 2>(c, ldc, accumulate, K, 0, 0, b, a);
#elif HWY_TARGET == HWY_AVX2
  // 16 registers of 8 floats: the tile (32 of them) would spill on every step, so it runs as rows
  // 0-5 x 16 columns (12 accumulators: enough independent chains to hide the FMA latency), once or
  // twice, then rows 6-7.
  fma_block<6, 2>(c, ldc, accumulate, K, 0, 0, b, a);
  if (half) {
    fma_block<2, 2>(c, ldc, accumulate, K, 6, 0, b, a);
    return;
  }
  fma_block<6, 2>(c, ldc, accumulate, K, 0, 16, b, a);
  fma_block<2, 4>(c, ldc, accumulate, K, 6, 0, b, a);
#else
  // 128-bit vectors: blocks of 8 rows x 8 columns (16 accumulators).
  const int cols = half ? 16 : kTileCols;
  for (int col0 = 0; col0 < cols; col0 += 8) fma_block<8, 2>(c, ldc, accumulate, K, 0, col0, b, a);
#endif
}

// fma_tile on a tile of C that may be cut by C's edge (rows <= 8 and cols <= 32 of it exist): a
// cut tile runs on a local copy, whose other entries start at +0 and are dropped.
template <class BRow, class AValue>
HWY_INLINE void fma_tile_clipped(float* c, std::int64_t ldc, int rows, int cols, bool accumulate, std::int64_t K,
                                 BRow b, AValue a) {
  const bool half = cols <= 16;
  if (rows == kTileRows && cols == (half ? 16 : kTileCols)) {
    fma_tile(c, ldc, accumulate, K, half, b, a);
    return;
  }
  alignas(64) float tile[kTileRows][kTileCols] = {};
  if (accumulate)
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) tile[r][j] = c[r * ldc + j];
  fma_tile(&tile[0][0], kTileCols, accumulate, K, half, b, a);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) c[r * ldc + j] = tile[r][j];
}

}  // namespace bitsim::sim::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
