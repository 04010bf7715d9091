// Convolution layer throughput: 64 -> 64 channels, 3x3, padding 1, on 32x32, batch 32; forward, input
// gradient and weight gradient (sim/kernels/conv2d.hpp, each lowered to gemm()), with fp32 inputs and fp32
// sequential accumulation, and with fp8_e4m3 inputs and an fp32 accumulator (fp32 output).
// Counter FLOP/s = 2 * N*OH*OW*Cout*Cin*KH*KW per call (the same for all three products).
// Run: ./build/bench/bench_conv --benchmark_min_time=1
#include "sim/kernels/conv2d.hpp"

#include "formats/format.hpp"

#include <benchmark/benchmark.h>

#include <random>

namespace {

using namespace bitsim::sim;
using bitsim::formats::parse_format;

constexpr std::int64_t kN = 32, kC = 64, kHW = 32, kK = 3;

NchwArray random_array(Nchw s, unsigned seed) {
  NchwArray a(s);
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  // Float values, as a training step holds activations, weights and gradients.
  for (double& v : a.data) v = static_cast<float>(nd(rng));
  return a;
}

enum class Product { forward, input_grad, weight_grad };

void BM_conv(benchmark::State& state, Product product, const char* in_format) {
  GemmConfig c;
  c.a_format = c.b_format = parse_format(in_format);
  c.acc = parse_format("fp32");
  c.out_format = parse_format("fp32");
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  const Nchw xs{kN, kC, kHW, kHW}, ws{kC, kC, kK, kK};
  const NchwArray x = random_array(xs, 1), w = random_array(ws, 2), dy = random_array(conv2d_output_shape(xs, ws, p), 3);
  const int threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    NchwArray r;
    switch (product) {
      case Product::forward: r = conv2d_forward(c, x, w, p, threads); break;
      case Product::input_grad: r = conv2d_backward_input(c, dy, w, xs, p, threads); break;
      case Product::weight_grad: r = conv2d_backward_weight(c, x, dy, ws, p, threads); break;
    }
    benchmark::DoNotOptimize(r.data.data());
  }
  const double flops = 2.0 * kN * kHW * kHW * kC * kC * kK * kK;
  state.counters["FLOP/s"] = benchmark::Counter(flops * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK_CAPTURE(BM_conv, fp32_forward, Product::forward, "fp32")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv, fp32_input_grad, Product::input_grad, "fp32")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv, fp32_weight_grad, Product::weight_grad, "fp32")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv, fp8_e4m3_fp32acc_forward, Product::forward, "fp8_e4m3")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv, fp8_e4m3_fp32acc_input_grad, Product::input_grad, "fp8_e4m3")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv, fp8_e4m3_fp32acc_weight_grad, Product::weight_grad, "fp8_e4m3")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
