#include "formats/quantizer.hpp"

#include "formats/fixed_kernel.hpp"
#include "formats/float_kernel.hpp"
#include "formats/golden.hpp"
#include "formats/graham_tables.hpp"
#include "formats/quantize_loops.hpp"

#include <fmt/format.h>

#include <array>
#include <mutex>
#include <cmath>
#include <limits>

namespace bitsim::formats {

using namespace detail;

enum class Family { floating, fixed, graham };

struct Quantizer::Impl {
  Family family;
  bool fits_float = false, fits_double = false;
  std::optional<FloatConsts<float>> ff;
  std::optional<FloatConsts<double>> fd;
  std::optional<FixedConsts> fixed;
  double fixed_scale_d = 1;  // 2^-f
  float fixed_scale_f = 1;
  std::optional<GrahamTable<float>> gf;
  std::optional<GrahamTable<double>> gd;
  // Decode tables for widths up to kDecodeTableBits, built on the first array decode.
  mutable std::once_flag lut_once;
  mutable std::vector<double> lut_d;
  mutable std::vector<float> lut_f;
  mutable std::vector<std::uint8_t> lut_used;  // 0 for codes the format does not use
};

// Widths up to this many bits decode arrays through a table of every code's value.
constexpr int kDecodeTableBits = 16;

namespace {

// The error of a scalar input a fixed-point format cannot take (array calls add the element index).
[[noreturn]] void throw_bad_fixed_input(const Format& f, double x) {
  if (std::isnan(x)) throw QuantizeError(fmt::format("NaN input, but format {} has no NaN", f.name()));
  throw QuantizeError(fmt::format("infinite input, but format {} wraps and cannot take an infinity", f.name()));
}

}  // namespace

// ---- construction ----------------------------------------------------------------------------------

Quantizer::Quantizer(const Format& format, RoundingSpec rounding)
    : format_(format), rounding_(rounding), impl_(std::make_unique<Impl>()) {
  if (rounding.mode == Rounding::sr && (rounding.sr_bits < 1 || rounding.sr_bits > 32))
    throw QuantizeError(fmt::format("stochastic rounding uses 1..32 random bits of each word, not {}", rounding.sr_bits),
                        ErrorSite::at_key("sr_bits"));
  Impl& im = *impl_;
  if (format.is<FloatFormat>()) {
    im.family = Family::floating;
    const auto& f = format.as<FloatFormat>();
    im.fits_float = float_fits<float>(f);
    im.fits_double = float_fits<double>(f);
    if (im.fits_float) im.ff.emplace(f, rounding.sr_bits);
    if (im.fits_double) im.fd.emplace(f, rounding.sr_bits);
  } else if (format.is<FixedFormat>()) {
    im.family = Family::fixed;
    const auto& f = format.as<FixedFormat>();
    im.fits_float = fixed_fits<float>(f);
    im.fits_double = fixed_fits<double>(f);
    im.fixed.emplace(f, rounding.sr_bits);
    if (im.fits_double) im.fixed_scale_d = std::ldexp(1.0, -f.f);
    if (im.fits_float) im.fixed_scale_f = std::ldexp(1.0f, -f.f);
  } else {
    im.family = Family::graham;
    if (rounding.mode != Rounding::rne)
      throw QuantizeError(fmt::format("format {} defines its own rounding; rounding mode {} is not allowed (only rne)",
                                      format.name(), rounding_name(rounding.mode)));
    std::int64_t count = 8;
    if (format.is<LogFormat>()) count = format.as<LogFormat>().hi - format.as<LogFormat>().lo + 1;
    if (format.is<MidriseFormat>()) count = format.as<MidriseFormat>().hi - format.as<MidriseFormat>().lo + 1;
    if (count <= kMaxGrahamTable) {
      im.gf.emplace(build_graham_table<float>(format));
      im.gd.emplace(build_graham_table<double>(format));
      im.fits_float = im.fits_double = true;
    }
  }
}

Quantizer::~Quantizer() = default;
Quantizer::Quantizer(Quantizer&&) noexcept = default;
Quantizer& Quantizer::operator=(Quantizer&&) noexcept = default;

bool Quantizer::supports_float_arrays() const { return impl_->fits_float; }
// Graham formats too large for a table are served element by element by the golden path: double arrays
// take the golden nearest doubles; float arrays are refused (a nearest double cast to float could round
// twice).
bool Quantizer::supports_double_arrays() const { return impl_->fits_double || (impl_->family == Family::graham && !impl_->gd); }
bool Quantizer::scalar_is_fast() const { return impl_->fits_double; }

// ---- scalar ----------------------------------------------------------------------------------------

Quantized Quantizer::quantize(double x, std::uint32_t word) const {
  const Impl& im = *impl_;
  if (!im.fits_double) {
    GoldenResult g = golden_quantize(format_, x, rounding_, word);
    Quantized q;
    if (g.code) {
      if (*g.code > std::numeric_limits<std::uint64_t>::max())
        throw QuantizeError(fmt::format("format {} has codes wider than 64 bits; use the golden path", format_.name()));
      q.code = static_cast<std::uint64_t>(*g.code);
    }
    q.value = g.value;
    q.flags = g.flags;
    return q;
  }
  Quantized q;
  switch (im.family) {
    case Family::floating: {
      const auto& k = *im.fd;
      with_mode(rounding_.mode, [&]<Rounding MODE>() {
        const FloatRounded<double> r = round_float<double, MODE>(k, x, word);
        if (r.nan_input && !k.has_nan)
          throw QuantizeError(fmt::format("NaN input, but format {} has no NaN", format_.name()));
        q.code = r.code;
        q.value = from_bits<double>(r.bits);
        std::uint8_t flags = 0;
        if (r.invalid) flags |= flag::invalid;
        if (r.overflow) flags |= flag::overflow;
        if (r.inexact) flags |= flag::inexact;
        if (r.inexact && !r.negative_clamped &&
            (r.underflow || (!r.overflow && x != 0 && float_tiny<double, MODE>(k, x, word))))
          flags |= flag::underflow;
        q.flags = flags;
      });
      return q;
    }
    case Family::fixed: {
      const auto& k = *im.fixed;
      with_mode(rounding_.mode, [&]<Rounding MODE>() {
        const FixedRounded r = round_fixed<double, MODE>(k, x, word);
        if (r.nan_input || r.inf_wrap_error) throw_bad_fixed_input(format_, x);
        q.code = r.code;
        q.value = static_cast<double>(r.value_code) * im.fixed_scale_d;
        std::uint8_t flags = 0;
        if (r.invalid) flags |= flag::invalid;
        if (r.overflow) flags |= flag::overflow;
        if (r.inexact) flags |= flag::inexact;
        q.flags = flags;
      });
      return q;
    }
    case Family::graham: {
      const auto& t = *im.gd;
      if (std::isnan(x)) throw QuantizeError(fmt::format("NaN input, but format {} has no NaN", format_.name()));
      if (t.on_magnitude && x == 0) {
        q.value = x;
        return q;
      }
      std::int64_t n;
      std::uint8_t flags = 0;
      if (std::isinf(x)) {
        n = (t.on_magnitude || x > 0) ? t.hi : t.lo;
        flags = flag::invalid;
      } else {
        const GrahamLookup l = graham_index(t, x);
        n = l.n;
        const std::size_t i = static_cast<std::size_t>(n - t.lo);
        const double mag = t.on_magnitude ? std::fabs(x) : x;
        const bool exact = t.value_exact[i] && t.value[i] == mag;
        if (!exact) flags |= flag::inexact;
        if (l.overflow) flags |= flag::overflow | flag::inexact;
        if (l.underflow_raw && !exact) flags |= flag::underflow;
      }
      const std::size_t i = static_cast<std::size_t>(n - t.lo);
      const double v = t.value[i];
      const bool neg = t.on_magnitude && std::signbit(x);
      q.value = neg ? -v : v;
      q.code = t.on_magnitude ? (static_cast<std::uint64_t>(n - t.lo) | (neg ? t.sign_code : 0))
                              : static_cast<std::uint64_t>(n - t.lo);
      q.flags = flags;
      return q;
    }
  }
  return q;
}

// ---- arrays ----------------------------------------------------------------------------------------

namespace {

template <class T>
void check_array_args(const Quantizer& qz, bool fits, std::size_t in_size, std::size_t out_size, std::size_t words_size) {
  if (!fits) {
    if (!qz.format().is_binary())
      throw QuantizeError(fmt::format("format {} has too many indices for the fast tables; float arrays are not "
                                      "supported for it (use double arrays, served by the golden path)",
                                      qz.format().name()));
    throw QuantizeError(fmt::format("format {} has values that {} cannot hold exactly; use {}", qz.format().name(),
                                    sizeof(T) == 4 ? "float" : "double",
                                    sizeof(T) == 4 ? "double arrays or the scalar quantize()" : "the scalar quantize()"));
  }
  if (in_size != out_size) throw QuantizeError(fmt::format("input has {} elements, output {}", in_size, out_size));
  if (qz.rounding().mode == Rounding::sr && words_size < in_size)
    throw QuantizeError(fmt::format("stochastic rounding needs one random word per element: {} words for {} elements",
                                    words_size, in_size));
}

}  // namespace

// Where stochastic rounding takes its words: the caller's array, one word per element, or the Philox
// stream rng, element i taking word first + i.
struct WordSource {
  std::span<const std::uint32_t> words;
  const PhiloxWords* rng = nullptr;
  std::uint64_t first = 0;
};

template <class T>
static void quantize_array(const Quantizer& qz, const Quantizer::Impl& im, std::span<const T> in, std::span<T> out,
                           const WordSource& src) {
  if constexpr (sizeof(T) == 8) {
    if (im.family == Family::graham && !im.gd) {  // no table: the golden path, element by element
      if (in.size() != out.size()) throw QuantizeError(fmt::format("input has {} elements, output {}", in.size(), out.size()));
      for (std::size_t i = 0; i < in.size(); ++i) {
        try {
          out[i] = qz.quantize(in[i]).value;
        } catch (const QuantizeError& e) {
          throw QuantizeError::at_element(static_cast<std::int64_t>(i), e.what());
        }
      }
      return;
    }
  }
  const bool fits = sizeof(T) == 4 ? im.fits_float : im.fits_double;
  check_array_args<T>(qz, fits, in.size(), out.size(), src.rng ? in.size() : src.words.size());
  const std::uint32_t* w = src.words.empty() ? nullptr : src.words.data();
  const Rounding mode = qz.rounding().mode;
  const bool philox = mode == Rounding::sr && src.rng != nullptr;
  bool bad = false;
  switch (im.family) {
    case Family::floating: {
      const FloatConsts<T>* k;
      if constexpr (sizeof(T) == 4) k = &*im.ff;
      else k = &*im.fd;
      bad = philox ? float_values_sr(*k, src.rng->seed(), src.first, in.data(), out.data(), in.size())
                   : float_values(*k, mode, in.data(), out.data(), w, in.size());
      break;
    }
    case Family::fixed: {
      T scale;
      if constexpr (sizeof(T) == 4) scale = im.fixed_scale_f;
      else scale = im.fixed_scale_d;
      bad = philox ? fixed_values_sr(*im.fixed, scale, src.rng->seed(), src.first, in.data(), out.data(), in.size())
                   : fixed_values(*im.fixed, scale, mode, in.data(), out.data(), w, in.size());
      break;
    }
    case Family::graham: {
      if constexpr (sizeof(T) == 4) bad = graham_values(*im.gf, in.data(), out.data(), in.size());
      else bad = graham_values(*im.gd, in.data(), out.data(), in.size());
      break;
    }
  }
  if (bad) {
    // Rare: name the first offending element. The output may alias the input, so scan the output,
    // where the loops left a NaN for every bad element (and for no good one: bad only arises in
    // formats without NaN).
    for (std::size_t i = 0; i < out.size(); ++i)
      if (std::isnan(out[i]))
        throw QuantizeError::at_element(static_cast<std::int64_t>(i),
                                        fmt::format("format {} cannot take this input (NaN{})", qz.format().name(),
                                                    im.family == Family::fixed ? ", or an infinity under overflow=wrap" : ""));
  }
}

void Quantizer::quantize(std::span<const float> in, std::span<float> out, std::span<const std::uint32_t> words) const {
  quantize_array<float>(*this, *impl_, in, out, {words});
}
void Quantizer::quantize(std::span<const double> in, std::span<double> out, std::span<const std::uint32_t> words) const {
  quantize_array<double>(*this, *impl_, in, out, {words});
}
void Quantizer::quantize(std::span<const float> in, std::span<float> out, const PhiloxWords& rng, std::uint64_t first) const {
  quantize_array<float>(*this, *impl_, in, out, {{}, &rng, first});
}
void Quantizer::quantize(std::span<const double> in, std::span<double> out, const PhiloxWords& rng, std::uint64_t first) const {
  quantize_array<double>(*this, *impl_, in, out, {{}, &rng, first});
}

// ---- encode / decode -------------------------------------------------------------------------------

template <class T> static T graham_decode(const GrahamTable<T>& t, std::uint64_t code) {
  std::uint64_t idx = code;
  bool neg = false;
  if (t.on_magnitude && (code & t.sign_code)) {
    neg = true;
    idx = code & ~t.sign_code;
  }
  if (idx >= t.value.size()) throw QuantizeError(fmt::format("code 0x{:x} is not used by this format", code));
  return neg ? -t.value[idx] : t.value[idx];
}

// Value of a float-format code; exact in double when the format fits double.
static double float_decode(const FloatConsts<double>& k, const FloatFormat& f, std::uint64_t code) {
  const bool neg = f.is_signed && (code & k.sign_code) != 0;  // an unsigned code is below sign_code
  const std::uint64_t idx = code & (k.sign_code - 1);
  if (k.has_nan && code == k.nan_code) return std::numeric_limits<double>::quiet_NaN();
  const std::uint64_t field = idx >> f.m, frac = idx & ((std::uint64_t{1} << f.m) - 1);
  const std::uint64_t top = (std::uint64_t{1} << f.e) - 1;
  switch (f.special) {
    case Special::ieee:
      if (field == top) return frac == 0 ? (neg ? -HUGE_VAL : HUGE_VAL) : std::numeric_limits<double>::quiet_NaN();
      break;
    case Special::fn:
      if (idx == (k.sign_code - 1)) return std::numeric_limits<double>::quiet_NaN();
      break;
    case Special::inuz:
      if (idx == k.inf_code) return neg ? -HUGE_VAL : HUGE_VAL;
      break;
    case Special::fnuz:
    case Special::none: break;
  }
  double mag;  // field 0 holds zero and the subnormals, or (no zero) normals like every other field
  if (field == 0 && f.has_zero) mag = std::ldexp(static_cast<double>(frac), static_cast<int>(f.emin() - f.m));
  else mag = std::ldexp(static_cast<double>((std::uint64_t{1} << f.m) + frac), static_cast<int>(static_cast<std::int64_t>(field) - f.bias - f.m));
  return neg ? -mag : mag;
}

// Codes for an array: the family and rounding mode are resolved once, then one loop per case.
template <class T>
static void encode_array(const Quantizer& qz, const Quantizer::Impl& im, std::span<const T> in,
                         std::span<std::uint64_t> codes, std::span<const std::uint32_t> words) {
  if (in.size() != codes.size()) throw QuantizeError(fmt::format("input has {} elements, codes {}", in.size(), codes.size()));
  const bool sr = qz.rounding().mode == Rounding::sr;
  if (sr && words.size() < in.size())
    throw QuantizeError(fmt::format("stochastic rounding needs one random word per element: {} words for {} elements",
                                    words.size(), in.size()));
  auto word = [&](std::size_t i) { return sr ? words[i] : 0u; };
  auto fail = [&](std::size_t i, const char* why) {
    throw QuantizeError::at_element(static_cast<std::int64_t>(i), fmt::format("{} ({})", why, qz.format().name()));
  };
  if (im.fits_double && im.family == Family::floating) {
    const FloatConsts<double> k = *im.fd;
    with_mode(qz.rounding().mode, [&]<Rounding MODE>() {
      for (std::size_t i = 0; i < in.size(); ++i) {
        const FloatRounded<double> r = round_float<double, MODE>(k, static_cast<double>(in[i]), word(i));
        if (r.nan_input && !k.has_nan) fail(i, "NaN input, but the format has no NaN");
        codes[i] = r.code;
      }
    });
    return;
  }
  if (im.fits_double && im.family == Family::fixed) {
    const FixedConsts k = *im.fixed;
    with_mode(qz.rounding().mode, [&]<Rounding MODE>() {
      for (std::size_t i = 0; i < in.size(); ++i) {
        const FixedRounded r = round_fixed<double, MODE>(k, static_cast<double>(in[i]), word(i));
        if (r.nan_input) fail(i, "NaN input, but fixed point has no NaN");
        if (r.inf_wrap_error) fail(i, "infinite input, but the format wraps");
        codes[i] = r.code;
      }
    });
    return;
  }
  if (im.family == Family::graham && im.gd) {
    if constexpr (sizeof(T) == 4) {
      // Float inputs against the float table (its thresholds are exact for floats), L at a time; a
      // lane without a code sends the whole array to the loop below, which names the element.
      const GrahamTable<float>& tf = *im.gf;
      if (tf.value.size() <= kGrahamLanesMax) {
        bool any_bad = false;
        std::size_t i = graham_codes(tf, in.data(), codes.data(), in.size(), any_bad);
        if (!any_bad) {
          for (; i < in.size(); ++i) {
            const float x = in[i];
            if (std::isnan(x) || (tf.on_magnitude && x == 0)) break;
            const std::int64_t n = std::isinf(x) ? ((tf.on_magnitude || x > 0) ? tf.hi : tf.lo) : graham_index(tf, x).n;
            codes[i] = static_cast<std::uint64_t>(n - tf.lo) | ((tf.on_magnitude && std::signbit(x)) ? tf.sign_code : 0);
          }
          if (i == in.size()) return;
        }
      }
    }
    const GrahamTable<double>& t = *im.gd;
    for (std::size_t i = 0; i < in.size(); ++i) {
      const double x = static_cast<double>(in[i]);
      if (std::isnan(x)) fail(i, "NaN input, but the format has no NaN");
      if (t.on_magnitude && x == 0) fail(i, "zero has no code in this format");
      const std::int64_t n = std::isinf(x) ? ((t.on_magnitude || x > 0) ? t.hi : t.lo) : graham_index(t, x).n;
      const bool neg = t.on_magnitude && std::signbit(x);
      codes[i] = static_cast<std::uint64_t>(n - t.lo) | (neg ? t.sign_code : 0);
    }
    return;
  }
  // Formats beyond the fast kernels: the golden path, element by element.
  for (std::size_t i = 0; i < in.size(); ++i) {
    Quantized q;
    try {
      q = qz.quantize(static_cast<double>(in[i]), word(i));
    } catch (const QuantizeError& e) {
      throw QuantizeError::at_element(static_cast<std::int64_t>(i), e.what());
    }
    if (!q.code) fail(i, "zero has no code in this format");
    codes[i] = *q.code;
  }
}

void Quantizer::encode(std::span<const float> in, std::span<std::uint64_t> codes, std::span<const std::uint32_t> words) const {
  encode_array<float>(*this, *impl_, in, codes, words);
}
void Quantizer::encode(std::span<const double> in, std::span<std::uint64_t> codes, std::span<const std::uint32_t> words) const {
  encode_array<double>(*this, *impl_, in, codes, words);
}

double Quantizer::decode(std::uint64_t code) const {
  const int w = format_.width();
  if (w < 64 && code >> w) throw QuantizeError(fmt::format("code 0x{:x} does not fit width {} of {}", code, w, format_.name()));
  const Impl& im = *impl_;
  if (im.family == Family::graham && im.gd) return graham_decode(*im.gd, code);
  if (im.family == Family::floating && im.fd) return float_decode(*im.fd, format_.as<FloatFormat>(), code);
  if (im.family == Family::fixed && im.fits_double) {
    std::int64_t c = static_cast<std::int64_t>(code);
    if (im.fixed->is_signed && (code >> (w - 1)) & 1) c = static_cast<std::int64_t>(code | ~im.fixed->width_mask);
    return static_cast<double>(c) * im.fixed_scale_d;
  }
  return golden_decode(format_, BigInt(code)).value;
}

// Fills the decode tables (every code's value as double and as float) for a narrow format.
static void build_decode_tables(const Quantizer& q, const Quantizer::Impl& im) {
  const std::size_t n = std::size_t{1} << q.format().width();
  im.lut_d.resize(n);
  im.lut_used.assign(n, 1);
  if (im.fits_float) im.lut_f.resize(n);
  for (std::size_t c = 0; c < n; ++c) {
    try {
      im.lut_d[c] = q.decode(c);
      if (im.fits_float) im.lut_f[c] = im.gf ? graham_decode(*im.gf, c) : static_cast<float>(im.lut_d[c]);
    } catch (const QuantizeError&) {
      im.lut_used[c] = 0;
      im.lut_d[c] = std::numeric_limits<double>::quiet_NaN();
      if (im.fits_float) im.lut_f[c] = std::numeric_limits<float>::quiet_NaN();
    }
  }
}

template <class T>
static void decode_array(const Quantizer& q, const Quantizer::Impl& im, std::span<const std::uint64_t> codes, std::span<T> out) {
  if (codes.size() != out.size()) throw QuantizeError("decode: codes and output differ in size");
  const int w = q.format().width();
  if (w > kDecodeTableBits) {
    for (std::size_t i = 0; i < codes.size(); ++i) out[i] = static_cast<T>(q.decode(codes[i]));
    return;
  }
  std::call_once(im.lut_once, [&] { build_decode_tables(q, im); });
  const T* table;
  if constexpr (sizeof(T) == 4) table = im.lut_f.data();
  else table = im.lut_d.data();
  const std::uint64_t mask = (std::uint64_t{1} << w) - 1;
  std::uint64_t out_of_range = 0;
  std::uint8_t all_used = 1;
  const std::uint8_t* used = im.lut_used.data();
  for (std::size_t i = 0; i < codes.size(); ++i) {
    out_of_range |= codes[i] & ~mask;
    out[i] = table[codes[i] & mask];
    all_used &= used[codes[i] & mask];
  }
  if (out_of_range != 0 || !all_used)
    for (std::size_t i = 0; i < codes.size(); ++i) (void)q.decode(codes[i]);  // throws naming the bad code
}

void Quantizer::decode(std::span<const std::uint64_t> codes, std::span<double> out) const {
  decode_array<double>(*this, *impl_, codes, out);
}

void Quantizer::decode(std::span<const std::uint64_t> codes, std::span<float> out) const {
  if (!impl_->fits_float) throw QuantizeError(fmt::format("format {} has values that float cannot hold", format_.name()));
  if (format_.width() > kDecodeTableBits && impl_->gf) {  // Graham values are rounded per type: use the float table
    if (codes.size() != out.size()) throw QuantizeError("decode: codes and output differ in size");
    for (std::size_t i = 0; i < codes.size(); ++i) out[i] = graham_decode(*impl_->gf, codes[i]);
    return;
  }
  // Float and fixed values that fit float are exact doubles, so the conversion in the table is exact.
  decode_array<float>(*this, *impl_, codes, out);
}

}  // namespace bitsim::formats
