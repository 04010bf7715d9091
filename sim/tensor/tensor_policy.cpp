#include "sim/tensor/tensor_policy.hpp"
#include "io/excerpt.hpp"

#include "formats/quantizer.hpp"
#include "formats/spec_arguments.hpp"
#include "sim/tensor/scale_math.hpp"

#include <fmt/format.h>

#include <algorithm>

#include <map>

namespace bitsim::sim {

using formats::FixedFormat;
using formats::FloatFormat;
using formats::Format;
using formats::strip_spaces;

namespace {

constexpr int kMaxBlock = 65536;
constexpr int kMaxAffineBits = 32;

const char* rule_name(ScaleRule r) { return r == ScaleRule::pow2 ? "pow2" : "real"; }

// The checks shared by `scaled` and `mx`: a float or fixed format whose every value is an exact double
// (so scales and element values combine in double without a hidden rounding). Returns the largest
// finite value of the format as that exact double.
double check_scalable(const Format& f, const std::string& ctor, const std::string& key) {
  if (!f.is_binary())
    throw PolicyError(fmt::format("{}: key '{}': format {} is not a float or fixed format (Graham formats cannot be scaled)",
                                  ctor, key, f.name()));
  const formats::Quantizer q(f);
  if (!q.supports_double_arrays())
    throw PolicyError(fmt::format("{}: key '{}': format {} has values that a double cannot hold exactly", ctor, key, f.name()));
  return detail::largest_finite(q);
}

void check_axis(std::optional<int> axis, const std::string& ctor) {
  if (axis && (*axis < 0 || *axis >= 4))
    throw PolicyError(fmt::format("{}: key 'axis' out of range: {} (must be 0..3)", ctor, *axis));
}


// The key=value arguments of one policy constructor (the formats library's parser, throwing
// PolicyError), with the two kinds of value only policies have: a nested format and an axis.
class Arguments : public formats::SpecArguments<PolicyError> {
 public:
  using SpecArguments::SpecArguments;
  Format format(const std::string& key, const std::string& text) const {
    try {
      return formats::parse_format(text);
    } catch (const PolicyError&) {
      throw;
    } catch (const formats::FormatError& e) {
      throw PolicyError(fmt::format("{}: key '{}': {}", ctor(), key, e.what()), ErrorSite::at_key(key));
    }
  }
  std::optional<int> axis() {
    auto a = take("axis");
    if (!a) return std::nullopt;
    const std::int64_t v = integer("axis", *a);
    if (v < 0 || v >= 4)
      throw PolicyError(fmt::format("{}: key 'axis' out of range: {} (must be 0..3)", ctor(), v), ErrorSite::at_key("axis"));
    return static_cast<int>(v);
  }
};

}  // namespace

std::map<std::string, std::string> split_constructor_arguments(const std::string& name, const std::string& body) {
  return formats::split_spec_arguments<PolicyError>(name, body);
}

Format saturating(const Format& f) {
  return std::visit(formats::overloaded{[&](FloatFormat ff) {
                                          if (ff.overflow == formats::FloatOverflow::saturate) return f;
                                          ff.overflow = formats::FloatOverflow::saturate;
                                          return Format(ff);
                                        },
                                        [&](FixedFormat fx) {
                                          if (fx.overflow == formats::FixedOverflow::saturate) return f;
                                          fx.overflow = formats::FixedOverflow::saturate;
                                          return Format(fx);
                                        },
                                        [&](const formats::LogFormat&) { return f; },
                                        [&](const formats::MidriseFormat&) { return f; },
                                        [&](const formats::O4Format&) { return f; }},
                    f.variant());
}

// ---- factories ---------------------------------------------------------------------------------

TensorPolicy TensorPolicy::elementwise(const Format& format) {
  if (format.width() > 64)
    throw PolicyError(fmt::format("format {} has codes wider than 64 bits, which a tensor cannot store", format.name()));
  TensorPolicy p;
  p.kind_ = PolicyKind::elementwise;
  p.format_ = format;
  return p;
}

TensorPolicy TensorPolicy::scaled(const Format& format, ScaleRule rule, std::optional<int> axis) {
  (void)check_scalable(format, "scaled", "format");
  check_axis(axis, "scaled");
  TensorPolicy p;
  p.kind_ = PolicyKind::scaled;
  p.format_ = format;
  p.rule_ = rule;
  p.axis_ = axis;
  return p;
}

TensorPolicy TensorPolicy::affine(int bits, bool is_signed, std::optional<int> axis) {
  if (bits < 1 || bits > kMaxAffineBits)
    throw PolicyError(fmt::format("affine: key 'bits' out of range: {} (must be 1..{})", bits, kMaxAffineBits));
  check_axis(axis, "affine");
  TensorPolicy p;
  p.kind_ = PolicyKind::affine;
  FixedFormat f;
  f.i = is_signed ? bits - 1 : bits;
  f.f = 0;
  f.is_signed = is_signed;
  p.format_ = Format(f);
  p.bits_ = bits;
  p.signed_ = is_signed;
  p.axis_ = axis;
  return p;
}

TensorPolicy TensorPolicy::mx(const Format& element, int block) {
  if (block < 1 || block > kMaxBlock)
    throw PolicyError(fmt::format("mx: key 'block' out of range: {} (must be 1..{})", block, kMaxBlock));
  const Format sat = saturating(element);
  const double largest = check_scalable(sat, "mx", "element");
  TensorPolicy p;
  p.kind_ = PolicyKind::mx;
  p.format_ = sat;
  p.block_ = block;
  p.emax_elem_ = static_cast<int>(detail::floor_log2(largest));
  p.element_name_ = element.name();
  return p;
}

std::int64_t TensorPolicy::qmin() const { return signed_ ? -(std::int64_t{1} << (bits_ - 1)) : 0; }
std::int64_t TensorPolicy::qmax() const {
  return signed_ ? (std::int64_t{1} << (bits_ - 1)) - 1 : (std::int64_t{1} << bits_) - 1;
}

// ---- printing ----------------------------------------------------------------------------------

static std::string print(const TensorPolicy& p, bool by_name, const std::string& alias, const std::string& element_name) {
  auto fmt_of = [&](const Format& f) { return by_name ? f.name() : f.to_string(); };
  std::string axis = p.axis() ? fmt::format(",axis={}", *p.axis()) : "";
  switch (p.kind()) {
    case PolicyKind::elementwise: return fmt_of(p.format());
    case PolicyKind::scaled:
      return fmt::format("scaled(format={},scale={}{})", fmt_of(p.format()), rule_name(p.scale_rule()), axis);
    case PolicyKind::affine:
      return fmt::format("affine(bits={}{}{})", p.bits(), p.is_signed() ? ",signed=yes" : "", axis);
    case PolicyKind::mx: {
      if (by_name && !alias.empty()) return alias;
      const std::string block = p.block() != 32 ? fmt::format(",block={}", p.block()) : "";
      return fmt::format("mx(element={}{})", by_name ? element_name : p.format().to_string(), block);
    }
  }
  return "?";
}

std::string TensorPolicy::to_string() const { return print(*this, false, alias_, element_name_); }
std::string TensorPolicy::name() const { return print(*this, true, alias_, element_name_); }

bool TensorPolicy::operator==(const TensorPolicy& o) const {
  return kind_ == o.kind_ && format_ == o.format_ && rule_ == o.rule_ && axis_ == o.axis_ && bits_ == o.bits_ &&
         signed_ == o.signed_ && block_ == o.block_;
}

// ---- parsing -----------------------------------------------------------------------------------

const std::vector<formats::AliasEntry>& policy_aliases() {
  static const std::vector<formats::AliasEntry> table = {
      {"mxfp8_e4m3", "mx(element=fp8_e4m3)"}, {"mxfp8_e5m2", "mx(element=fp8_e5m2)"},
      {"mxfp6_e3m2", "mx(element=fp6_e3m2)"}, {"mxfp6_e2m3", "mx(element=fp6_e2m3)"},
      {"mxfp4_e2m1", "mx(element=fp4_e2m1)"}, {"mxint8", "mx(element=fixed(i=1,f=6))"},
  };
  return table;
}

namespace {
std::string constructor_name(const std::string& spec) {
  const auto open = spec.find('(');
  return open == std::string::npos ? spec : spec.substr(0, open);
}
}  // namespace

bool names_policy(std::string_view text) {
  const std::string spec = strip_spaces(text);
  for (const auto& a : policy_aliases())
    if (a.alias == spec) return true;
  const std::vector<std::string> ctors = policy_constructor_names();
  return std::find(ctors.begin(), ctors.end(), constructor_name(spec)) != ctors.end();
}

TensorPolicy parse_policy(std::string_view text) {
  const std::string spec = strip_spaces(text);
  if (spec.empty()) throw PolicyError("empty policy");
  for (const auto& a : policy_aliases())
    if (a.alias == spec) {
      TensorPolicy p = parse_policy(a.meaning);
      p.alias_ = a.alias;
      return p;
    }
  const auto open = spec.find('(');
  const std::string name = constructor_name(spec);
  if (!names_policy(spec)) {
    // Not a policy constructor: a plain format name (its errors are the formats library's).
    return TensorPolicy::elementwise(formats::parse_format(spec));
  }
  if (open == std::string::npos || spec.back() != ')')
    throw PolicyError(fmt::format("{}: expected {}(key=value,...)", name, name));
  return policy_from_arguments(name, split_constructor_arguments(name, spec.substr(open + 1, spec.size() - open - 2)));
}

namespace {

// One argument of a policy constructor: its key, the spelling a config table may use instead
// (mx's element is `format` there, as for every other role), and its default (nullptr: required).
struct PolicyArgument {
  const char* key;
  const char* alias;
  const char* default_text;
};

// A policy constructor, declared once: its name, its arguments, and how the policy is made from them.
// The text form "mx(element=fp8_e4m3,block=32)" and the config's table form
// { policy = "mx", format = "fp8_e4m3", block = 32 } both go through it (policy_from_arguments).
struct PolicyConstructor {
  const char* name;
  std::vector<PolicyArgument> arguments;
  TensorPolicy (*make)(Arguments& args);
};

const std::vector<PolicyConstructor>& policy_constructors() {
  static const std::vector<PolicyConstructor> ctors = {
      {"scaled",
       {{"format", nullptr, nullptr}, {"scale", nullptr, "pow2"}, {"axis", nullptr, nullptr}},
       [](Arguments& args) {
         const Format f = args.format("format", args.require("format"));
         const std::string s_text = args.require("scale");
         ScaleRule rule;
         if (s_text == "pow2") rule = ScaleRule::pow2;
         else if (s_text == "real") rule = ScaleRule::real;
         else
           throw PolicyError(fmt::format("scaled: key 'scale': expected pow2 or real, got '{}'", io::excerpt(s_text)),
                             ErrorSite::at_key("scale"));
         const auto axis = args.axis();
         args.finish();
         return TensorPolicy::scaled(f, rule, axis);
       }},
      {"affine",
       {{"bits", nullptr, "8"}, {"signed", nullptr, "no"}, {"axis", nullptr, nullptr}},
       [](Arguments& args) {
         const std::int64_t bits = args.integer("bits", args.require("bits"));
         const bool is_signed = args.yes_no("signed", args.require("signed"));
         const auto axis = args.axis();
         args.finish();
         if (bits < 1 || bits > kMaxAffineBits)
           args.out_of_range("bits", fmt::format("{} (must be 1..{})", bits, kMaxAffineBits));
         return TensorPolicy::affine(static_cast<int>(bits), is_signed, axis);
       }},
      {"mx",
       {{"element", "format", nullptr}, {"block", nullptr, "32"}},
       [](Arguments& args) {
         const Format element = args.format("element", args.require("element"));
         const std::int64_t block = args.integer("block", args.require("block"));
         args.finish();
         if (block < 1 || block > kMaxBlock) args.out_of_range("block", fmt::format("{} (must be 1..{})", block, kMaxBlock));
         return TensorPolicy::mx(element, static_cast<int>(block));
       }},
  };
  return ctors;
}

}  // namespace

std::vector<std::string> policy_constructor_names() {
  std::vector<std::string> names;
  for (const PolicyConstructor& c : policy_constructors()) names.emplace_back(c.name);
  return names;
}

std::string policy_table_key(const std::string& name, const std::string& key) {
  for (const PolicyConstructor& c : policy_constructors())
    if (name == c.name)
      for (const PolicyArgument& a : c.arguments)
        if (key == a.key && a.alias) return a.alias;
  return key;
}

TensorPolicy policy_from_arguments(const std::string& name, std::map<std::string, std::string> arguments) {
  for (const PolicyConstructor& c : policy_constructors()) {
    if (name != c.name) continue;
    for (const PolicyArgument& a : c.arguments) {
      if (a.alias) {
        if (auto it = arguments.find(a.alias); it != arguments.end()) {
          if (arguments.count(a.key))
            throw PolicyError(fmt::format("{}: give '{}' or '{}', not both", name, a.key, a.alias), ErrorSite::at_key(a.alias));
          arguments.emplace(a.key, it->second);
          arguments.erase(it);
        }
      }
      if (a.default_text && !arguments.count(a.key)) arguments.emplace(a.key, a.default_text);
      if (!a.default_text && a.alias && !arguments.count(a.key))
        throw PolicyError(fmt::format("{}: missing required key '{}' (or '{}')", name, a.key, a.alias), ErrorSite::at_key(a.key));
    }
    Arguments args(name, std::move(arguments));
    return c.make(args);
  }
  throw PolicyError(fmt::format("unknown policy '{}' (known: scaled, affine, mx)", io::excerpt(name)));
}

}  // namespace bitsim::sim
