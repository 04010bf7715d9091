#include "sim/tensor/tensor.hpp"

#include "formats/exact_number.hpp"
#include "formats/golden.hpp"
#include "sim/tensor/scale_math.hpp"

#include <fmt/format.h>

#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <type_traits>

namespace bitsim::sim {

using formats::Format;
using formats::Quantizer;
using formats::QuantizeError;
using formats::Rounding;

namespace {

// Elements processed per step of the quantize and decode loops; the buffers live on the stack, so
// no call allocates per element (or at all, for decode).
constexpr std::int64_t kChunk = 512;

constexpr double kMinNormal = std::numeric_limits<double>::min();
constexpr double kMaxFinite = std::numeric_limits<double>::max();
constexpr double kMinSubnormal = std::numeric_limits<double>::denorm_min();

// Running statistics of one scale group over its finite elements.
struct GroupStats {
  double amax = 0;                                           // largest |x|
  double min_nonzero = std::numeric_limits<double>::infinity();  // smallest non-zero |x|
  double lo = std::numeric_limits<double>::infinity();       // smallest x
  double hi = -std::numeric_limits<double>::infinity();      // largest x
  bool nan = false, inf = false;
};

// Monotone signed key of a non-NaN double: key(a) < key(b) iff a < b (-0 just below +0). Negative
// doubles have their magnitude bits flipped, turning sign-magnitude into two's complement order.
inline std::int64_t order_key(double x) {
  const auto i = std::bit_cast<std::int64_t>(x);
  return i ^ ((i >> 63) & 0x7fffffffffffffffLL);
}
inline double from_order_key(std::int64_t k) { return std::bit_cast<double>(k ^ ((k >> 63) & 0x7fffffffffffffffLL)); }

// Updates g with p[0..n). The reductions run on the IEEE bit patterns as integers (magnitudes order
// like their bits, signed values like their order keys), so the loop vectorizes without
// reassociating any floating-point operation. A NaN or Inf shows up as a magnitude at or above the
// Inf pattern; only then is the run scanned again, element by element, without them. lo/hi only
// when kRange.
template <bool kRange, class T> void accumulate(GroupStats& g, const T* p, std::int64_t n) {
  constexpr std::int64_t kAbs = 0x7fffffffffffffffLL, kInf = 0x7ff0000000000000LL;
  std::int64_t amax = 0, mn = kInf, lo = kAbs, hi = -kAbs - 1;
  for (std::int64_t j = 0; j < n; ++j) {
    const double d = static_cast<double>(p[j]);
    const std::int64_t au = std::bit_cast<std::int64_t>(d) & kAbs;
    amax = std::max(amax, au);
    mn = std::min(mn, au == 0 ? kInf : au);
    if constexpr (kRange) {
      lo = std::min(lo, order_key(d));
      hi = std::max(hi, order_key(d));
    }
  }
  if (amax < kInf) {
    g.amax = std::max(g.amax, std::bit_cast<double>(amax));
    g.min_nonzero = std::min(g.min_nonzero, std::bit_cast<double>(mn));
    if constexpr (kRange) {
      if (n > 0) {
        g.lo = std::min(g.lo, from_order_key(lo));
        g.hi = std::max(g.hi, from_order_key(hi));
      }
    }
    return;
  }
  for (std::int64_t j = 0; j < n; ++j) {
    const double v = static_cast<double>(p[j]);
    if (std::isnan(v)) {
      g.nan = true;
    } else if (std::isinf(v)) {
      g.inf = true;
    } else {
      const double a = std::fabs(v);
      g.amax = std::max(g.amax, a);
      if (a != 0) g.min_nonzero = std::min(g.min_nonzero, a);
      g.lo = std::min(g.lo, v);
      g.hi = std::max(g.hi, v);
    }
  }
}

// 2^k as a double when that is a normal double (then x * 2^k is exact unless it leaves the normal
// range); 0 when the caller must use ldexp.
double pow2_normal(std::int64_t k) {
  return (k >= -1022 && k <= 1023) ? std::bit_cast<double>(static_cast<std::uint64_t>(k + 1023) << 52) : 0.0;
}

// Sign-extends a two's-complement code of `width` bits.
std::int64_t sign_extend(std::uint64_t code, int width) {
  if (width >= 64) return static_cast<std::int64_t>(code);
  const std::uint64_t sign = std::uint64_t{1} << (width - 1);
  return static_cast<std::int64_t>((code ^ sign) - sign);
}

// The integer format the affine policy rounds x/s to before clamping: wide enough for every code
// value plus any zero point, and exact in double.
Format affine_rounding_format() {
  formats::FixedFormat f;
  f.i = 52;
  f.f = 0;
  return Format(f);
}

// The code of a value that is already in the format (a result of Quantizer::quantize): a lossless
// re-encoding of the bit pattern, no rounding. Quantizer::quantize on arrays runs the vectorized
// kernels, several times faster than Quantizer::encode's scalar loop; this turns its values into
// codes. Available for float and fixed formats whose values are all exact doubles.
class ValueCoder {
 public:
  explicit ValueCoder(const Quantizer& q) {
    const Format& f = q.format();
    if (!q.supports_double_arrays() || !f.is_binary()) return;
    ok_ = true;
    if (f.is<formats::FixedFormat>()) {
      const auto& fx = f.as<formats::FixedFormat>();
      frac_bits_ = fx.f;
      mask_ = fx.width() == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << fx.width()) - 1;
      scale_ = pow2_normal(fx.f);
      return;
    }
    const auto& ff = f.as<formats::FloatFormat>();
    is_float_ = true;
    m_ = ff.m;
    bias_ = ff.bias;
    emin_ = ff.emin();
    sign_ = std::uint64_t{1} << (ff.e + ff.m);
    inf_ = ff.inf_index();
    frac_mask_ = (std::uint64_t{1} << ff.m) - 1;
    if (ff.has_nan()) nan_ = q.quantize(std::numeric_limits<double>::quiet_NaN()).code.value_or(0);
    sign_shift_ = ff.e + ff.m;
    // The branch-free loop needs every value's exponent within the normal doubles (emin > -1023, so a
    // zero's exponent -1023 selects the subnormal case) and 2^(m - emin) a normal double.
    sub_scale_ = pow2_normal(ff.m - emin_);
    branch_free_ = emin_ > -1022 && sub_scale_ != 0;
  }
  bool ok() const { return ok_; }

  // c[j] = the code of v[j], for values of the format (T float or double).
  template <class T> void encode(const T* v, std::uint64_t* c, std::size_t n) const {
    if (!is_float_) {
      if (scale_ != 0)  // v * 2^f is an exact integer
        for (std::size_t j = 0; j < n; ++j)
          c[j] = static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<double>(v[j]) * scale_)) & mask_;
      else
        for (std::size_t j = 0; j < n; ++j) c[j] = one(static_cast<double>(v[j]));
      return;
    }
    if (!branch_free_) {
      for (std::size_t j = 0; j < n; ++j) c[j] = one(static_cast<double>(v[j]));
      return;
    }
    // Branch-free over the double's bit pattern (vectorizes): a normal value of the format takes its
    // biased exponent and top m fraction bits; a subnormal one (and zero, whose double exponent field
    // is 0 and so below emin) is an exact integer multiple of the quantum. Inf and NaN are fixed after.
    std::uint64_t special = 0;
    const auto m = static_cast<unsigned>(m_);
    for (std::size_t j = 0; j < n; ++j) {
      const double d = static_cast<double>(v[j]);
      const auto u = std::bit_cast<std::uint64_t>(d);
      const std::uint64_t au = u & 0x7fffffffffffffffULL;
      const std::int64_t e = static_cast<std::int64_t>(au >> 52) - 1023;
      const std::uint64_t normal = (static_cast<std::uint64_t>(e + bias_) << m) | ((au & 0xfffffffffffffULL) >> (52 - m));
      // Bounded before the conversion: for normal values (and Inf/NaN) the product is discarded, but
      // converting an out-of-range double to an integer would be undefined.
      const double q = std::fabs(d) * sub_scale_;
      const auto sub = static_cast<std::uint64_t>(static_cast<std::int64_t>(q < 0x1p62 ? q : 0x1p62));
      special |= au >= 0x7ff0000000000000ULL ? 1u : 0u;
      c[j] = ((u >> 63) << sign_shift_) | (e >= emin_ ? normal : sub);
    }
    if (special)
      for (std::size_t j = 0; j < n; ++j)
        if (!std::isfinite(static_cast<double>(v[j]))) c[j] = one(static_cast<double>(v[j]));
  }

 private:
  // One value, by cases (Inf, NaN, formats whose range leaves the normal doubles).
  std::uint64_t one(double v) const {
    if (!is_float_) {
      const double c = scale_ != 0 ? v * scale_ : std::ldexp(v, frac_bits_);
      return static_cast<std::uint64_t>(static_cast<std::int64_t>(c)) & mask_;
    }
    if (std::isnan(v)) return nan_;
    const std::uint64_t s = std::signbit(v) ? sign_ : 0;
    const double a = std::fabs(v);
    if (a == 0) return s;
    if (std::isinf(a)) return s | inf_;
    const detail::Normalized nz = detail::normalize(a);
    const std::int64_t e = nz.exp + 63;
    if (e >= emin_)  // normal: biased exponent field, then the m bits after the implicit one
      return s | (static_cast<std::uint64_t>(e + bias_) << m_) | ((nz.mant >> (63 - m_)) & frac_mask_);
    return s | static_cast<std::uint64_t>(std::ldexp(a, static_cast<int>(m_ - emin_)));  // subnormal: a / quantum
  }

  bool ok_ = false, is_float_ = false, branch_free_ = false;
  int m_ = 0, frac_bits_ = 0, sign_shift_ = 0;
  double sub_scale_ = 0;  // 2^(m - emin): subnormal value -> integer
  std::int64_t bias_ = 0, emin_ = 0;
  std::uint64_t sign_ = 0, inf_ = 0, nan_ = 0, frac_mask_ = 0, mask_ = 0;
  double scale_ = 1;
};

std::string index_text(const Shape& shape, std::int64_t flat) {
  const auto idx = shape.unravel(flat);
  std::string s = "[";
  for (int i = 0; i < shape.rank(); ++i) {
    if (i) s += ',';
    s += std::to_string(idx[static_cast<std::size_t>(i)]);
  }
  return s + "]";
}

// After an array rounding of a chunk failed: throws the error of the chunk's first element the format
// cannot take, naming its tensor index and input (x: the inputs, in: what was rounded; w: the random
// words, or null). Returns when no element fails alone.
template <class T, class In>
void throw_for_element(const Quantizer& rq, const Shape& shape, const T* x, const In* in, std::int64_t c0, std::size_t len,
                       const std::uint32_t* w) {
  for (std::size_t j = 0; j < len; ++j) {
    try {
      (void)rq.quantize(static_cast<double>(in[j]), w ? w[j] : 0u);
    } catch (const QuantizeError& e) {
      const std::int64_t flat = c0 + static_cast<std::int64_t>(j);
      throw QuantizeError(fmt::format("element {} {} (input {}): {}", flat, index_text(shape, flat), static_cast<double>(x[j]), e.what()));
    }
  }
}

}  // namespace

// ---- construction ------------------------------------------------------------------------------

Tensor::Tensor(Shape shape, TensorPolicy policy, formats::RoundingSpec rounding, std::uint64_t seed)
    : shape_(shape), policy_(std::move(policy)), rounding_(rounding), seed_(seed) {
  const PolicyKind kind = policy_.kind();
  if (policy_.axis() && *policy_.axis() >= shape_.rank())
    throw TensorError(fmt::format("policy {}: axis {} is not an axis of shape {}", policy_.name(), *policy_.axis(),
                                  shape_.to_string()));
  if (kind == PolicyKind::affine) {
    round_q_ = std::make_shared<const Quantizer>(affine_rounding_format(), rounding_);
    code_q_ = std::make_shared<const Quantizer>(policy_.format());
  } else {
    round_q_ = std::make_shared<const Quantizer>(policy_.format(), rounding_);
    code_q_ = round_q_;
  }
  if (kind == PolicyKind::scaled) largest_ = detail::largest_finite(*round_q_);
  if (kind == PolicyKind::mx) {
    const auto& f = policy_.format();
    if (f.is<formats::FloatFormat>() && f.as<formats::FloatFormat>().has_nan())
      nan_code_ = code_q_->quantize(std::numeric_limits<double>::quiet_NaN()).code;
  }
  // Zero has no code in Graham's log formats and graham_O4; every other format codes it.
  if (kind == PolicyKind::elementwise) codeless_zero_ = !code_q_->quantize(0.0).code.has_value();

  // Group layout.
  const std::int64_t n = shape_.numel();
  switch (kind) {
    case PolicyKind::elementwise: break;
    case PolicyKind::scaled:
    case PolicyKind::affine:
      if (policy_.axis()) {
        layout_.kind = detail::GroupLayout::Kind::axis;
        layout_.inner = shape_.stride(*policy_.axis());
        layout_.dim = shape_[*policy_.axis()];
        layout_.groups = layout_.dim;
      } else {
        layout_.kind = detail::GroupLayout::Kind::whole;
        layout_.groups = 1;
      }
      break;
    case PolicyKind::mx: {
      layout_.kind = detail::GroupLayout::Kind::blocks;
      layout_.row = shape_.last();
      layout_.block = policy_.block();
      layout_.blocks_per_row = (layout_.row + layout_.block - 1) / layout_.block;
      layout_.groups = layout_.row == 0 ? 0 : n / layout_.row * layout_.blocks_per_row;
      break;
    }
  }
  if (layout_.kind == detail::GroupLayout::Kind::axis && layout_.inner == 0) layout_.inner = 1;  // empty tensor

  // A new tensor holds quantize(+0): zero is exact, so the rounding mode and words do not matter.
  const std::vector<float> zeros(static_cast<std::size_t>(n), 0.0f);
  const std::vector<std::uint32_t> no_words(rounding_.mode == Rounding::sr ? zeros.size() : 0, 0u);
  quantize(std::span<const float>(zeros), std::span<const std::uint32_t>(no_words));
}

// ---- the scales, the scaled inputs and the way back ------------------------------------------------

template <class T> Tensor::GroupScales Tensor::scales_of(std::span<const T> x) const {
  const std::int64_t n = numel();
  const PolicyKind kind = policy_.kind();
  GroupScales out;
  std::vector<std::int32_t>& exponent = out.exponent;
  std::vector<double>& scale = out.scale;
  std::vector<std::int64_t>& zero_point = out.zero_point;
  std::vector<std::uint8_t>& e8m0 = out.e8m0;
  std::vector<std::uint8_t>& exact_risk = out.exact_risk;
  const auto groups = static_cast<std::size_t>(layout_.groups);
  std::vector<GroupStats> stats(groups);
  if (kind != PolicyKind::elementwise)
    layout_.for_each_run(0, n, [&](std::int64_t g, std::int64_t start, std::int64_t len) {
      if (kind == PolicyKind::affine) accumulate<true>(stats[static_cast<std::size_t>(g)], x.data() + start, len);
      else accumulate<false>(stats[static_cast<std::size_t>(g)], x.data() + start, len);
    });
  auto needs_exact = [](const GroupStats& s, std::int64_t k) {
    return s.min_nonzero <= kMaxFinite && detail::floor_log2(s.min_nonzero) - k < -1022;
  };
  if (kind == PolicyKind::scaled && policy_.scale_rule() == ScaleRule::pow2) {
    exponent.resize(groups);
    exact_risk.resize(groups);
    for (std::size_t g = 0; g < groups; ++g) {
      const std::int64_t k = stats[g].amax == 0 ? 0 : detail::ceil_log2_ratio(stats[g].amax, largest_);
      exponent[g] = static_cast<std::int32_t>(k);
      exact_risk[g] = needs_exact(stats[g], k);
    }
  } else if (kind == PolicyKind::scaled) {
    scale.resize(groups);
    for (std::size_t g = 0; g < groups; ++g) {
      double s = stats[g].amax == 0 ? 1.0 : stats[g].amax / largest_;  // one rounding (IEEE division)
      scale[g] = std::min(std::max(s, kMinSubnormal), kMaxFinite);
    }
  } else if (kind == PolicyKind::affine) {
    scale.resize(groups);
    zero_point.resize(groups);
    const std::int64_t qmin = policy_.qmin(), qmax = policy_.qmax();
    for (std::size_t g = 0; g < groups; ++g) {
      // gemmlowp: the range is widened to contain 0, so that 0 is a grid point.
      const double lo = std::min(stats[g].lo, 0.0), hi = std::max(stats[g].hi, 0.0);
      if (lo == hi) {
        scale[g] = 1;
        zero_point[g] = qmin;
        continue;
      }
      const formats::Rational lo_r = formats::rational_from_double(lo), hi_r = formats::rational_from_double(hi);
      // s = (hi - lo) / (qmax - qmin), exact, rounded once to the nearest double.
      double s = formats::nearest_double((hi_r - lo_r) / formats::Rational(qmax - qmin));
      s = std::min(std::max(s, kMinSubnormal), kMaxFinite);
      // z = qmin + round(-lo / s), halves rounded up (gemmlowp's std::round on a value >= 0), computed
      // exactly from the double s, then clamped to the code range.
      const formats::Rational zr = -lo_r / formats::rational_from_double(s) + formats::Rational(1, 2);
      const formats::BigInt zf = boost::multiprecision::numerator(zr) / boost::multiprecision::denominator(zr);
      const formats::BigInt z = formats::BigInt(qmin) + zf;
      zero_point[g] = z > formats::BigInt(qmax) ? qmax : static_cast<std::int64_t>(z);
      scale[g] = s;
    }
  } else if (kind == PolicyKind::mx) {
    e8m0.resize(groups);
    exact_risk.resize(groups);
    const int emax = policy_.emax_elem();
    // X = 2^e, e = floor(log2 amax) - emax_elem, is amax / 2^emax_elem rounded down into the format
    // e8m0: a block whose amax is 0 or below the range gets code 0 (2^-127), one above it code 0xFE.
    static const formats::Quantizer e8m0_floor(formats::parse_format("e8m0"), {formats::Rounding::rdn, 32});
    for (std::size_t g = 0; g < groups; ++g) {
      if (stats[g].nan || stats[g].inf) {
        e8m0[g] = 0xFF;
        continue;
      }
      // Exact unless it leaves the doubles' normal range, far beyond E8M0's (the code is the same).
      const double ratio = std::ldexp(stats[g].amax, -emax);
      const std::uint64_t code = *e8m0_floor.quantize(ratio).code;
      e8m0[g] = static_cast<std::uint8_t>(code);
      exact_risk[g] = needs_exact(stats[g], static_cast<std::int64_t>(code) - 127);
    }
  }
  for (auto r : exact_risk) out.any_risk |= r != 0;
  return out;
}

// y[j] = x[c0 + j] divided by its group's scale (scaled and mx; 0 in an mx NaN block, whose codes the
// caller sets).
template <class T> void Tensor::scaled_inputs(const GroupScales& s, const T* x, std::int64_t c0, std::int64_t len, double* y) const {
  const PolicyKind kind = policy_.kind();
  const bool pow2 = kind == PolicyKind::mx || policy_.scale_rule() == ScaleRule::pow2;
  layout_.for_each_run(c0, len, [&](std::int64_t g, std::int64_t start, std::int64_t rl) {
    const auto ug = static_cast<std::size_t>(g);
    double* out = y + (start - c0);
    const T* in = x + start;
    if (!pow2) {
      const double sc = s.scale[ug];
      for (std::int64_t j = 0; j < rl; ++j) out[j] = static_cast<double>(in[j]) / sc;
      return;
    }
    if (kind == PolicyKind::mx && s.e8m0[ug] == 0xFF) {
      for (std::int64_t j = 0; j < rl; ++j) out[j] = 0;
      return;
    }
    const std::int64_t k = kind == PolicyKind::mx ? std::int64_t{s.e8m0[ug]} - 127 : s.exponent[ug];
    if (const double f = pow2_normal(-k); f != 0)
      for (std::int64_t j = 0; j < rl; ++j) out[j] = static_cast<double>(in[j]) * f;
    else
      for (std::int64_t j = 0; j < rl; ++j) out[j] = std::ldexp(static_cast<double>(in[j]), static_cast<int>(-k));
  });
}

// f(j, golden result) for every element c0 + j of a power-of-two group whose quotient y[j] left the
// normal doubles (the division rounded): it is rounded from the exact quotient instead.
template <class T, class F>
void Tensor::each_exact(const GroupScales& s, const T* x, std::int64_t c0, std::int64_t len, const double* y,
                        const std::uint32_t* w, F&& f) const {
  if (!s.any_risk) return;
  const PolicyKind kind = policy_.kind();
  const bool sr = rounding_.mode == Rounding::sr;
  layout_.for_each_run(c0, len, [&](std::int64_t g, std::int64_t start, std::int64_t rl) {
    const auto ug = static_cast<std::size_t>(g);
    if (!s.exact_risk[ug] || (kind == PolicyKind::mx && s.e8m0[ug] == 0xFF)) return;
    const std::int64_t k = kind == PolicyKind::mx ? std::int64_t{s.e8m0[ug]} - 127 : s.exponent[ug];
    for (auto j = static_cast<std::size_t>(start - c0); j < static_cast<std::size_t>(start - c0 + rl); ++j) {
      const double xv = static_cast<double>(x[static_cast<std::size_t>(c0) + j]);
      if (!std::isfinite(xv) || xv == 0 || std::fabs(y[j]) >= kMinNormal) continue;
      const auto exact = formats::ExactInput::from_rational(formats::rational_from_double(xv) * formats::pow2(-k));
      f(j, formats::golden_quantize_exact(round_q_->format(), exact, rounding_, sr ? w[j] : 0u));
    }
  });
}

// o[j] = d[j] (element c0 + j's value in the format) times its group's scale (scaled and mx; NaN in an
// mx NaN block).
template <class T> void Tensor::scale_back(const GroupScales& s, std::int64_t c0, std::int64_t len, const double* d, T* o) const {
  const PolicyKind kind = policy_.kind();
  layout_.for_each_run(c0, len, [&](std::int64_t g, std::int64_t start, std::int64_t rl) {
    const auto ug = static_cast<std::size_t>(g);
    const std::size_t j0 = static_cast<std::size_t>(start - c0), j1 = j0 + static_cast<std::size_t>(rl);
    if (kind == PolicyKind::scaled && policy_.scale_rule() == ScaleRule::real) {
      for (std::size_t j = j0; j < j1; ++j) o[j] = static_cast<T>(d[j] * s.scale[ug]);
      return;
    }
    if (kind == PolicyKind::mx && s.e8m0[ug] == 0xFF) {
      for (std::size_t j = j0; j < j1; ++j) o[j] = std::numeric_limits<T>::quiet_NaN();
      return;
    }
    const std::int64_t k = kind == PolicyKind::mx ? std::int64_t{s.e8m0[ug]} - 127 : s.exponent[ug];
    if (const double f = pow2_normal(k); f != 0)
      for (std::size_t j = j0; j < j1; ++j) o[j] = static_cast<T>(d[j] * f);
    else
      for (std::size_t j = j0; j < j1; ++j) o[j] = static_cast<T>(std::ldexp(d[j], static_cast<int>(k)));
  });
}

// ---- quantize ----------------------------------------------------------------------------------

void Tensor::quantize(std::span<const float> x, std::uint64_t word_offset) {
  const formats::PhiloxWords rng(seed_);
  quantize_impl<float>(x, &rng, word_offset, {});
}
void Tensor::quantize(std::span<const double> x, std::uint64_t word_offset) {
  const formats::PhiloxWords rng(seed_);
  quantize_impl<double>(x, &rng, word_offset, {});
}
void Tensor::quantize(std::span<const float> x, std::span<const std::uint32_t> words) {
  quantize_impl<float>(x, nullptr, 0, words);
}
void Tensor::quantize(std::span<const double> x, std::span<const std::uint32_t> words) {
  quantize_impl<double>(x, nullptr, 0, words);
}

void Tensor::quantize_decode(std::span<const float> in, std::span<float> out, std::uint64_t word_offset) {
  quantize(in, word_offset);
  decode(out);
}
void Tensor::quantize_decode(std::span<const double> in, std::span<double> out, std::uint64_t word_offset) {
  quantize(in, word_offset);
  decode(out);
}

void Tensor::round_values(std::span<float> x, std::uint64_t word_offset) {
  const std::int64_t n = numel();
  const PolicyKind kind = policy_.kind();
  const Quantizer& rq = *round_q_;
  // The one-pass path: scaled and MX policies of formats whose values are doubles (every value code
  // pair is then the array rounding's value); the rest goes through the codes.
  if ((kind != PolicyKind::scaled && kind != PolicyKind::mx) || !policy_.format().is_binary() || !rq.supports_double_arrays()) {
    quantize_decode(std::span<const float>(x), x, word_offset);
    return;
  }
  if (static_cast<std::int64_t>(x.size()) != n)
    throw TensorError(fmt::format("round_values: {} values for a tensor of shape {} ({} elements)", x.size(), shape_.to_string(), n));
  const bool sr = rounding_.mode == Rounding::sr;
  const formats::PhiloxWords rng(seed_);
  const GroupScales scales = scales_of(std::span<const float>(x));
  std::array<double, kChunk> y, v;
  std::array<std::uint32_t, kChunk> w;
  for (std::int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const std::int64_t len = std::min(kChunk, n - c0);
    const auto ulen = static_cast<std::size_t>(len);
    std::span<const std::uint32_t> wspan;
    if (sr) {
      rng.fill(word_offset + static_cast<std::uint64_t>(c0), std::span<std::uint32_t>(w.data(), ulen));
      wspan = std::span<const std::uint32_t>(w.data(), ulen);
    }
    float* xc = x.data() + c0;
    scaled_inputs(scales, x.data(), c0, len, y.data());
    try {
      rq.quantize(std::span<const double>(y.data(), ulen), std::span<double>(v.data(), ulen), wspan);
    } catch (const QuantizeError&) {
      throw_for_element(rq, shape_, xc, y.data(), c0, ulen, sr ? w.data() : nullptr);
      throw;
    }
    each_exact(scales, x.data(), c0, len, y.data(), w.data(), [&](std::size_t j, const formats::GoldenResult& r) { v[j] = r.value; });
    scale_back(scales, c0, len, v.data(), xc);
  }
}

template <class T>
void Tensor::quantize_impl(std::span<const T> x, const formats::PhiloxWords* rng, std::uint64_t offset,
                           std::span<const std::uint32_t> words) {
  const std::int64_t n = numel();
  if (static_cast<std::int64_t>(x.size()) != n)
    throw TensorError(fmt::format("quantize: {} input values for a tensor of shape {} ({} elements)", x.size(),
                                  shape_.to_string(), n));
  const bool sr = rounding_.mode == Rounding::sr;
  if (sr && !rng && static_cast<std::int64_t>(words.size()) < n)
    throw TensorError(fmt::format("quantize: stochastic rounding needs one random word per element: {} words for {} elements",
                                  words.size(), n));
  const PolicyKind kind = policy_.kind();
  const Quantizer& rq = *round_q_;

  // ---- 1. the scale of every group, from the group's statistics -------------------------------
  GroupScales scales = scales_of(x);

  // ---- 2. the codes, chunk by chunk ---------------------------------------------------------------
  PackedCodes codes(policy_.format().width(), n);
  std::optional<PackedCodes> zmask;
  if (codeless_zero_) zmask.emplace(1, n);
  std::array<double, kChunk> y, v;
  std::array<float, kChunk> vf;
  std::array<std::uint64_t, kChunk> c;
  std::array<std::uint32_t, kChunk> w;
  const int width = policy_.format().width();
  const ValueCoder coder(rq);

  for (std::int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const std::int64_t len = std::min(kChunk, n - c0);
    const auto ulen = static_cast<std::size_t>(len);
    std::span<const std::uint32_t> wspan;
    if (sr) {
      if (rng) rng->fill(offset + static_cast<std::uint64_t>(c0), std::span<std::uint32_t>(w.data(), ulen));
      else std::copy_n(words.begin() + c0, len, w.begin());
      wspan = std::span<const std::uint32_t>(w.data(), ulen);
    }
    const std::span<const T> xc = x.subspan(static_cast<std::size_t>(c0), ulen);
    const std::span<std::uint64_t> cc(c.data(), ulen);
    const std::span<const double> yc(y.data(), ulen);
    // Rounds `in` (x itself for elementwise, else the scaled values) to codes in c: through the
    // vectorized Quantizer::quantize and the value coder when the format allows, else Quantizer::encode.
    auto encode = [&](auto in) {
      using In = std::remove_const_t<typename decltype(in)::element_type>;
      try {
        if (coder.ok()) {
          if constexpr (std::is_same_v<In, float>) {
            if (rq.supports_float_arrays()) {
              rq.quantize(in, std::span<float>(vf.data(), ulen), wspan);
              coder.encode(vf.data(), c.data(), ulen);
              return;
            }
            for (std::size_t j = 0; j < ulen; ++j) v[j] = static_cast<double>(in[j]);
            rq.quantize(std::span<const double>(v.data(), ulen), std::span<double>(v.data(), ulen), wspan);
          } else {
            rq.quantize(in, std::span<double>(v.data(), ulen), wspan);
          }
          coder.encode(v.data(), c.data(), ulen);
          return;
        }
        rq.encode(in, cc, wspan);
      } catch (const QuantizeError&) {
        throw_for_element(rq, shape_, xc.data(), in.data(), c0, ulen, sr ? w.data() : nullptr);
        throw;
      }
    };

    switch (kind) {
      case PolicyKind::elementwise: {
        if (!codeless_zero_) {
          encode(xc);
          break;
        }
        // Zero has no code: encode a stand-in, then flag the zeros and keep their sign in the code.
        for (std::size_t j = 0; j < ulen; ++j) y[j] = xc[j] == 0 ? 1.0 : static_cast<double>(xc[j]);
        encode(yc);
        const std::uint64_t sign = std::uint64_t{1} << (width - 1);
        for (std::size_t j = 0; j < ulen; ++j)
          if (xc[j] == 0) {
            c[j] = std::signbit(xc[j]) ? sign : 0;
            zmask->set(c0 + static_cast<std::int64_t>(j), 1);
          }
        break;
      }
      case PolicyKind::scaled:
      case PolicyKind::mx: {
        scaled_inputs(scales, x.data(), c0, len, y.data());
        encode(yc);
        if (kind == PolicyKind::mx)
          layout_.for_each_run(c0, len, [&](std::int64_t g, std::int64_t start, std::int64_t rl) {
            // A NaN block: the scale alone makes every element NaN. Its element codes are the
            // element's NaN code when it has one, else 0 (our choice; the spec leaves them open).
            if (scales.e8m0[static_cast<std::size_t>(g)] != 0xFF) return;
            std::fill_n(c.begin() + (start - c0), rl, nan_code_.value_or(0));
          });
        each_exact(scales, x.data(), c0, len, y.data(), w.data(),
                   [&](std::size_t j, const formats::GoldenResult& r) { c[j] = static_cast<std::uint64_t>(*r.code); });
        break;
      }
      case PolicyKind::affine: {
        layout_.for_each_run(c0, len, [&](std::int64_t g, std::int64_t start, std::int64_t rl) {
          const double s = scales.scale[static_cast<std::size_t>(g)];
          double* out = y.data() + (start - c0);
          const T* in = x.data() + start;
          for (std::int64_t j = 0; j < rl; ++j) out[j] = static_cast<double>(in[j]) / s;  // rounding 1
        });
        // rounding 2: to an integer r, as a double (exact: |r| < 2^52)
        try {
          rq.quantize(yc, std::span<double>(v.data(), ulen), wspan);
        } catch (const QuantizeError&) {
          encode(yc);  // names the element
        }
        const std::int64_t qmin = policy_.qmin(), qmax = policy_.qmax();
        const std::uint64_t mask = (std::uint64_t{1} << policy_.bits()) - 1;
        layout_.for_each_run(c0, len, [&](std::int64_t g, std::int64_t start, std::int64_t rl) {
          const std::int64_t z = scales.zero_point[static_cast<std::size_t>(g)];
          for (std::size_t j = static_cast<std::size_t>(start - c0); j < static_cast<std::size_t>(start - c0 + rl); ++j) {
            const std::int64_t q = std::clamp(static_cast<std::int64_t>(v[j]) + z, qmin, qmax);
            c[j] = static_cast<std::uint64_t>(q) & mask;
          }
        });
        break;
      }
    }
    codes.pack(c0, std::span<const std::uint64_t>(c.data(), ulen));
  }

  // ---- 3. commit (nothing above touched the tensor) ------------------------------------------------
  codes_ = std::move(codes);
  zero_mask_ = std::move(zmask);
  scales_ = std::move(scales);
}

template void Tensor::quantize_impl<float>(std::span<const float>, const formats::PhiloxWords*, std::uint64_t,
                                           std::span<const std::uint32_t>);
template void Tensor::quantize_impl<double>(std::span<const double>, const formats::PhiloxWords*, std::uint64_t,
                                            std::span<const std::uint32_t>);

// ---- decode ------------------------------------------------------------------------------------

void Tensor::decode(std::span<float> out) const {
  if (static_cast<std::int64_t>(out.size()) != numel())
    throw TensorError(fmt::format("decode: output of {} values for {} elements", out.size(), numel()));
  decode_impl<float>(0, out);
}
void Tensor::decode(std::span<double> out) const {
  if (static_cast<std::int64_t>(out.size()) != numel())
    throw TensorError(fmt::format("decode: output of {} values for {} elements", out.size(), numel()));
  decode_impl<double>(0, out);
}

void Tensor::decode_range(std::int64_t first, std::span<float> out) const { decode_impl<float>(first, out); }
void Tensor::decode_range(std::int64_t first, std::span<double> out) const { decode_impl<double>(first, out); }

template <class T> void Tensor::decode_impl(std::int64_t first, std::span<T> out) const {
  const auto count = static_cast<std::int64_t>(out.size());
  if (first < 0 || first > numel() || count > numel() - first)
    throw TensorError(fmt::format("decode: elements [{}, {}) out of range of {} elements", first, first + count, numel()));
  const PolicyKind kind = policy_.kind();
  const Quantizer& cq = *code_q_;
  std::array<std::uint64_t, kChunk> c;
  std::array<double, kChunk> d;
  for (std::int64_t c0 = first; c0 < first + count; c0 += kChunk) {
    const std::int64_t len = std::min(kChunk, first + count - c0);
    const auto ulen = static_cast<std::size_t>(len);
    T* o = out.data() + (c0 - first);
    const std::span<std::uint64_t> cc(c.data(), ulen);
    codes_.unpack(c0, cc);
    if (kind == PolicyKind::affine) {
      // value = (q - z) * s: q - z is an exact integer, the product is rounded once.
      const int bits = policy_.bits();
      const bool sgn = policy_.is_signed();
      layout_.for_each_run(c0, len, [&](std::int64_t g, std::int64_t start, std::int64_t rl) {
        const double s = scales_.scale[static_cast<std::size_t>(g)];
        const std::int64_t z = scales_.zero_point[static_cast<std::size_t>(g)];
        for (std::size_t j = static_cast<std::size_t>(start - c0); j < static_cast<std::size_t>(start - c0 + rl); ++j) {
          const std::int64_t q = sgn ? sign_extend(c[j], bits) : static_cast<std::int64_t>(c[j]);
          o[j] = static_cast<T>(static_cast<double>(q - z) * s);
        }
      });
      continue;
    }
    if constexpr (sizeof(T) == sizeof(float)) {
      if (kind == PolicyKind::elementwise && cq.supports_float_arrays() && !codeless_zero_) {
        cq.decode(std::span<const std::uint64_t>(c.data(), ulen), std::span<float>(o, ulen));
        continue;
      }
    }
    cq.decode(std::span<const std::uint64_t>(c.data(), ulen), std::span<double>(d.data(), ulen));
    switch (kind) {
      case PolicyKind::elementwise:
        if (codeless_zero_) {
          const std::uint64_t sign = std::uint64_t{1} << (cq.format().width() - 1);
          for (std::size_t j = 0; j < ulen; ++j)
            if (zero_mask_->get(c0 + static_cast<std::int64_t>(j))) d[j] = (c[j] & sign) ? -0.0 : 0.0;
        }
        for (std::size_t j = 0; j < ulen; ++j) o[j] = static_cast<T>(d[j]);
        break;
      case PolicyKind::scaled:
      case PolicyKind::mx: scale_back(scales_, c0, len, d.data(), o); break;
      case PolicyKind::affine: break;
    }
  }
}

// ---- elements, scales, views -------------------------------------------------------------------

double Tensor::value(std::int64_t flat) const {
  if (flat < 0 || flat >= numel()) throw TensorError(fmt::format("element {} out of range of {} elements", flat, numel()));
  double v;
  decode_impl<double>(flat, std::span<double>(&v, 1));
  return v;
}

std::optional<std::uint64_t> Tensor::code(std::int64_t flat) const {
  if (flat < 0 || flat >= numel()) throw TensorError(fmt::format("element {} out of range of {} elements", flat, numel()));
  if (zero_mask_ && zero_mask_->get(flat)) return std::nullopt;
  return codes_.get(flat);
}

void Tensor::set_code(std::int64_t flat, std::uint64_t code) {
  if (flat < 0 || flat >= numel()) throw TensorError(fmt::format("element {} out of range of {} elements", flat, numel()));
  const int width = codes_.width();
  if (width < 64 && (code >> width) != 0)
    throw PackingError(fmt::format("code 0x{:x} does not fit the {} bits of {}", code, width, format().name()));
  if (policy_.kind() != PolicyKind::affine) (void)code_q_->decode(code);  // throws for codes the format does not use
  codes_.set(flat, code);
  if (zero_mask_) zero_mask_->set(flat, 0);
}

GroupScale Tensor::group_scale(std::int64_t group) const {
  if (group < 0 || group >= num_groups())
    throw TensorError(fmt::format("scale group {} out of range of {} groups", group, num_groups()));
  const auto g = static_cast<std::size_t>(group);
  GroupScale s;
  switch (policy_.kind()) {
    case PolicyKind::elementwise: break;
    case PolicyKind::scaled:
      if (policy_.scale_rule() == ScaleRule::pow2) {
        s.exponent = scales_.exponent[g];
        s.scale = std::ldexp(1.0, s.exponent);
      } else {
        s.scale = scales_.scale[g];
      }
      break;
    case PolicyKind::affine:
      s.scale = scales_.scale[g];
      s.zero_point = scales_.zero_point[g];
      break;
    case PolicyKind::mx:
      s.e8m0 = scales_.e8m0[g];
      s.is_nan = s.e8m0 == 0xFF;
      s.exponent = s.is_nan ? 0 : static_cast<std::int32_t>(s.e8m0) - 127;
      s.scale = s.is_nan ? std::numeric_limits<double>::quiet_NaN() : std::ldexp(1.0, s.exponent);
      break;
  }
  return s;
}

TensorView Tensor::view() const { return TensorView(*this, 0, shape_); }

TensorView Tensor::operator[](std::int64_t index) const { return view()[index]; }

}  // namespace bitsim::sim
