// The golden GEMM: docs/spec/gemm.md rule by rule on exact rationals, with the formats library's
// golden rounding at every rounding point. Slow by design; gemm() is tested against it.
#include "sim/kernels/gemm.hpp"

#include "formats/golden.hpp"

#include <fmt/format.h>

namespace bitsim::sim {

using formats::ExactInput;
using formats::GoldenResult;
using formats::Rational;
using formats::BigInt;
using formats::ValueKind;

namespace {

// The element a rounding belongs to, for messages: A[i][k], B[k][j] or C[i][j].
struct Where {
  char matrix;
  std::int64_t i, j;
};

// Rounds an exact value to a format (gemm.md rule 4: the format's full quantize rules).
ExactInput round_to(const formats::Format& f, const ExactInput& x, formats::Rounding mode, const char* stage, Where w) {
  GoldenResult g;
  try {
    g = formats::golden_quantize_exact(f, x, {mode, 32}, 0);
  } catch (const formats::QuantizeError& e) {
    throw GemmError(fmt::format("{}[{}][{}]: rounding to the {} format: {}", w.matrix, w.i, w.j, stage, e.what()));
  }
  ExactInput r;
  r.kind = g.kind;
  r.negative = g.negative;
  if (g.kind == ValueKind::finite) r.magnitude = *g.exact;
  return r;
}

// gemm.md rule 2: exact product with IEEE specials; the sign is the XOR of the signs, zeros included.
ExactInput multiply(const ExactInput& a, const ExactInput& b) {
  ExactInput r;
  if (a.is_nan() || b.is_nan() || (a.is_inf() && b.is_zero()) || (a.is_zero() && b.is_inf())) {
    r.kind = ValueKind::nan;
    return r;
  }
  r.negative = a.negative != b.negative;
  if (a.is_inf() || b.is_inf()) {
    r.kind = ValueKind::infinite;
    return r;
  }
  r.magnitude = a.magnitude * b.magnitude;
  return r;
}

// gemm.md rule 3: the exact sum of the addends, with the specials and the sign of a zero sum.
ExactInput add(const std::vector<ExactInput>& addends, formats::Rounding mode) {
  bool nan = false, pos_inf = false, neg_inf = false, all_neg_zero = true, all_pos_zero = true;
  Rational sum = 0;
  for (const ExactInput& x : addends) {
    if (x.is_nan()) nan = true;
    else if (x.is_inf()) (x.negative ? neg_inf : pos_inf) = true;
    else sum += x.signed_value();
    all_neg_zero = all_neg_zero && x.is_zero() && x.negative;
    all_pos_zero = all_pos_zero && x.is_zero() && !x.negative;
  }
  ExactInput r;
  if (nan || (pos_inf && neg_inf)) {
    r.kind = ValueKind::nan;
    return r;
  }
  if (pos_inf || neg_inf) {
    r.kind = ValueKind::infinite;
    r.negative = neg_inf;
    return r;
  }
  if (sum != 0) return ExactInput::from_rational(sum);
  const bool negative_zero = all_neg_zero || (mode == formats::Rounding::rdn && !all_pos_zero);
  return ExactInput::from_rational(Rational(0), negative_zero);
}

ExactInput plus_zero() { return ExactInput::from_rational(Rational(0)); }

// gemm.md rule 11: the exponent of a finite non-zero value of format f as its exponent fields give it
// (a float's never below emin; a fixed-point value's is its own), and of the value itself.
std::int64_t value_exponent(const ExactInput& x) { return formats::floor_log2(x.magnitude); }
std::int64_t format_exponent(const formats::Format& f, const ExactInput& x) {
  const std::int64_t e = value_exponent(x);
  return f.is<formats::FloatFormat>() ? std::max(e, f.as<formats::FloatFormat>().emin()) : e;
}

// A term of an aligned step: its value and the exponent it is aligned by (finite non-zero values only).
struct Term {
  ExactInput x;
  std::int64_t lead = 0;
};

// gemm.md rule 11, one step: the terms aligned on the grid 2^(top - width + 1) of the largest alignment
// exponent, each cut to that grid as `beyond` says, and added exactly. Specials and all-zero steps are
// rule 3's; a zero sum of non-zero terms is +0 (-0 under rdn).
ExactInput aligned_add(const AlignedAccumulation& al, const std::vector<Term>& terms, formats::Rounding mode) {
  bool special = false, any_nonzero = false;
  std::int64_t top = 0;
  std::vector<ExactInput> values;
  for (const Term& t : terms) {
    values.push_back(t.x);
    if (t.x.is_nan() || t.x.is_inf()) special = true;
    else if (!t.x.is_zero()) top = any_nonzero ? std::max(top, t.lead) : t.lead, any_nonzero = true;
  }
  if (special || !any_nonzero) return add(values, mode);
  const bool sticky = al.beyond == AlignRounding::sticky;
  const Rational unit = formats::pow2(top - al.width + 1 - (sticky ? 1 : 0));
  const Rational half(1, 2);
  BigInt total = 0;
  for (const Term& t : terms) {
    if (t.x.is_zero()) continue;
    const Rational v = t.x.magnitude / unit;
    BigInt whole = boost::multiprecision::numerator(v) / boost::multiprecision::denominator(v);
    const Rational rest = v - Rational(whole);
    switch (al.beyond) {
      case AlignRounding::truncate: break;
      case AlignRounding::floor: whole += (t.x.negative && rest != 0) ? 1 : 0; break;
      case AlignRounding::rna: whole += rest >= half ? 1 : 0; break;
      case AlignRounding::rne: whole += (rest > half || (rest == half && (whole & 1) != 0)) ? 1 : 0; break;
      case AlignRounding::sticky: whole |= rest != 0 ? 1 : 0; break;
    }
    total += t.x.negative ? BigInt(-whole) : whole;
  }
  if (total == 0) return ExactInput::from_rational(Rational(0), mode == formats::Rounding::rdn);
  return ExactInput::from_rational(Rational(total) * unit);
}

struct Element {
  const GemmConfig& c;
  const std::vector<ExactInput>& p;        // the K products of this element
  const std::vector<std::int64_t>& lead;  // their alignment exponents (rule 11)
  Where w;

  ExactInput acc_round(const ExactInput& x) const { return round_to(*c.acc, x, c.rounding, "accumulator", w); }

  // gemm.md rule 7 over leaves v: left = the first h leaves, h the largest power of two below n.
  ExactInput tree(const std::vector<ExactInput>& v, std::size_t lo, std::size_t n) const {
    if (n == 1) return v[lo];
    std::size_t h = 1;
    while (h * 2 < n) h *= 2;
    return acc_round(add({tree(v, lo, h), tree(v, lo + h, n - h)}, c.rounding));
  }

  // gemm.md rule 11.
  ExactInput aligned() const {
    const AlignedAccumulation& al = c.aligned;
    const auto g = static_cast<std::size_t>(al.group);
    auto group_terms = [&](std::size_t start) {
      std::vector<Term> t;
      for (std::size_t k = start; k < std::min(p.size(), start + g); ++k) t.push_back({p[k], lead[k]});
      return t;
    };
    if (al.acc_in_group) {
      ExactInput s = plus_zero();
      for (std::size_t start = 0; start < p.size(); start += g) {
        std::vector<Term> t{{s, 0}};
        if (s.kind == ValueKind::finite && !s.is_zero())
          t[0].lead = al.lead == AlignLead::exponents ? format_exponent(*c.acc, s) : value_exponent(s);
        for (Term& x : group_terms(start)) t.push_back(std::move(x));
        s = acc_round(aligned_add(al, t, c.rounding));
      }
      return s;
    }
    std::vector<ExactInput> leaves;
    for (std::size_t start = 0; start < p.size(); start += g) leaves.push_back(aligned_add(al, group_terms(start), c.rounding));
    if (al.groups == AccOrder::pairwise) return leaves.size() == 1 ? acc_round(leaves[0]) : tree(leaves, 0, leaves.size());
    ExactInput s = plus_zero();
    for (const ExactInput& t : leaves) s = acc_round(add({s, t}, c.rounding));
    return s;
  }

  ExactInput accumulate() const {
    if (!c.acc) {  // rule 5
      std::vector<ExactInput> all{plus_zero()};
      all.insert(all.end(), p.begin(), p.end());
      return add(all, c.rounding);
    }
    switch (c.order) {
      case AccOrder::sequential: {  // rule 6
        ExactInput s = plus_zero();
        for (const ExactInput& pk : p) s = acc_round(add({s, pk}, c.rounding));
        return s;
      }
      case AccOrder::pairwise:  // rule 7
        return p.size() == 1 ? acc_round(p[0]) : tree(p, 0, p.size());
      case AccOrder::aligned:  // rule 11
        return aligned();
      case AccOrder::blocked: {  // rule 8
        ExactInput s = plus_zero();
        const auto chunk = static_cast<std::size_t>(c.chunk);
        for (std::size_t start = 0; start < p.size(); start += chunk) {
          std::vector<ExactInput> addends{s};
          for (std::size_t k = start; k < std::min(p.size(), start + chunk); ++k) addends.push_back(p[k]);
          s = acc_round(add(addends, c.rounding));
        }
        return s;
      }
    }
    return plus_zero();
  }
};

}  // namespace

GemmResult gemm_reference(const GemmConfig& c, const Matrix& a, const Matrix& b) {
  auto exact = [](const Matrix& m) {
    ExactMatrix x{m.rows, m.cols, {}};
    x.data.reserve(m.data.size());
    for (const double v : m.data) x.data.push_back(ExactInput::from_double(v));
    return x;
  };
  return gemm_reference(c, exact(a), exact(b));
}

GemmResult gemm_reference(const GemmConfig& c, const ExactMatrix& a, const ExactMatrix& b) {
  validate(c);
  if (a.cols != b.rows) throw GemmError(fmt::format("columns of A ({}) != rows of B ({})", a.cols, b.rows));
  if (a.rows == 0 || a.cols == 0 || b.cols == 0) throw GemmError("empty matrix");
  const auto rne = formats::Rounding::rne;
  // Rule 1: inputs rounded to their formats with rne.
  std::vector<ExactInput> qa(a.data.size()), qb(b.data.size());
  for (std::int64_t i = 0; i < a.rows; ++i)
    for (std::int64_t k = 0; k < a.cols; ++k) {
      const auto e = static_cast<std::size_t>(i * a.cols + k);
      qa[e] = round_to(c.a_format, a.data[e], rne, "A", {'A', i, k});
    }
  for (std::int64_t k = 0; k < b.rows; ++k)
    for (std::int64_t j = 0; j < b.cols; ++j) {
      const auto e = static_cast<std::size_t>(k * b.cols + j);
      qb[e] = round_to(c.b_format, b.data[e], rne, "B", {'B', k, j});
    }

  GemmResult r;
  r.values = Matrix(a.rows, b.cols);
  r.codes.resize(static_cast<std::size_t>(a.rows * b.cols));
  r.path = GemmPath::reference;
  std::vector<ExactInput> p(static_cast<std::size_t>(a.cols));
  std::vector<std::int64_t> lead(static_cast<std::size_t>(a.cols), 0);
  for (std::int64_t i = 0; i < a.rows; ++i)
    for (std::int64_t j = 0; j < b.cols; ++j) {
      const Where w{'C', i, j};
      for (std::int64_t k = 0; k < a.cols; ++k) {
        const ExactInput& ak = qa[static_cast<std::size_t>(i * a.cols + k)];
        const ExactInput& bk = qb[static_cast<std::size_t>(k * b.cols + j)];
        ExactInput prod = multiply(ak, bk);
        if (c.product) prod = round_to(*c.product, prod, c.rounding, "product", w);
        // Rule 11's alignment exponent (used by the aligned order only).
        if (prod.kind == ValueKind::finite && !prod.is_zero())
          lead[static_cast<std::size_t>(k)] = c.aligned.lead == AlignLead::value ? value_exponent(prod)
                                              : c.product ? format_exponent(*c.product, prod)
                                                          : format_exponent(c.a_format, ak) + format_exponent(c.b_format, bk);
        p[static_cast<std::size_t>(k)] = prod;
      }
      const ExactInput acc = Element{c, p, lead, w}.accumulate();
      GoldenResult g;
      try {
        g = formats::golden_quantize_exact(c.out_format, acc, {c.rounding, 32}, 0);
      } catch (const formats::QuantizeError& e) {
        throw GemmError(fmt::format("C[{}][{}]: rounding to the output format: {}", i, j, e.what()));
      }
      r.values(i, j) = g.value;
      r.codes[static_cast<std::size_t>(i * b.cols + j)] = static_cast<std::uint64_t>(*g.code);
    }
  return r;
}

}  // namespace bitsim::sim
