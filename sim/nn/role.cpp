#include "sim/nn/role.hpp"

#include "formats/random_words.hpp"
#include "sim/task_split.hpp"

#include <fmt/format.h>

#include <limits>
#include <stdexcept>
#include <vector>

namespace bitsim::sim::nn {

namespace {
constexpr const char* kNames[kRoleCount] = {"W", "A", "G", "E", "U", "M", "BN_MEAN", "BN_NORM", "BN_SCALE", "DY", "DY_W", "W_MASTER"};

}  // namespace

const char* role_name(Role r) { return kNames[static_cast<int>(r)]; }

std::optional<Role> parse_role(std::string_view name) {
  for (int i = 0; i < kRoleCount; ++i)
    if (name == kNames[i]) return static_cast<Role>(i);
  return std::nullopt;
}

bool is_fp32(const formats::Format& f) {
  if (!f.is<formats::FloatFormat>()) return false;
  return f.as<formats::FloatFormat>() ==
         formats::FloatFormat{8, 23, 127, true, formats::Special::ieee, formats::FloatOverflow::inf};
}

RoleRounding::RoleRounding() : format_(formats::parse_format("fp32")) {
  limits_.max_finite = std::numeric_limits<float>::max();
  limits_.min_finite = -std::numeric_limits<float>::max();
  limits_.codes = std::uint64_t{1} << 32;
}

RoleRounding::RoleRounding(const formats::Format& format, formats::RoundingSpec rounding, const std::string& what)
    : format_(format), rounding_(rounding) {
  try {
    quantizer_ = std::make_shared<const formats::Quantizer>(format, rounding);
  } catch (const std::exception& e) {
    throw std::invalid_argument(what + e.what());
  }
  if (!quantizer_->supports_float_arrays())
    throw std::invalid_argument(what + fmt::format("format {} has values a float cannot hold; the training engine "
                                                   "computes in fp32, so role formats must fit in float",
                                                   format.name()));
  // fp32 with a deterministic rounding is the identity on floats (every float is already a value).
  identity_ = is_fp32(format) && rounding.mode != formats::Rounding::sr;
  limits_ = formats::finite_limits(format);
}

RoleRounding RoleRounding::range(const RangeRole& spec, bool stochastic) {
  if (spec.bits < 1 || spec.bits > 24) throw std::invalid_argument(fmt::format("range quantizer: bits = {} is not in 1..24", spec.bits));
  if (!(spec.running_new_weight >= 0 && spec.running_new_weight <= 1))
    throw std::invalid_argument("range quantizer: new_weight must be in [0, 1]");
  RoleRounding r;
  r.range_ = spec;
  r.rounding_.mode = stochastic ? formats::Rounding::sr : formats::Rounding::rne;
  r.rounding_.sr_bits = 24;  // the noise has 24 bits (range_quantizer.hpp)
  r.identity_ = false;
  r.limits_ = formats::FiniteLimits{};  // the range follows the tensor
  r.limits_.codes = std::uint64_t{1} << spec.bits;
  return r;
}

RoleRounding RoleRounding::wage(const WageSpec& spec, bool stochastic) {
  spec.validate();
  if (stochastic && spec.kind != WageKind::constant)
    throw std::invalid_argument(fmt::format("{} quantizer: stochastic rounding is only defined for constant (G)", wage_kind_name(spec.kind)));
  RoleRounding r;
  r.wage_ = spec;
  r.rounding_.mode = stochastic ? formats::Rounding::sr : formats::Rounding::rne;
  r.rounding_.sr_bits = 32;  // one whole Philox word per element (wageubn_quantizer.hpp)
  r.identity_ = false;
  r.limits_ = formats::FiniteLimits{};  // the scale follows the tensor
  r.limits_.codes = spec.bits < 64 ? std::uint64_t{1} << spec.bits : 0;
  return r;
}

std::string RoleRounding::range_text() const {
  if (!range_) return {};
  std::string s = fmt::format("range(bits={}", range_->bits);
  if (range_->sample_mean) s += fmt::format(",range=sample_mean,new_weight={}", range_->running_new_weight);
  if (range_->true_zero) s += ",true_zero=yes";
  return s + ")";
}

std::string RoleRounding::describe() const {
  if (range_) return range_text() + (rounding_.mode == formats::Rounding::sr ? " sr" : "");
  if (wage_) return wage_->text() + (rounding_.mode == formats::Rounding::sr ? " sr" : "");
  std::string s = format_.name();
  if (rounding_.mode == formats::Rounding::sr) return s + fmt::format(" sr(R={})", rounding_.sr_bits);
  if (rounding_.mode != formats::Rounding::rne) s += std::string(" ") + formats::rounding_name(rounding_.mode);
  return s;
}

WageScale RoleRounding::apply(std::span<float> x, std::uint64_t seed, const char* what, int threads, const RangeContext* rc) const {
  if (identity_ || x.empty()) return {};
  if (wage_) {
    try {
      const formats::PhiloxWords words(seed);
      return wage_quantize(x, *wage_, rounding_.mode == formats::Rounding::sr, &words, threads);
    } catch (const formats::QuantizeError& e) {
      throw formats::QuantizeError(std::string(what) + ": " + e.what());
    }
  }
  if (range_) {
    try {
      ValueRange r;
      if (!range_->sample_mean) {
        r = measure_tensor_range(x, threads);
      } else {
        if (!rc || !rc->running) throw std::logic_error(std::string(what) + ": a sample_mean range needs its running estimates");
        const ValueRange batch = measure_sample_mean_range(x, rc->samples, threads);  // also checks finiteness
        float* run = rc->running;
        if (rc->training) {
          r = batch;
          const double w = range_->running_new_weight;
          if (rc->update) {
            run[0] = static_cast<float>((1 - w) * run[0] + w * batch.lo);
            run[1] = static_cast<float>((1 - w) * run[1] + w * batch.hi);
          }
        } else {
          r = {run[0], run[1]};
        }
      }
      const formats::PhiloxWords words(seed);
      range_quantize(x, r, range_->bits, rounding_.mode == formats::Rounding::sr ? &words : nullptr, threads, range_->true_zero);
    } catch (const formats::QuantizeError& e) {
      throw formats::QuantizeError(std::string(what) + ": " + e.what());
    }
    return {};
  }
  const formats::PhiloxWords words(seed);
  auto run = [&](std::size_t begin, std::size_t end) {
    const std::span<float> part = x.subspan(begin, end - begin);
    try {
      if (rounding_.mode == formats::Rounding::sr) quantizer_->quantize(std::span<const float>(part), part, words, begin);
      else quantizer_->quantize(std::span<const float>(part), part);
    } catch (const formats::QuantizeError& e) {
      // The array kernel names the element within `part` ("element i: ..."): make it an index into x.
      const std::string msg = e.what();
      const auto colon = msg.find(':');
      if (begin == 0 || msg.rfind("element ", 0) != 0 || colon == std::string::npos) throw;
      const std::size_t i = std::stoull(msg.substr(8, colon - 8));
      throw formats::QuantizeError(fmt::format("element {}{}", begin + i, msg.substr(colon)));
    }
  };
  // Small arrays are not worth a thread; large ones are split in contiguous blocks.
  const int t = x.size() < (std::size_t{1} << 16) ? 1 : threads;
  try {
    if (t <= 1) run(0, x.size());
    else
      detail::run_blocks(static_cast<std::int64_t>(x.size()), t, [&](std::int64_t b, std::int64_t e) {
        run(static_cast<std::size_t>(b), static_cast<std::size_t>(e));
      });
  } catch (const formats::QuantizeError& e) {
    throw formats::QuantizeError(std::string(what) + ": " + e.what());
  }
  return {};
}

std::uint64_t site_seed(std::uint64_t run_seed, std::uint64_t step, std::uint64_t site) {
  return formats::splitmix64(formats::splitmix64(formats::splitmix64(run_seed) ^ step) ^ site);
}

}  // namespace bitsim::sim::nn
