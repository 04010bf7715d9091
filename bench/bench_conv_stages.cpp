// The training engine's convolution products (sim::nn::ConvKernels with the default GemmSetup: fp32
// accumulation in k order, exact products) on every distinct convolution of ResNet-20 (width 16,
// 28x28 inputs, batch 128) and of the small CNN, against the engine's own fp32 GEMM at 512^3
// (sim::nn::matmul) measured in the same run: how close each product comes to the GEMM's FLOP rate.
//
// FLOP counts are the useful ones, 2 * N * OH * OW * Cout * Cin * KH * KW per product (the same for
// the forward, the input gradient and the weight gradient): work a kernel wastes on zero taps or
// padding columns shows as a lower rate. Rounds are interleaved: in each round every product and the
// GEMM run once (after the same number of warm calls); the table gives medians over rounds.
//
// Run:  ./build/bench/bench_conv_stages [--rounds 5] [--threads 1] [--time 0.2]
#include "sim/kernels/conv_kernels.hpp"
#include "sim/kernels/matmul.hpp"

#include "side_by_side.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace bitsim::sim;
namespace bench = bitsim::bench;

struct Conv {
  const char* name;
  std::int64_t cin, cout, hw, k, stride;  // input hw x hw, k x k kernel, padding k / 2
};

const Conv kConvs[] = {
    {"resnet20 stem 1->16 3x3 @28", 1, 16, 28, 3, 1},
    {"resnet20 s1 16->16 3x3 @28", 16, 16, 28, 3, 1},
    {"resnet20 s2 16->32 3x3 /2 28->14", 16, 32, 28, 3, 2},
    {"resnet20 s2 proj 16->32 1x1 /2", 16, 32, 28, 1, 2},
    {"resnet20 s2 32->32 3x3 @14", 32, 32, 14, 3, 1},
    {"resnet20 s3 32->64 3x3 /2 14->7", 32, 64, 14, 3, 2},
    {"resnet20 s3 proj 32->64 1x1 /2", 32, 64, 14, 1, 2},
    {"resnet20 s3 64->64 3x3 @7", 64, 64, 7, 3, 1},
    {"cnn conv2 32->32 3x3 @28", 32, 32, 28, 3, 1},
    {"cnn conv4 64->64 3x3 @14", 64, 64, 14, 3, 1},
};
constexpr std::int64_t kBatch = 128;

void fill(std::vector<float>& v, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float& x : v) x = nd(rng);
}

// One timed thing: a name, its FLOPs per call, the call, and calls per sample (set after a probe).
struct Item {
  std::string name;
  double flop;
  std::function<void()> call;
  int calls = 1;
  std::vector<double> gflops;
};

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5, threads = 1;
  double time_per_item = 0.2;
  const int bad = bench::parse_options(
      argc, argv, "bench_conv_stages", "bench_conv_stages [--rounds N] [--threads T] [--time SECONDS]",
      [&](const std::string& name, const std::string& v) -> std::string {
        if (name == "--rounds") return bench::positive_int(v, rounds) ? "" : "--rounds takes a positive integer";
        if (name == "--threads") return bench::positive_int(v, threads) ? "" : "--threads takes a positive integer";
        if (name == "--time") return bench::positive_seconds(v, time_per_item) ? "" : "--time takes a positive number of seconds";
        return "unknown option " + name;
      });
  if (bad) return bad;

  const nn::GemmSetup setup;
  std::vector<Item> items;
  // The reference rate: the fp32 GEMM at 512^3.
  constexpr std::int64_t kG = 512;
  std::vector<float> ga(kG * kG), gb(kG * kG), gc(kG * kG);
  fill(ga, 1);
  fill(gb, 2);
  items.push_back({"gemm 512^3", 2.0 * kG * kG * kG, [&] { nn::matmul(setup, ga.data(), gb.data(), gc.data(), kG, kG, kG, threads); }, 1, {}});

  struct Data {
    nn::FTensor x, w, dy, y, dx, dw;
    Conv2dParams p;
    nn::ConvKernels kernels;
  };
  std::vector<std::unique_ptr<Data>> data;
  for (const Conv& c : kConvs) {
    auto d = std::make_unique<Data>();
    d->p.stride_h = d->p.stride_w = c.stride;
    d->p.pad_h = d->p.pad_w = c.k / 2;
    d->x = nn::FTensor(Nchw{kBatch, c.cin, c.hw, c.hw});
    d->w = nn::FTensor(Nchw{c.cout, c.cin, c.k, c.k});
    const Nchw ys = conv2d_output_shape(d->x.shape, d->w.shape, d->p);
    d->dy = nn::FTensor(ys);
    fill(d->x.data, 3);
    fill(d->w.data, 4);
    fill(d->dy.data, 5);
    const double flop = 2.0 * static_cast<double>(kBatch * ys.h * ys.w * c.cout * c.cin * c.k * c.k);
    Data* p = d.get();
    items.push_back({std::string(c.name) + " forward", flop,
                     [p, &setup, threads] { p->kernels.forward(setup, p->x, p->w, nullptr, p->p, p->y, threads); }, 1, {}});
    items.push_back({std::string(c.name) + " input gradient", flop, [p, &setup, threads] {
                       p->kernels.backward_input(setup, p->dy, p->w, p->x.shape, p->p, p->dx, threads);
                     }, 1, {}});
    items.push_back({std::string(c.name) + " weight gradient", flop, [p, &setup, threads] {
                       p->kernels.backward_weight(setup, p->x, p->dy, p->w.shape, p->p, p->dw, nullptr, threads);
                     }, 1, {}});
    data.push_back(std::move(d));
  }

  for (Item& it : items) {
    it.call();  // first call: buffers sized
    const double t0 = bench::seconds_now();
    it.call();
    it.calls = std::max(1, static_cast<int>(time_per_item / std::max(bench::seconds_now() - t0, 1e-7)));
  }
  for (int r = 0; r < rounds; ++r)
    for (Item& it : items) {
      for (int i = 0; i < std::max(1, it.calls / 10); ++i) it.call();  // warm calls
      const double t0 = bench::seconds_now();
      for (int i = 0; i < it.calls; ++i) it.call();
      it.gflops.push_back(it.flop * it.calls / (bench::seconds_now() - t0) * 1e-9);
    }

  const double gemm = bench::median(items[0].gflops);
  std::printf("threads %d, batch %lld; medians of %d interleaved rounds\n\n", threads, static_cast<long long>(kBatch), rounds);
  std::printf("| product | GFLOP/s | vs GEMM 512^3 |\n|---|---|---|\n");
  for (const Item& it : items)
    std::printf("| %s | %.1f | %.2f |\n", it.name.c_str(), bench::median(it.gflops), bench::median(it.gflops) / gemm);
  return 0;
}
