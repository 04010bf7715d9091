// Cost of the statistics of one rounding (analysis/tensor_stats.hpp) on a tensor of the small CNN's
// largest size (128 x 32 x 28 x 28 = 3.2 M values): one side, and before + after + pairs + distinct.
// Run: ./bench/bench_tensor_stats
#include "analysis/tensor_stats.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace {

std::vector<float> tensor(std::size_t n, std::uint64_t seed) {
  std::vector<float> x(n);
  std::uint64_t s = seed;
  for (float& v : x) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(s >> 11) * 0x1.0p-53;
    v = (u < 0.3) ? 0.0f : static_cast<float>(std::ldexp(u - 0.5, -8));  // ReLU-like zeros, small values
  }
  return x;
}

void BM_SideStats(benchmark::State& st) {
  const auto x = tensor(3211264, 1);
  bitsim::analysis::SideStats out;
  for (auto _ : st) {
    bitsim::analysis::side_stats(x, out, static_cast<int>(st.range(0)));
    benchmark::DoNotOptimize(out.std);
  }
  st.SetItemsProcessed(st.iterations() * static_cast<std::int64_t>(x.size()));
}
BENCHMARK(BM_SideStats)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_TensorStats8bit(benchmark::State& st) {
  const auto before = tensor(3211264, 2);
  std::vector<float> after(before.size());
  for (std::size_t i = 0; i < after.size(); ++i) after[i] = std::ldexp(std::nearbyint(std::ldexp(before[i], 14)), -14);  // 8-bit grid
  bitsim::analysis::TensorStats out;
  std::vector<std::uint32_t> scratch;
  bitsim::analysis::RoundingLimits lim;
  lim.codes = 256;
  for (auto _ : st) {
    bitsim::analysis::tensor_stats(before, after, lim, out, scratch, static_cast<int>(st.range(0)));
    benchmark::DoNotOptimize(out.snr_db);
  }
  st.SetItemsProcessed(st.iterations() * static_cast<std::int64_t>(before.size()));
}
BENCHMARK(BM_TensorStats8bit)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CountDistinct8bit(benchmark::State& st) {
  auto x = tensor(3211264, 3);
  for (float& v : x) v = std::ldexp(std::nearbyint(std::ldexp(v, 14)), -14);
  std::vector<std::uint32_t> scratch;
  for (auto _ : st) benchmark::DoNotOptimize(bitsim::analysis::count_distinct(x, scratch));
  st.SetItemsProcessed(st.iterations() * static_cast<std::int64_t>(x.size()));
}
BENCHMARK(BM_CountDistinct8bit)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
