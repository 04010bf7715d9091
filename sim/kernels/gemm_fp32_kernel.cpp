// The sequential fp32 GEMM kernel (see gemm_fp32_kernel.hpp). The row loop is compiled once per SIMD
// target by Highway's foreach_target (this file includes itself once per target) and dispatched at
// run time; its k loop is fma_tile-inl.hpp's. Packing is plain code, compiled once.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "sim/kernels/gemm_fp32_kernel.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/highway.h>

#include "sim/kernels/gemm_fp32_kernel.hpp"
#include "sim/kernels/fma_tile-inl.hpp"
#include "sim/kernels/panel_gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

HWY_BEFORE_NAMESPACE();
// In the public function's namespace, so that HWY_DYNAMIC_DISPATCH below names it unqualified (with
// one target it expands to HWY_NAMESPACE::name).
namespace bitsim::sim::HWY_NAMESPACE {

using namespace ::bitsim::sim::kernels::HWY_NAMESPACE;
static_assert(nn::kPanelWidth == kTileCols);  // pack_b_panels packs panels of the tile's width

// Columns past the last full panel: one scalar chain per element, the same fused steps in k order.
void tail_columns(const float* a, const float* b, float* c, std::int64_t K, std::int64_t N, int rows, std::int64_t j0) {
  for (int r = 0; r < rows; ++r)
    for (std::int64_t j = j0; j < N; ++j) {
      float s = 0.0f;
      for (std::int64_t k = 0; k < K; ++k) s = std::fma(a[r * K + k], b[k * N + j], s);
      c[r * N + j] = s;
    }
}

void SequentialRows(const float* a, const float* b, const PackedPanelsB& packed, float* c, std::int64_t row_begin,
                    std::int64_t row_end, std::int64_t K, std::int64_t N) {
  if (row_end <= row_begin) return;
  PackedA pa{a + row_begin * K, K, packing_buffer()};
  blocked_product(row_end - row_begin, packed.panels * kTileCols, K, 0, packed.panels, c + row_begin * N, N, false, pa,
                  [&](std::int64_t q) {
                    const float* bp = packed.data.data() + q * K * kTileCols;
                    return [bp](std::int64_t k) { return bp + k * kTileCols; };
                  });
  if (packed.panels * kTileCols < N)
    for (std::int64_t i = row_begin; i < row_end; i += kTileRows) {
      const int rows = static_cast<int>(std::min<std::int64_t>(kTileRows, row_end - i));
      tail_columns(a + i * K, b, c + i * N, K, N, rows, packed.panels * kTileCols);
    }
}

}  // namespace bitsim::sim::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "formats/simd_target.hpp"

namespace bitsim::sim {

HWY_EXPORT(SequentialRows);

PackedPanelsB pack_b_panels(const float* b, std::int64_t K, std::int64_t N) {
  constexpr std::int64_t kCols = nn::kPanelWidth;
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
  formats::apply_simd_environment();
  HWY_DYNAMIC_DISPATCH(SequentialRows)(a, b, packed, c, row_begin, row_end, K, N);
}

}  // namespace bitsim::sim
#endif  // HWY_ONCE
