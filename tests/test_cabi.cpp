// The C interface (cabi/bitsim.h) as a test bench calls it: results equal the C++ golden path, errors
// return -1 with a message and leave outputs untouched.
#include "bitsim.h"

#include "hw/arith.hpp"
#include "formats/golden.hpp"
#include "sim/kernels/gemm.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace bitsim::formats;

TEST_CASE("cabi: formats by name", "[cabi]") {
  CHECK(bitsim_format_width("fp8_e4m3") == 8);
  CHECK(bitsim_format_width("fixed(i=3,f=4)") == 8);
  char buf[64];
  CHECK(bitsim_format_canonical("fp8_e4m3", buf, sizeof buf) == 25);
  CHECK(std::string(buf) == "float(e=4,m=3,special=fn)");
  char small[6];
  CHECK(bitsim_format_canonical("fp8_e4m3", small, sizeof small) == 25);
  CHECK(std::string(small) == "float");
  CHECK(bitsim_format_width("float(e=4)") == -1);
  CHECK(std::string(bitsim_last_error()).find("'m'") != std::string::npos);
}

TEST_CASE("cabi: quantize, decode, op and convert equal the C++ golden path", "[cabi]") {
  std::uint64_t code = 0;
  std::uint32_t flags = 0;
  double value = 0;
  REQUIRE(bitsim_quantize("fp8_e4m3", 300.0, "", 0, &code, &value, &flags) == 0);
  CHECK(code == 0x79);  // 288 = 1.125 * 2^8
  CHECK(value == 288.0);
  CHECK(flags == flag::inexact);
  REQUIRE(bitsim_quantize("fp8_e4m3", 300.0, "rounding=rup", 0, &code, &value, &flags) == 0);
  CHECK(value == 320.0);
  REQUIRE(bitsim_decode("fp16", 0x3C01, &value) == 0);
  CHECK(value == 1.0 + std::ldexp(1.0, -10));

  std::mt19937_64 rng(5);
  const Format f = parse_format("fp8_e5m2");
  for (const char* op : {"add", "sub", "mul", "div", "fma", "sqrt", "min", "max", "eq", "lt", "le"}) {
    for (int i = 0; i < 300; ++i) {
      const std::uint64_t a = rng() & 0xFF, b = rng() & 0xFF, c = rng() & 0xFF;
      REQUIRE(bitsim_op(op, "fp8_e5m2", "rounding=rtz nan=x86", a, b, c, 0, &code, &flags) == 0);
      const Op o = *parse_op(op);
      std::vector<BigInt> operands{BigInt(a), BigInt(b), BigInt(c)};
      operands.resize(op_arity(o));
      const ArithResult want = arith_golden(o, f, operands, parse_arith_options("rounding=rtz nan=x86"));
      CHECK(BigInt(code) == want.code);
      CHECK(flags == want.flags);
    }
  }
  REQUIRE(bitsim_convert("fp32", "int8", "nan=x86", 0x43800000, 0, &code, &flags) == 0);
  CHECK(code == 0x80);
  CHECK(flags == flag::invalid);
}

TEST_CASE("cabi: errors return -1, name the problem and leave the outputs alone", "[cabi]") {
  std::uint64_t code = 12345;
  std::uint32_t flags = 77;
  CHECK(bitsim_op("mul", "fp8_e4m3", "", 0x100, 0, 0, 0, &code, &flags) == -1);
  CHECK(std::string(bitsim_last_error()).find("does not fit") != std::string::npos);
  CHECK(bitsim_op("frobnicate", "fp8_e4m3", "", 0, 0, 0, 0, &code, &flags) == -1);
  CHECK(std::string(bitsim_last_error()).find("frobnicate") != std::string::npos);
  CHECK(bitsim_op("add", "fp8_e4m3", "rounding=fast", 0, 0, 0, 0, &code, &flags) == -1);
  CHECK(std::string(bitsim_last_error()).find("rounding=fast") != std::string::npos);
  CHECK(bitsim_op("add", "float(e=15,m=112)", "", 0, 0, 0, 0, &code, &flags) == -1);
  CHECK(std::string(bitsim_last_error()).find("64 bits") != std::string::npos);
  CHECK(bitsim_quantize("int8", std::nan(""), "", 0, &code, nullptr, &flags) == -1);
  CHECK(code == 12345);
  CHECK(flags == 77);
  CHECK(bitsim_op("add", "fp16", nullptr, 0x3C00, 0x3C00, 0, 0, &code, nullptr) == 0);  // NULL outputs skipped
  CHECK(code == 0x4000);
  CHECK(std::string(bitsim_last_error()).empty());
}

TEST_CASE("cabi: each thread keeps its own cache of operations and its own last error", "[cabi]") {
  // Four threads, each cycling through more operation strings than a thread's cache holds (8), some
  // of them failing: every result equals the golden path and every error message is the thread's own.
  const std::vector<std::pair<const char*, const char*>> ops = {
      {"add", "fp16"}, {"mul", "fp16"}, {"div", "bf16"}, {"sub", "fp8_e4m3"}, {"fma", "fp8_e5m2"},
      {"mul", "fp32"}, {"sqrt", "fp16"}, {"add", "int8"}, {"max", "bf16"}, {"mul", "fixed(i=3,f=4)"}};
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      for (int i = 0; i < 3000; ++i) {
        const auto& [op, format] = ops[static_cast<std::size_t>(i + t) % ops.size()];
        const Format f = parse_format(format);
        const std::uint64_t mask = (std::uint64_t(1) << f.width()) - 1;
        const std::uint64_t a = rng() & mask, b = rng() & mask, c = rng() & mask;
        const char* options = (i / 7) % 2 ? "rounding=rtz" : nullptr;  // each operation under both
        if (i % 97 == 0) {  // a failing call: its message, on this thread only
          const std::string bad = "frobnicate" + std::to_string(t);
          if (bitsim_op(bad.c_str(), format, options, a, b, c, 0, nullptr, nullptr) != -1 ||
              std::string(bitsim_last_error()).find(bad) == std::string::npos)
            ++wrong[static_cast<std::size_t>(t)];
          continue;
        }
        std::uint64_t code = 0;
        std::uint32_t flags = 0;
        const int rc = bitsim_op(op, format, options, a, b, c, 0, &code, &flags);
        std::vector<BigInt> operands{BigInt(a), BigInt(b), BigInt(c)};
        operands.resize(static_cast<std::size_t>(op_arity(*parse_op(op))));
        const ArithResult g = arith_golden(*parse_op(op), f, operands, parse_arith_options(options ? options : ""), 0);
        if (rc != 0 || BigInt(code) != g.code || flags != g.flags || !std::string(bitsim_last_error()).empty())
          ++wrong[static_cast<std::size_t>(t)];
      }
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < 4; ++t) CHECK(wrong[static_cast<std::size_t>(t)] == 0);
}

TEST_CASE("cabi: prepared operations, one at a time and in batches, equal the golden path", "[cabi]") {
  std::mt19937_64 rng(6);
  struct Case {
    const char* op;
    const char* format;
    const char* to;
    const char* options;
  };
  // Formats on the fast path, one beyond it (a wrapping fixed quotient far out of range needs the
  // golden path per element) and the prepared conversion.
  for (const Case& k : {Case{"fma", "fp16", nullptr, "rounding=sr sr_bits=5 nan=arm"}, Case{"div", "fp32", nullptr, "ftz daz"},
                        Case{"sqrt", "bf16", nullptr, "rounding=rup"}, Case{"lt", "fp8_e4m3", nullptr, ""},
                        Case{"div", "fixed(i=10,f=53,overflow=wrap)", nullptr, "rounding=sr"},
                        Case{"convert", "fp32", "fp8_e5m2", "rounding=rna nan=x86"}}) {
    INFO(k.op << " " << k.format);
    bitsim_arith* prepared = bitsim_arith_new(k.op, k.format, k.to, k.options);
    REQUIRE(prepared != nullptr);
    const Format f = parse_format(k.format);
    const std::optional<Format> to = k.to ? std::optional<Format>(parse_format(k.to)) : std::nullopt;
    const Op o = *parse_op(k.op);
    const ArithOptions options = parse_arith_options(k.options);
    const std::uint64_t mask = f.width() >= 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << f.width()) - 1;
    constexpr int n = 500;
    std::vector<std::uint64_t> a(n), b(n), c(n), codes(n);
    std::vector<std::uint32_t> words(n);
    std::vector<std::uint8_t> flags(n);
    for (int i = 0; i < n; ++i) {
      a[i] = rng() & mask;
      b[i] = (i % 3 == 0) ? (mask >> 60) + (rng() & 7) : rng() & mask;  // small divisors: far out of range
      c[i] = rng() & mask;
      words[i] = static_cast<std::uint32_t>(rng());
    }
    REQUIRE(bitsim_arith_array(prepared, n, a.data(), b.data(), c.data(), words.data(), codes.data(), flags.data()) == 0);
    for (int i = 0; i < n; ++i) {
      std::vector<BigInt> operands{BigInt(a[i]), BigInt(b[i]), BigInt(c[i])};
      operands.resize(op_arity(o));
      const ArithResult want = arith_golden(o, f, operands, options, words[i], to ? &*to : nullptr);
      std::uint64_t one_code = 0;
      std::uint32_t one_flags = 0;
      REQUIRE(bitsim_arith_one(prepared, a[i], b[i], c[i], words[i], &one_code, &one_flags) == 0);
      std::uint64_t op_code = 0;
      std::uint32_t op_flags = 0;
      const int rc = o == Op::convert ? bitsim_convert(k.format, k.to, k.options, a[i], words[i], &op_code, &op_flags)
                                      : bitsim_op(k.op, k.format, k.options, a[i], b[i], c[i], words[i], &op_code, &op_flags);
      REQUIRE(rc == 0);
      CHECK(BigInt(codes[i]) == want.code);
      CHECK(flags[i] == want.flags);
      CHECK(one_code == codes[i]);
      CHECK(one_flags == flags[i]);
      CHECK(op_code == codes[i]);
      CHECK(op_flags == flags[i]);
    }
    bitsim_arith_free(prepared);
  }
}

TEST_CASE("cabi: prepared operations refuse bad input with a message", "[cabi]") {
  CHECK(bitsim_arith_new("frobnicate", "fp16", nullptr, "") == nullptr);
  CHECK(std::string(bitsim_last_error()).find("frobnicate") != std::string::npos);
  CHECK(bitsim_arith_new("convert", "fp16", nullptr, "") == nullptr);
  CHECK(std::string(bitsim_last_error()).find("destination") != std::string::npos);
  CHECK(bitsim_arith_new("add", "fp16", "fp32", "") == nullptr);
  CHECK(bitsim_arith_new("add", "graham_L4", nullptr, "") == nullptr);
  CHECK(bitsim_arith_new("add", "fp16", nullptr, "rounding=sr sr_bits=40") == nullptr);
  CHECK(std::string(bitsim_last_error()).find("sr_bits") != std::string::npos);
  bitsim_arith* add = bitsim_arith_new("add", "fp8_e4m3", nullptr, "");
  REQUIRE(add != nullptr);
  std::uint64_t code = 12345;
  std::uint32_t flags = 77;
  CHECK(bitsim_arith_one(add, 0x38, 0x1FF, 0, 0, &code, &flags) == -1);
  CHECK(std::string(bitsim_last_error()).find("operand b") != std::string::npos);
  CHECK(code == 12345);
  CHECK(bitsim_arith_one(nullptr, 0, 0, 0, 0, &code, &flags) == -1);
  const std::uint64_t a[3] = {0x38, 0x38, 0x38}, b[3] = {0x38, 0x100, 0x38};
  std::uint64_t codes[3] = {7, 7, 7};
  CHECK(bitsim_arith_array(add, 3, a, b, nullptr, nullptr, codes, nullptr) == -1);
  CHECK(std::string(bitsim_last_error()).find("element 1") != std::string::npos);
  CHECK(codes[0] == 7);  // nothing written
  CHECK(bitsim_arith_array(add, 3, a, nullptr, nullptr, nullptr, codes, nullptr) == -1);
  CHECK(bitsim_arith_array(add, 1, a, b, nullptr, nullptr, codes, nullptr) == 0);
  CHECK(codes[0] == 0x40);  // 1 + 1 = 2
  CHECK(std::string(bitsim_last_error()).empty());
  bitsim_arith_free(add);
}

TEST_CASE("cabi: dot products equal sim::gemm with the same accumulator", "[cabi]") {
  std::mt19937_64 rng(9);
  const Format a_format = parse_format("fp8_e4m3");
  for (const char* order : {"sequential", "pairwise", "blocked:4", "aligned(group=4,width=9,lead=exponents)",
                            "aligned(group=3,width=6,beyond=sticky,acc=separate,groups=pairwise)"}) {
    std::vector<std::uint64_t> a(16), b(16);
    bitsim::sim::Matrix am(1, 16), bm(16, 1);
    for (int i = 0; i < 16; ++i) {
      do a[i] = rng() & 0xFF; while ((a[i] & 0x7F) == 0x7F);  // no NaN
      do b[i] = rng() & 0xFF; while ((b[i] & 0x7F) == 0x7F);
      am.data[i] = golden_decode(a_format, BigInt(a[i])).value;
      bm.data[i] = golden_decode(a_format, BigInt(b[i])).value;
    }
    std::uint64_t code = 0;
    const int rc = bitsim_dot("fp8_e4m3", "fp8_e4m3", "exact", "fp16", order, "bf16", "rne", a.data(), b.data(), 16, &code);
    INFO(order << ": " << bitsim_last_error());
    REQUIRE(rc == 0);
    bitsim::sim::GemmConfig cfg;
    cfg.a_format = cfg.b_format = a_format;
    cfg.acc = parse_format("fp16");
    cfg.out_format = parse_format("bf16");
    if (std::string(order) == "blocked:4") {
      cfg.order = bitsim::sim::AccOrder::blocked;
      cfg.chunk = 4;
    } else {
      bitsim::sim::parse_acc_order(order, cfg);
    }
    const auto want = bitsim::sim::gemm_reference(cfg, am, bm);
    CHECK(code == want.codes.at(0));
  }
  std::uint64_t code = 0;
  const std::uint64_t one = 0x38;
  CHECK(bitsim_dot("fp8_e4m3", "fp8_e4m3", "exact", "fp16", "diagonal", "bf16", "rne", &one, &one, 1, &code) == -1);
  CHECK(std::string(bitsim_last_error()).find("diagonal") != std::string::npos);
  CHECK(bitsim_dot("fp8_e4m3", "fp8_e4m3", "exact", "fp16", "aligned(group=4)", "bf16", "rne", &one, &one, 1, &code) == -1);
  CHECK(std::string(bitsim_last_error()).find("missing required key 'width'") != std::string::npos);
  CHECK(bitsim_dot("fp8_e4m3", "fp8_e4m3", "exact", "fp16", "sequential", "bf16", "rne", &one, &one, 0, &code) == -1);
}
