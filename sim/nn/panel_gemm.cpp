#include "sim/nn/panel_gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <immintrin.h>

namespace bitsim::sim::nn {

namespace {

using V16 = float __attribute__((vector_size(64)));
constexpr int kRows = 8;  // register block: 8 rows x 32 columns = 16 vector accumulators

inline V16 load(const float* p) {
  V16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, V16 v) { std::memcpy(p, &v, sizeof v); }

// s + a*b with one rounding, lane by lane: written as an explicit FMA (the project compiles with
// -ffp-contract=off, so no multiply-add is ever fused implicitly).
inline V16 fused(V16 a, V16 b, V16 s) {
#if defined(__AVX512F__)
  return reinterpret_cast<V16>(
      _mm512_fmadd_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b), reinterpret_cast<__m512>(s)));
#elif defined(__FMA__)
  __m256 a2[2], b2[2], s2[2];
  std::memcpy(a2, &a, 64);
  std::memcpy(b2, &b, 64);
  std::memcpy(s2, &s, 64);
  const __m256 r2[2] = {_mm256_fmadd_ps(a2[0], b2[0], s2[0]), _mm256_fmadd_ps(a2[1], b2[1], s2[1])};
  V16 r;
  std::memcpy(&r, r2, 64);
  return r;
#else
  V16 r;
  for (int i = 0; i < 16; ++i) r[i] = std::fma(a[i], b[i], s[i]);
  return r;
#endif
}

// One 8 x 16 block: the left half of a panel whose used columns (`cols` <= 16) fit one vector, so that
// a narrow C (e.g. 16 output channels) does not pay for 32 columns. Same chains as block().
void half_block(const float* ap, const float* bp, float* c, std::int64_t ldc, std::int64_t K, int rows, int cols,
                bool accumulate) {
  V16 acc[kRows];
  for (int r = 0; r < kRows; ++r) {
    acc[r] = V16{};
    if (accumulate && r < rows) {
      float tmp[16] = {};
      std::memcpy(tmp, c + r * ldc, static_cast<std::size_t>(cols) * sizeof(float));
      acc[r] = load(tmp);
    }
  }
  for (std::int64_t k = 0; k < K; ++k) {
    const V16 b0 = load(bp + k * kPanelWidth);
    const float* a = ap + k * kRows;
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) acc[r] = fused(V16{} + a[r], b0, acc[r]);
  }
  for (int r = 0; r < rows; ++r) {
    float tmp[16];
    store(tmp, acc[r]);
    std::memcpy(c + r * ldc, tmp, static_cast<std::size_t>(cols) * sizeof(float));
  }
}

// One 8 x 32 block of C: rows `rows` (<= 8) and columns `cols` (<= 32) are loaded/stored.
void block(const float* ap, const float* bp, float* c, std::int64_t ldc, std::int64_t K, int rows, int cols,
           bool accumulate) {
  if (cols <= 16) {
    half_block(ap, bp, c, ldc, K, rows, cols, accumulate);
    return;
  }
  V16 acc[kRows][2];
  for (int r = 0; r < kRows; ++r) {
    acc[r][0] = acc[r][1] = V16{};
    if (accumulate && r < rows) {
      if (cols == 32) {
        acc[r][0] = load(c + r * ldc);
        acc[r][1] = load(c + r * ldc + 16);
      } else {
        float tmp[32] = {};
        std::memcpy(tmp, c + r * ldc, static_cast<std::size_t>(cols) * sizeof(float));
        acc[r][0] = load(tmp);
        acc[r][1] = load(tmp + 16);
      }
    }
  }
  for (std::int64_t k = 0; k < K; ++k) {
    const V16 b0 = load(bp + k * kPanelWidth), b1 = load(bp + k * kPanelWidth + 16);
    const float* a = ap + k * kRows;
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const V16 av = V16{} + a[r];
      acc[r][0] = fused(av, b0, acc[r][0]);
      acc[r][1] = fused(av, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < rows; ++r) {
    if (cols == 32) {
      store(c + r * ldc, acc[r][0]);
      store(c + r * ldc + 16, acc[r][1]);
    } else {
      float tmp[32];
      store(tmp, acc[r][0]);
      store(tmp + 16, acc[r][1]);
      std::memcpy(c + r * ldc, tmp, static_cast<std::size_t>(cols) * sizeof(float));
    }
  }
}

// block() with B rows read through pointers (columns col0 .. col0+31 of each row).
void block_rows(const float* ap, const float* const* brows, std::int64_t col0, float* c, std::int64_t ldc,
                std::int64_t K, int rows, int cols) {
  V16 acc[kRows][2];
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = V16{};
  if (cols <= 16) {
    for (std::int64_t k = 0; k < K; ++k) {
      const V16 b0 = load(brows[k] + col0);
      const float* a = ap + k * kRows;
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) acc[r][0] = fused(V16{} + a[r], b0, acc[r][0]);
    }
  } else {
    for (std::int64_t k = 0; k < K; ++k) {
      const V16 b0 = load(brows[k] + col0), b1 = load(brows[k] + col0 + 16);
      const float* a = ap + k * kRows;
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        const V16 av = V16{} + a[r];
        acc[r][0] = fused(av, b0, acc[r][0]);
        acc[r][1] = fused(av, b1, acc[r][1]);
      }
    }
  }
  for (int r = 0; r < rows; ++r) {
    float tmp[32];
    store(tmp, acc[r][0]);
    store(tmp + 16, acc[r][1]);
    std::memcpy(c + r * ldc, tmp, static_cast<std::size_t>(cols) * sizeof(float));
  }
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
      for (int r = 0; r < kRows; ++r) {
        acc[r][0] = acc[r][1] = V16{};
        if (accumulate && r < rows) {
          float tmp[32] = {};
          std::memcpy(tmp, cb + r * ldc, static_cast<std::size_t>(cols) * sizeof(float));
          acc[r][0] = load(tmp);
          acc[r][1] = load(tmp + 16);
        }
      }
      if (cols <= 16) {
        for (std::int64_t k = 0; k < K; ++k) {
          const V16 b0 = load(bp + k * kPanelWidth);
#pragma GCC unroll 8
          for (int r = 0; r < kRows; ++r) acc[r][0] = fused(V16{} + ar[r][k], b0, acc[r][0]);
        }
      } else {
        for (std::int64_t k = 0; k < K; ++k) {
          const V16 b0 = load(bp + k * kPanelWidth), b1 = load(bp + k * kPanelWidth + 16);
#pragma GCC unroll 8
          for (int r = 0; r < kRows; ++r) {
            const V16 av = V16{} + ar[r][k];
            acc[r][0] = fused(av, b0, acc[r][0]);
            acc[r][1] = fused(av, b1, acc[r][1]);
          }
        }
      }
      for (int r = 0; r < rows; ++r) {
        float tmp[32];
        store(tmp, acc[r][0]);
        store(tmp + 16, acc[r][1]);
        std::memcpy(cb + r * ldc, tmp, static_cast<std::size_t>(cols) * sizeof(float));
      }
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
      block_rows(ap.data(), brows, j, c + i * ldc + j, ldc, K, rows, cols);
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
