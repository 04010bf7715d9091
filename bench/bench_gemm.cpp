// GEMM throughput: fp32 through Eigen, the emulated int8 and fp8_e4m3 GEMMs with fp32 accumulation
// (fast paths), the exact kernel, the aligned order's kernel and the golden reference. Counters: FLOP/s = 2*M*N*K per call.
// Run: ./build/bench/bench_gemm --benchmark_min_time=1
#include "sim/kernels/eigen_gemm.hpp"
#include "sim/kernels/gemm.hpp"

#include "formats/format.hpp"

#include <benchmark/benchmark.h>

#include <random>

namespace {

using namespace bitsim::sim;
using bitsim::formats::parse_format;

Matrix random_matrix(std::int64_t r, std::int64_t c, double sigma, bool integers, unsigned seed) {
  Matrix m(r, c);
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, sigma);
  for (double& x : m.data) x = integers ? std::round(nd(rng)) : nd(rng);
  return m;
}

void set_flops(benchmark::State& state, std::int64_t n) {
  state.counters["FLOP/s"] = benchmark::Counter(static_cast<double>(2 * n * n * n) * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
}

void BM_eigen_fp32(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const Matrix a = random_matrix(n, n, 1, false, 1), b = random_matrix(n, n, 1, false, 2);
  std::vector<float> af(a.data.begin(), a.data.end()), bf(b.data.begin(), b.data.end()), cf(static_cast<std::size_t>(n * n));
  for (auto _ : state) {
    eigen_gemm_f32(af.data(), bf.data(), cf.data(), n, n, n);
    benchmark::DoNotOptimize(cf.data());
  }
  set_flops(state, n);
}

void BM_emulated(benchmark::State& state, const char* in, const char* acc, const char* out, bool integers, double sigma) {
  const std::int64_t n = state.range(0);
  const Matrix a = random_matrix(n, n, sigma, integers, 1), b = random_matrix(n, n, sigma, integers, 2);
  GemmConfig c;
  c.a_format = c.b_format = parse_format(in);
  c.acc = parse_format(acc);
  c.out_format = parse_format(out);
  GemmPath path{};
  for (auto _ : state) {
    GemmResult r = gemm(c, a, b, static_cast<int>(state.range(1)), /*want_codes=*/false);
    path = r.path;
    benchmark::DoNotOptimize(r.values.data.data());
  }
  set_flops(state, n);
  state.SetLabel(gemm_path_name(path));
}

// The float interface (what layers call): float inputs and outputs, as the Eigen fp32 baseline has.
void BM_emulated_f32(benchmark::State& state, const char* in, const char* acc, const char* out, bool integers, double sigma) {
  const std::int64_t n = state.range(0);
  const Matrix a = random_matrix(n, n, sigma, integers, 1), b = random_matrix(n, n, sigma, integers, 2);
  std::vector<float> af(a.data.begin(), a.data.end()), bf(b.data.begin(), b.data.end()), cf(static_cast<std::size_t>(n * n));
  GemmConfig c;
  c.a_format = c.b_format = parse_format(in);
  c.acc = parse_format(acc);
  c.out_format = parse_format(out);
  GemmPath path{};
  for (auto _ : state) {
    path = gemm_f32(c, af.data(), bf.data(), cf.data(), n, n, n, static_cast<int>(state.range(1)));
    benchmark::DoNotOptimize(cf.data());
  }
  set_flops(state, n);
  state.SetLabel(gemm_path_name(path));
}

void BM_reference(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const Matrix a = random_matrix(n, n, 1, false, 1), b = random_matrix(n, n, 1, false, 2);
  GemmConfig c;
  c.a_format = c.b_format = parse_format("fp8_e4m3");
  c.acc = parse_format("fp16");
  c.out_format = parse_format("fp16");
  for (auto _ : state) benchmark::DoNotOptimize(gemm_reference(c, a, b).values.data.data());
  set_flops(state, n);
}

// The aligned order (a fused multi-term adder, docs/spec/gemm.md rule 11) in the H100 FP8
// configuration of section 1.7: the integer fast path, or the golden reference.
void BM_aligned(benchmark::State& state, bool reference) {
  const std::int64_t n = state.range(0);
  const Matrix a = random_matrix(n, n, 1, false, 1), b = random_matrix(n, n, 1, false, 2);
  GemmConfig c;
  c.a_format = c.b_format = parse_format("fp8_e4m3");
  c.acc = parse_format("float(e=8,m=13)");
  c.out_format = parse_format("fp32");
  c.rounding = bitsim::formats::Rounding::rtz;
  parse_acc_order("aligned(group=32,width=14,lead=exponents)", c);
  GemmPath path{};
  for (auto _ : state) {
    GemmResult r = reference ? gemm_reference(c, a, b) : gemm(c, a, b, 1, /*want_codes=*/false);
    path = r.path;
    benchmark::DoNotOptimize(r.values.data.data());
  }
  set_flops(state, n);
  state.SetLabel(gemm_path_name(path));
}

}  // namespace

BENCHMARK_CAPTURE(BM_aligned, h100_fp8_fast, false)->Arg(128)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_aligned, h100_fp8_reference, true)->Arg(24)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_eigen_fp32)->Arg(512)->Unit(benchmark::kMillisecond);
// int8 inputs (integers of N(0, 30^2), clamped by int8) with fp32 accumulation: exact-sum path.
BENCHMARK_CAPTURE(BM_emulated, int8_fp32acc, "int8", "fp32", "fp32", true, 30.0)->Args({512, 1})->Unit(benchmark::kMillisecond);
// fp8_e4m3 inputs of N(0,1) with fp32 accumulation: native fp32 sequential path.
BENCHMARK_CAPTURE(BM_emulated, fp8_e4m3_fp32acc, "fp8_e4m3", "fp32", "fp32", false, 1.0)->Args({512, 1})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_emulated, fp8_e4m3_fp32acc_2threads, "fp8_e4m3", "fp32", "fp32", false, 1.0)->Args({512, 2})->Unit(benchmark::kMillisecond);
// fp8_e4m3 with an fp16 accumulator: the exact kernel (TwoSum, round to odd, fp16 rounding per add).
BENCHMARK_CAPTURE(BM_emulated, fp8_e4m3_fp16acc_exact_kernel, "fp8_e4m3", "fp16", "fp16", false, 1.0)->Args({128, 1})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_emulated_f32, int8_fp32acc, "int8", "fp32", "fp32", true, 30.0)->Args({512, 1})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_emulated_f32, fp8_e4m3_fp32acc, "fp8_e4m3", "fp32", "fp32", false, 1.0)->Args({512, 1})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_emulated_f32, fp8_e4m3_fp32acc_2threads, "fp8_e4m3", "fp32", "fp32", false, 1.0)->Args({512, 2})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_reference)->Arg(24)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
