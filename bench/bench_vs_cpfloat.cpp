// Rounding float arrays to low-precision formats: bitsim's Quantizer side by side with CPFloat
// (M. Fasi and M. Mikaitis, "CPFloat: A C Library for Simulating Low-Precision Arithmetic", ACM TOMS
// 49(2), 2023), the peer with the same job. Built only by bench/compare_cpfloat.sh, which fetches
// CPFloat into a temporary folder.
//
// Like with like: the same input array and the same output array size, one core on both sides (CPFloat
// compiled without OpenMP), rounds interleaved (the side going first alternates), each side warmed up
// with the same number of calls before each timed sample. CPFloat has no run-time dispatch, so it is
// compiled twice: for x86-64-v3 (paired with bitsim's AVX2 kernels) and for -march=native (paired with
// bitsim's best target); --cpfloat picks one, by default the one matching bitsim's current target.
//
// Formats: those both libraries have with the same semantics (binary16, bfloat16, TensorFloat-32,
// OCP E5M2, and OCP E4M3 on inputs below its largest finite 448, where CPFloat's E4M3 with
// emax = 8 agrees with it). Inputs: "normal", 16M samples of N(0, 4^2) as in bench_quantize; "spread",
// magnitudes log-uniform over the format's range from below its smallest subnormal to below 2^emax
// (every element of an 8-bit format then has a fair chance to be subnormal or to underflow).
// Deterministic modes must give the same bits on both sides: the last column counts the elements
// whose values differ, and apart from them the zeros whose sign differs. Stochastic rounding (bitsim's Philox words, CPFloat's PCG with proportional
// probabilities) is compared for speed only.
//
// Run:  bench_vs_cpfloat [--rounds 5] [--time 0.3] [--count 16777216] [--filter TEXT]
//                        [--cpfloat x86-64-v3|native]
#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"
#include "formats/simd_target.hpp"

#include "side_by_side.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

extern "C" {
void* cpfloat_shim_create_x86_64_v3(int precision, int emin, int emax, int infinity, int round);
int cpfloat_shim_round_x86_64_v3(void* options, float* out, const float* in, std::size_t n);
void cpfloat_shim_free_x86_64_v3(void* options);
void* cpfloat_shim_create_native(int precision, int emin, int emax, int infinity, int round);
int cpfloat_shim_round_native(void* options, float* out, const float* in, std::size_t n);
void cpfloat_shim_free_native(void* options);
}

namespace {

namespace bench = bitsim::bench;
using bitsim::formats::Rounding;

struct FormatPair {
  const char* bitsim;  // the bitsim format
  int precision, emin, emax;  // CPFloat's description of the same format
  bool infinity;
};
const FormatPair kFormats[] = {
    {"fp16", 11, -14, 15, true},
    {"bf16", 8, -126, 127, true},
    {"tf32", 11, -126, 127, true},
    {"fp8_e5m2", 3, -14, 15, true},
    {"fp8_e4m3", 4, -6, 8, false},
};

struct ModePair {
  const char* name;
  Rounding bitsim;
  int cpfloat;  // CPFloat's cpfloat_rounding_t
};
const ModePair kModes[] = {
    {"rne", Rounding::rne, 1}, {"rna", Rounding::rna, -1}, {"rtz", Rounding::rtz, 4},
    {"rup", Rounding::rup, 2}, {"rdn", Rounding::rdn, 3},  {"sr", Rounding::sr, 5},
};

struct CpFloat {
  void* (*create)(int, int, int, int, int);
  int (*round)(void*, float*, const float*, std::size_t);
  void (*destroy)(void*);
};

std::vector<float> inputs(const FormatPair& f, bool spread, std::size_t n) {
  std::mt19937 rng(7);
  std::vector<float> v(n);
  if (!spread) {
    std::normal_distribution<float> nd(0.0f, 4.0f);
    for (float& x : v) x = nd(rng);
  } else {
    // |x| = 2^u * m, u uniform in [emin - precision - 1, emax - 1), m uniform in [1, 2): below 2^emax.
    std::uniform_real_distribution<double> u(f.emin - f.precision - 1, f.emax - 1), m(1.0, 2.0);
    for (float& x : v) x = static_cast<float>((rng() & 1 ? -1.0 : 1.0) * std::exp2(u(rng)) * m(rng));
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  double time_per_side = 0.3;
  int count = 1 << 24;
  std::string filter, which = bitsim::formats::simd_target().rfind("avx512", 0) == 0 ? "native" : "x86-64-v3";
  const int bad = bench::parse_options(
      argc, argv, "bench_vs_cpfloat",
      "bench_vs_cpfloat [--rounds N] [--time SECONDS] [--count N] [--filter TEXT] [--cpfloat x86-64-v3|native]",
      [&](const std::string& name, const std::string& v) -> std::string {
        if (name == "--rounds") return bench::positive_int(v, rounds) ? "" : "--rounds takes a positive integer";
        if (name == "--time") return bench::positive_seconds(v, time_per_side) ? "" : "--time takes a positive number of seconds";
        if (name == "--count") return bench::positive_int(v, count, 1 << 28) ? "" : "--count takes a positive integer (at most 2^28)";
        if (name == "--filter") {
          filter = v;
          return "";
        }
        if (name == "--cpfloat") {
          if (v != "x86-64-v3" && v != "native") return "--cpfloat takes x86-64-v3 or native";
          which = v;
          return "";
        }
        return "unknown option " + name;
      });
  if (bad) return bad;
  bitsim::formats::apply_simd_environment();  // BITSIM_SIMD, before simd_target() is read below
  const CpFloat peer = which == "native"
                           ? CpFloat{cpfloat_shim_create_native, cpfloat_shim_round_native, cpfloat_shim_free_native}
                           : CpFloat{cpfloat_shim_create_x86_64_v3, cpfloat_shim_round_x86_64_v3, cpfloat_shim_free_x86_64_v3};

  std::printf("bitsim kernels: %s; CPFloat compiled for -march=%s; %d elements; medians of %d interleaved rounds\n\n",
              bitsim::formats::simd_target().c_str(), which.c_str(), count, rounds);
  std::printf("| format | mode | input | bitsim G elements/s | CPFloat G elements/s | bitsim/CPFloat median | min-max over rounds | elements that differ |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const FormatPair& f : kFormats)
    for (const bool spread : {false, true}) {
      const std::vector<float> in = inputs(f, spread, static_cast<std::size_t>(count));
      std::vector<float> out_bitsim(in.size()), out_peer(in.size());
      for (const ModePair& m : kModes) {
        const std::string label = std::string(f.bitsim) + " " + m.name + " " + (spread ? "spread" : "normal");
        if (!filter.empty() && label.find(filter) == std::string::npos) continue;
        const bitsim::formats::Quantizer q(bitsim::formats::parse_format(f.bitsim), {m.bitsim, 32});
        const bitsim::formats::PhiloxWords words(42);
        void* options = peer.create(f.precision, f.emin, f.emax, f.infinity ? 1 : 0, m.cpfloat);
        if (!options) {
          std::fprintf(stderr, "bench_vs_cpfloat: CPFloat rejected the options of %s\n", label.c_str());
          return 2;
        }
        auto run_bitsim = [&] {
          if (m.bitsim == Rounding::sr) q.quantize(std::span<const float>(in), std::span<float>(out_bitsim), words, 0);
          else q.quantize(std::span<const float>(in), std::span<float>(out_bitsim));
        };
        auto run_peer = [&] {
          if (peer.round(options, out_peer.data(), in.data(), in.size()) != 0) {
            std::fprintf(stderr, "bench_vs_cpfloat: CPFloat failed on %s\n", label.c_str());
            std::exit(2);
          }
        };
        run_bitsim();
        run_peer();
        // Values that differ, and zeros whose sign differs: CPFloat returns +0 where a negative input
        // rounds to zero (rup of a tiny negative value), IEEE 754 and bitsim -0.
        std::size_t differ = 0, zero_sign = 0;
        for (std::size_t i = 0; i < in.size(); ++i)
          if (std::bit_cast<std::uint32_t>(out_bitsim[i]) != std::bit_cast<std::uint32_t>(out_peer[i]))
            ++(out_bitsim[i] == 0 && out_peer[i] == 0 ? zero_sign : differ);
        const double probe = std::max(bench::seconds_per_call(run_bitsim, 1), bench::seconds_per_call(run_peer, 1));
        const int calls = std::max(1, static_cast<int>(time_per_side / std::max(probe, 1e-7)));
        std::vector<double> rb, rp, ratio;
        for (int r = 0; r < rounds; ++r) {
          double tb = 0, tp = 0;
          auto time_bitsim = [&] {
            run_bitsim();  // one warm call on each side
            tb = bench::seconds_per_call(run_bitsim, calls);
          };
          auto time_peer = [&] {
            run_peer();
            tp = bench::seconds_per_call(run_peer, calls);
          };
          if (r % 2 == 0) {
            time_bitsim();
            time_peer();
          } else {
            time_peer();
            time_bitsim();
          }
          rb.push_back(static_cast<double>(in.size()) / tb * 1e-9);
          rp.push_back(static_cast<double>(in.size()) / tp * 1e-9);
          ratio.push_back(tp / tb);  // bitsim's rate over CPFloat's
        }
        peer.destroy(options);
        const std::string bits = m.bitsim == Rounding::sr ? "(random words differ)"
                                 : std::to_string(differ) + (zero_sign ? " (+" + std::to_string(zero_sign) + " signs of zero)" : "");
        std::printf("| %s | %s | %s | %.3f | %.3f | %.2f | %.2f-%.2f | %s |\n", f.bitsim, m.name, spread ? "spread" : "normal",
                    bench::median(rb), bench::median(rp), bench::median(ratio), *std::min_element(ratio.begin(), ratio.end()),
                    *std::max_element(ratio.begin(), ratio.end()), bits.c_str());
        std::fflush(stdout);
      }
    }
  return 0;
}
