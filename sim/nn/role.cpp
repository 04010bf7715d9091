#include "sim/nn/role.hpp"

#include "formats/random_words.hpp"
#include "sim/runtime/task_split.hpp"
#include "sim/tensor/tensor.hpp"

#include <fmt/format.h>

#include <algorithm>
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
    throw formats::FormatError(what + e.what());
  }
  if (!quantizer_->supports_float_arrays())
    throw formats::FormatError(what + fmt::format("format {} has values a float cannot hold; the training engine "
                                                   "computes in fp32, so role formats must fit in float",
                                                   format.name()));
  // fp32 with a deterministic rounding is the identity on floats (every float is already a value).
  identity_ = is_fp32(format) && rounding.mode != formats::Rounding::sr;
  limits_ = formats::finite_limits(format);
}

RoleRounding RoleRounding::range(const RangeRole& spec, bool stochastic) {
  if (spec.bits < 1 || spec.bits > 24) throw formats::FormatError(fmt::format("range quantizer: bits = {} is not in 1..24", spec.bits));
  if (!(spec.running_new_weight >= 0 && spec.running_new_weight <= 1))
    throw formats::FormatError("range quantizer: new_weight must be in [0, 1]");
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
    throw formats::FormatError(fmt::format("{} quantizer: stochastic rounding is only defined for constant (G)", wage_kind_name(spec.kind)));
  RoleRounding r;
  r.wage_ = spec;
  r.rounding_.mode = stochastic ? formats::Rounding::sr : formats::Rounding::rne;
  r.rounding_.sr_bits = 32;  // one whole Philox word per element (wageubn_quantizer.hpp)
  r.identity_ = false;
  r.limits_ = formats::FiniteLimits{};  // the scale follows the tensor
  r.limits_.codes = spec.bits < 64 ? std::uint64_t{1} << spec.bits : 0;
  return r;
}

RoleRounding RoleRounding::tensor_policy(const TensorPolicy& policy, formats::RoundingSpec rounding, const std::string& what) {
  if (policy.kind() == PolicyKind::elementwise) return RoleRounding(policy.format(), rounding, what);
  try {
    const Tensor probe(Shape{1, 1, 1, 1}, policy, rounding);  // checks the rounding against the element format
  } catch (const std::exception& e) {
    throw formats::FormatError(what + e.what());
  }
  RoleRounding r;
  r.policy_ = policy;
  r.rounding_ = rounding;
  r.identity_ = false;
  r.limits_ = formats::FiniteLimits{};  // the scales follow the tensor
  const int width = policy.format().width();
  r.limits_.codes = width < 64 ? std::uint64_t{1} << width : 0;
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
  std::string s = policy_ ? policy_->name() : format_.name();
  if (rounding_.mode == formats::Rounding::sr) return s + fmt::format(" sr(R={})", rounding_.sr_bits);
  if (rounding_.mode != formats::Rounding::rne) s += std::string(" ") + formats::rounding_name(rounding_.mode);
  return s;
}

namespace {
// The same error with the rounding site's name in front ("conv1 A: element 5: ..."), its site kept.
[[noreturn]] void rethrow_prefixed(const char* what, const formats::QuantizeError& e) {
  throw formats::QuantizeError(std::string(what) + ": " + e.what(), e.site());
}

// A tensor of this shape, policy and rounding, reused across calls: a new Tensor quantizes zeros into
// every element, which would double the cost of each rounding. Each thread keeps the tensors of the
// last kCached (shape, policy, rounding) it used; quantize replaces a tensor's codes and scales as a
// whole, so what a reused tensor held before never shows.
Tensor& reusable_tensor(const Shape& shape, const TensorPolicy& policy, formats::RoundingSpec rounding, std::uint64_t seed) {
  constexpr std::size_t kCached = 64;
  thread_local std::vector<std::unique_ptr<Tensor>> cache;
  for (std::size_t i = 0; i < cache.size(); ++i) {
    Tensor& t = *cache[i];
    if (t.shape() == shape && t.rounding() == rounding && t.policy() == policy) {
      std::rotate(cache.begin(), cache.begin() + static_cast<std::ptrdiff_t>(i), cache.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      t.set_seed(seed);
      return t;
    }
  }
  if (cache.size() == kCached) cache.pop_back();
  cache.insert(cache.begin(), std::make_unique<Tensor>(shape, policy, rounding, seed));
  return *cache.front();
}
}  // namespace

void RoleRounding::apply_policy(std::span<float> x, std::uint64_t seed, const Nchw& shape) const {
  const std::int64_t size = static_cast<std::int64_t>(x.size());
  const Nchw s = shape.numel() == size && shape.n > 0 ? shape : Nchw{1, size, 1, 1};
  if (policy_->kind() != PolicyKind::mx) {
    Tensor& t = reusable_tensor(Shape{s.n, s.c, s.h, s.w}, *policy_, rounding_, seed);
    t.quantize_decode(std::span<const float>(x), x);
    return;
  }
  // MX blocks run along axis 1: a channel-last copy [n * h * w, c] makes them the tensor's last axis.
  const std::int64_t inner = s.h * s.w;
  Tensor& t = reusable_tensor(Shape{s.n * inner, s.c}, *policy_, rounding_, seed);
  if (inner == 1) {
    t.quantize_decode(std::span<const float>(x), x);
    return;
  }
  // f(NCHW index, channel-last index) for every element.
  auto each = [&](auto&& f) {
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t k = 0; k < s.c; ++k)
        for (std::int64_t i = 0; i < inner; ++i)
          f(static_cast<std::size_t>((n * s.c + k) * inner + i), static_cast<std::size_t>((n * inner + i) * s.c + k));
  };
  thread_local std::vector<float> rows;
  rows.resize(x.size());
  each([&](std::size_t nchw, std::size_t row) { rows[row] = x[nchw]; });
  t.quantize_decode(std::span<const float>(rows), std::span<float>(rows));
  each([&](std::size_t nchw, std::size_t row) { x[nchw] = rows[row]; });
}

PowerOfTwoScale RoleRounding::apply(std::span<float> x, std::uint64_t seed, const char* what, int threads, const RangeContext* rc,
                              const Nchw& shape) const {
  if (identity_ || x.empty()) return {};
  if (policy_) {
    try {
      apply_policy(x, seed, shape);
    } catch (const formats::QuantizeError& e) {
      rethrow_prefixed(what, e);
    }
    return {};
  }
  if (wage_) {
    try {
      const formats::PhiloxWords words(seed);
      return wage_quantize(x, *wage_, rounding_.mode == formats::Rounding::sr, &words, threads);
    } catch (const formats::QuantizeError& e) {
      rethrow_prefixed(what, e);
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
      rethrow_prefixed(what, e);
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
      // The array kernel names the element within `part`: make it an index into x.
      if (begin == 0) throw;
      throw e.shifted(static_cast<std::int64_t>(begin));
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
    rethrow_prefixed(what, e);
  }
  return {};
}

std::uint64_t site_seed(std::uint64_t run_seed, std::uint64_t step, std::uint64_t site) {
  return formats::splitmix64(formats::splitmix64(formats::splitmix64(run_seed) ^ step) ^ site);
}

}  // namespace bitsim::sim::nn
