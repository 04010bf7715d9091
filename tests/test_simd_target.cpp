// The SIMD kernels give the same bits on every target this CPU can run (AVX2 and AVX-512 on x86-64):
// each target in turn quantizes the same adversarial arrays in every format and mode, and runs the
// fp32 GEMM kernels on the same matrices (with infinities, NaN, signed zeros, subnormals and values
// that overflow), and every result is compared bit for bit with the scalar path and across targets.
// On a CPU with one target this still checks that target against the scalar path.
#include "format_corpus.hpp"

#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"
#include "formats/simd_target.hpp"
#include "sim/kernels/gemm_fp32_kernel.hpp"
#include "sim/kernels/matmul.hpp"
#include "sim/kernels/panel_gemm.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

using namespace bitsim;
using namespace bitsim::formats;

namespace {

// Restores the best target however the test ends.
struct TargetGuard {
  ~TargetGuard() { set_simd_target("best"); }
};

std::vector<std::uint32_t> float_bits(const std::vector<float>& v) {
  std::vector<std::uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
  return b;
}

// Everything the array kernels produce for one target, in a fixed order.
struct ArrayRun {
  std::vector<std::uint64_t> bits;  // values as bit patterns (float: widened), codes
  std::size_t scalar_mismatches = 0;
};

ArrayRun run_arrays() {
  ArrayRun run;
  std::mt19937 rng(11);
  std::vector<std::string> specs = test::small_formats();
  for (const auto& s : test::wide_formats()) specs.push_back(s);
  for (std::size_t si = 0; si < specs.size(); si += 3) {  // a third of the corpus: every family and option
    const Format f = parse_format(specs[si]);
    const std::vector<double> inputs = test::adversarial_inputs(f, 300, f.width() > 12 ? 97 : 3, 5);
    for (Rounding mode : test::modes_for(f)) {
      const Quantizer q(f, {mode, mode == Rounding::sr ? 13 : 32});
      std::vector<double> in_d;
      std::vector<float> in_f;
      std::vector<std::uint32_t> words;
      for (double x : inputs) {
        try {
          (void)q.quantize(x, 0);  // inputs the format takes (formats without NaN refuse NaN)
        } catch (const QuantizeError&) {
          continue;
        }
        in_d.push_back(x);
        words.push_back(static_cast<std::uint32_t>(rng()));
      }
      if (q.supports_double_arrays()) {
        std::vector<double> out(in_d.size());
        q.quantize(std::span<const double>(in_d), std::span<double>(out), words);
        for (std::size_t i = 0; i < out.size(); ++i) {
          run.bits.push_back(std::bit_cast<std::uint64_t>(out[i]));
          if (!test::same_double(out[i], q.quantize(in_d[i], words[i]).value)) ++run.scalar_mismatches;
        }
      }
      if (q.supports_float_arrays()) {
        in_f.clear();
        std::vector<std::uint32_t> wf;
        for (std::size_t i = 0; i < in_d.size(); ++i)
          if (std::isnan(in_d[i]) || static_cast<double>(static_cast<float>(in_d[i])) == in_d[i]) {
            in_f.push_back(static_cast<float>(in_d[i]));
            wf.push_back(words[i]);
          }
        std::vector<float> out(in_f.size());
        q.quantize(std::span<const float>(in_f), std::span<float>(out), wf);
        for (const std::uint32_t b : float_bits(out)) run.bits.push_back(b);
        std::vector<std::uint64_t> codes(in_f.size());
        try {
          q.encode(std::span<const float>(in_f), std::span<std::uint64_t>(codes), wf);
          for (const std::uint64_t c : codes) run.bits.push_back(c);
        } catch (const QuantizeError&) {
          run.bits.push_back(~0ull);  // inputs without a code (e.g. +-0 in a log format): the same on every target
        }
      }
    }
  }
  return run;
}

// Operands for the GEMM kernels: mostly ordinary values, with specials and extremes mixed in.
std::vector<float> gemm_operand(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const float specials[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(),
                            -1e-39f, 3e38f, -3e38f, 1e-20f};
  std::vector<float> v(n);
  for (auto& x : v) x = (rng() % 40 == 0) ? specials[rng() % 10] : normal(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 20) - 10);
  return v;
}

// C = A B with the fused k-ordered chain, element by element: the result every kernel must give.
std::vector<float> gemm_scalar(const std::vector<float>& a, const std::vector<float>& b, std::int64_t M, std::int64_t K,
                               std::int64_t N, const std::vector<float>* c0) {
  std::vector<float> c(static_cast<std::size_t>(M * N));
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      float s = c0 ? (*c0)[static_cast<std::size_t>(i * N + j)] : 0.0f;
      for (std::int64_t k = 0; k < K; ++k) s = std::fma(a[static_cast<std::size_t>(i * K + k)], b[static_cast<std::size_t>(k * N + j)], s);
      c[static_cast<std::size_t>(i * N + j)] = s;
    }
  return c;
}

std::size_t mismatches(const std::vector<float>& x, const std::vector<float>& y) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) bad += std::bit_cast<std::uint32_t>(x[i]) != std::bit_cast<std::uint32_t>(y[i]) &&
                                                    !(std::isnan(x[i]) && std::isnan(y[i]));
  return bad;
}

}  // namespace

TEST_CASE("simd targets: names, the current one, and a clear error for an unknown one", "[arrays][cpu]") {
  TargetGuard guard;
  const std::vector<std::string> targets = simd_targets();
  REQUIRE_FALSE(targets.empty());
  CHECK(simd_target() == targets.front());  // the best by default
  for (const auto& t : targets) {
    set_simd_target(t);
    CHECK(simd_target() == t);
  }
  set_simd_target("best");
  CHECK(simd_target() == targets.front());
  try {
    set_simd_target("avx9000");
    FAIL("no error");
  } catch (const SimdTargetError& e) {
    CHECK_THAT(e.what(), Catch::Contains("avx9000") && Catch::Contains(targets.front()));
  }
#if defined(__x86_64__)
  CHECK(std::find(targets.begin(), targets.end(), "avx2") != targets.end());  // the baseline is x86-64-v3
#endif
}

TEST_CASE("simd targets: the quantizer's array kernels give the same bits on every target", "[arrays][cpu]") {
  TargetGuard guard;
  std::vector<std::uint64_t> first;
  for (const auto& t : simd_targets()) {
    set_simd_target(t);
    INFO("target " << t);
    const ArrayRun run = run_arrays();
    CHECK(run.scalar_mismatches == 0);
    REQUIRE(run.bits.size() > 100000);
    if (first.empty()) first = run.bits;
    else CHECK(run.bits == first);
  }
}

TEST_CASE("simd targets: the fp32 GEMM kernels give the same bits on every target", "[gemm][cpu]") {
  TargetGuard guard;
  // Shapes that exercise full and cut tiles (rows not a multiple of the 6 or 8 rows of a tile, columns
  // not of 32, <= 16), K in several chunks (more than 128, and a chunk of 1 left over), rows in several
  // packed blocks (more than 128), A packed (3 or more column panels) and read in place (1 or 2), K = 0.
  const std::int64_t shapes[][3] = {{8, 9, 32},    {13, 27, 70},  {5, 64, 16}, {33, 100, 96}, {1, 1, 1},
                                    {17, 40, 45},  {150, 257, 100}, {200, 129, 64}, {7, 300, 20}, {3, 0, 40}};
  for (const auto& s : shapes) {
    const std::int64_t M = s[0], K = s[1], N = s[2];
    const std::vector<float> a = gemm_operand(static_cast<std::size_t>(M * K), 1), b = gemm_operand(static_cast<std::size_t>(K * N), 2),
                             c0 = gemm_operand(static_cast<std::size_t>(M * N), 3);
    const std::vector<float> want = gemm_scalar(a, b, M, K, N, nullptr), want_acc = gemm_scalar(a, b, M, K, N, &c0);
    for (const auto& t : simd_targets()) {
      set_simd_target(t);
      INFO("target " << t << ", M K N = " << M << " " << K << " " << N);
      sim::nn::Panels panels;
      sim::nn::pack_panels(b.data(), N, K, N, panels);
      std::vector<float> c(static_cast<std::size_t>(M * N));
      sim::nn::gemm_panels(a.data(), K, M, panels, c.data(), N, false);
      CHECK(mismatches(c, want) == 0);
      c = c0;
      sim::nn::gemm_panels(a.data(), K, M, panels, c.data(), N, true);
      CHECK(mismatches(c, want_acc) == 0);
      std::vector<const float*> arows(static_cast<std::size_t>(M));
      for (std::int64_t i = 0; i < M; ++i) arows[static_cast<std::size_t>(i)] = a.data() + i * K;
      c = c0;
      sim::nn::gemm_panels_arows(arows.data(), M, panels, c.data(), N, true);
      CHECK(mismatches(c, want_acc) == 0);
      // gemm_rows reads whole tiles of each B row: give every row 32 columns of slack.
      const std::int64_t ldb = N + 32;
      std::vector<float> bpad(static_cast<std::size_t>(K * ldb), 0.0f);
      std::vector<const float*> brows(static_cast<std::size_t>(K));
      for (std::int64_t k = 0; k < K; ++k) {
        std::copy(b.begin() + k * N, b.begin() + (k + 1) * N, bpad.begin() + k * ldb);
        brows[static_cast<std::size_t>(k)] = bpad.data() + k * ldb;
      }
      std::fill(c.begin(), c.end(), 1.0f);
      sim::nn::gemm_rows(a.data(), K, M, brows.data(), K, N, c.data(), N);
      CHECK(mismatches(c, want) == 0);
      const sim::PackedPanelsB packed = sim::pack_b_panels(b.data(), K, N);
      std::fill(c.begin(), c.end(), 1.0f);
      sim::gemm_fp32_sequential_rows(a.data(), b.data(), packed, c.data(), 0, M, K, N);
      CHECK(mismatches(c, want) == 0);
    }
  }
}

TEST_CASE("simd targets: a linear layer's product gives the same bits on every target and thread count", "[gemm][cpu]") {
  TargetGuard guard;
  // matmul splits the rows of C over threads (many rows) or its column panels (few rows, many panels);
  // the threads pack B's panels together either way. B is given as is or transposed.
  const std::int64_t shapes[][3] = {{200, 70, 40}, {20, 150, 300}, {9, 33, 17}};
  const sim::nn::GemmSetup setup;
  for (const auto& s : shapes) {
    const std::int64_t M = s[0], K = s[1], N = s[2];
    const std::vector<float> a = gemm_operand(static_cast<std::size_t>(M * K), 4), b = gemm_operand(static_cast<std::size_t>(K * N), 5);
    std::vector<float> bt(b.size());
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t j = 0; j < N; ++j) bt[static_cast<std::size_t>(j * K + k)] = b[static_cast<std::size_t>(k * N + j)];
    const std::vector<float> want = gemm_scalar(a, b, M, K, N, nullptr);
    for (const auto& t : simd_targets()) {
      set_simd_target(t);
      for (const int threads : {1, 2, 3}) {
        INFO("target " << t << ", threads " << threads << ", M K N = " << M << " " << K << " " << N);
        std::vector<float> c(static_cast<std::size_t>(M * N), 1.0f);
        sim::nn::matmul(setup, a.data(), b.data(), c.data(), M, K, N, threads);
        CHECK(mismatches(c, want) == 0);
        std::fill(c.begin(), c.end(), 1.0f);
        sim::nn::matmul(setup, a.data(), bt.data(), c.data(), M, K, N, threads, /*b_transposed=*/true);
        CHECK(mismatches(c, want) == 0);
      }
    }
  }
}

TEST_CASE("simd targets: Philox words in bulk equal the scalar generator on every target", "[sr][cpu]") {
  TargetGuard guard;
  // Offsets that start inside and at block boundaries, lengths with and without a partial tail, a
  // seed using both key words, and counters that carry into the high 32 bits.
  const std::uint64_t seeds[] = {0, 0x0123456789abcdefull};
  const std::uint64_t firsts[] = {0, 1, 3, 4, 4 * 0xffffffffull - 5};
  const std::size_t lengths[] = {1, 5, 64, 1001, 4099};
  for (const auto& t : simd_targets()) {
    set_simd_target(t);
    for (const std::uint64_t seed : seeds)
      for (const std::uint64_t first : firsts)
        for (const std::size_t n : lengths) {
          const PhiloxWords rng(seed);
          std::vector<std::uint32_t> bulk(n);
          rng.fill(first, bulk);
          std::size_t bad = 0;
          for (std::size_t i = 0; i < n; ++i) bad += bulk[i] != rng.word(first + i);
          INFO("target " << t << ", seed " << seed << ", first " << first << ", n " << n);
          CHECK(bad == 0);
        }
  }
}

TEST_CASE("simd targets: stochastic rounding with Philox words gives the per-element result on every target", "[sr][cpu]") {
  // The array loops generate the words chunk by chunk next to the rounding: lengths around the chunk
  // size (256 words), starts inside a block and counters that carry into the high word, float and
  // double arrays, float and fixed formats with subnormals and overflow, against the scalar quantizer
  // with rng.word(first + i).
  TargetGuard guard;
  const std::uint64_t firsts[] = {0, 1, 3, 13, 4 * 0xffffffffull - 7};
  const std::size_t lengths[] = {1, 7, 255, 256, 257, 1029};
  const char* specs[] = {"fp8_e4m3", "fp8_e5m2", "bf16", "fp16", "int8", "fixed(i=3,f=4)", "fixed(i=2,f=5,overflow=wrap)"};
  std::mt19937 gen(5);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> pool(1029);
  for (double& x : pool) x = static_cast<double>(static_cast<float>(nd(gen) * std::ldexp(1.0, static_cast<int>(gen() % 24) - 14)));
  for (const auto& t : simd_targets()) {
    set_simd_target(t);
    for (const char* spec : specs) {
      const Quantizer q(parse_format(spec), {Rounding::sr, 32});
      const PhiloxWords rng(0x0123456789abcdefull);
      for (const std::uint64_t first : firsts)
        for (const std::size_t n : lengths) {
          std::vector<double> in_d(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(n)), out_d(n);
          std::vector<float> in_f(in_d.begin(), in_d.end()), out_f(n);
          q.quantize(std::span<const double>(in_d), std::span<double>(out_d), rng, first);
          q.quantize(std::span<const float>(in_f), std::span<float>(out_f), rng, first);
          std::size_t bad = 0;
          for (std::size_t i = 0; i < n; ++i) {
            const double want = q.quantize(in_d[i], rng.word(first + i)).value;
            bad += !test::same_double(out_d[i], want) + !test::same_double(static_cast<double>(out_f[i]), want);
          }
          INFO("target " << t << ", format " << spec << ", first " << first << ", n " << n);
          CHECK(bad == 0);
        }
    }
    // A bad element is named by its index in the array, whichever chunk it falls in.
    const Quantizer int8(parse_format("int8"), {Rounding::sr, 32});
    std::vector<float> in(700, 1.25f), out(700);
    in[600] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(int8.quantize(std::span<const float>(in), std::span<float>(out), PhiloxWords(1), 3),
                        Catch::Contains("element 600"));
  }
}

TEST_CASE("simd targets: float bit patterns at the edges round as the scalar path does, in every mode", "[arrays][cpu]") {
  // The lane kernels' shortcuts (an add and a mask on the bit pattern; for bf16 and tf32 on every finite
  // input) meet NaNs whose payload carries into the sign bit, infinities, the largest floats, float
  // subnormals and zeros of both signs, and the neighbours of each format's largest finite.
  TargetGuard guard;
  std::vector<std::uint32_t> patterns = {0x7F800001u, 0x7FBFFFFFu, 0x7FC00000u, 0x7FFFFFFFu, 0xFFFFFFFFu, 0xFF800001u,
                                         0x7F800000u, 0xFF800000u, 0x7F7FFFFFu, 0xFF7FFFFFu, 0x00000000u, 0x80000000u,
                                         0x00000001u, 0x80000001u, 0x007FFFFFu, 0x807FFFFFu, 0x00800000u, 0x00400000u,
                                         0x3F800000u, 0xBF800001u};
  const char* specs[] = {"bf16", "tf32", "fp16", "fp8_e4m3", "fp8_e5m2", "float(e=8,m=3,overflow=saturate)"};
  std::mt19937 gen(9);
  for (const char* spec : specs) {
    const Format f = parse_format(spec);
    std::vector<std::uint32_t> bits = patterns;
    for (const std::uint32_t p : patterns) bits.push_back(p ^ 0x00000100u);  // near the dropped bits' half
    // The largest finite and its neighbours in float, both signs.
    const float mx = static_cast<float>(Quantizer(f).quantize(1e300).value);
    for (int d = -3; d <= 3; ++d) {
      const std::uint32_t b = std::bit_cast<std::uint32_t>(mx) + static_cast<std::uint32_t>(d * 0x1000);
      bits.push_back(b);
      bits.push_back(b | 0x80000000u);
    }
    while (bits.size() % 64 != 0) bits.push_back(static_cast<std::uint32_t>(gen()));  // whole vectors on every target
    std::vector<float> in(bits.size());
    std::memcpy(in.data(), bits.data(), bits.size() * 4);
    std::vector<std::uint32_t> words(in.size());
    for (auto& w : words) w = static_cast<std::uint32_t>(gen());
    for (const Rounding mode : {Rounding::rne, Rounding::rna, Rounding::rtz, Rounding::rup, Rounding::rdn, Rounding::sr}) {
      const Quantizer q(f, {mode, mode == Rounding::sr ? 11 : 32});
      std::vector<float> want(in.size());
      for (std::size_t i = 0; i < in.size(); ++i) want[i] = static_cast<float>(q.quantize(static_cast<double>(in[i]), words[i]).value);
      for (const auto& t : simd_targets()) {
        set_simd_target(t);
        std::vector<float> out(in.size());
        q.quantize(std::span<const float>(in), std::span<float>(out), words);
        INFO("format " << spec << ", mode " << static_cast<int>(mode) << ", target " << t);
        CHECK(mismatches(out, want) == 0);
      }
    }
  }
}
