#include "sim/kernels/gemm.hpp"

#include "formats/golden.hpp"
#include "formats/quantizer.hpp"
#include "sim/kernels/acc_adder.hpp"
#include "sim/kernels/aligned_adder.hpp"
#include "sim/kernels/eigen_gemm.hpp"
#include "sim/kernels/exact_double.hpp"
#include "sim/kernels/gemm_fp32_kernel.hpp"
#include "sim/runtime/task_split.hpp"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <span>
#include <type_traits>
#include <thread>

namespace bitsim::sim {

using formats::Format;
using formats::FloatFormat;
using formats::FixedFormat;
using formats::Quantizer;
using formats::Rounding;
using detail::AccAdder;
using detail::NeedsReference;
using detail::Pairwise;

const std::vector<std::string>& acc_order_names() {
  static const std::vector<std::string> names = {"sequential", "pairwise", "blocked"};  // in enum order
  return names;
}
const char* acc_order_name(AccOrder o) {
  return o == AccOrder::aligned ? "aligned" : acc_order_names()[static_cast<std::size_t>(o)].c_str();
}
std::optional<AccOrder> acc_order_from_name(const std::string& name) {
  for (std::size_t i = 0; i < acc_order_names().size(); ++i)
    if (acc_order_names()[i] == name) return static_cast<AccOrder>(i);
  return std::nullopt;
}

const char* gemm_path_name(GemmPath p) {
  switch (p) {
    case GemmPath::exact_sum_eigen_float: return "exact-sum (Eigen, float)";
    case GemmPath::exact_sum_eigen_double: return "exact-sum (Eigen, double)";
    case GemmPath::fp32_sequential: return "fp32 sequential (native float)";
    case GemmPath::exact_kernel: return "exact kernel (TwoSum, round to odd)";
    case GemmPath::aligned_kernel: return "aligned kernel (integer sums of aligned terms)";
    case GemmPath::reference: return "golden reference";
  }
  return "?";
}

void validate(const GemmConfig& c) {
  // Each error names the GemmConfig field (site().key), which a command maps to its option.
  auto check = [](const Format& f, const char* what, const char* field) {
    if (!f.is_binary())
      throw GemmError(fmt::format("{}: format {} has no arithmetic (a Graham format; gemm takes float and fixed formats)", what,
                                  f.name()),
                      ErrorSite::at_key(field));
    if (!f.has_arithmetic())
      throw GemmError(fmt::format("{}: format {} is an unsigned float, a storage format (gemm takes signed float and fixed "
                                  "formats)",
                                  what, f.name()),
                      ErrorSite::at_key(field));
    if (f.width() > 64) throw GemmError(fmt::format("{}: format {} is wider than 64 bits", what, f.name()), ErrorSite::at_key(field));
  };
  check(c.a_format, "A's format", "a_format");
  check(c.b_format, "B's format", "b_format");
  check(c.out_format, "the output format", "out_format");
  if (c.product) check(*c.product, "the product format", "product");
  if (c.acc) check(*c.acc, "the accumulator format", "acc");
  if (c.rounding == Rounding::sr) throw GemmError("stochastic rounding (sr) is not defined for gemm", ErrorSite::at_key("rounding"));
  if (c.acc && c.order == AccOrder::blocked && c.chunk < 1)
    throw GemmError("the blocked order needs a chunk of at least 1", ErrorSite::at_key("chunk"));
  if (c.order == AccOrder::aligned) {
    if (!c.acc)
      throw GemmError("the aligned order rounds each step into an accumulator: give the accumulator a format (not exact)",
                      ErrorSite::at_key("order"));
    check_aligned(c.aligned);
  }
}

namespace {

// ---- facts about formats ------------------------------------------------------------------------------

// Reached only for a family validate() refuses (no arithmetic): a broken precondition.
[[noreturn]] void not_binary(const char* what) { throw std::logic_error(std::string(what) + ": a format without arithmetic reached gemm"); }

// Significant bits of the format's values (float: m+1; fixed: magnitude bits).
int precision_bits(const Format& f) {
  return std::visit(formats::overloaded{[](const FloatFormat& x) { return x.m + 1; },
                                        [](const FixedFormat& x) { return x.is_signed ? x.width() - 1 : x.width(); },
                                        [](const formats::LogFormat&) -> int { not_binary("precision_bits"); },
                                        [](const formats::MidriseFormat&) -> int { not_binary("precision_bits"); },
                                        [](const formats::O4Format&) -> int { not_binary("precision_bits"); }},
                    f.variant());
}

// log2 of the smallest non-zero magnitude (its quantum) and of an upper bound of the largest.
struct Range {
  std::int64_t min_quantum_log2;
  double max_log2;
};
Range range_of(const Format& f) {
  return std::visit(
      formats::overloaded{
          [](const FloatFormat& x) {
            const std::int64_t field = static_cast<std::int64_t>(x.max_finite_index() >> x.m);
            return Range{x.emin() - x.m, static_cast<double>((field == 0 ? x.emin() : field - x.bias) + 1)};
          },
          [](const FixedFormat& x) {
            return Range{-static_cast<std::int64_t>(x.f), static_cast<double>((x.is_signed ? x.width() : x.width() + 1) - x.f)};
          },
          [](const formats::LogFormat&) -> Range { not_binary("range_of"); },
          [](const formats::MidriseFormat&) -> Range { not_binary("range_of"); },
          [](const formats::O4Format&) -> Range { not_binary("range_of"); }},
      f.variant());
}

// Products of values of a and b are exact in the IEEE type with P significand bits and exponent range.
bool products_exact(const Format& a, const Format& b, int P, int min_quantum, int emax) {
  const Range ra = range_of(a), rb = range_of(b);
  return precision_bits(a) + precision_bits(b) <= P && ra.min_quantum_log2 + rb.min_quantum_log2 >= min_quantum &&
         ra.max_log2 + rb.max_log2 <= emax;
}

struct DataFacts {
  bool all_finite = true;
  bool all_zero = true;
  double max_abs = 0;
  int min_lsb = std::numeric_limits<int>::max();  // exponent of the lowest set bit over non-zero values
};

// One pass over the bit patterns: largest magnitude, lowest set bit, finiteness.
DataFacts facts_of(const std::vector<double>& v) {
  DataFacts f;
  std::uint64_t max_bits = 0;
  for (double x : v) {
    std::uint64_t u;
    std::memcpy(&u, &x, 8);
    u &= 0x7FFFFFFFFFFFFFFFull;
    if (u >= 0x7FF0000000000000ull) {
      f.all_finite = false;
      continue;
    }
    if (u == 0) continue;
    max_bits = std::max(max_bits, u);
    const detail::DoubleParts d = detail::double_parts(x);
    f.min_lsb = std::min(f.min_lsb, d.exp + std::countr_zero(d.sig));
  }
  f.all_zero = max_bits == 0;
  std::memcpy(&f.max_abs, &max_bits, 8);
  return f;
}

// The cheap variant: largest magnitude and finiteness from one vectorizable scan of the bit patterns,
// the lowest set bit bounded by the format's quantum (the smallest subnormal, or 2^-f for fixed point).
// (float or double data: the scan works on T's bit patterns, IEEE order = magnitude order.)
template <class T> DataFacts magnitude_facts(const Format& f, const std::vector<T>& v) {
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr U kAbs = static_cast<U>(~U{0} >> 1), kInf = sizeof(T) == 4 ? U{0x7F800000u} : static_cast<U>(0x7FF0000000000000ull);
  U max_bits = 0;
  for (T x : v) {
    U u;
    std::memcpy(&u, &x, sizeof u);
    max_bits = std::max<U>(max_bits, u & kAbs);
  }
  DataFacts d;
  d.all_finite = max_bits < kInf;
  d.all_zero = max_bits == 0;
  T m;
  std::memcpy(&m, &max_bits, sizeof m);
  d.max_abs = static_cast<double>(m);
  const std::int64_t quantum = range_of(f).min_quantum_log2;
  d.min_lsb = static_cast<int>(std::clamp<std::int64_t>(quantum, -100000, 100000));
  return d;
}

// Whether an accumulator format holds every multiple of 2^q_log2 of magnitude below `bound` exactly
// (then rounding a partial sum to it is the identity).
bool acc_holds(const Format& acc, int q_log2, long double bound) {
  return std::visit(
      formats::overloaded{
          [&](const FloatFormat& x) {
            const formats::Quantizer qz(acc);
            if (!qz.supports_double_arrays()) return false;
            // the grid below 2^(emin) has quantum 2^(emin-m); above, M+1 significant bits; and no overflow
            const long double largest = qz.decode(x.max_finite_index());
            return x.emin() - x.m <= q_log2 && bound < std::ldexp(1.0L, x.m + 1 + q_log2) && bound < largest;
          },
          [&](const FixedFormat& x) {
            if (!x.is_signed) return false;  // negative partial sums would saturate at 0
            return -x.f <= q_log2 && bound < std::ldexp(1.0L, x.width() - 1 - x.f);
          },
          [](const formats::LogFormat&) -> bool { not_binary("acc_holds"); },
          [](const formats::MidriseFormat&) -> bool { not_binary("acc_holds"); },
          [](const formats::O4Format&) -> bool { not_binary("acc_holds"); }},
      acc.variant());
}

// ---- errors ---------------------------------------------------------------------------------------------

[[noreturn]] void rethrow_at(const char* what, std::int64_t i, std::int64_t j, const std::exception& e) {
  throw GemmError(fmt::format("{}[{}][{}]: {}", what, i, j, e.what()));
}

// Quantizes a matrix to its input format with rne (vectorized array kernel), reporting errors as
// M[row][col].
std::vector<double> quantize_input(const Format& f, const Matrix& m, const char* name) {
  const Quantizer q(f);
  std::vector<double> out(m.data.size());
  try {
    q.quantize(std::span<const double>(m.data), std::span<double>(out));
  } catch (const formats::QuantizeError&) {
    for (std::size_t e = 0; e < m.data.size(); ++e) {  // name the first bad element
      try {
        (void)q.quantize(m.data[e]);
      } catch (const formats::QuantizeError& err) {
        rethrow_at(name, static_cast<std::int64_t>(e) / m.cols, static_cast<std::int64_t>(e) % m.cols, err);
      }
    }
    throw;
  }
  return out;
}

// ---- exact kernel -----------------------------------------------------------------------------------------

bool exact_kernel_applies(const GemmConfig& c) {
  if (!c.acc || c.order == AccOrder::aligned) return false;
  if (c.order == AccOrder::blocked && c.chunk != 1) return false;
  const Format& acc = *c.acc;
  if (acc.is<FloatFormat>() && acc.as<FloatFormat>().m > 49) return false;
  if (acc.is<FixedFormat>() && acc.width() > 50) return false;
  for (const Format* f : {&c.a_format, &c.b_format, &c.out_format, &acc})
    if (!Quantizer(*f).supports_double_arrays()) return false;
  if (c.product && !Quantizer(*c.product).supports_double_arrays()) return false;
  return products_exact(c.a_format, c.b_format, 53, -1074, 1023);
}

// Rows of C split over threads in contiguous blocks (results never depend on the split).
template <class Body> void for_row_ranges(std::int64_t rows, int threads, Body body) {
  detail::run_blocks(rows, threads, body);
}

template <class Body> void for_rows(std::int64_t rows, int threads, Body body) {
  for_row_ranges(rows, threads, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) body(i);
  });
}

// Fills values (and codes, when requested) of C from accumulated values: exact doubles of the
// accumulator, or exact sums. Uses the vectorized array kernels.
void round_output(const GemmConfig& c, const std::vector<double>& acc, std::int64_t cols, GemmResult& r, bool want_codes) {
  const Quantizer q(c.out_format, {c.rounding, 32});
  try {
    q.quantize(std::span<const double>(acc), std::span<double>(r.values.data));
    if (want_codes) q.encode(std::span<const double>(acc), std::span<std::uint64_t>(r.codes));
  } catch (const formats::QuantizeError&) {
    for (std::size_t e = 0; e < acc.size(); ++e) {
      try {
        (void)q.quantize(acc[e]);
      } catch (const formats::QuantizeError& err) {
        throw GemmError(fmt::format("C[{}][{}]: rounding to the output format: {}", static_cast<std::int64_t>(e) / cols,
                                    static_cast<std::int64_t>(e) % cols, err.what()));
      }
    }
    throw;
  }
}

// One element of C through the golden reference (on the original, unquantized inputs).
void reference_element(const GemmConfig& c, const Matrix& a, const Matrix& b, std::int64_t i, std::int64_t j, GemmResult& r) {
  Matrix row(1, a.cols), col(b.rows, 1);
  for (std::int64_t k = 0; k < a.cols; ++k) {
    row(0, k) = a(i, k);
    col(k, 0) = b(k, j);
  }
  GemmResult one;
  try {
    one = gemm_reference(c, row, col);
  } catch (const GemmError& e) {
    throw GemmError(fmt::format("C[{}][{}]: {}", i, j, e.what()));
  }
  r.values(i, j) = one.values(0, 0);
  if (!r.codes.empty()) r.codes[static_cast<std::size_t>(i * b.cols + j)] = one.codes[0];
}

}  // namespace

bool is_fp32(const Format& f) {
  if (!f.is<FloatFormat>()) return false;
  const auto& x = f.as<FloatFormat>();
  return x == FloatFormat{8, 23, 127, true, formats::Special::ieee, formats::FloatOverflow::inf};
}


// The sign of a zero sum on the exact-sum paths (no rounding happens inside the accumulation there),
// by gemm.md rule 3 from the products' zero signs: under rdn it is -0 unless every product is +0;
// otherwise +0, except for the pairwise tree, whose root is -0 when every leaf is -0. The accumulator
// then rounds that zero: one without -0 (fixed point, fnuz) makes it +0.
template <class T>
bool zero_sum_is_negative(const GemmConfig& c, const T* qa, const T* qb, std::int64_t i, std::int64_t j, std::int64_t K,
                          std::int64_t N) {
  if (c.acc && !std::signbit(Quantizer(*c.acc).quantize(-0.0).value)) return false;
  bool all_pos_zero = true, all_neg_zero = true;
  for (std::int64_t k = 0; k < K; ++k) {
    const T pk = qa[i * K + k] * qb[k * N + j];
    all_pos_zero = all_pos_zero && pk == 0 && !std::signbit(pk);
    all_neg_zero = all_neg_zero && pk == 0 && std::signbit(pk);
  }
  if (c.rounding == Rounding::rdn) return !all_pos_zero;
  return c.acc && c.order == AccOrder::pairwise && all_neg_zero;
}

GemmResult gemm(const GemmConfig& c, const Matrix& a, const Matrix& b, int threads, bool want_codes) {
  validate(c);
  if (a.cols != b.rows) throw GemmError(fmt::format("columns of A ({}) != rows of B ({})", a.cols, b.rows));
  if (a.rows == 0 || a.cols == 0 || b.cols == 0) throw GemmError("empty matrix");
  for (const Format* f : {&c.a_format, &c.b_format})
    if (!Quantizer(*f).supports_double_arrays()) {
      GemmResult ref = gemm_reference(c, a, b);
      if (!want_codes) ref.codes.clear();
      return ref;
    }

  const std::int64_t M = a.rows, K = a.cols, N = b.cols;
  const std::vector<double> qa = quantize_input(c.a_format, a, "A");
  const std::vector<double> qb = quantize_input(c.b_format, b, "B");
  GemmResult r;
  r.values = Matrix(M, N);
  if (want_codes) r.codes.assign(static_cast<std::size_t>(M * N), 0);
  const bool out_fits = Quantizer(c.out_format).supports_double_arrays();

  // Exact-sum fast path: every partial sum (any order) is exact in float or double and in the
  // accumulator, so every accumulation order gives the exact sum. Tried first with the formats' quanta
  // and the data's largest magnitudes (one cheap scan), later with the data's actual lowest bits.
  auto try_exact_sum = [&](const DataFacts& fa, const DataFacts& fb) -> bool {
  // (Not for the aligned order: cutting aligned terms to a width loses bits of sums that are exact.)
  if (out_fits && !c.product && c.order != AccOrder::aligned && fa.all_finite && fb.all_finite && !fa.all_zero && !fb.all_zero) {
    const int q = fa.min_lsb + fb.min_lsb;
    // Every product is a multiple of 2^q and every partial sum is at most K * max|A| * max|B| in magnitude.
    // long double rounding is monotone, so `bound < 2^x` below never accepts a true bound >= 2^x.
    const long double bound_ld = static_cast<long double>(K) * static_cast<long double>(fa.max_abs) * static_cast<long double>(fb.max_abs);
    const bool in_float = bound_ld < std::ldexp(1.0L, 24 + q) && std::min(fa.min_lsb, fb.min_lsb) >= -149 &&
                          bound_ld < std::ldexp(1.0L, 127) && std::max(fa.max_abs, fb.max_abs) < 1e38;
    const bool in_double = bound_ld < std::ldexp(1.0L, 53 + q) && q >= -1074 && bound_ld < std::ldexp(1.0L, 1000);
    const bool acc_ok = !c.acc || acc_holds(*c.acc, q, bound_ld);
    if (acc_ok && (in_float || in_double)) {
      std::vector<double> sums(static_cast<std::size_t>(M * N));
      if (in_float) {
        const std::vector<float> af(qa.begin(), qa.end()), bf(qb.begin(), qb.end());
        std::vector<float> cf(static_cast<std::size_t>(M * N));
        eigen_gemm_f32(af.data(), bf.data(), cf.data(), M, K, N);
        sums.assign(cf.begin(), cf.end());
        r.path = GemmPath::exact_sum_eigen_float;
      } else {
        eigen_gemm_f64(qa.data(), qb.data(), sums.data(), M, K, N);
        r.path = GemmPath::exact_sum_eigen_double;
      }
      // The exact sum is the accumulator's value; the accumulator's rounding is the identity here.
      round_output(c, sums, N, r, want_codes);
      // A zero sum's sign (zero_sum_is_negative), then the output rounding.
      const Quantizer out(c.out_format, {c.rounding, 32});
      for (std::int64_t e = 0; e < M * N; ++e) {
        if (sums[static_cast<std::size_t>(e)] != 0) continue;
        const std::int64_t i = e / N, j = e % N;
        const bool negative = zero_sum_is_negative(c, qa.data(), qb.data(), i, j, K, N);
        const formats::Quantized o = out.quantize(negative ? -0.0 : 0.0);
        r.values(i, j) = o.value;
        if (want_codes) r.codes[static_cast<std::size_t>(e)] = *o.code;
      }
      return true;
    }
  }
  return false;
  };
  if (try_exact_sum(magnitude_facts(c.a_format, qa), magnitude_facts(c.b_format, qb))) return r;

  // fp32 sequential fast path: a float fused multiply-add in k order is round_fp32(s + exact p_k), rne.
  if (out_fits && c.acc && is_fp32(*c.acc) && c.rounding == Rounding::rne && !c.product &&
      (c.order == AccOrder::sequential || (c.order == AccOrder::blocked && c.chunk == 1)) &&
      Quantizer(c.a_format).supports_float_arrays() && Quantizer(c.b_format).supports_float_arrays()) {
    std::vector<float> af(qa.begin(), qa.end()), bf(qb.begin(), qb.end()), cf(static_cast<std::size_t>(M * N));
    const PackedPanelsB packed = pack_b_panels(bf.data(), K, N);
    for_row_ranges(M, threads, [&](std::int64_t begin, std::int64_t end) {
      gemm_fp32_sequential_rows(af.data(), bf.data(), packed, cf.data(), begin, end, K, N);
    });
    std::vector<double> acc(cf.begin(), cf.end());
    round_output(c, acc, N, r, want_codes);
    r.path = GemmPath::fp32_sequential;
    return r;
  }

  if (try_exact_sum(facts_of(qa), facts_of(qb))) return r;

  // The per-element kernels: each element's K products (exact doubles, rounded to the product format
  // when there is one) are accumulated by `accumulate(p, i, j)`; elements outside its proof
  // (NeedsReference) are answered by the golden reference.
  auto per_element = [&](GemmPath path, auto accumulate) {
    std::optional<Quantizer> prod;
    if (c.product) prod.emplace(*c.product, formats::RoundingSpec{c.rounding, 32});
    const Quantizer out(c.out_format, {c.rounding, 32});
    std::vector<std::uint8_t> fallback(static_cast<std::size_t>(M * N), 0);
    for_rows(M, threads, [&](std::int64_t i) {
      std::vector<double> p(static_cast<std::size_t>(K));
      for (std::int64_t j = 0; j < N; ++j) {
        try {
          for (std::int64_t k = 0; k < K; ++k) {
            double pk = qa[static_cast<std::size_t>(i * K + k)] * qb[static_cast<std::size_t>(k * N + j)];  // exact
            if (prod) pk = prod->quantize(pk).value;
            p[static_cast<std::size_t>(k)] = pk;
          }
          const formats::Quantized o = out.quantize(accumulate(p, i, j));
          r.values(i, j) = o.value;
          if (want_codes) r.codes[static_cast<std::size_t>(i * N + j)] = *o.code;
        } catch (const NeedsReference&) {
          fallback[static_cast<std::size_t>(i * N + j)] = 1;
        } catch (const formats::QuantizeError& e) {
          throw GemmError(fmt::format("C[{}][{}]: {}", i, j, e.what()));
        }
      }
    });
    for (std::int64_t e = 0; e < M * N; ++e)
      if (fallback[static_cast<std::size_t>(e)]) reference_element(c, a, b, e / N, e % N, r);
    r.path = path;
  };

  if (c.order == AccOrder::aligned && out_fits && detail::AlignedAdder::supports(c) &&
      products_exact(c.a_format, c.b_format, 53, -1074, 1023) && (!c.product || Quantizer(*c.product).supports_double_arrays())) {
    // gemm.md rule 11 on integers (sim/kernels/gemm_aligned.cpp).
    const detail::AlignedAdder adder(c);
    per_element(GemmPath::aligned_kernel, [&](const std::vector<double>& p, std::int64_t i, std::int64_t j) {
      thread_local std::vector<int> lead;
      lead.resize(p.size());
      for (std::int64_t k = 0; k < K; ++k)
        lead[static_cast<std::size_t>(k)] = adder.product_exponent(qa[static_cast<std::size_t>(i * K + k)],
                                                                   qb[static_cast<std::size_t>(k * N + j)], p[static_cast<std::size_t>(k)]);
      return adder.accumulate(p.data(), lead.data(), K);
    });
    return r;
  }

  if (exact_kernel_applies(c)) {
    const AccAdder adder(*c.acc, c.rounding);
    per_element(GemmPath::exact_kernel, [&](const std::vector<double>& p, std::int64_t, std::int64_t) {
      if (c.order == AccOrder::pairwise) return K == 1 ? adder.round(p[0]) : Pairwise{adder, p.data()}.tree(0, static_cast<std::size_t>(K));
      double s = 0.0;
      for (const double pk : p) s = adder.add_round(s, pk);
      return s;
    });
    return r;
  }

  GemmResult ref = gemm_reference(c, a, b);
  if (!want_codes) ref.codes.clear();
  return ref;
}

namespace {

// Quantizes a float array to a format with the vectorized kernel, naming the first bad element.
void quantize_floats(const Quantizer& q, const float* in, float* out, std::int64_t count, std::int64_t cols, const char* name) {
  try {
    q.quantize(std::span<const float>(in, static_cast<std::size_t>(count)), std::span<float>(out, static_cast<std::size_t>(count)));
  } catch (const formats::QuantizeError&) {
    for (std::int64_t e = 0; e < count; ++e) {
      try {
        (void)q.quantize(static_cast<double>(in[e]));
      } catch (const formats::QuantizeError& err) {
        rethrow_at(name, e / cols, e % cols, err);
      }
    }
    throw;
  }
}

}  // namespace

GemmPath gemm_f32(const GemmConfig& c, const float* a, const float* b, float* out, std::int64_t M, std::int64_t K,
                  std::int64_t N, int threads) {
  validate(c);
  if (M < 1 || K < 1 || N < 1) throw GemmError("empty matrix");
  const Quantizer qza(c.a_format), qzb(c.b_format), qzo(c.out_format, {c.rounding, 32});
  if (!qzo.supports_float_arrays())
    throw GemmError(fmt::format("the output format {} has values that float cannot hold; use gemm()", c.out_format.name()),
                    ErrorSite::at_key("out_format"));
  const bool inputs_float = qza.supports_float_arrays() && qzb.supports_float_arrays();
  if (inputs_float) {
    std::vector<float> qa(static_cast<std::size_t>(M * K)), qb(static_cast<std::size_t>(K * N));
    quantize_floats(qza, a, qa.data(), M * K, K, "A");
    quantize_floats(qzb, b, qb.data(), K * N, N, "B");
    const DataFacts fa = magnitude_facts(c.a_format, qa), fb = magnitude_facts(c.b_format, qb);
    const std::size_t count = static_cast<std::size_t>(M * N);
    // Exact-sum path in float (see gemm()).
    if (!c.product && c.order != AccOrder::aligned && fa.all_finite && fb.all_finite && !fa.all_zero && !fb.all_zero) {
      const int q = fa.min_lsb + fb.min_lsb;
      const long double bound = static_cast<long double>(K) * static_cast<long double>(fa.max_abs) * static_cast<long double>(fb.max_abs);
      if (bound < std::ldexp(1.0L, 24 + q) && std::min(fa.min_lsb, fb.min_lsb) >= -149 && bound < std::ldexp(1.0L, 127) &&
          (!c.acc || acc_holds(*c.acc, q, bound))) {
        eigen_gemm_f32(qa.data(), qb.data(), out, M, K, N);
        for (std::size_t e = 0; e < count; ++e)
          if (out[e] == 0) {
            const auto i = static_cast<std::int64_t>(e) / N, j = static_cast<std::int64_t>(e) % N;
            out[e] = zero_sum_is_negative(c, qa.data(), qb.data(), i, j, K, N) ? -0.0f : 0.0f;
          }
        qzo.quantize(std::span<const float>(out, count), std::span<float>(out, count));
        return GemmPath::exact_sum_eigen_float;
      }
    }
    // fp32 sequential path (see gemm()).
    if (c.acc && is_fp32(*c.acc) && c.rounding == Rounding::rne && !c.product &&
        (c.order == AccOrder::sequential || (c.order == AccOrder::blocked && c.chunk == 1))) {
      const PackedPanelsB packed = pack_b_panels(qb.data(), K, N);
      for_row_ranges(M, threads, [&](std::int64_t begin, std::int64_t end) {
        gemm_fp32_sequential_rows(qa.data(), qb.data(), packed, out, begin, end, K, N);
      });
      try {
        qzo.quantize(std::span<const float>(out, count), std::span<float>(out, count));
      } catch (const formats::QuantizeError&) {
        for (std::size_t e = 0; e < count; ++e) {
          try {
            (void)qzo.quantize(static_cast<double>(out[e]));
          } catch (const formats::QuantizeError& err) {
            rethrow_at("C", static_cast<std::int64_t>(e) / N, static_cast<std::int64_t>(e) % N, err);
          }
        }
        throw;
      }
      return GemmPath::fp32_sequential;
    }
  }
  // Everything else: the double interface (values of C are exact in float, so the cast is exact).
  Matrix ad(M, K), bd(K, N);
  for (std::int64_t e = 0; e < M * K; ++e) ad.data[static_cast<std::size_t>(e)] = a[e];
  for (std::int64_t e = 0; e < K * N; ++e) bd.data[static_cast<std::size_t>(e)] = b[e];
  const GemmResult r = gemm(c, ad, bd, threads, false);
  for (std::int64_t e = 0; e < M * N; ++e) out[e] = static_cast<float>(r.values.data[static_cast<std::size_t>(e)]);
  return r.path;
}

}  // namespace bitsim::sim
