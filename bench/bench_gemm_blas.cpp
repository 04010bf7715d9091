// The engine's fp32 GEMM (sim::nn::matmul with the default setup: fp32 accumulation in k order, exact
// products, every element a chain of fused multiply-adds) side by side with OpenBLAS cblas_sgemm,
// which is free to sum in any order. Same operands, same layouts (row-major A, B and C, no transpose),
// same thread count, in one process; rounds interleaved (the engine and OpenBLAS alternate which goes
// first), each side warmed up the same number of calls before its timed calls in each round.
//
// Shapes: 512^3, and the products one training step of the benchmark models computes, as the engine
// computes them (per image, columns = output positions of a zero-padded row, oh * (W + 2)):
//   conv forward            M = out channels, K = in channels * 9, N = positions
//   conv input gradient     M = in channels,  K = out channels * 9, N = positions (same shapes as a forward)
//   conv weight gradient    M = in channels * 9, K = positions, N = out channels (accumulated per image)
//   linear (batch B)        forward B x in x out; weight gradient out x B x in; input gradient B x out x in
//
// Run:  ./build/bench/bench_gemm_blas [--rounds 5] [--threads 1,2] [--time 0.2] [--filter text]
// Prints a markdown table: median GFLOP/s of each side, the median ratio engine/OpenBLAS and the
// lowest and highest ratio of any round.
#include "sim/kernels/matmul.hpp"

#include "side_by_side.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace {

namespace bench = bitsim::bench;

struct Shape {
  const char* name;
  std::int64_t m, k, n;
};

// Positions of a 3x3, pad-1, stride-1 convolution on an h x h image as the engine extends them.
constexpr std::int64_t ext(std::int64_t h) { return h * (h + 2); }

const Shape kShapes[] = {
    {"square 512", 512, 512, 512},
    // The small CNN, width 32, 28x28 and 14x14 (bench/pytorch_step.py "cnn").
    {"cnn conv2 fwd 32->32 @28", 32, 288, ext(28)},
    {"cnn conv3 fwd 32->64 @14", 64, 288, ext(14)},
    {"cnn conv4 fwd 64->64 @14", 64, 576, ext(14)},
    {"cnn conv3 dx 64->32 @14", 32, 576, ext(14)},
    {"cnn conv2 dw 32->32 @28", 288, ext(28), 32},
    {"cnn conv4 dw 64->64 @14", 576, ext(14), 64},
    {"cnn fc fwd 128x3136x10", 128, 3136, 10},
    // ResNet-20, width 16: stages at 28x28, 14x14, 7x7.
    {"resnet20 s1 fwd 16->16 @28", 16, 144, ext(28)},
    {"resnet20 s2 fwd 32->32 @14", 32, 288, ext(14)},
    {"resnet20 s3 fwd 64->64 @7", 64, 576, ext(7)},
    {"resnet20 s1 dw 16->16 @28", 144, ext(28), 16},
    {"resnet20 s2 dw 32->32 @14", 288, ext(14), 32},
    {"resnet20 s3 dw 64->64 @7", 576, ext(7), 64},
    // The MLP 784-1024-1024-10, batch 100.
    {"mlp fc2 fwd 100x1024x1024", 100, 1024, 1024},
    {"mlp fc1 dw 1024x100x784", 1024, 100, 784},
    {"mlp fc2 dx 100x1024x1024", 100, 1024, 1024},
};

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  double time_per_side = 0.2;
  std::vector<int> thread_counts{1, 2};
  std::string filter;
  const int bad = bench::parse_options(
      argc, argv, "bench_gemm_blas", "bench_gemm_blas [--rounds N] [--threads 1,2] [--time SECONDS] [--filter TEXT]",
      [&](const std::string& name, const std::string& v) -> std::string {
        if (name == "--rounds") return bench::positive_int(v, rounds) ? "" : "--rounds takes a positive integer";
        if (name == "--time") return bench::positive_seconds(v, time_per_side) ? "" : "--time takes a positive number of seconds";
        if (name == "--filter") {
          filter = v;
          return "";
        }
        if (name == "--threads") {
          thread_counts.clear();
          for (std::size_t p = 0; p <= v.size();) {
            const std::size_t q = std::min(v.find(',', p), v.size());
            int t = 0;
            if (!bench::positive_int(v.substr(p, q - p), t)) return "--threads takes a comma-separated list of positive integers";
            thread_counts.push_back(t);
            p = q + 1;
          }
          return "";
        }
        return "unknown option " + name;
      });
  if (bad) return bad;

  const bitsim::sim::nn::GemmSetup setup;
  std::printf("| shape | M | K | N | threads | engine GFLOP/s | OpenBLAS GFLOP/s | engine/OpenBLAS median | min-max over rounds |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Shape& s : kShapes) {
    if (!filter.empty() && std::string(s.name).find(filter) == std::string::npos) continue;
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> a(static_cast<std::size_t>(s.m * s.k)), b(static_cast<std::size_t>(s.k * s.n)),
        c(static_cast<std::size_t>(s.m * s.n));
    for (float& x : a) x = nd(rng);
    for (float& x : b) x = nd(rng);
    const double flop = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.k) * static_cast<double>(s.n);
    for (const int threads : thread_counts) {
      auto engine = [&] { bitsim::sim::nn::matmul(setup, a.data(), b.data(), c.data(), s.m, s.k, s.n, threads); };
      auto blas = [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(s.m), static_cast<int>(s.n),
                    static_cast<int>(s.k), 1.0f, a.data(), static_cast<int>(s.k), b.data(), static_cast<int>(s.n), 0.0f,
                    c.data(), static_cast<int>(s.n));
      };
      openblas_set_num_threads(threads);
      // Calls per timed sample: about time_per_side seconds, from one probe of each side (the same
      // count for both, so both run the same number of warm calls).
      engine();
      blas();
      const double probe = std::max(bench::seconds_per_call(engine, 1), bench::seconds_per_call(blas, 1));
      const int calls = std::max(1, static_cast<int>(time_per_side / std::max(probe, 1e-7)));
      const int warm = std::max(1, calls / 10);
      std::vector<double> te, tb, ratio;
      for (int r = 0; r < rounds; ++r) {
        double e = 0, o = 0;
        auto run_engine = [&] {
          bench::seconds_per_call(engine, warm);
          e = bench::seconds_per_call(engine, calls);
        };
        auto run_blas = [&] {
          bench::seconds_per_call(blas, warm);
          o = bench::seconds_per_call(blas, calls);
        };
        if (r % 2 == 0) {
          run_engine();
          run_blas();
        } else {
          run_blas();
          run_engine();
        }
        te.push_back(flop / e * 1e-9);
        tb.push_back(flop / o * 1e-9);
        ratio.push_back(o / e);  // engine GFLOP/s over OpenBLAS GFLOP/s
      }
      std::printf("| %s | %lld | %lld | %lld | %d | %.1f | %.1f | %.2f | %.2f-%.2f |\n", s.name,
                  static_cast<long long>(s.m), static_cast<long long>(s.k), static_cast<long long>(s.n), threads,
                  bench::median(te), bench::median(tb), bench::median(ratio), *std::min_element(ratio.begin(), ratio.end()),
                  *std::max_element(ratio.begin(), ratio.end()));
      std::fflush(stdout);
    }
  }
  return 0;
}
