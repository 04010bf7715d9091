#include "sim/kernels/eigen_gemm.hpp"

// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics when they are inlined into
// Eigen's GEMM kernels (a known false positive); it is silenced for this file only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>

namespace bitsim::sim {

template <class T> using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void eigen_gemm_f32(const float* a, const float* b, float* c, std::int64_t M, std::int64_t K, std::int64_t N) {
  Eigen::Map<RowMajor<float>>(c, M, N).noalias() =
      Eigen::Map<const RowMajor<float>>(a, M, K) * Eigen::Map<const RowMajor<float>>(b, K, N);
}

void eigen_gemm_f64(const double* a, const double* b, double* c, std::int64_t M, std::int64_t K, std::int64_t N) {
  Eigen::Map<RowMajor<double>>(c, M, N).noalias() =
      Eigen::Map<const RowMajor<double>>(a, M, K) * Eigen::Map<const RowMajor<double>>(b, K, N);
}

}  // namespace bitsim::sim

#pragma GCC diagnostic pop
