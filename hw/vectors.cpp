// Test-vector generation and the TestFloat line format (vectors.hpp).
#include "hw/vectors.hpp"
#include "hw/arith_fast.hpp"
#include "io/excerpt.hpp"

#include "formats/format_text.hpp"
#include "formats/golden.hpp"
#include "formats/random_words.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <memory>
#include <random>
#include <set>

namespace bitsim::hw {

using formats::BigInt;
using formats::FixedFormat;
using formats::FloatFormat;
using formats::Format;
using formats::Op;

namespace {

BigInt p2(int k) { return BigInt(1) << k; }

int hex_digits(int width) { return (width + 3) / 4; }

// Float codes from a sign and a magnitude index.
struct FloatCodes {
  const FloatFormat& f;
  BigInt sign() const { return p2(f.e + f.m); }
  BigInt index_limit() const { return sign(); }  // indices are < 2^(e+m)
  void add_both_signs(std::set<BigInt>& out, const BigInt& index) const {
    if (index < 0 || index >= index_limit()) return;
    out.insert(index);
    out.insert(index | sign());
  }
};

std::vector<BigInt> float_corners(const Format& format, bool reduced) {
  const FloatFormat& f = format.as<FloatFormat>();
  FloatCodes fc{f};
  std::set<BigInt> s;
  const BigInt scale = p2(f.m);
  const BigInt max_finite = BigInt(f.max_finite_index());
  const BigInt one = f.bias >= 1 && f.bias < (std::int64_t(1) << f.e) ? BigInt(f.bias) * scale : BigInt(-1);
  fc.add_both_signs(s, 0);
  if (f.m >= 1) fc.add_both_signs(s, 1);                      // smallest subnormal
  if (f.m >= 1) fc.add_both_signs(s, scale - 1);              // largest subnormal
  fc.add_both_signs(s, scale);                                // smallest normal
  fc.add_both_signs(s, max_finite);                           // largest finite
  if (one >= 0) fc.add_both_signs(s, one);                    // 1
  if (!reduced) {
    if (f.m >= 2) fc.add_both_signs(s, 2);
    fc.add_both_signs(s, scale + 1);                          // just above the smallest normal
    fc.add_both_signs(s, max_finite - 1);
    if (one >= 0) {
      fc.add_both_signs(s, one - 1);                          // largest below 1
      fc.add_both_signs(s, one + 1);                          // 1 + ulp
      if (f.m >= 1) fc.add_both_signs(s, one + scale / 2);    // 1.5
      fc.add_both_signs(s, one + scale);                      // 2
      fc.add_both_signs(s, one + scale + scale - 1);          // largest below 4
    }
  }
  std::set<BigInt> specials;
  if (f.special == formats::Special::ieee) {
    const BigInt inf = (p2(f.e) - 1) << f.m;
    fc.add_both_signs(specials, inf);
    if (f.m >= 1) {
      specials.insert(inf | p2(f.m - 1));                     // canonical quiet NaN
      if (!reduced) specials.insert(inf | p2(f.m - 1) | 1 | fc.sign());  // negative quiet NaN with payload
      if (f.m >= 2) specials.insert(inf | 1);                 // signalling NaN
    }
  } else if (f.special == formats::Special::fn) {
    specials.insert(p2(f.e + f.m) - 1);
    if (!reduced) specials.insert(p2(f.e + f.m + 1) - 1);
  } else if (f.special == formats::Special::fnuz) {
    specials.insert(fc.sign());
  } else if (f.special == formats::Special::inuz) {
    specials.insert(fc.sign());                               // the NaN
    fc.add_both_signs(specials, fc.sign() - 1);               // +-Inf
  }
  // Values beyond the largest finite index are NaN/Inf patterns; keep only real finite indices above.
  std::vector<BigInt> out;
  for (const BigInt& c : s) {
    const BigInt idx = c & (fc.sign() - 1);
    if (idx <= max_finite) out.push_back(c);
  }
  out.insert(out.end(), specials.begin(), specials.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<BigInt> fixed_corners(const Format& format, bool reduced) {
  const FixedFormat& f = format.as<FixedFormat>();
  const int w = f.width();
  const BigInt lo = f.is_signed ? BigInt(-p2(w - 1)) : BigInt(0);
  const BigInt hi = f.is_signed ? p2(w - 1) - 1 : p2(w) - 1;
  std::set<BigInt> values{0, 1, hi, lo};
  if (f.is_signed) values.insert(-1);
  if (f.f >= 0 && f.f < w) {
    values.insert(p2(f.f));
    if (f.is_signed) values.insert(-p2(f.f));
  }
  if (!reduced) {
    values.insert(2);
    values.insert(hi - 1);
    values.insert(lo + 1);
    if (f.f >= 1 && f.f <= w) values.insert(p2(f.f - 1));
  }
  std::vector<BigInt> out;
  for (const BigInt& v : values)
    if (v >= lo && v <= hi) out.push_back(v < 0 ? BigInt(v + p2(w)) : v);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<BigInt> corners(const Format& format, bool reduced) {
  if (format.is<FloatFormat>()) return float_corners(format, reduced);
  if (format.is<FixedFormat>()) return fixed_corners(format, reduced);
  throw VectorError(fmt::format("format {}: vectors exist for float and fixed formats only", format.name()));
}

// Deterministic random codes: std::mt19937_64's output is fixed by the standard (its distributions
// are not, so none is used).
class CodeSource {
 public:
  explicit CodeSource(std::uint64_t seed) : rng_(seed ^ 0x6269747369ull) {}
  std::uint64_t next() { return rng_(); }
  BigInt bits(int width) {
    if (width <= 64) return BigInt(rng_() & (width == 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << width) - 1));
    BigInt v = 0;
    for (int done = 0; done < width; done += 64) {
      v <<= 64;
      v += static_cast<unsigned long long>(rng_());
    }
    return v & (p2(width) - 1);
  }
  // bits(width) as a 64-bit code (width <= 64): the same draw.
  std::uint64_t bits64(int width) { return rng_() & (width == 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << width) - 1); }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }

 private:
  std::mt19937_64 rng_;
};

// A random operand whose exponent is near `near` (floats): same sign-free exponent field +-2, random
// fraction and sign; exercises cancellation in add/sub and nearby products.
BigInt near_operand(const Format& format, const BigInt& near, CodeSource& rng) {
  if (!format.is<FloatFormat>()) return rng.bits(format.width());
  const FloatFormat& f = format.as<FloatFormat>();
  const BigInt sign = p2(f.e + f.m);
  const BigInt field_max = p2(f.e) - 1;
  BigInt field = (near & (sign - 1)) >> f.m;
  const std::int64_t delta = static_cast<std::int64_t>(rng.below(5)) - 2;
  field += delta;
  if (field < 0) field = 0;
  if (field > field_max) field = field_max;
  BigInt code = (field << f.m) | rng.bits(f.m);
  if (rng.next() & 1) code |= sign;
  return code;
}

// near_operand on 64-bit codes (formats at most 64 bits wide): the same draws, the same code.
std::uint64_t near_code(const Format& format, std::uint64_t near, CodeSource& rng) {
  if (!format.is<FloatFormat>()) return rng.bits64(format.width());
  const FloatFormat& f = format.as<FloatFormat>();
  const std::uint64_t sign = std::uint64_t(1) << (f.e + f.m);
  const std::int64_t field_max = (std::int64_t(1) << f.e) - 1;
  std::int64_t field = static_cast<std::int64_t>((near & (sign - 1)) >> f.m);
  field += static_cast<std::int64_t>(rng.below(5)) - 2;
  field = std::clamp<std::int64_t>(field, 0, field_max);
  std::uint64_t code = (static_cast<std::uint64_t>(field) << f.m) | rng.bits64(f.m);
  if (rng.next() & 1) code |= sign;
  return code;
}

// (a, b) such that a + b lies exactly halfway between two neighbours of a: b = +-half an ulp of a.
std::vector<std::vector<BigInt>> tie_pairs(const Format& format, const std::vector<BigInt>& seeds) {
  std::vector<std::vector<BigInt>> out;
  if (!format.is<FloatFormat>()) return out;
  const FloatFormat& f = format.as<FloatFormat>();
  for (const BigInt& a : seeds) {
    const formats::Operand x = formats::decode_operand(format, a);
    if (x.kind != formats::ValueKind::finite || x.magnitude == 0) continue;
    const std::int64_t e = std::max(formats::floor_log2(x.magnitude), f.emin());
    const formats::Rational half_ulp = formats::pow2(e - f.m - 1);
    for (bool neg : {false, true}) {
      formats::ExactInput in = formats::ExactInput::from_rational(neg ? formats::Rational(-half_ulp) : half_ulp);
      const formats::GoldenResult g = formats::golden_quantize_exact(format, in, {});
      if (g.flags != 0 || !g.code) continue;  // half an ulp is not a value of the format
      out.push_back({a, *g.code});
    }
  }
  return out;
}

// (a, b) whose product is often exactly halfway between two values: b = +-1.5 or 0.75, so that the
// product of a's odd significand with 1.1b ends one bit below a's precision.
std::vector<std::vector<BigInt>> product_tie_pairs(const Format& format, const std::vector<BigInt>& seeds) {
  std::vector<std::vector<BigInt>> out;
  if (!format.is<FloatFormat>()) return out;
  std::vector<BigInt> factors;
  for (const formats::Rational& r : {formats::Rational(3, 2), formats::Rational(-3, 2), formats::Rational(3, 4)}) {
    const formats::GoldenResult g = formats::golden_quantize_exact(format, formats::ExactInput::from_rational(r), {});
    if (g.flags == 0 && g.code) factors.push_back(*g.code);
  }
  for (const BigInt& a : seeds)
    for (const BigInt& b : factors) out.push_back({a, b});
  return out;
}

}  // namespace

namespace {

// Calls f(token) for each whitespace-separated token of a line (spaces, tabs, a CR).
template <class F> void for_each_token(std::string_view line, F f) {
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) f(line.substr(i, j - i));
    i = j;
  }
}

}  // namespace

std::vector<std::string_view> split_tokens(std::string_view line) {
  std::vector<std::string_view> tokens;
  for_each_token(line, [&](std::string_view t) { tokens.push_back(t); });
  return tokens;
}

namespace {

// hex_digit_value by table: the vector parsers' inner loop.
constexpr auto kHexDigit = [] {
  std::array<signed char, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<std::size_t>(c)] = static_cast<signed char>(formats::hex_digit_value(static_cast<char>(c)));
  return t;
}();

VectorError not_hex(std::string_view token, const char* what, int position) {
  return VectorError(fmt::format("token {} ({}) '{}' is not hex", position, what, io::excerpt(token)));
}
VectorError too_wide(std::string_view token, int width, const char* what, int position) {
  return VectorError(fmt::format("token {} ({}) '{}' does not fit {} bits", position, what, io::excerpt(token), width));
}

// A hex token as a code of at most `width` <= 64 bits; the errors of parse_hex_token.
std::uint64_t parse_hex_u64(std::string_view token, int width, const char* what, int position) {
  std::string_view digits = token;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) digits.remove_prefix(2);
  std::uint64_t u = 0, overflow = 0;
  int bad = digits.empty() ? 1 : 0;
  for (char c : digits) {
    const int d = kHexDigit[static_cast<unsigned char>(c)];
    bad |= d < 0;
    overflow |= u >> 60;
    u = (u << 4) | static_cast<std::uint64_t>(d & 15);
  }
  if (bad) throw not_hex(token, what, position);
  if (overflow || (width < 64 && (u >> width) != 0)) throw too_wide(token, width, what, position);
  return u;
}

}  // namespace

BigInt parse_hex_token(std::string_view token, int width, const char* what, int position) {
  if (width <= 64) return BigInt(parse_hex_u64(token, width, what, position));
  std::string_view digits = token;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) digits.remove_prefix(2);
  if (digits.empty()) throw not_hex(token, what, position);
  BigInt v = 0;
  for (char c : digits) {
    const int d = formats::hex_digit_value(c);
    if (d < 0) throw not_hex(token, what, position);
    v = v * 16 + d;
  }
  if (v >= p2(width)) throw too_wide(token, width, what, position);
  return v;
}

int VectorSetup::result_width() const { return formats::op_is_compare(op) ? 1 : result_format().width(); }

namespace {

// expected_vector's code lane: a CodeLane prepared per thread for the last setup (a file of vectors has one).
void expect_prepared(const VectorSetup& setup, CodeVector& v, std::uint32_t word) {
  struct Prepared {
    VectorSetup setup;
    std::unique_ptr<CodeLane> lane;
  };
  thread_local std::optional<Prepared> last;
  if (!last || last->setup.op != setup.op || !(last->setup.format == setup.format) || last->setup.to != setup.to ||
      !(last->setup.options == setup.options)) {
    last.emplace();
    last->setup = setup;
    last->lane = std::make_unique<CodeLane>(last->setup);
  }
  last->lane->expect(v, word);
}

}  // namespace

Vector expected_vector(const VectorSetup& setup, const std::vector<BigInt>& operands, std::uint32_t word) {
  // Operands that are codes of a format of at most 64 bits take the code lane.
  const int arity = formats::op_arity(setup.op);
  if (fits_code_vector(setup) && static_cast<int>(operands.size()) == arity) {
    CodeVector v;
    bool in_range = true;
    const int width = setup.format.width();
    for (int i = 0; i < arity && in_range; ++i) {
      in_range = operands[i] >= 0 && boost::multiprecision::msb(operands[i] | 1) < static_cast<unsigned>(width);
      if (in_range) v.operands[i] = static_cast<std::uint64_t>(operands[i]);
    }
    if (in_range) {
      expect_prepared(setup, v, word);
      return Vector{operands, BigInt(v.result), v.flags};
    }
  }
  const formats::ArithResult r =
      formats::arith_golden(setup.op, setup.format, operands, setup.options, word, setup.to ? &*setup.to : nullptr);
  return Vector{operands, r.code, r.flags};
}

bool fits_code_vector(const VectorSetup& setup) { return setup.format.width() <= 64 && setup.result_width() <= 64; }

CodeLane::CodeLane(const VectorSetup& setup)
    : setup_(setup),
      arity_(formats::op_arity(setup.op)),
      width_(setup.format.width()),
      result_width_(setup.result_width()) {
  const Format* to = setup.to ? &*setup.to : nullptr;
  if (formats::FastArith::supports(setup.op, setup.format, setup.options, to)) fast_.emplace(setup.op, setup.format, setup.options, to);
}

void CodeLane::expect(CodeVector& v, std::uint32_t word) const {
  if (fast_) {
    const formats::FastResult r = fast_->complete(v.operands[0], v.operands[1], v.operands[2], word);
    v.result = r.code;
    v.flags = r.flags;
    return;
  }
  std::vector<BigInt> operands;
  for (int i = 0; i < arity_; ++i) operands.emplace_back(v.operands[i]);
  const formats::ArithResult r =
      formats::arith_golden(setup_.op, setup_.format, operands, setup_.options, word, setup_.to ? &*setup_.to : nullptr);
  v.result = static_cast<std::uint64_t>(r.code);
  v.flags = r.flags;
}

CodeVector CodeLane::parse(std::string_view line) const {
  std::string_view tokens[5];
  std::size_t count = 0;
  for_each_token(line, [&](std::string_view t) {
    if (count < 5) tokens[count] = t;
    ++count;
  });
  if (count != static_cast<std::size_t>(arity_ + 2))
    throw VectorError(fmt::format("expected {} tokens ({} operand(s), result, flags), found {}", arity_ + 2, arity_, count));
  CodeVector v;
  for (int k = 0; k < arity_; ++k) v.operands[k] = parse_hex_u64(tokens[k], width_, "operand", k + 1);
  v.result = parse_hex_u64(tokens[arity_], result_width_, "result", arity_ + 1);
  v.flags = static_cast<std::uint8_t>(parse_hex_u64(tokens[arity_ + 1], 5, "flags", arity_ + 2));
  return v;
}

void CodeLane::append(const CodeVector& v, std::string& out) const {
  auto hex = [&out](std::uint64_t x, int digits) {
    char buf[16];
    for (int i = digits - 1; i >= 0; --i, x >>= 4) buf[i] = "0123456789ABCDEF"[x & 15];
    out.append(buf, static_cast<std::size_t>(digits));
  };
  for (int i = 0; i < arity_; ++i) {
    hex(v.operands[i], hex_digits(width_));
    out += ' ';
  }
  hex(v.result, hex_digits(result_width_));
  out += ' ';
  hex(v.flags, 2);
}

std::string format_vector(const VectorSetup& setup, const Vector& v) {
  std::string s;
  for (const BigInt& a : v.operands) {
    s += formats::format_hex_upper(a, hex_digits(setup.format.width()));
    s += ' ';
  }
  s += formats::format_hex_upper(v.result, hex_digits(setup.result_width()));
  s += ' ';
  s += formats::format_hex_upper(BigInt(v.flags), 2);
  return s;
}

Vector parse_vector(const VectorSetup& setup, std::string_view line) {
  const auto tokens = split_tokens(line);
  const int arity = formats::op_arity(setup.op);
  if (static_cast<int>(tokens.size()) != arity + 2)
    throw VectorError(fmt::format("expected {} tokens ({} operand(s), result, flags), found {}", arity + 2, arity,
                                  tokens.size()));
  Vector v;
  for (int i = 0; i < arity; ++i) v.operands.push_back(parse_hex_token(tokens[i], setup.format.width(), "operand", i + 1));
  v.result = parse_hex_token(tokens[arity], setup.result_width(), "result", arity + 1);
  v.flags = static_cast<std::uint8_t>(parse_hex_token(tokens[arity + 1], 5, "flags", arity + 2));
  return v;
}

std::vector<BigInt> corner_operands(const Format& format) { return corners(format, false); }

std::string vector_header(const VectorSetup& setup, std::uint64_t seed) {
  const formats::ArithOptions& o = setup.options;
  std::string s = fmt::format("// bitsim vectors {} --format {}", formats::op_name(setup.op), setup.format.to_string());
  if (setup.to) s += fmt::format(" --to {}", setup.to->to_string());
  s += fmt::format(" --rounding {}", formats::rounding_name(o.rounding.mode));
  if (o.rounding.mode == formats::Rounding::sr) s += fmt::format(" --sr-bits {}", o.rounding.sr_bits);
  s += fmt::format(" --tininess {} --nan {}", formats::tininess_name(o.tininess), formats::nan_policy_name(o.nan));
  if (o.daz) s += " --daz";
  if (o.ftz) s += " --ftz";
  if (o.notexact) s += " --notexact";
  s += fmt::format(" --seed {}", seed);
  return s;
}

bool is_comment_line(std::string_view line) {
  const std::size_t i = line.find_first_not_of(" \t");
  return i != std::string_view::npos && line.substr(i, 2) == "//";
}

std::uint32_t vector_word(const VectorSetup& setup, std::uint64_t seed, std::uint64_t index) {
  if (setup.options.rounding.mode != formats::Rounding::sr) return 0;
  return formats::PhiloxWords(seed).word(index);
}

void generate_vectors(const VectorSetup& setup, const GenerateOptions& options, const std::function<void(const Vector&)>& emit,
                      const std::function<void(const CodeLane&, const CodeVector&)>& emit_codes) {
  const int arity = formats::op_arity(setup.op);
  const int width = setup.format.width();
  std::uint64_t index = 0;
  auto one = [&](const std::vector<BigInt>& operands) { emit(expected_vector(setup, operands, vector_word(setup, options.seed, index++))); };
  // The exhaustive and random tuples of formats up to 64 bits go through the code lane (the same
  // operands, results and order as the BigInt path); given to emit_codes when the caller takes codes.
  std::optional<CodeLane> lane;
  if (fits_code_vector(setup)) lane.emplace(setup);
  auto one_code = [&](CodeVector& v) {
    lane->expect(v, vector_word(setup, options.seed, index++));
    if (emit_codes) {
      emit_codes(*lane, v);
      return;
    }
    std::vector<BigInt> ops;
    for (int k = 0; k < arity; ++k) ops.emplace_back(v.operands[k]);
    emit(Vector{std::move(ops), BigInt(v.result), v.flags});
  };
  if (options.exhaustive) {
    // At most 2^24 tuples, so every operand fits the code lane.
    if (width * arity > 24)
      throw VectorError(fmt::format("--exhaustive: {} operand(s) of {} bits make 2^{} vectors; at most 2^24 are allowed",
                                    arity, width, width * arity));
    const std::uint64_t n = std::uint64_t(1) << width;
    CodeVector v;
    const std::uint64_t total = std::uint64_t(1) << (width * arity);
    for (std::uint64_t i = 0; i < total; ++i) {
      std::uint64_t rest = i;
      for (int k = arity - 1; k >= 0; --k) {
        v.operands[k] = rest % n;
        rest /= n;
      }
      one_code(v);
    }
    return;
  }
  // Level 1: every tuple of corner operands (a reduced set for three operands).
  const std::vector<BigInt> c = corners(setup.format, arity == 3);
  if (arity == 1) {
    for (const BigInt& a : c) one({a});
  } else if (arity == 2) {
    for (const BigInt& a : c)
      for (const BigInt& b : c) one({a, b});
  } else {
    for (const BigInt& a : c)
      for (const BigInt& b : c)
        for (const BigInt& d : c) one({a, b, d});
  }
  CodeSource rng(options.seed);
  if (arity == 2 && (setup.op == Op::add || setup.op == Op::sub)) {
    std::vector<BigInt> seeds = corners(setup.format, false);
    for (int i = 0; i < 64; ++i) seeds.push_back(rng.bits(width));
    for (const auto& pair : tie_pairs(setup.format, seeds)) one(pair);
  }
  if (arity == 2 && setup.op == Op::mul) {
    std::vector<BigInt> seeds = corners(setup.format, false);
    for (int i = 0; i < 64; ++i) seeds.push_back(rng.bits(width));
    for (const auto& pair : product_tie_pairs(setup.format, seeds)) one(pair);
  }
  for (std::uint64_t i = 0; i < options.count; ++i) {
    if (lane) {
      CodeVector v;
      v.operands[0] = rng.bits64(width);
      for (int k = 1; k < arity; ++k) v.operands[k] = (i & 1) ? near_code(setup.format, v.operands[0], rng) : rng.bits64(width);
      one_code(v);
      continue;
    }
    std::vector<BigInt> ops(arity);
    ops[0] = rng.bits(width);
    for (int k = 1; k < arity; ++k) ops[k] = (i & 1) ? near_operand(setup.format, ops[0], rng) : rng.bits(width);
    one(ops);
  }
}

}  // namespace bitsim::hw
