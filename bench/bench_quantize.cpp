// Quantizing 16M float32 values (64 MiB) on one core, next to a plain copy of the same array in the
// same run. Inputs: N(0,1) samples times 4, a typical activation/gradient spread for these formats.
// Run: ./build/bench/bench_quantize --benchmark_min_time=2
#include "formats/quantizer.hpp"

#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

namespace {

using namespace bitsim::formats;

constexpr std::size_t kCount = std::size_t{1} << 24;

const std::vector<float>& inputs() {
  static const std::vector<float> data = [] {
    std::vector<float> v(kCount);
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 4.0f);
    for (auto& x : v) x = nd(rng);
    return v;
  }();
  return data;
}

void BM_copy(benchmark::State& state) {
  const auto& in = inputs();
  std::vector<float> out(in.size());
  for (auto _ : state) {
    std::memcpy(out.data(), in.data(), in.size() * sizeof(float));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size() * 2 * sizeof(float)));
}

void BM_quantize(benchmark::State& state, const char* format, Rounding mode) {
  const auto& in = inputs();
  std::vector<float> out(in.size());
  const Quantizer q(parse_format(format), {mode, 32});
  const PhiloxWords rng(42);
  for (auto _ : state) {
    if (mode == Rounding::sr) q.quantize(std::span<const float>(in), std::span<float>(out), rng, 0);
    else q.quantize(std::span<const float>(in), std::span<float>(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}

// Stochastic rounding as two passes per block of 2048 elements: the Philox words first, then the
// rounding reading them (what Quantizer::quantize with a PhiloxWords did before the two were fused);
// the same bits as BM_quantize's sr rows.
void BM_quantize_words_then_round(benchmark::State& state, const char* format) {
  const auto& in = inputs();
  std::vector<float> out(in.size());
  const Quantizer q(parse_format(format), {Rounding::sr, 32});
  const PhiloxWords rng(42);
  std::vector<std::uint32_t> words(2048);
  for (auto _ : state) {
    for (std::size_t j = 0; j < in.size(); j += words.size()) {
      const std::size_t n = std::min(words.size(), in.size() - j);
      rng.fill(j, std::span(words.data(), n));
      q.quantize(std::span<const float>(in).subspan(j, n), std::span<float>(out).subspan(j, n),
                 std::span<const std::uint32_t>(words.data(), n));
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}

void BM_philox_words(benchmark::State& state) {
  std::vector<std::uint32_t> words(kCount);
  const PhiloxWords rng(42);
  for (auto _ : state) {
    rng.fill(0, words);
    benchmark::DoNotOptimize(words.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * words.size()));
}

// The generator alone, without the memory traffic: 2048 words at a time (what stochastic rounding
// asks for per block) into a buffer that stays in L1, for as many words as the arrays above.
void BM_philox_words_in_cache(benchmark::State& state) {
  std::vector<std::uint32_t> words(2048);
  const PhiloxWords rng(42);
  for (auto _ : state) {
    for (std::size_t first = 0; first < kCount; first += words.size()) rng.fill(first, words);
    benchmark::DoNotOptimize(words.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kCount));
}

}  // namespace

BENCHMARK(BM_copy)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize, fp8_e4m3_rne, "fp8_e4m3", Rounding::rne)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize, bf16_rne, "bf16", Rounding::rne)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize, fp16_rne, "fp16", Rounding::rne)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize, int8_rne, "int8", Rounding::rne)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize, graham_L4_rne, "graham_L4", Rounding::rne)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize, fp8_e4m3_sr, "fp8_e4m3", Rounding::sr)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize, bf16_sr, "bf16", Rounding::sr)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize, fp16_sr, "fp16", Rounding::sr)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize, int8_sr, "int8", Rounding::sr)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize_words_then_round, fp8_e4m3_sr, "fp8_e4m3")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_quantize_words_then_round, bf16_sr, "bf16")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_philox_words)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_philox_words_in_cache)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
