// The engine's fp32 GEMM: C[i][j] = fma(A[i][K-1], B[K-1][j], ... fma(A[i][0], B[0][j], c0)) with
// c0 = +0, or c0 = C[i][j]'s current value when accumulating. Every step rounds s + exact(a*b) once to
// nearest even in fp32: docs/spec/gemm.md's sequential order with exact products and an fp32
// accumulator, i.e. bit-identical to sim::gemm() with that GemmConfig (the engine's default). Continuing
// an accumulation (accumulate = true) is the same chain carried on, so K can be split into consecutive
// pieces without changing a bit (the conv weight gradient sums over the batch image by image this way).
//
// B is given as panels of 32 columns (K rows of 32 contiguous floats, columns past N zero) so that the
// operand a convolution builds (im2col) can be written straight into this layout. Internal to sim/nn.
#pragma once

#include <cstdint>
#include <vector>

namespace bitsim::sim::nn {

inline constexpr std::int64_t kPanelWidth = 32;

struct Panels {
  std::int64_t K = 0, N = 0, count = 0;  // count = ceil(N / 32)
  std::vector<float> data;               // count * K * 32 floats

  // Sets the shape; keeps capacity. Contents are unspecified until written (pad columns must be 0:
  // writers use clear_padding or write every column).
  void resize(std::int64_t k, std::int64_t n) {
    K = k;
    N = n;
    count = (n + kPanelWidth - 1) / kPanelWidth;
    data.resize(static_cast<std::size_t>(count * K * kPanelWidth));
  }
  float* panel(std::int64_t q) { return data.data() + q * K * kPanelWidth; }
  const float* panel(std::int64_t q) const { return data.data() + q * K * kPanelWidth; }
  // Zeroes the columns N .. 32*count-1 of the last panel.
  void clear_padding();
};

// Packs row-major B (K x N, row stride ldb) into panels.
void pack_panels(const float* b, std::int64_t ldb, std::int64_t K, std::int64_t N, Panels& out);
// Packs B = transpose(T) where T is row-major N x K (row stride ldt), i.e. B[k][j] = T[j][k].
void pack_panels_transposed(const float* t, std::int64_t ldt, std::int64_t K, std::int64_t N, Panels& out);
// The same for panels [q_begin, q_end) only, into `out` already sized for B by resize(K, N); threads
// can pack disjoint ranges of one Panels at once.
void pack_panel_range(const float* b, std::int64_t ldb, Panels& out, std::int64_t q_begin, std::int64_t q_end);
void pack_panel_range_transposed(const float* t, std::int64_t ldt, Panels& out, std::int64_t q_begin, std::int64_t q_end);

// C (M x N, row stride ldc) = or += A (M x K, row stride lda) x B, as described above, on the calling
// thread. Panels [panel_begin, panel_end) only (-1: all), so callers can split columns over threads.
void gemm_panels(const float* a, std::int64_t lda, std::int64_t M, const Panels& b, float* c, std::int64_t ldc,
                 bool accumulate, std::int64_t panel_begin = 0, std::int64_t panel_end = -1);

// gemm_panels with A given by row pointers: A[i][k] = a_rows[i][k].
void gemm_panels_arows(const float* const* a_rows, std::int64_t M, const Panels& b, float* c, std::int64_t ldc,
                       bool accumulate);

// The same product with B given by row pointers instead of panels: B[k][j] = brows[k][j]. Every row must
// be readable up to index 32*ceil(N/32) - 1 (values past N - 1 are read and their results dropped).
// Used by the stride-1 convolution, whose B rows are shifted slices of one zero-padded image.
void gemm_rows(const float* a, std::int64_t lda, std::int64_t M, const float* const* brows, std::int64_t K,
               std::int64_t N, float* c, std::int64_t ldc);

}  // namespace bitsim::sim::nn
