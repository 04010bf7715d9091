// Sixteen float lanes and an explicit lane-wise fused multiply-add, shared by the GEMM kernels with
// fp32 accumulation (gemm_fp32_kernel.cpp, nn/panel_gemm.cpp). Internal to sim/.
#pragma once

#include <cmath>
#include <cstring>

#include <immintrin.h>

namespace bitsim::sim::detail {

using V16 = float __attribute__((vector_size(64)));

inline V16 load16(const float* p) {
  V16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, V16 v) { std::memcpy(p, &v, sizeof v); }

// s + a*b with one rounding (IEEE fusedMultiplyAdd), lane by lane: gemm.md rule 6 for an fp32
// accumulator with exact products and rne, whatever a and b are (overflow, underflow, infinities,
// NaN, signed zeros). Written as explicit FMA instructions, never left to compiler contraction (the
// project compiles with -ffp-contract=off).
inline V16 fused16(V16 a, V16 b, V16 s) {
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

}  // namespace bitsim::sim::detail
