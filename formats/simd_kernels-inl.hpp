// Explicitly vectorized array kernels, written with GCC/Clang vector extensions (the compiler splits
// each operation into the target's registers; the width is chosen below). They compute exactly what
// round_float / round_fixed compute per element (same formulas, lane-wise, with masks instead of
// bools); tests compare them against the scalar kernels bit for bit. Internal to formats/.
//
// Why not rely on auto-vectorization: GCC 12 does not if-convert the scalar kernels (bool logic,
// mixed widths), which left the array loops scalar at ~0.13 G elements/s.
//
// A Highway per-target header: quantize_loops.cpp includes it once per SIMD target (foreach_target),
// each time inside that target's namespace and instruction-set attributes, hence the toggling guard
// instead of #pragma once.
#if defined(BITSIM_FORMATS_SIMD_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef BITSIM_FORMATS_SIMD_KERNELS_INL_H_
#undef BITSIM_FORMATS_SIMD_KERNELS_INL_H_
#else
#define BITSIM_FORMATS_SIMD_KERNELS_INL_H_
#endif

#include "formats/fixed_kernel.hpp"
#include "formats/float_kernel.hpp"
#include "formats/graham_tables.hpp"

#include <hwy/highway.h>

#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace bitsim::formats::detail::HWY_NAMESPACE {

// Vector width: the target's register width on x86-64 (with AVX2, GCC 12 lowers 64-byte generic
// vectors poorly: comparisons and selects fall back to scalar code, about 20x slower), 16 bytes
// elsewhere. Lanes are independent, so the width never changes a result.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
inline constexpr int kVectorBytes = 64;
#elif HWY_TARGET == HWY_AVX2
inline constexpr int kVectorBytes = 32;
#else
inline constexpr int kVectorBytes = 16;
#endif

template <class T> struct Lanes;
template <> struct Lanes<float> {
  using U = std::uint32_t __attribute__((vector_size(kVectorBytes)));
  using S = std::int32_t __attribute__((vector_size(kVectorBytes)));
  using F = float __attribute__((vector_size(kVectorBytes)));
  using W32 = std::uint32_t __attribute__((vector_size(kVectorBytes)));  // the random words of one vector
  static constexpr int L = kVectorBytes / 4;
};
template <> struct Lanes<double> {
  using U = std::uint64_t __attribute__((vector_size(kVectorBytes)));
  using S = std::int64_t __attribute__((vector_size(kVectorBytes)));
  using F = double __attribute__((vector_size(kVectorBytes)));
  using W32 = std::uint32_t __attribute__((vector_size(kVectorBytes / 2)));
  static constexpr int L = kVectorBytes / 8;
};

template <class V, class E> [[gnu::always_inline]] inline V splat(E e) { return V{} + static_cast<decltype(V{}[0])>(e); }

// Reinterprets a vector as another of the same size.
template <class To, class From> [[gnu::always_inline]] inline To vcast(From f) { return __builtin_bit_cast(To, f); }

// Lane-wise select: mask lanes (a comparison result) are all ones or all zeros.
template <class V, class M> [[gnu::always_inline]] inline V sel(M mask, V a, V b) {
  return vcast<V>((mask & vcast<M>(a)) | (~mask & vcast<M>(b)));
}

// Whether any lane of a mask is set. On x86 one vptest (AVX2) or vptestmq (AVX-512); elsewhere an OR-fold
// of the vector as 64-bit words. GCC's generic fold extracts the words one by one (six instructions on
// AVX2), which the common-case branch of every vector paid.
template <class M> [[gnu::always_inline]] inline bool any_lane(M mask) {
  static_assert(sizeof(M) == kVectorBytes);
#if HWY_TARGET == HWY_AVX2
  const __m256i v = vcast<__m256i>(mask);
  return !_mm256_testz_si256(v, v);
#elif HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const __m512i v = vcast<__m512i>(mask);
  return _mm512_test_epi64_mask(v, v) != 0;
#else
  using V = std::uint64_t __attribute__((vector_size(kVectorBytes)));
  const V v = vcast<V>(mask);
  std::uint64_t acc = 0;
  for (int i = 0; i < kVectorBytes / 8; ++i) acc |= v[i];
  return acc != 0;
#endif
}

template <class T> [[gnu::always_inline]] inline typename Lanes<T>::U load_bits(const T* p) {
  typename Lanes<T>::U v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T> [[gnu::always_inline]] inline void store_bits(T* p, typename Lanes<T>::U v) { std::memcpy(p, &v, sizeof v); }

template <class T> [[gnu::always_inline]] inline typename Lanes<T>::U load_words(const std::uint32_t* w) {
  typename Lanes<T>::W32 v;
  std::memcpy(&v, w, sizeof v);
  return __builtin_convertvector(v, typename Lanes<T>::U);
}

// The fields of an IEEE input vector that both kernels need.
template <class T> struct Decomposed {
  using U = typename Lanes<T>::U;
  using S = typename Lanes<T>::S;
  U sign, a, sig;
  S neg, special, is_nan, normal, e_true, qf;
};

template <class T> [[gnu::always_inline]] inline Decomposed<T> decompose(typename Lanes<T>::U u) {
  using C = IeeeConst<T>;
  using U = typename Lanes<T>::U;
  using S = typename Lanes<T>::S;
  using F = typename Lanes<T>::F;
  constexpr int P = C::P;
  Decomposed<T> d;
  d.sign = u & C::SIGN;
  d.a = u & C::ABS;
  d.neg = d.sign != 0;
  d.special = d.a >= C::EXPMASK;
  d.is_nan = d.a > C::EXPMASK;
  const S ef = vcast<S>(d.a >> (P - 1));
  d.normal = ef != 0;
  const F scaled = vcast<F>(d.a) * splat<F>(from_bits<T>(static_cast<typename C::U>(static_cast<typename C::U>(C::BIAS + P - 1) << (P - 1))));
  const S e_sub = vcast<S>(vcast<U>(scaled) >> (P - 1)) - (C::BIAS + P - 1);
  d.e_true = sel<S>(d.normal, ef - C::BIAS, e_sub);
  d.sig = sel<U>(d.normal, (d.a & C::FRAC) | C::IMPLICIT, d.a);
  d.qf = sel<S>(d.normal, ef - C::BIAS, splat<S>(C::EMIN)) - (P - 1);
  return d;
}

template <class V> [[gnu::always_inline]] inline V vclamp(V v, V lo, V hi) {
  v = sel<V>(v < lo, lo, v);
  return sel<V>(v > hi, hi, v);
}

// The rounding decision of the five deterministic modes on a magnitude's dropped bits: rem (the dropped
// bits), half (the weight of the first dropped bit), parity (the kept part's last bit, for ties to
// even) and neg (the sign). Shared by the float and fixed lane kernels; sr is decided by each.
template <Rounding MODE, class U, class S>
[[gnu::always_inline]] inline S round_up_lanes(U rem, U half, U parity, S neg) {
  [[maybe_unused]] const S nonzero = rem != 0;
  if constexpr (MODE == Rounding::rne) return (rem > half) | ((rem == half) & nonzero & (parity != 0));
  else if constexpr (MODE == Rounding::rna) return nonzero & (rem >= half);
  else if constexpr (MODE == Rounding::rtz) return splat<S>(0);
  else if constexpr (MODE == Rounding::rup) return nonzero & ~neg;
  else return nonzero & neg;  // rdn
}

// ---- float formats ---------------------------------------------------------------------------------

// The part of a float format's rounding that acts on a bit pattern with a fixed number s = P-1-M of
// dropped bits (the fast paths below): the masks, and the increment whose carry out of the dropped bits
// rounds the magnitude up exactly when the mode does. Built once per array.
//
// Stochastic rounding with R random bits r = word >> (32 - R) rounds up iff the dropped bits plus
// r * 2^(s-R) (s >= R) or floor(r / 2^(R-s)) (s < R) carry (formats.md). Both are
// (word >> right) << left, with right = 32 - min(s, R) and left = max(s - R, 0): two shifts by counts
// fixed per array.
template <class T, Rounding MODE> struct DroppedBits {
  using C = IeeeConst<T>;
  using U = typename Lanes<T>::U;
  using S = typename Lanes<T>::S;
  int s;                         // dropped bits
  U low_mask, keep, below_half;  // the dropped bits, the others, half a step minus one
  int sr_right, sr_left;         // sr: the increment (word >> sr_right) << sr_left

  explicit DroppedBits(const FloatConsts<T>& k) {
    s = C::P - 1 - k.M;
    low_mask = splat<U>((typename C::U{1} << s) - 1);
    keep = ~low_mask;
    below_half = low_mask >> 1;
    sr_right = 32 - (s < k.sr_bits ? s : k.sr_bits);
    sr_left = s > k.sr_bits ? s - k.sr_bits : 0;
  }

  // The increment for bit patterns `bits` (their bit s is the kept part's last bit) of sign `neg`.
  [[gnu::always_inline]] U increment(U bits, [[maybe_unused]] S neg, [[maybe_unused]] const std::uint32_t* words) const {
    if (s == 0) return splat<U>(0);  // nothing dropped (the format is T's own)
    if constexpr (MODE == Rounding::rne) return below_half + ((bits >> s) & 1);
    else if constexpr (MODE == Rounding::rna) return below_half + 1;
    else if constexpr (MODE == Rounding::rtz) return splat<U>(0);
    else if constexpr (MODE == Rounding::rup) return sel<U>(neg, splat<U>(0), low_mask);
    else if constexpr (MODE == Rounding::rdn) return sel<U>(neg, low_mask, splat<U>(0));
    else return (load_words<T>(words) >> sr_right) << sr_left;
  }
};

// The common case of a float format (every lane at least 2^emin and normal in T, or Inf/NaN): the number of dropped
// bits is the constant s = P-1-M and rounding is one add and one mask on the bit pattern (a carry out
// of the fraction bumps the exponent), then the overflow and special lanes are replaced. The constants
// are built once per array, so the loop holds them in registers. A vector with a lane below 2^emin is
// left to round_float_lanes (the caller's fallback).
template <class T, Rounding MODE> struct NormalRangeLanes : DroppedBits<T, MODE> {
  using C = IeeeConst<T>;
  using U = typename Lanes<T>::U;
  using S = typename Lanes<T>::S;
  using SE = decltype(S{}[0]);
  S min_normal, max_bits;  // bit patterns (below 2^(W-1), so they compare as signed lanes)
  U max_u, overflow_u;     // the largest finite and what overflow gives
  U inf_input_u;           // what an infinite input gives

  explicit NormalRangeLanes(const FloatConsts<T>& k) : DroppedBits<T, MODE>(k) {
    // The fixed count of dropped bits holds for inputs that are normal both in the format and in T: a
    // format whose normal range reaches below T's (emin < T's, e.g. bias 1024 with 11 exponent bits
    // from double) leaves T's subnormals, which have fewer significant bits, to round_float_lanes.
    min_normal = splat<S>(static_cast<SE>(std::max<typename C::U>(k.min_normal_bits, C::IMPLICIT)));
    max_bits = splat<S>(static_cast<SE>(k.max_bits));
    max_u = splat<U>(k.max_bits);
    overflow_u = splat<U>(k.overflow_bits);
    inf_input_u = splat<U>(k.inf_input_bits);
  }

  // Rounds Lanes<T>::L elements and ORs their NaN-input lanes into nan_lanes; false (nothing written)
  // when a lane is below 2^emin.
  [[gnu::always_inline]] bool operator()(const T* in, T* out, const std::uint32_t* words, S& nan_lanes) const {
    const U raw = load_bits<T>(in);
    const U a = raw & C::ABS;
    const S as = vcast<S>(a);
    if (any_lane(as < min_normal)) return false;
    const U sign = raw ^ a;
    [[maybe_unused]] const S neg = vcast<S>(raw) < 0;
    const U inc = this->increment(a, neg, words);
    const S special = as >= static_cast<SE>(C::EXPMASK);
    const S is_nan = as > static_cast<SE>(C::EXPMASK);
    const U rb = (a + sel<U>(special, splat<U>(0), inc)) & this->keep;
    const S ovf = ~special & (vcast<S>(rb) > max_bits);
    // What overflow gives: the largest finite when the mode rounds the magnitude toward zero.
    U over;
    if constexpr (MODE == Rounding::rtz) over = max_u;
    else if constexpr (MODE == Rounding::rup) over = sel<U>(neg, max_u, overflow_u);
    else if constexpr (MODE == Rounding::rdn) over = sel<U>(neg, overflow_u, max_u);
    else over = overflow_u;
    U mag = sel<U>(ovf, over, rb);
    mag = sel<U>(special, sel<U>(is_nan, splat<U>(C::QNAN), inf_input_u), mag);
    store_bits<T>(out, mag | sel<U>(mag == C::QNAN, splat<U>(0), sign));
    nan_lanes |= is_nan;
    return true;
  }
};

// Rounds Lanes<T>::L elements, whatever their range (NormalRangeLanes takes the common case first);
// returns the NaN-input mask (for the caller's error check).
template <class T, Rounding MODE>
[[gnu::always_inline]] inline typename Lanes<T>::S round_float_lanes(const FloatConsts<T>& k, const T* in, T* out,
                                                                      const std::uint32_t* words) {
  using C = IeeeConst<T>;
  using U = typename Lanes<T>::U;
  using S = typename Lanes<T>::S;
  constexpr int P = C::P;
  constexpr int W = C::W;
  const U raw = load_bits<T>(in);

  const Decomposed<T> d = decompose<T>(raw);
  const S eq = sel<S>(d.e_true > k.emin, d.e_true, splat<S>(k.emin));
  const S s_raw = sel<S>(eq - k.M - d.qf > 0, eq - k.M - d.qf, splat<S>(0));
  const S s = sel<S>(s_raw < P + 1, s_raw, splat<S>(P + 1));
  const U su = vcast<U>(s);
  const U one = splat<U>(1);
  const U low_mask = (one << su) - 1;
  const U rem = d.sig & low_mask;
  const U kept = d.sig >> su;
  const U half = (one << su) >> 1;

  S up;
  if constexpr (MODE != Rounding::sr) {
    const U parity = k.m_is_zero ? ((vcast<U>(eq - k.emin) + kept) & 1) : (kept & 1);
    up = round_up_lanes<MODE>(rem, half, parity, d.neg);
  } else {
    const int R = k.sr_bits;
    const U r = load_words<T>(words) >> (32 - R);
    const U mask_R = splat<U>((std::uint64_t{1} << R) - 1);
    const S s_le_r = s_raw <= R;
    const U mask_S = sel<U>(s_raw >= W, ~splat<U>(0), (one << vcast<U>(vclamp<S>(s_raw, splat<S>(0), splat<S>(W - 1)))) - 1);
    const U sh1 = vcast<U>(vclamp<S>(R - s_raw, splat<S>(0), splat<S>(W - 1)));
    const U sh2 = vcast<U>(vclamp<S>(s_raw - R, splat<S>(0), splat<S>(W - 1)));
    const U lhs = sel<U>(s_le_r, r >> sh1, rem >> sh2);
    const U rhs = sel<U>(s_le_r, mask_S - rem, mask_R - r);
    up = (s_raw > 0) & (lhs > rhs);
  }

  const S all_dropped = s > P - 1;
  const U trunc = sel<U>(all_dropped, splat<U>(0), d.a & ~low_mask);
  const U step = sel<U>(all_dropped, splat<U>(k.min_sub_bits), one << su);
  const U rb = trunc + (vcast<U>(up) & step);
  const S ovf = ~d.special & (rb > k.max_bits);
  S toward_zero;
  if constexpr (MODE == Rounding::rtz) toward_zero = splat<S>(-1);
  else if constexpr (MODE == Rounding::rup) toward_zero = d.neg;
  else if constexpr (MODE == Rounding::rdn) toward_zero = ~d.neg;
  else toward_zero = splat<S>(0);
  const S flush = k.subnormals ? splat<S>(0) : ((rb != 0) & (rb < k.min_normal_bits));

  U mag = sel<U>(flush, splat<U>(0), rb);
  mag = sel<U>(ovf, sel<U>(toward_zero, splat<U>(k.max_bits), splat<U>(k.overflow_bits)), mag);
  mag = sel<U>(d.special, sel<U>(d.is_nan, splat<U>(C::QNAN), splat<U>(k.inf_input_bits)), mag);
  S drop_sign = mag == C::QNAN;
  if (k.unsigned_zero) drop_sign |= mag == 0;
  store_bits<T>(out, mag | sel<U>(drop_sign, splat<U>(0), d.sign));
  return d.is_nan;
}

// ---- float formats with T's own exponent range ----------------------------------------------------

// Rounding to a format with T's exponent range (FloatConsts::whole_range: bf16 and tf32 from float):
// every finite input, subnormal or not, rounds by adding an increment to its bit pattern and clearing
// the dropped bits. A carry past the largest finite lands exactly on the infinity, an infinity stays
// one (its fraction is zero and the increment below one step), and the sign bit is only reached from a
// NaN, which is replaced.
template <class T, Rounding MODE> struct WholeRangeLanes : DroppedBits<T, MODE> {
  using C = IeeeConst<T>;
  using U = typename Lanes<T>::U;
  using S = typename Lanes<T>::S;
  using SE = decltype(S{}[0]);

  explicit WholeRangeLanes(const FloatConsts<T>& k) : DroppedBits<T, MODE>(k) {}

  // Rounds Lanes<T>::L elements; returns the NaN-input mask.
  [[gnu::always_inline]] S operator()(const T* in, T* out, const std::uint32_t* words) const {
    const U raw = load_bits<T>(in);
    // The sign bit is above bit s, so the increment can be computed on the signed pattern.
    const U inc = this->increment(raw, vcast<S>(raw) < 0, words);
    const S is_nan = vcast<S>(raw & C::ABS) > static_cast<SE>(C::EXPMASK);
    store_bits<T>(out, sel<U>(is_nan, splat<U>(C::QNAN), (raw + inc) & this->keep));
    return is_nan;
  }
};

// ---- fixed formats ---------------------------------------------------------------------------------

// Rounds Lanes<T>::L elements to fixed point and writes their values (code * 2^-F). Returns the mask
// of bad lanes (NaN input, or Inf under wrap), whose outputs are NaN.
template <class T, Rounding MODE>
// `unscale` is 2^F and `scale` 2^-F (the caller computes them once per array).
[[gnu::always_inline]] inline typename Lanes<T>::S round_fixed_lanes(const FixedConsts& k, T unscale, T scale, const T* in,
                                                                      T* out, const std::uint32_t* words) {
  using C = IeeeConst<T>;
  using U = typename Lanes<T>::U;
  using S = typename Lanes<T>::S;
  using F = typename Lanes<T>::F;
  constexpr int P = C::P;
  constexpr int W = C::W;
  const U raw = load_bits<T>(in);

  // Common case first (rne and directed modes, saturating): every lane's y = x * 2^F is exact in T and
  // below 2^(P-2) in magnitude, so T arithmetic rounds it to an integer exactly (RNE by the 1.5*2^(P-1)
  // shift, truncation by conversion), and saturation is a clamp. Other vectors take the general path.
  if constexpr (MODE == Rounding::rne || MODE == Rounding::rtz || MODE == Rounding::rup || MODE == Rounding::rdn) {
    if (!k.wrap) {
      const F x = vcast<F>(raw);
      const F y = x * splat<F>(unscale);
      const U ay = vcast<U>(y) & C::ABS;
      const U ax = raw & C::ABS;
      const S ok = (ay < splat<U>(to_bits<T>(std::ldexp(T(1), P - 2)))) &
                   ((ay >= splat<U>(to_bits<T>(std::numeric_limits<T>::min()))) | (ax == 0));
      if (!any_lane(~ok)) {
        F r;
        if constexpr (MODE == Rounding::rne) {
          const F shift = splat<F>(T(1.5) * std::ldexp(T(1), P - 1));
          r = (y + shift) - shift;
        } else {
          const F t = __builtin_convertvector(__builtin_convertvector(y, S), F);  // toward zero
          if constexpr (MODE == Rounding::rtz) r = t;
          else if constexpr (MODE == Rounding::rup) r = t + sel<F>(t < y, splat<F>(1), splat<F>(0));
          else r = t - sel<F>(t > y, splat<F>(1), splat<F>(0));
        }
        r = r + splat<F>(0);  // -0 -> +0: fixed point has one zero
        const F lo = splat<F>(k.is_signed ? -static_cast<T>(k.neg_limit) : T(0));
        const F hi = splat<F>(static_cast<T>(k.pos_limit));
        r = sel<F>(r < lo, lo, r);
        r = sel<F>(r > hi, hi, r);
        const F value = r * scale;
        store_bits<T>(out, vcast<U>(value));
        return splat<S>(0);
      }
    }
  }

  const Decomposed<T> d = decompose<T>(raw);
  const U one = splat<U>(1);

  // |y| = sig * 2^(qf + F): s_raw bits below the binary point (negative: a left shift).
  const S s_raw = -(d.qf + k.F);
  const S right = sel<S>(s_raw > 0, s_raw, splat<S>(0));
  const S left = sel<S>(s_raw < 0, -s_raw, splat<S>(0));
  const S s = sel<S>(right < P + 1, right, splat<S>(P + 1));
  const U su = vcast<U>(s);
  const U rem = d.sig & ((one << su) - 1);
  const U half = (one << su) >> 1;
  const U lu = vcast<U>(sel<S>(left < W - 1, left, splat<S>(W - 1)));
  // kept = floor(|y|) mod 2^W (all that wrap needs); huge marks |y| >= 2^W.
  const U kept = sel<U>(s_raw < 0, sel<U>(left >= W, splat<U>(0), d.sig << lu), d.sig >> su);
  const S huge = (s_raw < 0) & (d.sig != 0) & ((left >= W) | (((d.sig >> ((W - 1) - lu)) >> 1) != 0));
  const S nonzero = rem != 0;

  S up;
  if constexpr (MODE != Rounding::sr) {
    up = round_up_lanes<MODE>(rem, half, kept & 1, d.neg);
  } else {
    // f = floor(frac * 2^R), frac = rem / 2^right. y >= 0: up iff f + r >= 2^R.
    // y < 0: the magnitude goes up iff r < ceil(frac * 2^R).
    const int R = k.sr_bits;
    const U r = load_words<T>(words) >> (32 - R);
    const U mask_R = splat<U>((std::uint64_t{1} << R) - 1);
    const S r_ge_s = right <= R;
    const U sh1 = vcast<U>(vclamp<S>(R - right, splat<S>(0), splat<S>(W - 1)));
    const U sh2 = vcast<U>(vclamp<S>(right - R, splat<S>(0), splat<S>(W - 1)));
    const U f = sel<U>(r_ge_s, rem << sh1, rem >> sh2);
    const S exact_scaled = r_ge_s | ((rem & ((one << sh2) - 1)) == 0);
    const S up_pos = f > mask_R - r;
    const S up_neg = sel<S>(exact_scaled, r < f, r <= f) & nonzero;
    up = sel<S>(d.neg, up_neg, up_pos) & (s_raw > 0);
  }

  const U mag = kept + (vcast<U>(up) & one);
  const S mag_wrapped = mag < kept;
  const S ovf = huge | mag_wrapped | sel<S>(d.neg, mag > splat<U>(k.neg_limit), mag > splat<U>(k.pos_limit));
  // Negated as unsigned: a magnitude of 2^63 (the most negative code of a 64-bit format) wraps to
  // itself, where negating it as signed would overflow.
  const S signed_mag = sel<S>(d.neg, vcast<S>(-mag), vcast<S>(mag));
  const S sat_neg = splat<S>(k.is_signed ? -static_cast<std::int64_t>(k.neg_limit) : 0);
  const S sat_pos = splat<S>(static_cast<std::int64_t>(k.pos_limit));
  S code;
  if (!k.wrap) {
    code = sel<S>(ovf, sel<S>(d.neg, sat_neg, sat_pos), signed_mag);
  } else {
    const int spare = W - k.width;  // sign-extend (or zero-extend) the low `width` bits
    S low = signed_mag << spare;
    low = k.is_signed ? (low >> spare) : vcast<S>(vcast<U>(low) >> spare);
    code = sel<S>(ovf, low, signed_mag);
  }
  code = sel<S>(d.special, sel<S>(d.neg, sat_neg, sat_pos), code);
  const S bad = d.is_nan | (k.wrap ? (d.special & ~d.is_nan) : splat<S>(0));
  const F value = __builtin_convertvector(code, F) * scale;
  const U out_bits = sel<U>(bad, splat<U>(C::QNAN), vcast<U>(value));
  store_bits<T>(out, out_bits);
  return bad;
}

// ---- Graham formats with a small table ----------------------------------------------------------------


// The bits of L inputs, their magnitudes, and the key the thresholds are compared with (|x| for log
// and O4, x for midrise).
template <class T> struct GrahamKey {
  typename Lanes<T>::U bits, abs;
  typename Lanes<T>::F key;
};
template <class T> [[gnu::always_inline]] inline GrahamKey<T> graham_key(const GrahamTable<T>& t, const T* in) {
  GrahamKey<T> k;
  k.bits = load_bits<T>(in);
  k.abs = k.bits & IeeeConst<T>::ABS;
  k.key = vcast<typename Lanes<T>::F>(t.on_magnitude ? k.abs : k.bits);
  return k;
}

template <class T>
[[gnu::always_inline]] inline typename Lanes<T>::S graham_lanes(const GrahamTable<T>& t, const T* in, T* out) {
  using C = IeeeConst<T>;
  using U = typename Lanes<T>::U;
  using S = typename Lanes<T>::S;
  using F = typename Lanes<T>::F;
  const GrahamKey<T> k = graham_key<T>(t, in);
  const U u = k.bits, a = k.abs, sign = u & C::SIGN;
  const F key = k.key;
  const S is_nan = a > C::EXPMASK;
  // Thresholds ascend: the last one reached selects the value (infinities reach all of them,
  // -inf none, as clamping requires).
  const std::size_t nvals = t.value.size();
  F v = splat<F>(t.value[0]);
  for (std::size_t j = 1; j < nvals; ++j) v = sel<F>(key >= t.th[j], splat<F>(t.value[j]), v);
  U bits = vcast<U>(v);
  if (t.on_magnitude) {
    bits |= sign;
    bits = sel<U>(a == 0, u, bits);  // +-0 stays +-0 (no code)
  }
  bits = sel<U>(is_nan, u, bits);
  store_bits<T>(out, bits);
  return is_nan;
}

// Codes of L Graham inputs (the index above lo, with the sign bit for log and O4), branch-free like
// graham_lanes; returns the lanes that have no code (NaN, and +-0 in a format acting on |x|), which
// the caller reports.
template <class T>
[[gnu::always_inline]] inline typename Lanes<T>::S graham_code_lanes(const GrahamTable<T>& t, const T* in, typename Lanes<T>::U& codes) {
  using C = IeeeConst<T>;
  using U = typename Lanes<T>::U;
  using S = typename Lanes<T>::S;
  using F = typename Lanes<T>::F;
  const GrahamKey<T> k = graham_key<T>(t, in);
  const U u = k.bits, a = k.abs;
  const F key = k.key;
  S bad = a > C::EXPMASK;
  if (t.on_magnitude) bad |= a == 0;
  // The index is the number of interior thresholds reached (clamping is implicit).
  S idx{};
  for (std::size_t j = 1; j < t.value.size(); ++j) idx -= key >= t.th[j];
  U c = vcast<U>(idx);
  if (t.on_magnitude) c |= sel<U>((u & C::SIGN) != 0, splat<U>(t.sign_code), splat<U>(0));
  codes = c;
  return bad;
}

}  // namespace bitsim::formats::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
