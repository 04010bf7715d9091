#include "sim/methods/scaling/amax_scaling.hpp"

#include "formats/format_limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

namespace bitsim::sim::methods {

namespace {

const char* scale_name(ScaleFormat f) {
  switch (f) {
    case ScaleFormat::fp32: return "fp32";
    case ScaleFormat::pow2: return "pow2";
    case ScaleFormat::e8m0: return "e8m0";
  }
  return "?";
}

// The largest |x| over the finite elements (0 when there is none).
float finite_amax(std::span<const float> x) {
  float a = 0;
  for (const float v : x) {
    const float m = std::fabs(v);
    if (m <= std::numeric_limits<float>::max() && m > a) a = m;
  }
  return a;
}

class AmaxRounding final : public nn::RoundingPolicy {
 public:
  AmaxRounding(const AmaxScaling& spec, formats::RoundingSpec rounding)
      : spec_(spec), element_(saturating(spec.format), rounding, spec.constructor() + std::string(": key 'format': ")) {
    const formats::FiniteLimits format_limits = formats::finite_limits(spec.format);
    const double largest = format_limits.max_finite;
    if (!(largest > 0) || !std::isfinite(largest))
      throw PolicyError(fmt::format("{}: key 'format': {} has no positive largest finite value to scale to", spec.constructor(),
                                    spec.format.name()),
                        ErrorSite::at_key("format"));
    largest_ = static_cast<float>(largest);  // exact: every value of the format is a float (element_ checked it)
    limits_.codes = format_limits.codes;     // the range follows the tensor: only the number of codes is known
  }

  std::string text() const override { return spec_.text(); }
  formats::RoundingSpec rounding() const override { return element_.rounding(); }
  const formats::FiniteLimits& finite_limits() const override { return limits_; }
  std::string code_format() const override { return spec_.text(); }  // as the tensor policies: the scale follows the tensor
  std::int64_t code_bits() const override { return spec_.format.width(); }
  int state_floats() const override { return spec_.history * kAmaxSlots; }
  const char* state_name() const override { return "amax_history"; }

  nn::PowerOfTwoScale apply(std::span<float> x, std::uint64_t seed, int threads, const nn::PolicyState* state,
                            const Nchw& shape) const override {
    if (spec_.axis) {
      per_index(x, seed, threads, shape);
      return {};
    }
    const float now = finite_amax(x);
    float reference = now;
    float* history = nullptr;
    if (spec_.history > 0) {
      if (state->slot < 0 || state->slot >= kAmaxSlots)
        throw std::logic_error(fmt::format("delayed scaling: slot {} beyond the {} histories of a layer's role", state->slot, kAmaxSlots));
      history = state->values + static_cast<std::ptrdiff_t>(state->slot) * spec_.history;
      reference = spec_.amax == AmaxOf::max ? *std::max_element(history, history + spec_.history) : history[0];
    }
    const AmaxScale s = amax_scale(reference, largest_, spec_.margin, spec_.scale);
    multiply(x, s, true);
    element_.policy().apply(x, seed, threads, nullptr, shape);  // errors name the element; RoleRounding adds the site
    multiply(x, s, false);
    if (history && state->training && state->update) {
      std::copy_backward(history, history + spec_.history - 1, history + spec_.history);
      history[0] = now;
    }
    if (!s.power_of_two || reference == 0) return {};
    return nn::PowerOfTwoScale{true, -s.exponent};  // values are codes times 2^-exponent
  }

 private:
  // Current scaling with one scale per index of axis N of the NCHW shape (a shape that does not
  // match x is the row [1, size, 1, 1]): the groups are the runs of `inner` elements with the same index.
  void per_index(std::span<float> x, std::uint64_t seed, int threads, const Nchw& shape) const {
    const auto size = static_cast<std::int64_t>(x.size());
    const Nchw s = shape.numel() == size && shape.n > 0 ? shape : Nchw{1, size, 1, 1};
    const std::int64_t dims[4] = {s.n, s.c, s.h, s.w};
    const int axis = *spec_.axis;
    std::int64_t inner = 1;
    for (int d = axis + 1; d < 4; ++d) inner *= dims[d];
    const std::int64_t dim = dims[axis];
    std::vector<float> amax(static_cast<std::size_t>(dim), 0.0f);
    for (std::int64_t start = 0; start < size; start += inner) {
      float& a = amax[static_cast<std::size_t>((start / inner) % dim)];
      a = std::max(a, finite_amax(x.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(inner))));
    }
    std::vector<AmaxScale> scales(amax.size());
    for (std::size_t g = 0; g < amax.size(); ++g) scales[g] = amax_scale(amax[g], largest_, spec_.margin, spec_.scale);
    auto each_run = [&](bool into) {
      for (std::int64_t start = 0; start < size; start += inner)
        multiply(x.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(inner)),
                 scales[static_cast<std::size_t>((start / inner) % dim)], into);
    };
    each_run(true);
    element_.policy().apply(x, seed, threads, nullptr, shape);  // element j takes word j, whatever its group
    each_run(false);
  }

  // x *= s (into the format's range) or x *= s_inv (back), one float rounding per element.
  static void multiply(std::span<float> x, const AmaxScale& s, bool into) {
    if (s.power_of_two) {
      if (s.exponent == 0) return;
      const int k = into ? s.exponent : -s.exponent;
      for (float& v : x) v = static_cast<float>(std::ldexp(static_cast<double>(v), k));  // exact in double, then one rounding
      return;
    }
    const float m = into ? s.multiplier : s.inverse;
    for (float& v : x) v = v * m;
  }

  AmaxScaling spec_;
  nn::RoleRounding element_;
  float largest_ = 0;
  formats::FiniteLimits limits_;
};

// The ranges of the keys, checked in this one place for the config spellings (the values as written,
// before they are narrowed to int) and for amax_rounding's C++ callers.
void check_ranges(bool delayed, std::int64_t history, std::int64_t margin, std::optional<std::int64_t> axis) {
  const char* ctor = delayed ? "delayed" : "current";
  if (delayed && (history < 1 || history > kMaxAmaxHistory))
    throw PolicyError(fmt::format("delayed: key 'history' out of range: {} (must be 1..{})", history, kMaxAmaxHistory),
                      ErrorSite::at_key("history"));
  if (margin < 0 || margin > kMaxMargin)
    throw PolicyError(fmt::format("{}: key 'margin' out of range: {} (must be 0..{})", ctor, margin, kMaxMargin), ErrorSite::at_key("margin"));
  if (axis && delayed)
    throw PolicyError("delayed: key 'axis': per-index scales are for current scaling (one amax history per site)", ErrorSite::at_key("axis"));
  if (axis && (*axis < 0 || *axis > 3))
    throw PolicyError(fmt::format("current: key 'axis' out of range: {} (must be 0..3, an axis of the NCHW tensor)", *axis),
                      ErrorSite::at_key("axis"));
}

// The key=value arguments both constructors share.
AmaxScaling read_common(formats::SpecArguments<PolicyError>& args) {
  AmaxScaling spec;
  const std::string text = args.require("format");
  try {
    spec.format = formats::parse_format(text);
  } catch (const formats::FormatError& e) {
    throw PolicyError(fmt::format("{}: key 'format': {}", args.ctor(), e.what()), ErrorSite::at_key("format"));
  }
  if (auto m = args.take("margin")) {
    const std::int64_t v = args.integer("margin", *m);
    check_ranges(false, 0, v, std::nullopt);
    spec.margin = static_cast<int>(v);
  }
  if (auto s = args.take("scale")) {
    if (*s == "fp32") spec.scale = ScaleFormat::fp32;
    else if (*s == "pow2") spec.scale = ScaleFormat::pow2;
    else if (*s == "e8m0") spec.scale = ScaleFormat::e8m0;
    else
      throw PolicyError(fmt::format("{}: key 'scale': expected fp32, pow2 or e8m0, got '{}'", args.ctor(), *s), ErrorSite::at_key("scale"));
  }
  return spec;
}

}  // namespace

std::string AmaxScaling::text() const {
  std::string s = fmt::format("{}(format={}", constructor(), format.name());
  if (history != 0) s += fmt::format(",history={}", history);
  if (margin != 0) s += fmt::format(",margin={}", margin);
  if (scale != ScaleFormat::fp32) s += fmt::format(",scale={}", scale_name(scale));
  if (axis) s += fmt::format(",axis={}", *axis);
  if (history != 0 && amax != AmaxOf::max) s += ",amax=most_recent";
  return s + ")";
}

AmaxScale amax_scale(float amax, float largest, int margin, ScaleFormat format) {
  AmaxScale s;
  if (!(amax > 0)) return s;  // nothing measured yet, or an all-zero tensor: s = 1
  if (format == ScaleFormat::fp32) {
    constexpr float kMax = std::numeric_limits<float>::max(), kMin = std::numeric_limits<float>::denorm_min();
    float m = largest / amax;
    if (m > kMax) m = kMax;
    m = static_cast<float>(std::ldexp(static_cast<double>(m), -margin));  // exact, or one rounding below float's normals
    if (m < kMin) m = kMin;
    float inv = 1.0f / m;
    if (inv > kMax) inv = kMax;
    s.multiplier = m;
    s.inverse = inv;
    s.power_of_two = false;
    return s;
  }
  // The largest k with amax * 2^k <= largest: compare the significands of the two (frexp is exact).
  int ea = 0, el = 0;
  const double ma = std::frexp(static_cast<double>(amax), &ea), ml = std::frexp(static_cast<double>(largest), &el);
  int k = el - ea - (ma > ml ? 1 : 0) - margin;
  if (format == ScaleFormat::e8m0) k = std::clamp(k, -127, 127);
  s.exponent = k;
  s.multiplier = static_cast<float>(std::ldexp(1.0, k));  // informational: apply() scales by the exponent
  s.inverse = static_cast<float>(std::ldexp(1.0, -k));
  return s;
}

nn::RoleRounding amax_rounding(const AmaxScaling& spec, formats::RoundingSpec rounding) {
  // history 0 is current scaling; a negative one is a delayed history out of range.
  check_ranges(spec.history != 0, spec.history, spec.margin, spec.axis);
  return nn::RoleRounding(std::make_shared<const AmaxRounding>(spec, rounding));
}

nn::RoleRounding current_scaling_from(formats::SpecArguments<PolicyError>& args, formats::RoundingSpec rounding) {
  AmaxScaling spec = read_common(args);
  if (auto a = args.take("axis")) {
    const std::int64_t v = args.integer("axis", *a);
    check_ranges(false, 0, spec.margin, v);
    spec.axis = static_cast<int>(v);
  }
  args.finish();
  return amax_rounding(spec, rounding);
}

nn::RoleRounding delayed_scaling_from(formats::SpecArguments<PolicyError>& args, formats::RoundingSpec rounding) {
  AmaxScaling spec = read_common(args);
  const std::int64_t h = args.integer("history", args.require("history"));
  check_ranges(true, h, spec.margin, std::nullopt);
  spec.history = static_cast<int>(h);
  if (auto a = args.take("amax")) {
    if (*a == "max") spec.amax = AmaxOf::max;
    else if (*a == "most_recent") spec.amax = AmaxOf::most_recent;
    else throw PolicyError(fmt::format("delayed: key 'amax': expected max or most_recent, got '{}'", *a), ErrorSite::at_key("amax"));
  }
  args.finish();
  return amax_rounding(spec, rounding);
}

}  // namespace bitsim::sim::methods
