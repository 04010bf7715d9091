// Names of operations and options of the golden arithmetic (arith.hpp), shared by the command line,
// the C interface and the vector files.
#include "hw/arith.hpp"
#include "io/excerpt.hpp"

#include <fmt/format.h>

#include <array>

namespace bitsim::formats {

namespace {

struct OpInfo {
  Op op;
  const char* name;
  int arity;
};

constexpr std::array<OpInfo, 15> kOps{{
    {Op::add, "add", 2},
    {Op::sub, "sub", 2},
    {Op::mul, "mul", 2},
    {Op::div, "div", 2},
    {Op::fma, "fma", 3},
    {Op::sqrt, "sqrt", 1},
    {Op::min, "min", 2},
    {Op::max, "max", 2},
    {Op::eq, "eq", 2},
    {Op::lt, "lt", 2},
    {Op::le, "le", 2},
    {Op::eq_signaling, "eq_signaling", 2},
    {Op::lt_quiet, "lt_quiet", 2},
    {Op::le_quiet, "le_quiet", 2},
    {Op::convert, "convert", 1},
}};

const OpInfo& info(Op op) { return kOps[static_cast<std::size_t>(op)]; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<Op> parse_op(std::string_view name) {
  for (const OpInfo& i : kOps)
    if (name == i.name) return i.op;
  return std::nullopt;
}

const char* op_name(Op op) { return info(op).name; }
int op_arity(Op op) { return info(op).arity; }

bool op_is_compare(Op op) {
  switch (op) {
    case Op::eq:
    case Op::lt:
    case Op::le:
    case Op::eq_signaling:
    case Op::lt_quiet:
    case Op::le_quiet: return true;
    default: return false;
  }
}

const std::vector<Op>& all_ops() {
  static const std::vector<Op> ops = [] {
    std::vector<Op> v;
    for (const OpInfo& i : kOps) v.push_back(i.op);
    return v;
  }();
  return ops;
}

std::optional<NanPolicy> parse_nan_policy(std::string_view name) {
  if (name == "canonical" || name == "riscv") return NanPolicy::canonical;
  if (name == "x86") return NanPolicy::x86;
  if (name == "arm") return NanPolicy::arm;
  return std::nullopt;
}

const char* nan_policy_name(NanPolicy p) {
  switch (p) {
    case NanPolicy::canonical: return "canonical";
    case NanPolicy::x86: return "x86";
    case NanPolicy::arm: return "arm";
  }
  return "?";
}

std::optional<Tininess> parse_tininess(std::string_view name) {
  if (name == "after") return Tininess::after_rounding;
  if (name == "before") return Tininess::before_rounding;
  return std::nullopt;
}

const char* tininess_name(Tininess t) { return t == Tininess::after_rounding ? "after" : "before"; }

ArithOptions parse_arith_options(std::string_view text) {
  ArithOptions o;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find_first_of(" ,\t", pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    auto bad = [&](const char* expected) {
      return ArithError(fmt::format("option '{}': expected {}", io::excerpt(item), expected));
    };
    auto boolean = [&]() {
      if (eq == std::string_view::npos || value == "1" || value == "yes") return true;
      if (value == "0" || value == "no") return false;
      throw bad("no value, =1 or =0");
    };
    if (key == "rounding") {
      auto r = parse_rounding(value);
      if (!r) throw bad("rounding=rne|rna|rtz|rup|rdn|sr");
      o.rounding.mode = *r;
    } else if (key == "sr_bits") {
      auto v = parse_int64(value);
      if (!v || *v < 1 || *v > 32) throw bad("sr_bits=1..32");
      o.rounding.sr_bits = static_cast<int>(*v);
    } else if (key == "tininess") {
      auto t = parse_tininess(value);
      if (!t) throw bad("tininess=after|before");
      o.tininess = *t;
    } else if (key == "nan") {
      auto n = parse_nan_policy(value);
      if (!n) throw bad("nan=canonical|riscv|x86|arm");
      o.nan = *n;
    } else if (key == "daz") {
      o.daz = boolean();
    } else if (key == "ftz") {
      o.ftz = boolean();
    } else if (key == "notexact") {
      o.notexact = boolean();
    } else {
      throw ArithError(fmt::format("unknown option '{}' (known: rounding, sr_bits, tininess, nan, daz, ftz, notexact)",
                                   io::excerpt(item)));
    }
  }
  return o;
}

std::string arith_options_to_string(const ArithOptions& o) {
  std::string s;
  auto add = [&](const std::string& item) {
    if (!s.empty()) s += ' ';
    s += item;
  };
  const ArithOptions d;
  if (o.rounding.mode != d.rounding.mode) add(fmt::format("rounding={}", rounding_name(o.rounding.mode)));
  // Printed whenever it is not the default, even when the mode is not sr: the text must read back to
  // equal options (found by fuzz_vectors: "sr_bits=7" alone printed as "").
  if (o.rounding.sr_bits != d.rounding.sr_bits) add(fmt::format("sr_bits={}", o.rounding.sr_bits));
  if (o.tininess != d.tininess) add(fmt::format("tininess={}", tininess_name(o.tininess)));
  if (o.nan != d.nan) add(fmt::format("nan={}", nan_policy_name(o.nan)));
  if (o.daz) add("daz");
  if (o.ftz) add("ftz");
  if (o.notexact) add("notexact");
  return s;
}

}  // namespace bitsim::formats
