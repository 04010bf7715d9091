#include "sim/methods/rounding_policies.hpp"

#include "formats/spec_arguments.hpp"
#include "io/excerpt.hpp"
#include "sim/methods/banner2018/range_rounding.hpp"
#include "sim/methods/scaling/amax_scaling.hpp"
#include "sim/methods/wageubn2019/wage_rounding.hpp"
#include "sim/tensor/tensor_policy.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace bitsim::sim::methods {

namespace {

using formats::Rounding;
using Arguments = formats::SpecArguments<PolicyError>;

nn::RoleRounding make_tensor_policy(const std::string& name, std::map<std::string, std::string> arguments,
                                    formats::RoundingSpec rounding) {
  return nn::RoleRounding::tensor_policy(sim::policy_from_arguments(name, std::move(arguments)), rounding);
}

template <nn::RoleRounding (*from)(formats::SpecArguments<PolicyError>&, formats::RoundingSpec)>
nn::RoleRounding make_from_arguments(const std::string& name, std::map<std::string, std::string> arguments, formats::RoundingSpec rounding) {
  Arguments args(name, std::move(arguments));
  return from(args, rounding);
}

template <WageKind kind>
nn::RoleRounding make_wage(const std::string& name, std::map<std::string, std::string> arguments, formats::RoundingSpec rounding) {
  Arguments args(name, std::move(arguments));
  return wage_rounding_from(kind, args, rounding);
}

const std::vector<Rounding> kNearestOrStochastic = {Rounding::rne, Rounding::sr};
const std::vector<Rounding> kNearest = {Rounding::rne};

// A table cell's text: '|' would end the cell.
std::string cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string constructor_of(const std::string& spec) {
  const auto open = spec.find('(');
  return open == std::string::npos ? spec : spec.substr(0, open);
}

}  // namespace

const std::vector<RoundingPolicyType>& rounding_policy_types() {
  static const std::vector<RoundingPolicyType> types = {
      {"scaled", "scaled(format=F[,scale=pow2|real][,axis=N])",
       "codes of F times one scale per tensor or per index of an axis (docs/tensor.md)", {}, Rounding::rne, true,
       make_tensor_policy},
      {"affine", "affine(bits=B[,signed=yes|no][,axis=N])", "gemmlowp's uniform affine codes with a zero point (docs/tensor.md)", {},
       Rounding::rne, true, make_tensor_policy},
      {"mx", "mx(element=F[,block=K])",
       "OCP MX: blocks of K along the reduction axis share an E8M0 scale; aliases `mxfp8_e4m3`, `mxfp4_e2m1`, ... (docs/tensor.md)",
       {}, Rounding::rne, true,
       make_tensor_policy},
      {"current", "current(format=F[,margin=M][,scale=fp32|pow2|e8m0][,axis=N])",
       "codes of F times a scale from this tensor's amax, per tensor or per index of an axis (Transformer Engine's current scaling; sim/methods/scaling/)",
       {}, Rounding::rne, true, make_from_arguments<current_scaling_from>},
      {"delayed", "delayed(format=F,history=H[,margin=M][,scale=fp32|pow2|e8m0][,amax=max|most_recent])",
       "codes of F times a per-tensor scale from the amax history of the site's previous H steps (Transformer Engine's delayed scaling)",
       {}, Rounding::rne, true, make_from_arguments<delayed_scaling_from>},
      {"range",
       "range(bits=B[,range=tensor|sample_mean][,new_weight=W][,true_zero=yes|no][,arithmetic=double|float32])",
       "Banner et al. 2018's min/max quantizer, optionally with running ranges (sim/methods/banner2018/)", kNearestOrStochastic,
       Rounding::rne, false, make_from_arguments<range_rounding_from>},
      {"direct", "direct(bits=B[,clip=none|unit|pm1])", "WAGEUBN's Q(x, k): fixed point with k-1 fraction bits (sim/methods/wageubn2019/)",
       kNearest, Rounding::rne, false, make_wage<WageKind::direct>},
      {"shift", "shift(bits=B[,clip=unit|pm1|none])", "WAGEUBN's SQ(x, k): Q of x over its power-of-two scale R(x) (errors E1)",
       kNearest, Rounding::rne, false, make_wage<WageKind::shift>},
      {"flag", "flag(bits=B)", "WAGEUBN's E2 with a flag bit (the official code's error quantizer)", kNearest,
       Rounding::rne, false, make_wage<WageKind::flag>},
      {"constant", "constant(bits=B[,const_bits=C][,gscale=G])", "WAGEUBN's CQ of the weight gradients, stochastic by default",
       kNearestOrStochastic, Rounding::sr, false, make_wage<WageKind::constant>},
  };
  return types;
}

std::vector<std::string> rounding_policy_names() {
  std::vector<std::string> names;
  for (const RoundingPolicyType& t : rounding_policy_types()) names.emplace_back(t.name);
  return names;
}

const RoundingPolicyType* rounding_policy_type(std::string_view name) {
  for (const RoundingPolicyType& t : rounding_policy_types())
    if (name == t.name) return &t;
  return nullptr;
}

const RoundingPolicyType* rounding_policy_type_of(std::string_view text) {
  const std::string spec = formats::strip_spaces(text);
  for (const auto& a : sim::policy_aliases())
    if (a.alias == spec) return rounding_policy_type(constructor_of(a.meaning));
  if (spec.find('(') == std::string::npos) return nullptr;  // a format name
  return rounding_policy_type(constructor_of(spec));
}

std::vector<std::string> rounding_mode_names(const RoundingPolicyType* type) {
  std::vector<std::string> names;
  for (const Rounding mode : formats::kAllRoundings) {
    if (!type || type->modes.empty() || std::find(type->modes.begin(), type->modes.end(), mode) != type->modes.end())
      names.emplace_back(formats::rounding_name(mode));
  }
  return names;
}

nn::RoleRounding parse_role_rounding(std::string_view text, std::optional<formats::RoundingSpec> rounding) {
  const std::string spec = formats::strip_spaces(text);
  const RoundingPolicyType* type = rounding_policy_type_of(spec);
  formats::RoundingSpec r;
  if (rounding) r = *rounding;
  else if (type) r.mode = type->default_mode;
  if (!type) return nn::RoleRounding(formats::parse_format(spec), r);
  // The tensor's policies have their own parser, which keeps an alias as written ("mxfp8_e4m3").
  if (sim::names_policy(spec)) return nn::RoleRounding::tensor_policy(sim::parse_policy(spec), r);
  const auto open = spec.find('(');
  if (spec.back() != ')') throw PolicyError(fmt::format("{}: expected {}", type->name, type->usage));
  return type->make(type->name, sim::split_constructor_arguments(type->name, spec.substr(open + 1, spec.size() - open - 2)), r);
}

nn::RoleRounding role_rounding_from_arguments(const std::string& name, std::map<std::string, std::string> arguments,
                                             formats::RoundingSpec rounding) {
  const RoundingPolicyType* type = rounding_policy_type(name);
  if (!type)
    throw PolicyError(fmt::format("unknown policy '{}' (known: {})", io::excerpt(name), fmt::join(rounding_policy_names(), ", ")));
  return type->make(type->name, std::move(arguments), rounding);
}

std::string rounding_policy_table() {
  std::string s = "| policy | text form | rounding (default first) | what it is |\n|---|---|---|---|\n";
  for (const RoundingPolicyType& t : rounding_policy_types()) {
    std::vector<std::string> modes = {formats::rounding_name(t.default_mode)};
    for (const std::string& m : rounding_mode_names(&t))
      if (m != modes.front()) modes.push_back(m);
    s += fmt::format("| `{}` | `{}` | {}{} | {} |\n", t.name, cell(t.usage), fmt::join(modes, ", "), t.takes_sr_bits ? "; sr_bits" : "",
                     cell(t.doc));
  }
  return s;
}

}  // namespace bitsim::sim::methods
