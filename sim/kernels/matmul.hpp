// The matrix product of a linear layer, with the choice of kernel made here: the engine's fp32 panel
// kernel (panel_gemm.hpp) for a GemmSetup it computes itself (GemmSetup::is_fast()), sim::gemm_f32
// otherwise. Both give the same bits for the default setup (tests/test_nn_layers.cpp).
#pragma once

#include "sim/kernels/gemm_setup.hpp"

#include <cstdint>

namespace bitsim::sim::nn {

// C (M x N) = A (M x K) x B (K x N), all row-major floats, under `setup`, on `threads` threads (the
// rows of C, or its column panels when there are few rows, split over them; results never depend on
// the split). With b_transposed, `b` holds B^T (N x K, row-major) instead.
void matmul(const GemmSetup& setup, const float* a, const float* b, float* c, std::int64_t M, std::int64_t K,
            std::int64_t N, int threads, bool b_transposed = false);

}  // namespace bitsim::sim::nn
