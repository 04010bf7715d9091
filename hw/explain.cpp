// Mismatch explanations for `bitsim check` (explain.hpp).
#include "hw/explain.hpp"

#include "formats/format_text.hpp"

#include <fmt/format.h>

namespace bitsim::hw {

using formats::ArithOptions;
using formats::BigInt;
using formats::Op;

namespace {

bool matches(const VectorSetup& setup, const ArithOptions& options, const Vector& device, std::uint32_t word,
             bool* result_only) {
  VectorSetup s = setup;
  s.options = options;
  const Vector v = expected_vector(s, device.operands, word);
  const bool result = v.result == device.result;
  *result_only = result && v.flags != device.flags;
  return result && v.flags == device.flags;
}

std::string bit_list(const BigInt& bits) {
  std::string s;
  for (int i = static_cast<int>(boost::multiprecision::msb(bits)); i >= 0; --i)
    if (bit_test(bits, static_cast<unsigned>(i))) {
      if (!s.empty()) s += ',';
      s += std::to_string(i);
    }
  return s;
}

}  // namespace

std::string flag_names(std::uint8_t flags) {
  static const std::pair<std::uint8_t, const char*> names[] = {{formats::flag::invalid, "invalid"},
                                                                {formats::flag::divide_by_zero, "divide-by-zero"},
                                                                {formats::flag::overflow, "overflow"},
                                                                {formats::flag::underflow, "underflow"},
                                                                {formats::flag::inexact, "inexact"}};
  std::string s;
  for (const auto& [bit, name] : names)
    if (flags & bit) {
      if (!s.empty()) s += '+';
      s += name;
    }
  return s.empty() ? "none" : s;
}

std::vector<Alternative> single_alternatives(const ArithOptions& base, bool conversion_to_fixed) {
  std::vector<Alternative> out;
  for (formats::Rounding r : {formats::Rounding::rne, formats::Rounding::rna, formats::Rounding::rtz,
                              formats::Rounding::rup, formats::Rounding::rdn}) {
    if (r == base.rounding.mode) continue;
    ArithOptions o = base;
    o.rounding.mode = r;
    out.push_back({o, fmt::format("rounding={}", formats::rounding_name(r))});
  }
  {
    ArithOptions o = base;
    o.tininess = base.tininess == formats::Tininess::after_rounding ? formats::Tininess::before_rounding
                                                                   : formats::Tininess::after_rounding;
    out.push_back({o, fmt::format("tininess={}", formats::tininess_name(o.tininess))});
  }
  for (formats::NanPolicy p : {formats::NanPolicy::canonical, formats::NanPolicy::x86, formats::NanPolicy::arm}) {
    if (p == base.nan) continue;
    ArithOptions o = base;
    o.nan = p;
    out.push_back({o, fmt::format("nan={}", formats::nan_policy_name(p))});
  }
  {
    ArithOptions o = base;
    o.daz = !base.daz;
    out.push_back({o, o.daz ? "daz" : "no daz"});
  }
  {
    ArithOptions o = base;
    o.ftz = !base.ftz;
    out.push_back({o, o.ftz ? "ftz" : "no ftz"});
  }
  if (conversion_to_fixed) {
    ArithOptions o = base;
    o.notexact = !base.notexact;
    out.push_back({o, o.notexact ? "notexact" : "no notexact"});
  }
  return out;
}

Explanation explain_vector(const VectorSetup& setup, const Vector& device, std::uint32_t word) {
  Explanation e;
  e.expected = expected_vector(setup, device.operands, word);
  e.differing_bits = device.result ^ e.expected.result;
  e.extra_flags = device.flags & ~e.expected.flags;
  e.missing_flags = e.expected.flags & ~device.flags;
  if (!formats::op_is_compare(setup.op)) {
    const formats::Format& rf = setup.result_format();
    if (auto d = formats::ulp_distance(rf, device.result, e.expected.result)) {
      e.direction = *d > 0 ? 1 : (*d < 0 ? -1 : 0);
      e.ulps = *d < 0 ? BigInt(-*d) : *d;
    }
  }
  const bool to_fixed = setup.op == Op::convert && setup.to && setup.to->is<formats::FixedFormat>();
  const auto singles = single_alternatives(setup.options, to_fixed);
  for (const Alternative& a : singles) {
    bool result_only = false;
    if (matches(setup, a.options, device, word, &result_only)) e.full_matches.push_back(a.change);
    // Options that give the device's result are news only when bitsim's result differs from it.
    else if (result_only && e.differing_bits != 0) e.result_matches.push_back(a.change);
  }
  if (e.full_matches.empty()) {
    // Two changes at once (e.g. another rounding mode and tininess before rounding).
    for (std::size_t i = 0; i < singles.size(); ++i)
      for (const Alternative& b : single_alternatives(singles[i].options, to_fixed)) {
        const std::string change = singles[i].change + " " + b.change;
        if (b.change.rfind(singles[i].change.substr(0, singles[i].change.find('=')), 0) == 0) continue;  // same key
        bool result_only = false;
        if (matches(setup, b.options, device, word, &result_only)) {
          // Each pair is found twice (a then b, b then a); keep the first spelling.
          const std::string reversed = b.change + " " + singles[i].change;
          if (std::find(e.full_matches.begin(), e.full_matches.end(), reversed) == e.full_matches.end())
            e.full_matches.push_back(change);
        }
      }
  }
  return e;
}

std::string describe(const VectorSetup& setup, const Vector& device, const Explanation& e) {
  const int rw = setup.result_width();
  std::string s;
  if (e.differing_bits != 0) {
    s += fmt::format("  result: device {} bitsim {}; bits {} differ (mask {})", formats::format_code(device.result, rw),
                     formats::format_code(e.expected.result, rw), bit_list(e.differing_bits),
                     formats::format_code(e.differing_bits, rw));
    if (e.ulps) {
      s += fmt::format(", device {} ulp(s) {}", e.ulps->str(), e.direction > 0 ? "above" : "below");
    } else if (!formats::op_is_compare(setup.op)) {
      const formats::Format& rf = setup.result_format();
      auto is_nan = [&](const BigInt& code) { return formats::decode_operand(rf, code).kind == formats::ValueKind::nan; };
      if (is_nan(device.result) && is_nan(e.expected.result)) s += ", both NaNs (sign or payload differ)";
      else s += fmt::format(", a NaN on {} side only", is_nan(device.result) ? "the device's" : "bitsim's");
    }
    s += "\n";
  } else {
    s += "  result: equal\n";
  }
  if (device.flags != e.expected.flags) {
    s += fmt::format("  flags: device {:02X} ({}) bitsim {:02X} ({})", device.flags, flag_names(device.flags),
                     e.expected.flags, flag_names(e.expected.flags));
    if (e.extra_flags) s += fmt::format("; extra {}", flag_names(e.extra_flags));
    if (e.missing_flags) s += fmt::format("; missing {}", flag_names(e.missing_flags));
    s += "\n";
  } else {
    s += fmt::format("  flags: equal ({:02X})\n", device.flags);
  }
  if (!e.full_matches.empty()) {
    s += "  the device's result and flags match bitsim with:";
    for (const std::string& m : e.full_matches) s += " [" + m + "]";
  } else if (!e.result_matches.empty()) {
    s += "  no option gives the device's flags; its result matches with:";
    for (const std::string& m : e.result_matches) s += " [" + m + "]";
  } else if (e.differing_bits == 0) {
    s += "  no other rounding mode or option (one or two changes) gives the device's flags";
  } else {
    s += "  no other rounding mode or option (one or two changes) gives the device's output";
  }
  return s;
}

}  // namespace bitsim::hw
