// Plain float/double matrix products through Eigen, used only where every partial sum is provably
// exact (so Eigen's summation order and its fused multiply-adds cannot change the result).
// Row-major operands. Internal to sim/.
#pragma once

#include <cstdint>

namespace bitsim::sim {

void eigen_gemm_f32(const float* a, const float* b, float* c, std::int64_t M, std::int64_t K, std::int64_t N);
void eigen_gemm_f64(const double* a, const double* b, double* c, std::int64_t M, std::int64_t K, std::int64_t N);

}  // namespace bitsim::sim
