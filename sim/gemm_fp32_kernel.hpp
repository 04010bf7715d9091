// GEMM rows with fp32 accumulation in k order, for inputs whose products are exact in float:
//   C[i][j] = (((+0 + A[i][0]*B[0][j]) + A[i][1]*B[1][j]) + ...), each addition an IEEE float
// addition (round to nearest even), i.e. exactly gemm.md's sequential order with an fp32 accumulator.
// Row-major A (rows x K), B (K x N), C (rows x N). Internal to sim/.
#pragma once

#include <cstdint>

namespace bitsim::sim {

// Computes rows [row_begin, row_end) of C. Every product must be exact in float (the caller checks
// the formats), which is what makes a fused multiply-add here identical to multiply-then-add.
void gemm_fp32_sequential_rows(const float* a, const float* b, float* c, std::int64_t row_begin, std::int64_t row_end,
                               std::int64_t K, std::int64_t N);

}  // namespace bitsim::sim
