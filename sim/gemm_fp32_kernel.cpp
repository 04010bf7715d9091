#include "sim/gemm_fp32_kernel.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <immintrin.h>

namespace bitsim::sim {

namespace {

using V16 = float __attribute__((vector_size(64)));
constexpr int kRows = 8;   // register block: 8 rows x 32 columns = 16 vector accumulators
constexpr int kCols = 32;

inline V16 load(const float* p) {
  V16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, V16 v) { std::memcpy(p, &v, sizeof v); }

// s + a*b with one rounding (IEEE fusedMultiplyAdd), lane by lane. This is gemm.md rule 6 for an fp32
// accumulator with exact products and rne: round_fp32(s + exact(a*b)), whatever a and b are, including
// overflow, underflow, infinities, NaN and the sign of zero. Written with explicit FMA instructions
// (never left to compiler contraction, which the project disables with -ffp-contract=off).
inline V16 fused(V16 a, V16 b, V16 s) {
#if defined(__AVX512F__)
  return reinterpret_cast<V16>(_mm512_fmadd_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b), reinterpret_cast<__m512>(s)));
#elif defined(__FMA__)
  __m256 lo_a, hi_a, lo_b, hi_b, lo_s, hi_s;
  std::memcpy(&lo_a, &a, 32);
  std::memcpy(&hi_a, reinterpret_cast<const char*>(&a) + 32, 32);
  std::memcpy(&lo_b, &b, 32);
  std::memcpy(&hi_b, reinterpret_cast<const char*>(&b) + 32, 32);
  std::memcpy(&lo_s, &s, 32);
  std::memcpy(&hi_s, reinterpret_cast<const char*>(&s) + 32, 32);
  const __m256 lo = _mm256_fmadd_ps(lo_a, lo_b, lo_s), hi = _mm256_fmadd_ps(hi_a, hi_b, hi_s);
  V16 r;
  std::memcpy(&r, &lo, 32);
  std::memcpy(reinterpret_cast<char*>(&r) + 32, &hi, 32);
  return r;
#else
  V16 r;
  for (int i = 0; i < 16; ++i) r[i] = std::fma(a[i], b[i], s[i]);
  return r;
#endif
}

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
