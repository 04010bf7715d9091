// GEMM with fp32 accumulation in k order and exact products, for float inputs:
//   C[i][j] = fma(A[i][K-1], B[K-1][j], ... fma(A[i][1], B[1][j], fma(A[i][0], B[0][j], +0)))
// each fused multiply-add rounding s + exact(a*b) once to nearest even: exactly gemm.md's sequential
// order with exact products and an fp32 accumulator under rne.
// Row-major A (M x K), B (K x N), C (M x N). Internal to sim/.
#pragma once

#include <cstdint>
#include <vector>

namespace bitsim::sim {

// B rearranged into panels of 32 columns, each panel K rows of 32 contiguous floats (the kernel's
// register block), built once per GEMM and shared by all threads.
struct PackedPanelsB {
  std::int64_t K = 0, N = 0, panels = 0;  // panels = N / 32 (columns beyond are the tail)
  std::vector<float> data;
};
PackedPanelsB pack_b_panels(const float* b, std::int64_t K, std::int64_t N);

// Computes rows [row_begin, row_end) of C. Every product must be exact in float (the caller checks the
// formats), which is what makes a fused multiply-add here identical to multiply-then-add.
void gemm_fp32_sequential_rows(const float* a, const float* b, const PackedPanelsB& packed, float* c,
                               std::int64_t row_begin, std::int64_t row_end, std::int64_t K, std::int64_t N);

}  // namespace bitsim::sim
