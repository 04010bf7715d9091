// The C interface of bitsim.h: thin wrappers over formats/ (golden arithmetic) and sim/ (dot products)
// that turn every C++ exception into a return value of -1 and a per-thread message.
#include "bitsim.h"

#include "hw/arith.hpp"
#include "formats/golden.hpp"
#include "sim/kernels/gemm.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#define BITSIM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using namespace bitsim::formats;

thread_local std::string last_error;

// Formats are parsed once per distinct string: a test bench calls with the same string millions of times.
const Format& format_of(const char* name) {
  static std::mutex mu;
  static std::map<std::string, Format, std::less<>> cache;
  if (!name) throw FormatError("format is NULL");
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(std::string_view(name));
  if (it == cache.end()) it = cache.emplace(name, parse_format(name)).first;
  return it->second;  // std::map nodes are stable
}

const ArithOptions& options_of(const char* text) {
  static std::mutex mu;
  static std::map<std::string, ArithOptions, std::less<>> cache;
  std::string_view key = text ? std::string_view(text) : std::string_view();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(std::string(key), parse_arith_options(key)).first;
  return it->second;
}

void check_code_width(const Format& f, const char* what) {
  if (f.width() > 64)
    throw ArithError(fmt::format("{} format {} is {} bits wide; the C interface takes codes of at most 64 bits", what,
                                 f.name(), f.width()));
}

std::uint64_t to_u64(const BigInt& v) { return static_cast<std::uint64_t>(v); }

template <class F>
int guarded(F&& body) {
  try {
    body();
    last_error.clear();
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown error";
  }
  return -1;
}

}  // namespace

BITSIM_EXPORT const char* bitsim_last_error(void) { return last_error.c_str(); }

BITSIM_EXPORT int bitsim_format_width(const char* format) {
  int width = -1;
  guarded([&] { width = format_of(format).width(); });
  return width;
}

BITSIM_EXPORT int bitsim_format_canonical(const char* format, char* buf, int size) {
  int length = -1;
  guarded([&] {
    const std::string s = format_of(format).to_string();
    if (buf && size > 0) {
      const std::size_t n = std::min<std::size_t>(s.size(), static_cast<std::size_t>(size - 1));
      std::memcpy(buf, s.data(), n);
      buf[n] = '\0';
    }
    length = static_cast<int>(s.size());
  });
  return length;
}

BITSIM_EXPORT int bitsim_quantize(const char* format, double x, const char* options, uint32_t word, uint64_t* code,
                                  double* value, uint32_t* flags) {
  return guarded([&] {
    const Format& f = format_of(format);
    check_code_width(f, "the");
    const GoldenResult g = golden_quantize(f, x, options_of(options).rounding, word);
    if (!g.code) throw QuantizeError(fmt::format("{} has no code for {} (Graham formats' +-0)", f.name(), x));
    if (code) *code = to_u64(*g.code);
    if (value) *value = g.value;
    if (flags) *flags = g.flags;
  });
}

BITSIM_EXPORT int bitsim_decode(const char* format, uint64_t code, double* value) {
  return guarded([&] {
    const Format& f = format_of(format);
    check_code_width(f, "the");
    const GoldenResult g = golden_decode(f, BigInt(code));
    if (value) *value = g.value;
  });
}

BITSIM_EXPORT int bitsim_op(const char* op, const char* format, const char* options, uint64_t a, uint64_t b, uint64_t c,
                            uint32_t word, uint64_t* code, uint32_t* flags) {
  return guarded([&] {
    const auto o = parse_op(op ? op : "");
    if (!o || *o == Op::convert)
      throw ArithError(fmt::format("unknown operation '{}' (convert has its own function, bitsim_convert)", op ? op : "NULL"));
    const Format& f = format_of(format);
    check_code_width(f, "the");
    std::vector<BigInt> operands{BigInt(a), BigInt(b), BigInt(c)};
    operands.resize(static_cast<std::size_t>(op_arity(*o)));
    const ArithResult r = arith(*o, f, operands, options_of(options), word);
    if (code) *code = to_u64(r.code);
    if (flags) *flags = r.flags;
  });
}

BITSIM_EXPORT int bitsim_convert(const char* from, const char* to, const char* options, uint64_t a, uint32_t word,
                                 uint64_t* code, uint32_t* flags) {
  return guarded([&] {
    const Format& f = format_of(from);
    const Format& t = format_of(to);
    check_code_width(f, "source");
    check_code_width(t, "destination");
    const ArithResult r = arith(Op::convert, f, {BigInt(a)}, options_of(options), word, &t);
    if (code) *code = to_u64(r.code);
    if (flags) *flags = r.flags;
  });
}

BITSIM_EXPORT int bitsim_dot(const char* a_format, const char* b_format, const char* product, const char* acc,
                             const char* order, const char* out_format, const char* rounding, const uint64_t* a,
                             const uint64_t* b, int k, uint64_t* code) {
  return guarded([&] {
    if (k < 1) throw bitsim::sim::GemmError(fmt::format("k = {}: a dot product needs k >= 1", k));
    if (!a || !b) throw bitsim::sim::GemmError("a or b is NULL");
    bitsim::sim::GemmConfig cfg;
    cfg.a_format = format_of(a_format);
    cfg.b_format = format_of(b_format);
    cfg.out_format = format_of(out_format);
    check_code_width(cfg.out_format, "output");
    const std::string_view prod = product ? product : "exact";
    if (prod != "exact") cfg.product = format_of(product);
    const std::string_view accumulator = acc ? acc : "exact";
    if (accumulator != "exact") cfg.acc = format_of(acc);
    const std::string_view ord = order ? order : "sequential";
    if (ord == "sequential") cfg.order = bitsim::sim::AccOrder::sequential;
    else if (ord == "pairwise") cfg.order = bitsim::sim::AccOrder::pairwise;
    else if (ord.rfind("blocked:", 0) == 0) {
      cfg.order = bitsim::sim::AccOrder::blocked;
      const auto c = parse_int64(ord.substr(8));
      if (!c || *c < 1) throw bitsim::sim::GemmError(fmt::format("order '{}': the chunk must be an integer >= 1", ord));
      cfg.chunk = *c;
    } else {
      throw bitsim::sim::GemmError(fmt::format("order '{}': expected sequential, pairwise or blocked:C", ord));
    }
    const auto mode = parse_rounding(rounding ? rounding : "rne");
    if (!mode) throw bitsim::sim::GemmError(fmt::format("rounding '{}': expected rne, rna, rtz, rup or rdn", rounding));
    cfg.rounding = *mode;
    bitsim::sim::validate(cfg);
    // Operands enter the GEMM as doubles; each code's value must be one exactly (formats up to binary64).
    auto values = [&](const Format& f, const uint64_t* codes, std::int64_t rows, std::int64_t cols, const char* which) {
      check_code_width(f, which);
      bitsim::sim::Matrix m(rows, cols);
      for (int i = 0; i < k; ++i) {
        const GoldenResult g = golden_decode(f, BigInt(codes[i]));
        if (g.kind == ValueKind::finite && g.exact && rational_from_double(std::fabs(g.value)) != *g.exact)
          throw ArithError(fmt::format("{}[{}]: the value of code {:#x} is not a double", which, i, codes[i]));
        m.data[static_cast<std::size_t>(i)] = g.value;
      }
      return m;
    };
    const bitsim::sim::Matrix am = values(cfg.a_format, a, 1, k, "a");
    const bitsim::sim::Matrix bm = values(cfg.b_format, b, k, 1, "b");
    const bitsim::sim::GemmResult r = bitsim::sim::gemm(cfg, am, bm, 1, true);
    if (code) *code = r.codes.at(0);
  });
}
