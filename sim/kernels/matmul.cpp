#include "sim/kernels/matmul.hpp"

#include "sim/kernels/panel_gemm.hpp"
#include "sim/runtime/task_split.hpp"

#include <algorithm>
#include <vector>

namespace bitsim::sim::nn {

void matmul(const GemmSetup& setup, const float* a, const float* b, float* c, std::int64_t M, std::int64_t K,
            std::int64_t N, int threads, bool b_transposed) {
  if (!setup.is_fast()) {
    if (!b_transposed) {
      gemm_f32(setup.config(), a, b, c, M, K, N, threads);
      return;
    }
    std::vector<float> bt(static_cast<std::size_t>(K * N));
    for (std::int64_t j = 0; j < N; ++j)
      for (std::int64_t k = 0; k < K; ++k) bt[static_cast<std::size_t>(k * N + j)] = b[j * K + k];
    gemm_f32(setup.config(), a, bt.data(), c, M, K, N, threads);
    return;
  }
  Panels panels;
  panels.resize(K, N);
  auto pack = [&](std::int64_t q0, std::int64_t q1) {
    if (b_transposed) pack_panel_range_transposed(b, K, panels, q0, q1);
    else pack_panel_range(b, N, panels, q0, q1);
  };
  // Split the rows of C when there are many of them (or too few column panels to share), else the
  // column panels: a few dozen rows cut in two would leave each thread cut tiles (6 or 8 rows each).
  // Either way the threads pack B's panels together.
  if (M >= 64 * threads || panels.count < 2 * threads) {
    detail::run_blocks(panels.count, threads, pack);
    detail::run_blocks((M + 7) / 8, threads, [&](std::int64_t b0, std::int64_t b1) {
      const std::int64_t r0 = b0 * 8, r1 = std::min(M, b1 * 8);
      gemm_panels(a + r0 * K, K, r1 - r0, panels, c + r0 * N, N, false);
    });
  } else {
    detail::run_blocks(panels.count, threads, [&](std::int64_t q0, std::int64_t q1) {
      pack(q0, q1);
      gemm_panels(a, K, M, panels, c, N, false, q0, q1);
    });
  }
}

}  // namespace bitsim::sim::nn
