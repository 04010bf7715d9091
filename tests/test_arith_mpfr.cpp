// The golden arithmetic (hw/arith.hpp) against GNU MPFR and against the CPU: exhaustively over all
// operand pairs of 8-bit-and-smaller formats, all codes for sqrt of 16-bit formats, and random and
// corner-case operands (hw::corner_operands) for wider formats and fma.
// [slow] here marks the two largest random checks, which the sanitized stage skips (31 s and 45 s under
// AddressSanitizer); the plain build runs them, and the sanitized one runs the smaller checks of the same code.
#include "hw/arith.hpp"
#include "hw/vectors.hpp"
#include "tests/arith_oracles.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <array>
#include <random>

using namespace bitsim;
using namespace bitsim::formats;

namespace {

std::string describe_case(Op op, const Format& f, const std::vector<BigInt>& ops, const ArithOptions& o) {
  std::string s = fmt::format("{} {} [{}]", op_name(op), f.name(), arith_options_to_string(o));
  for (const BigInt& c : ops) s += " 0x" + c.str(0, std::ios_base::hex);
  return s;
}

// Compares bitsim with MPFR on one case; returns false (after reporting the first few) on a mismatch.
struct Comparison {
  std::uint64_t cases = 0, mismatches = 0;
  void check(Op op, const Format& f, const std::vector<BigInt>& ops, const ArithOptions& o, const Format* to = nullptr) {
    ++cases;
    const ArithResult got = arith(op, f, ops, o, 0, to);
    const test::OracleResult want = test::mpfr_oracle(op, f, ops, o, to);
    if (got.code == want.code && got.flags == want.flags) return;
    if (++mismatches <= 5)
      UNSCOPED_INFO(fmt::format("{}: bitsim 0x{} flags {:02x}, MPFR 0x{} flags {:02x}", describe_case(op, f, ops, o),
                                got.code.str(0, std::ios_base::hex), got.flags, want.code.str(0, std::ios_base::hex),
                                want.flags));
  }
};

const Rounding kModes[] = {Rounding::rne, Rounding::rtz, Rounding::rup, Rounding::rdn, Rounding::rna};

ArithOptions with_mode(Rounding r) {
  ArithOptions o;
  o.rounding.mode = r;
  return o;
}

void exhaustive_pairs(const Format& f, std::initializer_list<Op> ops, std::initializer_list<Rounding> modes,
                      Comparison& cmp, const ArithOptions& base = {}) {
  const std::uint64_t n = std::uint64_t(1) << f.width();
  for (Op op : ops)
    for (Rounding r : modes) {
      ArithOptions o = base;
      o.rounding.mode = r;
      for (std::uint64_t a = 0; a < n; ++a)
        for (std::uint64_t b = 0; b < n; ++b) cmp.check(op, f, {BigInt(a), BigInt(b)}, o);
    }
}

}  // namespace

// One test case per format, so that CTest runs them side by side.
static void all_pairs_all_modes(const char* name) {
  Comparison cmp;
  exhaustive_pairs(parse_format(name), {Op::add, Op::sub, Op::mul, Op::div},
                   {Rounding::rne, Rounding::rtz, Rounding::rup, Rounding::rdn, Rounding::rna}, cmp);
  CHECK(cmp.cases == 4ull * 5 * 65536);
  CHECK(cmp.mismatches == 0);
}

TEST_CASE("arith: every fp8_e4m3 operand pair, add sub mul div, every mode, matches MPFR", "[arith][mpfr][exhaustive]") {
  all_pairs_all_modes("fp8_e4m3");
}

TEST_CASE("arith: every fp8_e5m2 operand pair, add sub mul div, every mode, matches MPFR", "[arith][mpfr][exhaustive]") {
  all_pairs_all_modes("fp8_e5m2");
}

TEST_CASE("arith: every operand pair of the 6- and 4-bit floats matches MPFR", "[arith][mpfr][exhaustive]") {
  Comparison cmp;
  for (const char* name : {"fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "float(e=3,m=2)"})
    exhaustive_pairs(parse_format(name), {Op::add, Op::sub, Op::mul, Op::div},
                     {Rounding::rne, Rounding::rtz, Rounding::rup, Rounding::rdn, Rounding::rna}, cmp);
  CHECK(cmp.mismatches == 0);
  CHECK(cmp.cases == 4ull * 5 * (4096 * 3 + 256));
}

TEST_CASE("arith: every operand pair of fnuz, flushing and saturating 8-bit floats matches MPFR", "[arith][mpfr][exhaustive]") {
  Comparison cmp;
  for (const char* name : {"fp8_e4m3fnuz", "float(e=4,m=3,subnormals=no)", "float(e=5,m=2,overflow=saturate)"})
    exhaustive_pairs(parse_format(name), {Op::add, Op::mul, Op::div}, {Rounding::rne, Rounding::rup}, cmp);
  CHECK(cmp.mismatches == 0);
  CHECK(cmp.cases == 3ull * 3 * 2 * 65536);
}

TEST_CASE("arith: tininess before rounding, DAZ and FTZ over every fp8_e5m2 pair match MPFR", "[arith][mpfr][exhaustive]") {
  Comparison cmp;
  const Format f = parse_format("fp8_e5m2");
  ArithOptions before;
  before.tininess = Tininess::before_rounding;
  exhaustive_pairs(f, {Op::mul, Op::add}, {Rounding::rne, Rounding::rtz}, cmp, before);
  ArithOptions daz_ftz;
  daz_ftz.daz = true;
  daz_ftz.ftz = true;
  exhaustive_pairs(f, {Op::mul, Op::div}, {Rounding::rne, Rounding::rup}, cmp, daz_ftz);
  ArithOptions ftz_before = before;
  ftz_before.ftz = true;
  exhaustive_pairs(f, {Op::mul}, {Rounding::rne}, cmp, ftz_before);
  CHECK(cmp.mismatches == 0);
}

TEST_CASE("arith: sqrt of every code of 8- and 16-bit floats matches MPFR", "[arith][mpfr][exhaustive]") {
  Comparison cmp;
  for (const char* name : {"fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "float(e=5,m=10,subnormals=no)"}) {
    const Format f = parse_format(name);
    for (Rounding r : kModes)
      for (std::uint64_t a = 0; a < (std::uint64_t(1) << f.width()); ++a) cmp.check(Op::sqrt, f, {BigInt(a)}, with_mode(r));
  }
  CHECK(cmp.mismatches == 0);
  CHECK(cmp.cases == 5ull * (65536 * 3 + 256 * 2));
}

TEST_CASE("arith: corner and random operands of fp16, bf16 and fp32 match MPFR, fma included", "[arith][mpfr][slow]") {
  Comparison cmp;
  std::mt19937_64 rng(20261124);
  for (const char* name : {"fp16", "bf16", "fp32", "fp8_e4m3", "fp8_e5m2"}) {
    const Format f = parse_format(name);
    const auto corners = hw::corner_operands(f);
    auto random_code = [&] { return BigInt(rng() & ((std::uint64_t(1) << f.width()) - 1)); };
    for (Rounding r : kModes) {
      const ArithOptions o = with_mode(r);
      for (Op op : {Op::add, Op::sub, Op::mul, Op::div})
        for (const BigInt& a : corners)
          for (const BigInt& b : corners) cmp.check(op, f, {a, b}, o);
      for (const BigInt& a : corners) cmp.check(Op::sqrt, f, {a}, o);
      for (int i = 0; i < 1000; ++i) {
        for (Op op : {Op::add, Op::sub, Op::mul, Op::div}) cmp.check(op, f, {random_code(), random_code()}, o);
        cmp.check(Op::sqrt, f, {random_code()}, o);
        cmp.check(Op::fma, f, {random_code(), random_code(), random_code()}, o);
      }
      // fma on corners: every triple of a few of them, and corner x corner + random.
      for (std::size_t i = 0; i < corners.size(); i += 2)
        for (std::size_t j = 0; j < corners.size(); j += 2)
          for (std::size_t k = 0; k < corners.size(); k += 3) cmp.check(Op::fma, f, {corners[i], corners[j], corners[k]}, o);
    }
  }
  CHECK(cmp.mismatches == 0);
  CHECK(cmp.cases > 200000);
}

TEST_CASE("arith: fma over 8-bit floats matches MPFR on cancellation-heavy triples", "[arith][mpfr]") {
  // c close to -(a*b): the exact sum cancels, and ties and subnormal results are frequent.
  Comparison cmp;
  std::mt19937_64 rng(7);
  for (const char* name : {"fp8_e4m3", "fp8_e5m2", "fp6_e2m3"}) {
    const Format f = parse_format(name);
    const std::uint64_t n = std::uint64_t(1) << f.width();
    for (Rounding r : kModes)
      for (int i = 0; i < 6000; ++i) {
        const BigInt a = BigInt(rng() % n), b = BigInt(rng() % n);
        const ArithResult p = arith(Op::mul, f, {a, b}, {});
        // -p, or a neighbour of it.
        const BigInt sign = BigInt(1) << (f.width() - 1);
        BigInt c = p.code ^ sign;
        const std::uint64_t nudge = rng() % 3;
        if (nudge == 1 && (c & (sign - 1)) > 0) c -= 1;
        if (nudge == 2 && (c & (sign - 1)) < sign - 1) c += 1;
        cmp.check(Op::fma, f, {a, b, c}, with_mode(r));
      }
  }
  CHECK(cmp.mismatches == 0);
}

TEST_CASE("arith: fp32 and fp64 with the x86 conventions match the CPU bit for bit, flags, DAZ and FTZ included", "[arith][cpu][slow]") {
  std::mt19937_64 rng(42);
  std::uint64_t cases = 0, mismatches = 0;
  for (int width : {32, 64}) {
    const Format f = parse_format(width == 32 ? "fp32" : "fp64");
    std::vector<BigInt> pool = hw::corner_operands(f);
    // Random codes, and values near the subnormal boundary where FTZ/DAZ act.
    for (int i = 0; i < 300; ++i) pool.push_back(BigInt(width == 32 ? rng() & 0xFFFFFFFFu : rng()));
    const int m = width == 32 ? 23 : 52;
    for (int i = 0; i < 100; ++i) {
      const std::uint64_t sign = (rng() & 1) ? (std::uint64_t(1) << (width - 1)) : 0;
      pool.push_back(BigInt(sign | ((rng() % 3) << m) | (rng() & ((std::uint64_t(1) << m) - 1))));
    }
    for (Rounding r : {Rounding::rne, Rounding::rtz, Rounding::rup, Rounding::rdn})
      for (int mode_bits = 0; mode_bits < 4; ++mode_bits) {
        ArithOptions o;
        o.rounding.mode = r;
        o.nan = NanPolicy::x86;
        o.daz = mode_bits & 1;
        o.ftz = mode_bits & 2;
        for (Op op : {Op::add, Op::sub, Op::mul, Op::div, Op::min, Op::max, Op::sqrt, Op::fma})
          for (int i = 0; i < 1500; ++i) {
            if (op == Op::fma && !test::cpu_has_fma()) break;
            const BigInt a = pool[rng() % pool.size()], b = pool[rng() % pool.size()], c = pool[rng() % pool.size()];
            std::vector<BigInt> ops{a};
            if (op_arity(op) >= 2) ops.push_back(b);
            if (op_arity(op) == 3) ops.push_back(c);
            std::vector<std::uint64_t> raw;
            for (const BigInt& c : ops) raw.push_back(static_cast<std::uint64_t>(c));
            const ArithResult got = arith(op, f, ops, o);
            const test::OracleResult want = test::cpu_oracle(op, width, raw, o);
            ++cases;
            if (got.code != want.code || got.flags != want.flags) {
              if (++mismatches <= 5)
                UNSCOPED_INFO(fmt::format("{}: bitsim 0x{} flags {:02x}, CPU 0x{} flags {:02x}", describe_case(op, f, ops, o),
                                          got.code.str(0, std::ios_base::hex), got.flags,
                                          want.code.str(0, std::ios_base::hex), want.flags));
            }
          }
      }
  }
  CHECK(mismatches == 0);  // first: the mismatches' UNSCOPED_INFO attach to the next assertion
  CHECK(cases == 2ull * 4 * 4 * (test::cpu_has_fma() ? 8 : 7) * 1500);
}

TEST_CASE("arith: fma(Inf, 0, NaN) under the x86 convention is what the CPU does", "[arith][cpu]") {
  // IEEE 754 leaves the invalid flag of 0 x Inf + qNaN to the implementation. x86 returns the quieted
  // addend and raises invalid only for a signalling NaN (Intel SDM vol. 1 table 14-17); SoftFloat's
  // 8086-SSE specialisation differs (the default NaN, invalid), RISC-V and Arm raise invalid.
  if (!test::cpu_has_fma()) {
    WARN("this build has no FMA instructions (BITSIM_MARCH below x86-64-v3): the CPU is not asked");
    return;
  }
  const Format f = parse_format("fp32");
  ArithOptions x86;
  x86.nan = NanPolicy::x86;
  const std::uint64_t inf = 0x7f800000, qnan = 0x7fc00001, snan = 0x7f800001, neg_qnan = 0xffc00002;
  for (const auto& abc : std::vector<std::array<std::uint64_t, 3>>{
           {inf, 0, qnan}, {0, inf, qnan}, {inf, 0x80000000, neg_qnan}, {inf, 0, snan}, {qnan, 0, inf}, {snan, inf, qnan}}) {
    const std::vector<BigInt> ops{BigInt(abc[0]), BigInt(abc[1]), BigInt(abc[2])};
    const ArithResult got = arith(Op::fma, f, ops, x86);
    const test::OracleResult cpu = test::cpu_oracle(Op::fma, 32, {abc[0], abc[1], abc[2]}, x86);
    INFO(describe_case(Op::fma, f, ops, x86));
    CHECK(got.code == cpu.code);
    CHECK(got.flags == cpu.flags);
  }
  // The pinned answers: the quieted addend; invalid only with a signalling operand.
  const ArithResult quiet = arith(Op::fma, f, {BigInt(inf), BigInt(0), BigInt(qnan)}, x86);
  CHECK(quiet.code == BigInt(qnan));
  CHECK(quiet.flags == 0);
  const ArithResult signalling = arith(Op::fma, f, {BigInt(inf), BigInt(0), BigInt(snan)}, x86);
  CHECK(signalling.code == BigInt(snan | 0x00400000));
  CHECK(signalling.flags == flag::invalid);
  ArithOptions riscv;
  CHECK(arith(Op::fma, f, {BigInt(inf), BigInt(0), BigInt(qnan)}, riscv).flags == flag::invalid);
}

TEST_CASE("arith: min, max and the six comparisons over every operand pair of 8-bit floats match MPFR", "[arith][mpfr][exhaustive]") {
  Comparison cmp;
  for (const char* name : {"fp8_e5m2", "fp8_e4m3"}) {
    ArithOptions daz;
    daz.daz = true;
    exhaustive_pairs(parse_format(name),
                     {Op::min, Op::max, Op::eq, Op::lt, Op::le, Op::eq_signaling, Op::lt_quiet, Op::le_quiet}, {Rounding::rne},
                     cmp);
    exhaustive_pairs(parse_format(name), {Op::min, Op::lt}, {Rounding::rne}, cmp, daz);
  }
  CHECK(cmp.mismatches == 0);
  CHECK(cmp.cases == 2ull * 10 * 65536);
}

TEST_CASE("arith: conversions of every fp16 code to 8-bit, bf16 and fixed-point formats match MPFR", "[arith][mpfr][exhaustive]") {
  Comparison cmp;
  const Format fp16 = parse_format("fp16");
  for (const char* name : {"fp8_e4m3", "fp8_e5m2", "bf16", "fp4_e2m1", "int8", "fixed(i=3,f=4)", "fixed(i=15,f=0,signed=no)"}) {
    const Format to = parse_format(name);
    for (Rounding r : kModes) {
      if (to.is<FixedFormat>() && (r == Rounding::rup || r == Rounding::rdn)) continue;
      for (std::uint64_t a = 0; a < 65536; ++a) cmp.check(Op::convert, fp16, {BigInt(a)}, with_mode(r), &to);
    }
  }
  CHECK(cmp.mismatches == 0);
  CHECK(cmp.cases == (4ull * 5 + 3 * 3) * 65536);
}

TEST_CASE("arith: conversions of corner and random fp32 codes match MPFR, comparisons of fp32 too", "[arith][mpfr]") {
  Comparison cmp;
  std::mt19937_64 rng(21);
  const Format fp32 = parse_format("fp32");
  std::vector<BigInt> codes = hw::corner_operands(fp32);
  for (int i = 0; i < 3000; ++i) codes.push_back(BigInt(rng() & 0xFFFFFFFFu));
  // Values near the narrow formats' ranges: exponents -30..20.
  for (int i = 0; i < 3000; ++i) codes.push_back(BigInt(((rng() & 1) << 31) | ((97 + rng() % 50) << 23) | (rng() & 0x7FFFFF)));
  for (const char* name : {"fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "float(e=5,m=10,subnormals=no)", "int16",
                           "fixed(i=7,f=8)", "uint8"}) {
    const Format to = parse_format(name);
    for (Rounding r : kModes)
      for (const BigInt& a : codes) cmp.check(Op::convert, fp32, {a}, with_mode(r), &to);
  }
  for (Op op : {Op::min, Op::max, Op::eq, Op::lt, Op::le, Op::eq_signaling, Op::lt_quiet, Op::le_quiet})
    for (int i = 0; i < 2000; ++i) {
      const BigInt a = codes[rng() % codes.size()];
      const BigInt b = (i & 1) ? a : codes[rng() % codes.size()];
      cmp.check(op, fp32, {a, b}, {});
    }
  CHECK(cmp.mismatches == 0);
  CHECK(cmp.cases > 250000);
}
