// One operation at a time, bitsim against Berkeley SoftFloat 3e (the peer), side by side: fp16 and
// fp32 add, mul, div, sqrt and fma; bitsim's fp8 formats beside its fp16; and what the C interface adds
// per call. Built only by bench/compare_softfloat.sh, in a temporary build, with SoftFloat fetched and
// compiled beside it (never committed).
//
// Both sides get the same random operand codes (uniform over all codes: NaNs, infinities, subnormals
// included as they come) and return the result code and the flags of each operation: SoftFloat's
// global exception flags are cleared before and read after each call, as a test bench reads them.
// Rounds are interleaved (bitsim, SoftFloat, bitsim, ...); each figure is the median over rounds of
// the time per operation.
//
//   bench_vs_softfloat [--rounds R] [--n N]
extern "C" {
#include "softfloat.h"
}

#include "bitsim.h"
#include "hw/arith_fast.hpp"
#include "side_by_side.hpp"

#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace bitsim::formats;
using bitsim::bench::median;
using bitsim::bench::seconds_now;

namespace {

struct Operands {
  std::vector<std::uint64_t> a, b, c;
};

Operands random_operands(int width, int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::uint64_t mask = (std::uint64_t(1) << width) - 1;
  Operands o;
  for (int i = 0; i < n; ++i) {
    o.a.push_back(rng() & mask);
    o.b.push_back(rng() & mask);
    o.c.push_back(rng() & mask);
  }
  return o;
}

volatile std::uint64_t sink;

// Nanoseconds per operation of `body(i)` over i < n.
double ns_per_op(int n, const std::function<std::uint64_t(int)>& body) {
  std::uint64_t acc = 0;
  const double t0 = seconds_now();
  for (int i = 0; i < n; ++i) acc ^= body(i);
  const double t = seconds_now() - t0;
  sink = acc;
  return t / n * 1e9;
}

std::uint64_t soft(std::uint64_t v) { return v ^ (std::uint64_t(softfloat_exceptionFlags) << 40); }

// SoftFloat's call for one case.
std::function<std::uint64_t(int)> softfloat_call(const std::string& op, int width, const Operands& x) {
  auto h = [](std::uint64_t v) { return float16_t{static_cast<std::uint16_t>(v)}; };
  auto s = [](std::uint64_t v) { return float32_t{static_cast<std::uint32_t>(v)}; };
  if (width == 16) {
    if (op == "add") return [&x, h](int i) { softfloat_exceptionFlags = 0; return soft(f16_add(h(x.a[i]), h(x.b[i])).v); };
    if (op == "mul") return [&x, h](int i) { softfloat_exceptionFlags = 0; return soft(f16_mul(h(x.a[i]), h(x.b[i])).v); };
    if (op == "div") return [&x, h](int i) { softfloat_exceptionFlags = 0; return soft(f16_div(h(x.a[i]), h(x.b[i])).v); };
    if (op == "sqrt") return [&x, h](int i) { softfloat_exceptionFlags = 0; return soft(f16_sqrt(h(x.a[i])).v); };
    return [&x, h](int i) { softfloat_exceptionFlags = 0; return soft(f16_mulAdd(h(x.a[i]), h(x.b[i]), h(x.c[i])).v); };
  }
  if (op == "add") return [&x, s](int i) { softfloat_exceptionFlags = 0; return soft(f32_add(s(x.a[i]), s(x.b[i])).v); };
  if (op == "mul") return [&x, s](int i) { softfloat_exceptionFlags = 0; return soft(f32_mul(s(x.a[i]), s(x.b[i])).v); };
  if (op == "div") return [&x, s](int i) { softfloat_exceptionFlags = 0; return soft(f32_div(s(x.a[i]), s(x.b[i])).v); };
  if (op == "sqrt") return [&x, s](int i) { softfloat_exceptionFlags = 0; return soft(f32_sqrt(s(x.a[i])).v); };
  return [&x, s](int i) { softfloat_exceptionFlags = 0; return soft(f32_mulAdd(s(x.a[i]), s(x.b[i]), s(x.c[i])).v); };
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 15, n = 1 << 16;
  const int rc = bitsim::bench::parse_options(argc, argv, "bench_vs_softfloat", "bench_vs_softfloat [--rounds R] [--n N]",
                                              [&](const std::string& name, const std::string& v) -> std::string {
                                                if (name == "--rounds") return bitsim::bench::positive_int(v, rounds, 1000) ? "" : "--rounds: expected 1..1000";
                                                if (name == "--n") return bitsim::bench::positive_int(v, n, 1 << 24) ? "" : "--n: expected 1..16777216";
                                                return "unknown option " + name;
                                              });
  if (rc) return rc;
  softfloat_roundingMode = softfloat_round_near_even;
  softfloat_detectTininess = softfloat_tininess_afterRounding;
  // x86 NaN rules on the bitsim side, as SoftFloat's 8086-SSE specialisation (results agree bit for bit
  // except the documented fma(Inf, 0, qNaN) case, which random codes almost never hit).
  const ArithOptions options = parse_arith_options("nan=x86");
  std::printf("%-6s %-9s %14s %14s %8s   (ns per operation, median of %d interleaved rounds of %d operations)\n", "op",
              "format", "bitsim", "SoftFloat 3e", "ratio", rounds, n);
  std::uint64_t mismatches = 0;
  for (int width : {16, 32})
    for (const std::string op : {"add", "mul", "div", "sqrt", "fma"}) {
      const Format f = parse_format(width == 16 ? "fp16" : "fp32");
      const Operands x = random_operands(width, n, 7 + width);
      const FastArith fast(*parse_op(op), f, options);
      auto ours = [&](int i) {
        const FastResult r = fast(x.a[i], x.b[i], x.c[i]);
        return r.code ^ (std::uint64_t(r.flags) << 40);
      };
      const auto theirs = softfloat_call(op, width, x);
      // The two sides must compute the same thing: results and flags compared once, outside the timing.
      for (int i = 0; i < n; ++i) mismatches += ours(i) != theirs(i);
      std::vector<double> t_ours, t_theirs;
      for (int r = 0; r < rounds; ++r) {
        t_ours.push_back(ns_per_op(n, ours));
        t_theirs.push_back(ns_per_op(n, theirs));
      }
      const double a = median(t_ours), b = median(t_theirs);
      std::printf("%-6s %-9s %14.1f %14.1f %7.2fx\n", op.c_str(), f.name().c_str(), a, b, a / b);
    }
  std::printf("results or flags that differ between the two: %llu\n", static_cast<unsigned long long>(mismatches));

  // bitsim's 8-bit formats beside its fp16 (the same operations, the same code).
  std::printf("\n%-6s %-12s %14s %14s\n", "op", "format", "bitsim", "bitsim fp16");
  for (const std::string op : {"add", "mul", "div", "fma"})
    for (const char* name : {"fp8_e4m3", "fp8_e5m2"}) {
      const Format f8 = parse_format(name), f16 = parse_format("fp16");
      const Operands x8 = random_operands(8, n, 3), x16 = random_operands(16, n, 4);
      const FastArith fast8(*parse_op(op), f8, options), fast16(*parse_op(op), f16, options);
      std::vector<double> t8, t16;
      for (int r = 0; r < rounds; ++r) {
        t8.push_back(ns_per_op(n, [&](int i) { return fast8(x8.a[i], x8.b[i], x8.c[i]).code; }));
        t16.push_back(ns_per_op(n, [&](int i) { return fast16(x16.a[i], x16.b[i], x16.c[i]).code; }));
      }
      std::printf("%-6s %-12s %14.1f %14.1f\n", op.c_str(), name, median(t8), median(t16));
    }

  // The C interface: a prepared operation per call, bitsim_op per call (strings looked up in the
  // thread's cache), and a batch, against FastArith called directly (fp16 mul).
  {
    const Operands x = random_operands(16, n, 5);
    const FastArith fast(Op::mul, parse_format("fp16"), options);
    bitsim_arith* prepared = bitsim_arith_new("mul", "fp16", nullptr, "nan=x86");
    std::vector<std::uint64_t> codes(static_cast<std::size_t>(n));
    std::vector<std::uint8_t> flags(static_cast<std::size_t>(n));
    std::vector<double> direct, one, by_name, batch;
    for (int r = 0; r < rounds; ++r) {
      direct.push_back(ns_per_op(n, [&](int i) { return fast(x.a[i], x.b[i]).code; }));
      one.push_back(ns_per_op(n, [&](int i) {
        std::uint64_t code;
        std::uint32_t fl;
        bitsim_arith_one(prepared, x.a[i], x.b[i], 0, 0, &code, &fl);
        return code;
      }));
      by_name.push_back(ns_per_op(n, [&](int i) {
        std::uint64_t code;
        std::uint32_t fl;
        bitsim_op("mul", "fp16", "nan=x86", x.a[i], x.b[i], 0, 0, &code, &fl);
        return code;
      }));
      const double t0 = seconds_now();
      bitsim_arith_array(prepared, static_cast<std::uint64_t>(n), x.a.data(), x.b.data(), nullptr, nullptr, codes.data(), flags.data());
      batch.push_back((seconds_now() - t0) / n * 1e9);
    }
    bitsim_arith_free(prepared);
    const double d = median(direct);
    std::printf("\nC interface, fp16 mul (ns per operation; added per call in brackets)\n");
    std::printf("  FastArith directly       %8.1f\n", d);
    std::printf("  bitsim_arith_one         %8.1f  (+%.1f)\n", median(one), median(one) - d);
    std::printf("  bitsim_op (by name)      %8.1f  (+%.1f)\n", median(by_name), median(by_name) - d);
    std::printf("  bitsim_arith_array       %8.1f  (%+.1f)\n", median(batch), median(batch) - d);
  }
  return mismatches == 0 ? 0 : 1;
}
