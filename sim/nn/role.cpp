#include "sim/nn/role.hpp"

#include "sim/kernels/gemm.hpp"
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
constexpr const char* kNames[kRoleCount] = {"W", "A", "G", "E", "U", "M", "BN_MEAN", "BN_NORM", "BN_SCALE", "DY", "DY_W", "W_MASTER", "V", "ATT_S", "ATT_P"};

}  // namespace

const char* role_name(Role r) { return kNames[static_cast<int>(r)]; }

const std::string& role_names_text() {
  static const std::string text = [] {
    std::string s;
    for (const char* n : kNames) s += (s.empty() ? "" : ", ") + std::string(n);
    return s;
  }();
  return text;
}

std::optional<Role> parse_role(std::string_view name) {
  for (int i = 0; i < kRoleCount; ++i)
    if (name == kNames[i]) return static_cast<Role>(i);
  return std::nullopt;
}

namespace {

const formats::Format& fp32_format() {
  static const formats::Format f = formats::parse_format("fp32");
  return f;
}

// A plain format with a rounding mode: the formats library's array quantizer.
class FormatRounding final : public RoundingPolicy {
 public:
  FormatRounding() : format_(fp32_format()) {
    limits_.max_finite = std::numeric_limits<float>::max();
    limits_.min_finite = -std::numeric_limits<float>::max();
    limits_.codes = std::uint64_t{1} << 32;
  }
  FormatRounding(const formats::Format& format, formats::RoundingSpec rounding, const std::string& what)
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

  std::string text() const override { return format_.name(); }
  formats::RoundingSpec rounding() const override { return rounding_; }
  const formats::FiniteLimits& finite_limits() const override { return limits_; }
  std::string code_format() const override { return format_.name(); }
  std::int64_t code_bits() const override { return format_.width(); }
  const formats::Format* value_format() const override { return &format_; }
  bool is_identity() const override { return identity_; }

  PowerOfTwoScale apply(std::span<float> x, std::uint64_t seed, int threads, const PolicyState*, const Nchw&) const override {
    if (identity_) return {};
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
    if (t <= 1) run(0, x.size());
    else
      detail::run_blocks(static_cast<std::int64_t>(x.size()), t, [&](std::int64_t b, std::int64_t e) {
        run(static_cast<std::size_t>(b), static_cast<std::size_t>(e));
      });
    return {};
  }

 private:
  formats::Format format_;
  formats::RoundingSpec rounding_{};
  std::shared_ptr<const formats::Quantizer> quantizer_;
  bool identity_ = true;
  formats::FiniteLimits limits_;
};

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

// A scaled, affine or MX policy of the format-carrying tensor: codes times per-group scales, decoded
// back to floats.
class TensorPolicyRounding final : public RoundingPolicy {
 public:
  TensorPolicyRounding(const TensorPolicy& policy, formats::RoundingSpec rounding) : policy_(policy), rounding_(rounding) {
    limits_.codes = formats::finite_limits(policy.format()).codes;  // the scales follow the tensor: only the count is known
  }

  const TensorPolicy& policy() const { return policy_; }
  std::string text() const override { return policy_.name(); }
  formats::RoundingSpec rounding() const override { return rounding_; }
  const formats::FiniteLimits& finite_limits() const override { return limits_; }
  std::string code_format() const override { return policy_.name(); }
  std::int64_t code_bits() const override { return policy_.format().width(); }

  PowerOfTwoScale apply(std::span<float> x, std::uint64_t seed, int, const PolicyState*, const Nchw& shape) const override {
    const std::int64_t size = static_cast<std::int64_t>(x.size());
    const Nchw s = shape.numel() == size && shape.n > 0 ? shape : Nchw{1, size, 1, 1};
    if (!policy_.blocks_last_axis()) {
      Tensor& t = reusable_tensor(Shape{s.n, s.c, s.h, s.w}, policy_, rounding_, seed);
      t.round_values(x);
      return {};
    }
    // Blocks run along axis 1: a channel-last copy [n * h * w, c] makes them the tensor's last axis.
    const std::int64_t inner = s.h * s.w;
    Tensor& t = reusable_tensor(Shape{s.n * inner, s.c}, policy_, rounding_, seed);
    if (inner == 1) {
      t.round_values(x);
      return {};
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
    t.round_values(std::span<float>(rows));
    each([&](std::size_t nchw, std::size_t row) { x[nchw] = rows[row]; });
    return {};
  }

 private:
  TensorPolicy policy_;
  formats::RoundingSpec rounding_;
  formats::FiniteLimits limits_;
};

const std::shared_ptr<const RoundingPolicy>& identity_policy() {
  static const std::shared_ptr<const RoundingPolicy> p = std::make_shared<const FormatRounding>();
  return p;
}

}  // namespace

TensorGridPolicy::TensorGridPolicy(int bits, bool stochastic, int noise_bits) : bits_(bits) {
  rounding_.mode = stochastic ? formats::Rounding::sr : formats::Rounding::rne;
  rounding_.sr_bits = noise_bits;
  limits_.codes = bits < 64 ? std::uint64_t{1} << bits : 0;
}

RoleRounding::RoleRounding() : policy_(identity_policy()) {}

RoleRounding::RoleRounding(const formats::Format& format, formats::RoundingSpec rounding, const std::string& what)
    : policy_(std::make_shared<const FormatRounding>(format, rounding, what)) {}

RoleRounding::RoleRounding(std::shared_ptr<const RoundingPolicy> policy) : policy_(std::move(policy)) {
  if (!policy_) throw std::logic_error("RoleRounding: no policy");
}

RoleRounding RoleRounding::tensor_policy(const TensorPolicy& policy, formats::RoundingSpec rounding, const std::string& what) {
  if (!policy.has_scales()) return RoleRounding(policy.format(), rounding, what);
  try {
    const Tensor probe(Shape{1, 1, 1, 1}, policy, rounding);  // checks the rounding against the element format
  } catch (const std::exception& e) {
    throw formats::FormatError(what + e.what());
  }
  return RoleRounding(std::make_shared<const TensorPolicyRounding>(policy, rounding));
}

const TensorPolicy* tensor_policy_of(const RoleRounding& role) {
  const auto* p = role.policy_as<TensorPolicyRounding>();
  return p ? &p->policy() : nullptr;
}

const formats::Format& RoleRounding::format() const {
  const formats::Format* f = policy_->value_format();
  return f ? *f : fp32_format();
}

std::string RoleRounding::describe() const {
  std::string s = policy_->text();
  const formats::RoundingSpec r = rounding();
  if (r.mode == formats::Rounding::sr) return s + (policy_->noise_is_fixed() ? std::string(" sr") : fmt::format(" sr(R={})", r.sr_bits));
  if (r.mode != formats::Rounding::rne) s += std::string(" ") + formats::rounding_name(r.mode);
  return s;
}

PowerOfTwoScale RoleRounding::apply(std::span<float> x, std::uint64_t seed, const char* what, int threads, const PolicyState* state,
                                    const Nchw& shape) const {
  if (policy_->is_identity() || x.empty()) return {};
  if (policy_->state_floats() > 0 && (!state || !state->values))
    throw std::logic_error(std::string(what) + ": " + policy_->text() + " needs its layer's state");
  try {
    return policy_->apply(x, seed, threads, state, shape);
  } catch (const formats::QuantizeError& e) {
    // The same error with the rounding site's name in front ("conv1 A: element 5: ..."), its site kept.
    throw formats::QuantizeError(std::string(what) + ": " + e.what(), e.site());
  }
}

std::uint64_t site_seed(std::uint64_t run_seed, std::uint64_t step, std::uint64_t site) {
  return formats::splitmix64(formats::splitmix64(formats::splitmix64(run_seed) ^ step) ^ site);
}

}  // namespace bitsim::sim::nn
