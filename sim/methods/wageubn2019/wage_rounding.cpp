#include "sim/methods/wageubn2019/wage_rounding.hpp"

#include <fmt/format.h>

#include <memory>

namespace bitsim::sim::methods {

namespace {

class WageRounding final : public nn::TensorGridPolicy {
 public:
  WageRounding(const WageSpec& spec, bool stochastic)
      : TensorGridPolicy(spec.bits, stochastic, 32), spec_(spec) {}  // one whole Philox word per element

  const WageSpec& spec() const { return spec_; }
  std::string text() const override { return spec_.text(); }

  nn::PowerOfTwoScale apply(std::span<float> x, std::uint64_t seed, int threads, const nn::PolicyState*, const Nchw&) const override {
    const formats::PhiloxWords words(seed);
    return wage_quantize(x, spec_, stochastic(), &words, threads);
  }

 private:
  WageSpec spec_;
};

}  // namespace

nn::RoleRounding wage_rounding(const WageSpec& spec, bool stochastic) {
  spec.validate();
  if (stochastic && spec.kind != WageKind::constant)
    throw formats::FormatError(fmt::format("{} quantizer: stochastic rounding is only defined for constant (G)", wage_kind_name(spec.kind)));
  return nn::RoleRounding(std::make_shared<const WageRounding>(spec, stochastic));
}

nn::RoleRounding wage_rounding_from(WageKind kind, formats::SpecArguments<PolicyError>& args, formats::RoundingSpec rounding) {
  WageSpec spec = WageSpec::of(kind, 8);
  const char* name = wage_kind_name(kind);
  auto small_int = [&](const char* key, const std::string& text) {
    const std::int64_t v = args.integer(key, text);
    if (v < -(std::int64_t{1} << 30) || v > (std::int64_t{1} << 30)) args.out_of_range(key, fmt::format("{}", v));
    return static_cast<int>(v);
  };
  spec.bits = small_int("bits", args.require("bits"));
  if (kind == WageKind::direct || kind == WageKind::shift) {
    if (auto c = args.take("clip")) {
      if (*c == "none") spec.clip = WageClip::none;
      else if (*c == "unit") spec.clip = WageClip::unit;
      else if (*c == "pm1") spec.clip = WageClip::pm1;
      else
        throw PolicyError(fmt::format("{}: key 'clip': expected none, unit or pm1, got '{}'", name, *c), ErrorSite::at_key("clip"));
    }
  }
  if (kind == WageKind::constant) {
    if (auto c = args.take("const_bits")) spec.const_bits = small_int("const_bits", *c);
    if (auto g = args.take("gscale")) spec.gscale = args.integer("gscale", *g);
  }
  args.finish();
  return wage_rounding(spec, rounding.mode == formats::Rounding::sr);
}

double wageubn_learning_rate(double lr, int bits) {
  if (bits <= 0) return lr;
  float q = static_cast<float>(lr);
  wage_quantize(std::span<float>(&q, 1), WageSpec{WageKind::direct, bits, WageClip::unit}, false, nullptr);
  return q;
}

const WageSpec* wage_spec_of(const nn::RoleRounding& role) {
  const auto* w = role.policy_as<WageRounding>();
  return w ? &w->spec() : nullptr;
}

}  // namespace bitsim::sim::methods
