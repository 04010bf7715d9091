// The aligned accumulation (docs/spec/gemm.md rule 11): how an order is spelled, and its fast path.
#include "sim/kernels/aligned_adder.hpp"

#include "formats/spec_arguments.hpp"
#include "io/excerpt.hpp"
#include "sim/kernels/exact_double.hpp"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <vector>

namespace bitsim::sim {

namespace {

constexpr std::pair<AlignRounding, const char*> kBeyond[] = {{AlignRounding::truncate, "truncate"},
                                                             {AlignRounding::floor, "floor"},
                                                             {AlignRounding::rne, "rne"},
                                                             {AlignRounding::rna, "rna"},
                                                             {AlignRounding::sticky, "sticky"}};

const char* beyond_name(AlignRounding r) {
  for (const auto& [value, name] : kBeyond)
    if (value == r) return name;
  return "?";
}

// Errors of the order's text: at key "order" (the option), naming the aligned(...) key in the message.
[[noreturn]] void order_error(const std::string& message) { throw GemmError(message, ErrorSite::at_key("order")); }

AlignedAccumulation parse_aligned(const std::string& body) {
  std::map<std::string, std::string> kv;
  try {
    kv = formats::split_spec_arguments<GemmError>("aligned", body);
  } catch (const GemmError& e) {
    order_error(e.what());
  }
  formats::SpecArguments<GemmError> args("aligned", std::move(kv));
  AlignedAccumulation a;
  try {
    const std::string group = args.require("group"), width = args.require("width");
    a.group = args.integer("group", group);
    a.width = args.integer("width", width);
    if (auto b = args.take("beyond")) {
      bool known = false;
      for (const auto& [value, name] : kBeyond)
        if (*b == name) a.beyond = value, known = true;
      if (!known)
        throw GemmError(fmt::format("aligned: key 'beyond': expected truncate, floor, rne, rna or sticky, got '{}'", io::excerpt(*b)));
    }
    if (auto l = args.take("lead")) {
      if (*l == "value") a.lead = AlignLead::value;
      else if (*l == "exponents") a.lead = AlignLead::exponents;
      else throw GemmError(fmt::format("aligned: key 'lead': expected value or exponents, got '{}'", io::excerpt(*l)));
    }
    if (auto x = args.take("acc")) {
      if (*x == "aligned") a.acc_in_group = true;
      else if (*x == "separate") a.acc_in_group = false;
      else throw GemmError(fmt::format("aligned: key 'acc': expected aligned or separate, got '{}'", io::excerpt(*x)));
    }
    if (auto g = args.take("groups")) {
      if (*g == "sequential") a.groups = AccOrder::sequential;
      else if (*g == "pairwise") a.groups = AccOrder::pairwise;
      else throw GemmError(fmt::format("aligned: key 'groups': expected sequential or pairwise, got '{}'", io::excerpt(*g)));
    }
    args.finish();
  } catch (const GemmError& e) {
    order_error(e.what());
  }
  check_aligned(a);
  return a;
}

}  // namespace

void check_aligned(const AlignedAccumulation& a) {
  if (a.group < 1) order_error(fmt::format("aligned: key 'group' out of range: {} (must be >= 1)", a.group));
  if (a.width < 1 || a.width > 4096) order_error(fmt::format("aligned: key 'width' out of range: {} (must be 1..4096)", a.width));
  if (a.groups != AccOrder::sequential && a.groups != AccOrder::pairwise)
    order_error("aligned: key 'groups': the groups enter the accumulator sequential or pairwise");
  if (a.acc_in_group && a.groups == AccOrder::pairwise)
    order_error("aligned: groups=pairwise needs acc=separate (an accumulator aligned with each group's products adds the "
                "groups one after another)");
}

void parse_acc_order(const std::string& text, GemmConfig& c) {
  const std::string t = formats::strip_spaces(text);
  if (t.rfind("aligned(", 0) == 0 && t.back() == ')') {
    c.order = AccOrder::aligned;
    c.aligned = parse_aligned(t.substr(8, t.size() - 9));
    return;
  }
  if (t == "aligned") order_error("aligned needs its parameters: aligned(group=G,width=W,...)");
  if (const auto o = acc_order_from_name(t)) {
    c.order = *o;
    return;
  }
  order_error(fmt::format("unknown order '{}' (expected sequential, pairwise, blocked or aligned(group=G,width=W,...))",
                          io::excerpt(text)));
}

std::string acc_order_text(const GemmConfig& c) {
  if (c.order != AccOrder::aligned) return acc_order_name(c.order);
  const AlignedAccumulation& a = c.aligned;
  return fmt::format("aligned(group={},width={},beyond={},lead={},acc={},groups={})", a.group, a.width, beyond_name(a.beyond),
                     a.lead == AlignLead::value ? "value" : "exponents", a.acc_in_group ? "aligned" : "separate",
                     acc_order_name(a.groups));
}

namespace detail {

namespace {

std::optional<int> float_emin(const Format& f) {
  if (!f.is<formats::FloatFormat>()) return std::nullopt;
  return static_cast<int>(f.as<formats::FloatFormat>().emin());
}

// floor(log2|x|) of a finite non-zero double (subnormals included).
int exponent_of(double x) { return std::ilogb(x); }

__extension__ typedef __int128 i128;  // GCC and Clang on 64-bit targets
__extension__ typedef unsigned __int128 u128;

}  // namespace

struct AlignedAdder::Sum {
  enum Kind { finite, nan, pos_inf, neg_inf } kind = finite;
  i128 n = 0;      // the sum in units of 2^q (finite)
  int q = 0;
  bool zero_negative = false;  // the sign when n == 0
};

AlignedAdder::AlignedAdder(const GemmConfig& c)
    : al_(c.aligned), mode_(c.rounding), adder_(*c.acc, c.rounding), product_rounded_(c.product.has_value()) {
  if (al_.lead == AlignLead::exponents) {
    emin_a_ = float_emin(c.a_format);
    emin_b_ = float_emin(c.b_format);
    if (c.product) emin_product_ = float_emin(*c.product);
    emin_acc_ = float_emin(*c.acc);
  }
}

bool AlignedAdder::supports(const GemmConfig& c) {
  if (c.order != AccOrder::aligned || !c.acc || c.aligned.width > 58 || c.aligned.group > (std::int64_t{1} << 40)) return false;
  const Format& acc = *c.acc;
  if (acc.is<formats::FloatFormat>() && acc.as<formats::FloatFormat>().m > 49) return false;
  if (acc.is<FixedFormat>() && acc.width() > 50) return false;
  if (!Quantizer(acc).supports_double_arrays()) return false;
  // Exponents of the formats stay far inside int (std::ilogb's type).
  for (const Format* f : {&c.a_format, &c.b_format, &acc})
    if (const auto e = float_emin(*f); e && (*e < -100000 || *e > 100000)) return false;
  return true;
}

namespace {

// The exponent of a finite non-zero value as its format's fields give it: never below the format's
// emin for a float format (emin set), the value's own otherwise.
int field_exponent(double x, const std::optional<int>& emin) { return emin ? std::max(exponent_of(x), *emin) : exponent_of(x); }

}  // namespace

int AlignedAdder::product_exponent(double a, double b, double p) const {
  if (p == 0 || !std::isfinite(p)) return 0;  // zeros and specials are not aligned
  if (al_.lead == AlignLead::value) return exponent_of(p);
  if (product_rounded_) return field_exponent(p, emin_product_);
  return field_exponent(a, emin_a_) + field_exponent(b, emin_b_);
}

int AlignedAdder::acc_exponent(double s) const {
  return al_.lead == AlignLead::exponents ? field_exponent(s, emin_acc_) : exponent_of(s);
}

// Rule 11 for one step: the terms t[0..n) with their alignment exponents, cut and added exactly.
AlignedAdder::Sum AlignedAdder::aligned_sum(const double* t, const int* lead, std::size_t n) const {
  Sum s;
  bool pos_inf = false, neg_inf = false, any_nonzero = false, all_pos_zero = true, all_neg_zero = true;
  int top = std::numeric_limits<int>::min();
  for (std::size_t i = 0; i < n; ++i) {
    const double x = t[i];
    if (std::isnan(x)) s.kind = Sum::nan;
    else if (std::isinf(x)) (x > 0 ? pos_inf : neg_inf) = true;
    else if (x != 0) any_nonzero = true, top = std::max(top, lead[i]);
    all_pos_zero = all_pos_zero && x == 0 && !std::signbit(x);
    all_neg_zero = all_neg_zero && x == 0 && std::signbit(x);
  }
  if (s.kind == Sum::nan || (pos_inf && neg_inf)) {
    s.kind = Sum::nan;
    return s;
  }
  if (pos_inf || neg_inf) {
    s.kind = pos_inf ? Sum::pos_inf : Sum::neg_inf;
    return s;
  }
  if (!any_nonzero) {  // rule 3's sign of a zero sum
    s.zero_negative = all_neg_zero || (mode_ == Rounding::rdn && !all_pos_zero);
    return s;
  }
  const bool sticky = al_.beyond == AlignRounding::sticky;
  // The grid: 2^q, q = top - width + 1 (one bit finer for sticky, whose last bit is the sticky bit).
  s.q = top - static_cast<int>(al_.width) + 1 - (sticky ? 1 : 0);  // width <= 58 here
  for (std::size_t i = 0; i < n; ++i) {
    const double x = t[i];
    if (x == 0) continue;
    const auto [m, e] = double_parts(x);  // |x| = m x 2^e
    const int shift = e - s.q;
    std::uint64_t mag;
    if (shift >= 0) {
      mag = m << shift;  // exact: |x| < 2^(top + 2), so mag < 2^(width + 3) <= 2^61
    } else {
      const int r = -shift;
      const std::uint64_t whole = r >= 64 ? 0 : m >> r;
      const std::uint64_t rest = r >= 64 ? m : m & ((std::uint64_t{1} << r) - 1);
      // rest compared with half a unit, 2^(r-1): m < 2^53, so for r > 54 rest is below half.
      const int half_vs = r > 54 ? -1 : (rest > (std::uint64_t{1} << (r - 1)) ? 1 : rest == (std::uint64_t{1} << (r - 1)) ? 0 : -1);
      mag = whole;
      switch (al_.beyond) {
        case AlignRounding::truncate: break;
        case AlignRounding::floor: mag += (x < 0 && rest != 0) ? 1 : 0; break;
        case AlignRounding::rna: mag += half_vs >= 0 ? 1 : 0; break;
        case AlignRounding::rne: mag += (half_vs > 0 || (half_vs == 0 && (whole & 1))) ? 1 : 0; break;
        case AlignRounding::sticky: mag |= rest != 0 ? 1 : 0; break;
      }
    }
    s.n += x < 0 ? -static_cast<i128>(mag) : static_cast<i128>(mag);
  }
  if (s.n == 0) s.zero_negative = mode_ == Rounding::rdn;  // cancellation of non-zero terms
  return s;
}

namespace {

// The sum as a double: exact (`exact` true) or its round to odd on 53 bits; nullopt when that is not
// possible (an exact value needing more bits, or a result outside the normal range of doubles).
std::optional<double> to_double(const i128 n, int q, bool zero_negative, bool need_exact) {
  if (n == 0) return zero_negative ? -0.0 : 0.0;
  u128 mag = n < 0 ? static_cast<u128>(-n) : static_cast<u128>(n);
  const auto lo64 = static_cast<std::uint64_t>(mag), hi64 = static_cast<std::uint64_t>(mag >> 64);
  const int low = lo64 != 0 ? std::countr_zero(lo64) : 64 + std::countr_zero(hi64);
  mag >>= low;
  q += low;
  const int bits = (mag >> 64) != 0 ? 128 - std::countl_zero(static_cast<std::uint64_t>(mag >> 64))
                                    : 64 - std::countl_zero(static_cast<std::uint64_t>(mag));
  std::uint64_t m;
  if (bits <= 53) {
    m = static_cast<std::uint64_t>(mag);
  } else {
    if (need_exact) return std::nullopt;
    const int k = bits - 53;
    m = static_cast<std::uint64_t>(mag >> k) | 1;  // the dropped bits are not all zero (mag is odd)
    q += k;
    if (q + 52 < -1022) return std::nullopt;  // round to odd is exact only as a normal double
  }
  if (q < -1074 || q + 53 > 1023) return std::nullopt;
  const double v = std::ldexp(static_cast<double>(m), q);  // exact
  return n < 0 ? -v : v;
}

}  // namespace

double AlignedAdder::accumulate(const double* p, const int* lead, std::int64_t K) const {
  const auto g = static_cast<std::size_t>(al_.group);
  const auto count = static_cast<std::size_t>(K);
  auto value_of = [&](const Sum& s, bool need_exact) -> double {
    switch (s.kind) {
      case Sum::nan: return std::numeric_limits<double>::quiet_NaN();
      case Sum::pos_inf: return std::numeric_limits<double>::infinity();
      case Sum::neg_inf: return -std::numeric_limits<double>::infinity();
      case Sum::finite: break;
    }
    const auto v = to_double(s.n, s.q, s.zero_negative, need_exact);
    if (!v) throw NeedsReference{};
    return *v;
  };
  if (al_.acc_in_group) {
    thread_local std::vector<double> terms;
    thread_local std::vector<int> leads;
    terms.resize(std::min(g, count) + 1);
    leads.resize(std::min(g, count) + 1);
    double acc = 0.0;
    for (std::size_t start = 0; start < count; start += g) {
      const std::size_t n = std::min(count - start, g);
      terms[0] = acc;
      leads[0] = acc != 0 && std::isfinite(acc) ? acc_exponent(acc) : 0;
      std::copy(p + start, p + start + n, terms.begin() + 1);
      std::copy(lead + start, lead + start + n, leads.begin() + 1);
      acc = adder_.round_odd(value_of(aligned_sum(terms.data(), leads.data(), n + 1), false));
    }
    return acc;
  }
  // acc=separate: each group's aligned sum, exact, enters the accumulator by the group order.
  thread_local std::vector<double> leaves;
  leaves.clear();
  for (std::size_t start = 0; start < count; start += g)
    leaves.push_back(value_of(aligned_sum(p + start, lead + start, std::min(count - start, g)), true));
  if (al_.groups == AccOrder::pairwise)
    return leaves.size() == 1 ? adder_.round_odd(leaves[0]) : Pairwise{adder_, leaves.data()}.tree(0, leaves.size());
  double acc = 0.0;
  for (const double t : leaves) acc = adder_.add_round(acc, t);
  return acc;
}

}  // namespace detail

}  // namespace bitsim::sim
