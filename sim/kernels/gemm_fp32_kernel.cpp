#include "sim/kernels/gemm_fp32_kernel.hpp"

#include "sim/kernels/fma_lanes.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace bitsim::sim {

namespace {

using detail::V16;
constexpr int kRows = 8;   // register block: 8 rows x 32 columns = 16 vector accumulators
constexpr int kCols = 32;

inline V16 load(const float* p) { return detail::load16(p); }
inline void store(float* p, V16 v) { detail::store16(p, v); }
inline V16 fused(V16 a, V16 b, V16 s) { return detail::fused16(a, b, s); }

#if !defined(__AVX512F__) && defined(__FMA__)
// Without AVX-512 (16 registers of 8 floats) the 8 x 32 block runs as register blocks of 4 rows x 16
// columns, one after the other; every lane's chain is unchanged (k in increasing order, one fused
// rounding per term), so the bits equal the AVX-512 path's.
void block(const float* ap, const float* bp, float* c, std::int64_t K, std::int64_t N, int rows) {
  for (int h = 0; h < 2; ++h)
    for (int r0 = 0; r0 < kRows; r0 += 4) {
      __m256 acc[4][2];
      for (int r = 0; r < 4; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
      for (std::int64_t k = 0; k < K; ++k) {
        const float* bk = bp + k * kCols + 16 * h;
        const __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
        const float* a = ap + k * kRows + r0;
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {
          const __m256 av = _mm256_set1_ps(a[r]);
          acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
      }
      for (int r = 0; r < 4 && r0 + r < rows; ++r) {
        _mm256_storeu_ps(c + (r0 + r) * N + 16 * h, acc[r][0]);
        _mm256_storeu_ps(c + (r0 + r) * N + 16 * h + 8, acc[r][1]);
      }
    }
}
#else
// Each accumulator lane adds its k terms in increasing k, one fused rounding per term.
void block(const float* ap, const float* bp, float* c, std::int64_t K, std::int64_t N, int rows) {
  V16 acc[kRows][2];
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = V16{};
  for (std::int64_t k = 0; k < K; ++k) {
    const V16 b0 = load(bp + k * kCols), b1 = load(bp + k * kCols + 16);
    const float* a = ap + k * kRows;
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const V16 av = V16{} + a[r];
      acc[r][0] = fused(av, b0, acc[r][0]);
      acc[r][1] = fused(av, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < rows; ++r) {
    store(c + r * N, acc[r][0]);
    store(c + r * N + 16, acc[r][1]);
  }
}

#endif

void tail_columns(const float* a, const float* b, float* c, std::int64_t K, std::int64_t N, int rows, std::int64_t j0) {
  for (int r = 0; r < rows; ++r)
    for (std::int64_t j = j0; j < N; ++j) {
      float s = 0.0f;
      for (std::int64_t k = 0; k < K; ++k) s = std::fma(a[r * K + k], b[k * N + j], s);
      c[r * N + j] = s;
    }
}

}  // namespace

PackedPanelsB pack_b_panels(const float* b, std::int64_t K, std::int64_t N) {
  PackedPanelsB p;
  p.K = K;
  p.N = N;
  p.panels = N / kCols;
  p.data.resize(static_cast<std::size_t>(p.panels * K * kCols));
  for (std::int64_t q = 0; q < p.panels; ++q)
    for (std::int64_t k = 0; k < K; ++k)
      std::memcpy(&p.data[static_cast<std::size_t>((q * K + k) * kCols)], b + k * N + q * kCols, kCols * sizeof(float));
  return p;
}

void gemm_fp32_sequential_rows(const float* a, const float* b, const PackedPanelsB& packed, float* c,
                               std::int64_t row_begin, std::int64_t row_end, std::int64_t K, std::int64_t N) {
  std::vector<float> ap(static_cast<std::size_t>(K * kRows));
  for (std::int64_t i = row_begin; i < row_end; i += kRows) {
    const int rows = static_cast<int>(std::min<std::int64_t>(kRows, row_end - i));
    // A block k-major, rows beyond the matrix zero (their results are computed and dropped).
    for (std::int64_t k = 0; k < K; ++k)
      for (int r = 0; r < kRows; ++r) ap[static_cast<std::size_t>(k * kRows + r)] = r < rows ? a[(i + r) * K + k] : 0.0f;
    for (std::int64_t q = 0; q < packed.panels; ++q)
      block(ap.data(), &packed.data[static_cast<std::size_t>(q * K * kCols)], c + i * N + q * kCols, K, N, rows);
    if (packed.panels * kCols < N) tail_columns(a + i * K, b, c + i * N, K, N, rows, packed.panels * kCols);
  }
}

}  // namespace bitsim::sim
