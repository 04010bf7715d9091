// Throughput of the golden arithmetic (hw/arith.hpp) as a test bench sees it: one operation per
// call through the C++ API and through the C interface (libbitsim_c, as DPI-C calls it), and vector
// generation. arith() takes the integer fast path (hw/arith_fast.hpp) and builds the full ArithResult,
// exact rationals included; bitsim_op goes through a prepared FastArith. bench/compare_softfloat.sh
// measures the fast path alone against Berkeley SoftFloat.
#include "bitsim.h"
#include "hw/arith.hpp"
#include "hw/vectors.hpp"

#include <benchmark/benchmark.h>

#include <random>

using namespace bitsim::formats;

namespace {

template <int Arity>
void run_arith(benchmark::State& state, Op op, const char* format_name) {
  const Format f = parse_format(format_name);
  std::mt19937_64 rng(1);
  const std::uint64_t mask = (std::uint64_t(1) << f.width()) - 1;
  std::vector<std::vector<BigInt>> operands(1024);
  for (auto& v : operands)
    for (int k = 0; k < Arity; ++k) v.push_back(BigInt(rng() & mask));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(arith(op, f, operands[i++ & 1023], {}));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ArithMulFp8(benchmark::State& s) { run_arith<2>(s, Op::mul, "fp8_e4m3"); }
void BM_ArithAddFp16(benchmark::State& s) { run_arith<2>(s, Op::add, "fp16"); }
void BM_ArithDivFp32(benchmark::State& s) { run_arith<2>(s, Op::div, "fp32"); }
void BM_ArithFmaBf16(benchmark::State& s) { run_arith<3>(s, Op::fma, "bf16"); }
void BM_ArithSqrtFp64(benchmark::State& s) { run_arith<1>(s, Op::sqrt, "fp64"); }

void BM_CabiOpMulFp8(benchmark::State& state) {
  std::uint64_t code = 0;
  std::uint32_t flags = 0;
  std::uint64_t a = 0;
  for (auto _ : state) {
    bitsim_op("mul", "fp8_e4m3", "", a & 0xFF, (a >> 8) & 0xFF, 0, 0, &code, &flags);
    benchmark::DoNotOptimize(code);
    a += 0x9E37;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_VectorsMulFp8Exhaustive(benchmark::State& state) {
  bitsim::hw::VectorSetup s;
  s.op = Op::mul;
  s.format = parse_format("fp8_e4m3");
  bitsim::hw::GenerateOptions g;
  g.exhaustive = true;
  for (auto _ : state) {
    std::size_t n = 0;
    bitsim::hw::generate_vectors(s, g, [&](const bitsim::hw::Vector& v) { n += bitsim::hw::format_vector(s, v).size(); });
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * 65536);
}

}  // namespace

BENCHMARK(BM_ArithMulFp8);
BENCHMARK(BM_ArithAddFp16);
BENCHMARK(BM_ArithDivFp32);
BENCHMARK(BM_ArithFmaBf16);
BENCHMARK(BM_ArithSqrtFp64);
BENCHMARK(BM_CabiOpMulFp8);
BENCHMARK(BM_VectorsMulFp8Exhaustive)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
