#include "sim/methods/banner2018/range_rounding.hpp"

#include <fmt/format.h>

#include <memory>
#include <stdexcept>

namespace bitsim::sim::methods {

namespace {

class RangeRounding final : public nn::TensorGridPolicy {
 public:
  RangeRounding(const RangeRole& spec, bool stochastic)
      : TensorGridPolicy(spec.bits, stochastic, 24), spec_(spec) {}  // noise of 24 bits (range_quantizer.hpp)

  std::string text() const override { return spec_.text(); }
  int state_floats() const override { return spec_.sample_mean ? 2 : 0; }
  const char* state_name() const override { return "running_range"; }
  bool needs_batch_axis() const override { return spec_.sample_mean; }

  nn::PowerOfTwoScale apply(std::span<float> x, std::uint64_t seed, int threads, const nn::PolicyState* state,
                            const Nchw&) const override {
    ValueRange r;
    if (!spec_.sample_mean) {
      r = measure_tensor_range(x, threads);
    } else {
      const ValueRange batch = measure_sample_mean_range(x, state->samples, threads, spec_.arithmetic);  // also checks finiteness
      float* run = state->values;
      if (state->training) {
        r = batch;
        const double w = spec_.running_new_weight;
        if (state->update && spec_.arithmetic == RangeArithmetic::f32) {
          const float keep = static_cast<float>(1 - w), take = static_cast<float>(w);
          run[0] = run[0] * keep + static_cast<float>(batch.lo) * take;  // float operations, no contraction
          run[1] = run[1] * keep + static_cast<float>(batch.hi) * take;
        } else if (state->update) {
          run[0] = static_cast<float>((1 - w) * run[0] + w * batch.lo);
          run[1] = static_cast<float>((1 - w) * run[1] + w * batch.hi);
        }
      } else {
        r = {run[0], run[1]};
      }
    }
    const formats::PhiloxWords words(seed);
    range_quantize(x, r, spec_.bits, stochastic() ? &words : nullptr, threads, spec_.true_zero);
    return {};
  }

 private:
  RangeRole spec_;
};

}  // namespace

std::string RangeRole::text() const {
  std::string s = fmt::format("range(bits={}", bits);
  if (sample_mean) s += fmt::format(",range=sample_mean,new_weight={}", running_new_weight);
  if (true_zero) s += ",true_zero=yes";
  if (arithmetic == RangeArithmetic::f32) s += ",arithmetic=float32";
  return s + ")";
}

nn::RoleRounding range_rounding(const RangeRole& spec, bool stochastic) {
  // PolicyError (a FormatError) naming the key, so that a config table reports it at that key.
  if (spec.bits < 1 || spec.bits > 24)
    throw PolicyError(fmt::format("range: key 'bits' out of range: {} (must be 1..24)", spec.bits), ErrorSite::at_key("bits"));
  if (!(spec.running_new_weight >= 0 && spec.running_new_weight <= 1))
    throw PolicyError(fmt::format("range: key 'new_weight' out of range: {} (must be in [0, 1])", spec.running_new_weight),
                      ErrorSite::at_key("new_weight"));
  if (spec.arithmetic == RangeArithmetic::f32 && !spec.sample_mean)
    throw PolicyError("range: key 'arithmetic': float32 is for range = sample_mean (a tensor's min and max are floats already)",
                      ErrorSite::at_key("arithmetic"));
  return nn::RoleRounding(std::make_shared<const RangeRounding>(spec, stochastic));
}

nn::RoleRounding range_rounding_from(formats::SpecArguments<PolicyError>& args, formats::RoundingSpec rounding) {
  RangeRole spec;
  const std::int64_t bits = args.integer("bits", args.require("bits"));
  if (bits < 1 || bits > 24) args.out_of_range("bits", fmt::format("{} (must be 1..24)", bits));  // before it narrows to int
  spec.bits = static_cast<int>(bits);
  if (auto r = args.take("range")) {
    if (*r != "tensor" && *r != "sample_mean")
      throw PolicyError(fmt::format("range: key 'range': expected tensor or sample_mean, got '{}'", *r), ErrorSite::at_key("range"));
    spec.sample_mean = *r == "sample_mean";
  }
  if (auto w = args.take("new_weight")) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(*w, &used);
    } catch (const std::logic_error&) {
      used = 0;
    }
    if (used != w->size() || w->empty())
      throw PolicyError(fmt::format("range: key 'new_weight': '{}' is not a number", *w), ErrorSite::at_key("new_weight"));
    spec.running_new_weight = v;
  }
  if (auto z = args.take("true_zero")) spec.true_zero = args.yes_no("true_zero", *z);
  if (auto a = args.take("arithmetic")) {
    if (*a != "double" && *a != "float32")
      throw PolicyError(fmt::format("range: key 'arithmetic': expected double or float32, got '{}'", *a), ErrorSite::at_key("arithmetic"));
    spec.arithmetic = *a == "float32" ? RangeArithmetic::f32 : RangeArithmetic::f64;
  }
  args.finish();
  return range_rounding(spec, rounding.mode == formats::Rounding::sr);
}

}  // namespace bitsim::sim::methods
