#include "sim/kernels/panel_gemm.hpp"

#include "sim/kernels/fma_lanes.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace bitsim::sim::nn {

namespace {

using detail::V16;
constexpr int kRows = 8;  // register block: 8 rows x 32 columns = 16 vector accumulators

inline V16 load(const float* p) { return detail::load16(p); }
inline void store(float* p, V16 v) { detail::store16(p, v); }
inline V16 fused(V16 a, V16 b, V16 s) { return detail::fused16(a, b, s); }

// The C tile of a block: rows < `rows` and columns < `cols` (<= 32) are read (when accumulating) and
// written; the rest of the accumulators start at +0 and are dropped.
inline void load_tile(V16 (&acc)[kRows][2], const float* c, std::int64_t ldc, int rows, int cols, bool accumulate) {
  for (int r = 0; r < kRows; ++r) {
    acc[r][0] = acc[r][1] = V16{};
    if (accumulate && r < rows) {
      float tmp[32] = {};
      std::memcpy(tmp, c + r * ldc, static_cast<std::size_t>(cols) * sizeof(float));
      acc[r][0] = load(tmp);
      acc[r][1] = load(tmp + 16);
    }
  }
}
inline void store_tile(const V16 (&acc)[kRows][2], float* c, std::int64_t ldc, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    float tmp[32];
    store(tmp, acc[r][0]);
    store(tmp + 16, acc[r][1]);
    std::memcpy(c + r * ldc, tmp, static_cast<std::size_t>(cols) * sizeof(float));
  }
}

// The k loop of one 8 x 32 tile: acc[r][h] = fused(A[r][k], B[k][16h .. 16h+15], acc[r][h]) for
// k = 0..K-1 in order. b(k) points at B's 32 columns of row k; a(k, r) is A's value. With `half`
// (the tile's used columns fit 16), only the left half is computed, so a narrow C (e.g. 16 output
// channels) does not pay for 32 columns; the chains of the used columns are the same.
#if !defined(__AVX512F__) && defined(__FMA__)
// Without AVX-512 there are 16 vector registers of 8 floats: the 8 x 32 tile (32 of them) would spill
// on every step. So the tile is computed in register blocks, one after the other: rows 0-5 x 16
// columns (12 accumulators: enough independent chains to hide the FMA latency), twice, then rows 6-7
// x 32 columns. Each element's chain is the same k-ordered sequence of fused steps, so the results
// are the same bits as the AVX-512 path.
template <int R, int V, class BRow, class AValue>
inline void chains_avx2(V16 (&acc)[kRows][2], std::int64_t K, int r0, int col0, BRow b, AValue a) {
  __m256 c[R][V];
  for (int r = 0; r < R; ++r) {
    float tmp[32];
    store(tmp, acc[r0 + r][0]);
    store(tmp + 16, acc[r0 + r][1]);
    for (int v = 0; v < V; ++v) c[r][v] = _mm256_loadu_ps(tmp + col0 + 8 * v);
  }
  for (std::int64_t k = 0; k < K; ++k) {
    const float* bk = b(k) + col0;
    __m256 bv[V];
    for (int v = 0; v < V; ++v) bv[v] = _mm256_loadu_ps(bk + 8 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_set1_ps(a(k, r0 + r));
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) c[r][v] = _mm256_fmadd_ps(av, bv[v], c[r][v]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float tmp[32];
    store(tmp, acc[r0 + r][0]);
    store(tmp + 16, acc[r0 + r][1]);
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(tmp + col0 + 8 * v, c[r][v]);
    acc[r0 + r][0] = load(tmp);
    acc[r0 + r][1] = load(tmp + 16);
  }
}

template <class BRow, class AValue>
inline void run_chains(V16 (&acc)[kRows][2], std::int64_t K, bool half, BRow b, AValue a) {
  if (half) {  // 16 columns: rows 0-5, then rows 6-7
    chains_avx2<6, 2>(acc, K, 0, 0, b, a);
    chains_avx2<2, 2>(acc, K, 6, 0, b, a);
    return;
  }
  chains_avx2<6, 2>(acc, K, 0, 0, b, a);
  chains_avx2<6, 2>(acc, K, 0, 16, b, a);
  chains_avx2<2, 4>(acc, K, 6, 0, b, a);
}
#else
template <class BRow, class AValue>
inline void run_chains(V16 (&acc)[kRows][2], std::int64_t K, bool half, BRow b, AValue a) {
  if (half) {
    for (std::int64_t k = 0; k < K; ++k) {
      const V16 b0 = load(b(k));
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) acc[r][0] = fused(V16{} + a(k, r), b0, acc[r][0]);
    }
    return;
  }
  for (std::int64_t k = 0; k < K; ++k) {
    const float* bk = b(k);
    const V16 b0 = load(bk), b1 = load(bk + 16);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const V16 av = V16{} + a(k, r);
      acc[r][0] = fused(av, b0, acc[r][0]);
      acc[r][1] = fused(av, b1, acc[r][1]);
    }
  }
}

#endif

// One 8 x 32 tile of C from packed A (k-major, 8 rows) and one panel of B.
void block(const float* ap, const float* bp, float* c, std::int64_t ldc, std::int64_t K, int rows, int cols,
           bool accumulate) {
  V16 acc[kRows][2];
  load_tile(acc, c, ldc, rows, cols, accumulate);
  run_chains(
      acc, K, cols <= 16, [&](std::int64_t k) { return bp + k * kPanelWidth; },
      [&](std::int64_t k, int r) { return ap[k * kRows + r]; });
  store_tile(acc, c, ldc, rows, cols);
}

}  // namespace

void gemm_panels_arows(const float* const* a_rows, std::int64_t M, const Panels& b, float* c, std::int64_t ldc,
                       bool accumulate) {
  const std::int64_t K = b.K;
  if (M <= 0 || K == 0) return;
  // A is read in place through its row pointers (eight sequential streams per block, which the
  // hardware prefetches), rather than packed: here A is the large operand and packing it would cost
  // as much as the products.
  thread_local std::vector<float> zeros;
  if (static_cast<std::int64_t>(zeros.size()) < K) zeros.assign(static_cast<std::size_t>(K), 0.0f);
  for (std::int64_t i = 0; i < M; i += kRows) {
    const int rows = static_cast<int>(std::min<std::int64_t>(kRows, M - i));
    const float* ar[kRows];
    for (int r = 0; r < kRows; ++r) ar[r] = r < rows ? a_rows[i + r] : zeros.data();
    for (std::int64_t q = 0; q < b.count; ++q) {
      const int cols = static_cast<int>(std::min<std::int64_t>(kPanelWidth, b.N - q * kPanelWidth));
      const float* bp = b.panel(q);
      float* cb = c + i * ldc + q * kPanelWidth;
      V16 acc[kRows][2];
      load_tile(acc, cb, ldc, rows, cols, accumulate);
      run_chains(
          acc, K, cols <= 16, [&](std::int64_t k) { return bp + k * kPanelWidth; },
          [&](std::int64_t k, int r) { return ar[r][k]; });
      store_tile(acc, cb, ldc, rows, cols);
    }
  }
}

void gemm_rows(const float* a, std::int64_t lda, std::int64_t M, const float* const* brows, std::int64_t K,
               std::int64_t N, float* c, std::int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  thread_local std::vector<float> ap;
  ap.resize(static_cast<std::size_t>(std::max<std::int64_t>(K, 1) * kRows));
  for (std::int64_t i = 0; i < M; i += kRows) {
    const int rows = static_cast<int>(std::min<std::int64_t>(kRows, M - i));
    for (std::int64_t k = 0; k < K; ++k)
      for (int r = 0; r < kRows; ++r) ap[static_cast<std::size_t>(k * kRows + r)] = r < rows ? a[(i + r) * lda + k] : 0.0f;
    for (std::int64_t j = 0; j < N; j += kPanelWidth) {
      const int cols = static_cast<int>(std::min<std::int64_t>(kPanelWidth, N - j));
      V16 acc[kRows][2];
      load_tile(acc, nullptr, ldc, rows, cols, false);
      const float* a = ap.data();
      run_chains(
          acc, K, cols <= 16, [&](std::int64_t k) { return brows[k] + j; },
          [&](std::int64_t k, int r) { return a[k * kRows + r]; });
      store_tile(acc, c + i * ldc + j, ldc, rows, cols);
    }
  }
}

void Panels::clear_padding() {
  if (count == 0 || N % kPanelWidth == 0) return;
  float* p = panel(count - 1);
  const std::int64_t used = N - (count - 1) * kPanelWidth;
  for (std::int64_t k = 0; k < K; ++k)
    std::fill(p + k * kPanelWidth + used, p + (k + 1) * kPanelWidth, 0.0f);
}

void pack_panels(const float* b, std::int64_t ldb, std::int64_t K, std::int64_t N, Panels& out) {
  out.resize(K, N);
  for (std::int64_t q = 0; q < out.count; ++q) {
    const std::int64_t j0 = q * kPanelWidth, cols = std::min<std::int64_t>(kPanelWidth, N - j0);
    float* p = out.panel(q);
    for (std::int64_t k = 0; k < K; ++k) {
      std::memcpy(p + k * kPanelWidth, b + k * ldb + j0, static_cast<std::size_t>(cols) * sizeof(float));
      std::fill(p + k * kPanelWidth + cols, p + (k + 1) * kPanelWidth, 0.0f);
    }
  }
}

void pack_panels_transposed(const float* t, std::int64_t ldt, std::int64_t K, std::int64_t N, Panels& out) {
  out.resize(K, N);
  for (std::int64_t q = 0; q < out.count; ++q) {
    const std::int64_t j0 = q * kPanelWidth, cols = std::min<std::int64_t>(kPanelWidth, N - j0);
    float* p = out.panel(q);
    for (std::int64_t k = 0; k < K; ++k) {
      for (std::int64_t j = 0; j < cols; ++j) p[k * kPanelWidth + j] = t[(j0 + j) * ldt + k];
      std::fill(p + k * kPanelWidth + cols, p + (k + 1) * kPanelWidth, 0.0f);
    }
  }
}

void gemm_panels(const float* a, std::int64_t lda, std::int64_t M, const Panels& b, float* c, std::int64_t ldc,
                 bool accumulate, std::int64_t panel_begin, std::int64_t panel_end) {
  if (panel_end < 0) panel_end = b.count;
  const std::int64_t K = b.K;
  if (M <= 0 || panel_begin >= panel_end) return;
  if (K == 0) {
    if (!accumulate)
      for (std::int64_t i = 0; i < M; ++i)
        std::fill(c + i * ldc + panel_begin * kPanelWidth, c + i * ldc + std::min(b.N, panel_end * kPanelWidth), 0.0f);
    return;
  }
  thread_local std::vector<float> ap;
  ap.resize(static_cast<std::size_t>(K * kRows));
  for (std::int64_t i = 0; i < M; i += kRows) {
    const int rows = static_cast<int>(std::min<std::int64_t>(kRows, M - i));
    // A block k-major; rows beyond M are zero (computed and dropped).
    for (std::int64_t k = 0; k < K; ++k)
      for (int r = 0; r < kRows; ++r) ap[static_cast<std::size_t>(k * kRows + r)] = r < rows ? a[(i + r) * lda + k] : 0.0f;
    for (std::int64_t q = panel_begin; q < panel_end; ++q) {
      const int cols = static_cast<int>(std::min<std::int64_t>(kPanelWidth, b.N - q * kPanelWidth));
      block(ap.data(), b.panel(q), c + i * ldc + q * kPanelWidth, ldc, K, rows, cols, accumulate);
    }
  }
}

}  // namespace bitsim::sim::nn
