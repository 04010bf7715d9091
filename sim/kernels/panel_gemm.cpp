// The fp32 panel GEMM (see panel_gemm.hpp). Its three products are compiled once per SIMD target by
// Highway's foreach_target (this file includes itself once per target) and dispatched at run time;
// their k loops are fma_tile-inl.hpp's. Packing is plain code, compiled once.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "sim/kernels/panel_gemm.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/highway.h>

#include "sim/kernels/panel_gemm.hpp"
#include "sim/kernels/fma_tile-inl.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

HWY_BEFORE_NAMESPACE();
// In the public functions' namespace, so that HWY_DYNAMIC_DISPATCH below names them unqualified (with
// one target it expands to HWY_NAMESPACE::name).
namespace bitsim::sim::nn::HWY_NAMESPACE {

using namespace ::bitsim::sim::kernels::HWY_NAMESPACE;
static_assert(kPanelWidth == kTileCols);

void GemmPanelsArows(const float* const* a_rows, std::int64_t M, const Panels& b, float* c, std::int64_t ldc,
                     bool accumulate) {
  if (M <= 0) return;
  // A is read in place through its row pointers: here A is the large operand and B has few panels,
  // so packing A would cost as much as the products.
  RowPointerA a{a_rows};
  blocked_product(M, b.N, b.K, 0, b.count, c, ldc, accumulate, a, [&](std::int64_t q) {
    const float* bp = b.panel(q);
    return [bp](std::int64_t k) { return bp + k * kPanelWidth; };
  });
}

void GemmRows(const float* a, std::int64_t lda, std::int64_t M, const float* const* brows, std::int64_t K, std::int64_t N,
              float* c, std::int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  PackedA pa{a, lda, packing_buffer()};
  blocked_product(M, N, K, 0, (N + kPanelWidth - 1) / kPanelWidth, c, ldc, false, pa, [&](std::int64_t q) {
    const std::int64_t j = q * kPanelWidth;
    return [brows, j](std::int64_t k) { return brows[k] + j; };
  });
}

void GemmPanels(const float* a, std::int64_t lda, std::int64_t M, const Panels& b, float* c, std::int64_t ldc,
                bool accumulate, std::int64_t panel_begin, std::int64_t panel_end) {
  if (M <= 0 || panel_begin >= panel_end) return;
  auto panel = [&](std::int64_t q) {
    const float* bp = b.panel(q);
    return [bp](std::int64_t k) { return bp + k * kPanelWidth; };
  };
  if (panel_end - panel_begin <= 2) {
    InPlaceA in_place{a, lda};
    blocked_product(M, b.N, b.K, panel_begin, panel_end, c, ldc, accumulate, in_place, panel);
    return;
  }
  PackedA packed{a, lda, packing_buffer()};
  blocked_product(M, b.N, b.K, panel_begin, panel_end, c, ldc, accumulate, packed, panel);
}

}  // namespace bitsim::sim::nn::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "formats/simd_target.hpp"

namespace bitsim::sim::nn {

HWY_EXPORT(GemmPanelsArows);
HWY_EXPORT(GemmRows);
HWY_EXPORT(GemmPanels);

void gemm_panels_arows(const float* const* a_rows, std::int64_t M, const Panels& b, float* c, std::int64_t ldc,
                       bool accumulate) {
  formats::apply_simd_environment();
  HWY_DYNAMIC_DISPATCH(GemmPanelsArows)(a_rows, M, b, c, ldc, accumulate);
}

void gemm_rows(const float* a, std::int64_t lda, std::int64_t M, const float* const* brows, std::int64_t K,
               std::int64_t N, float* c, std::int64_t ldc) {
  formats::apply_simd_environment();
  HWY_DYNAMIC_DISPATCH(GemmRows)(a, lda, M, brows, K, N, c, ldc);
}

void gemm_panels(const float* a, std::int64_t lda, std::int64_t M, const Panels& b, float* c, std::int64_t ldc,
                 bool accumulate, std::int64_t panel_begin, std::int64_t panel_end) {
  if (panel_end < 0) panel_end = b.count;
  formats::apply_simd_environment();
  HWY_DYNAMIC_DISPATCH(GemmPanels)(a, lda, M, b, c, ldc, accumulate, panel_begin, panel_end);
}

void Panels::clear_padding() {
  if (count == 0 || N % kPanelWidth == 0) return;
  float* p = panel(count - 1);
  const std::int64_t used = N - (count - 1) * kPanelWidth;
  for (std::int64_t k = 0; k < K; ++k)
    std::fill(p + k * kPanelWidth + used, p + (k + 1) * kPanelWidth, 0.0f);
}

void pack_panel_range(const float* b, std::int64_t ldb, Panels& out, std::int64_t q_begin, std::int64_t q_end) {
  for (std::int64_t q = q_begin; q < q_end; ++q) {
    const std::int64_t j0 = q * kPanelWidth, cols = std::min<std::int64_t>(kPanelWidth, out.N - j0);
    float* p = out.panel(q);
    for (std::int64_t k = 0; k < out.K; ++k) {
      std::memcpy(p + k * kPanelWidth, b + k * ldb + j0, static_cast<std::size_t>(cols) * sizeof(float));
      std::fill(p + k * kPanelWidth + cols, p + (k + 1) * kPanelWidth, 0.0f);
    }
  }
}

void pack_panel_range_transposed(const float* t, std::int64_t ldt, Panels& out, std::int64_t q_begin, std::int64_t q_end) {
  for (std::int64_t q = q_begin; q < q_end; ++q) {
    const std::int64_t j0 = q * kPanelWidth, cols = std::min<std::int64_t>(kPanelWidth, out.N - j0);
    float* p = out.panel(q);
    for (std::int64_t k = 0; k < out.K; ++k) {
      for (std::int64_t j = 0; j < cols; ++j) p[k * kPanelWidth + j] = t[(j0 + j) * ldt + k];
      std::fill(p + k * kPanelWidth + cols, p + (k + 1) * kPanelWidth, 0.0f);
    }
  }
}

void pack_panels(const float* b, std::int64_t ldb, std::int64_t K, std::int64_t N, Panels& out) {
  out.resize(K, N);
  pack_panel_range(b, ldb, out, 0, out.count);
}

void pack_panels_transposed(const float* t, std::int64_t ldt, std::int64_t K, std::int64_t N, Panels& out) {
  out.resize(K, N);
  pack_panel_range_transposed(t, ldt, out, 0, out.count);
}

}  // namespace bitsim::sim::nn
#endif  // HWY_ONCE
