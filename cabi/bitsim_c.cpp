// The C interface of bitsim.h: thin wrappers over formats/ (golden arithmetic) and sim/ (dot products)
// that turn every C++ exception into a return value of -1 and a per-thread message.
#include "bitsim.h"

#include "hw/arith.hpp"
#include "hw/arith_fast.hpp"
#include "formats/golden.hpp"
#include "sim/kernels/gemm.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#define BITSIM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using namespace bitsim::formats;

struct ThreadState;  // below
ThreadState& thread_state();
std::string& last_error();

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
    last_error().clear();
    return 0;
  } catch (const std::exception& e) {
    last_error() = e.what();
  } catch (...) {
    last_error() = "unknown error";
  }
  return -1;
}

}  // namespace

// A prepared operation. make_arith admits only what FastArith covers (binary formats up to 64 bits,
// valid options); the operand sets it does not, FastArith::complete answers from the golden path.
struct bitsim_arith {
  FastArith fast;
  Format format;
  std::uint64_t operand_limit;  // codes must not exceed it

  bitsim_arith(Op o, const Format& f, const Format* t, const ArithOptions& opts)
      : fast(o, f, opts, t), format(f), operand_limit(f.width() >= 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << f.width()) - 1) {}

  void check_operands(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t element, bool batch) const {
    const int arity = op_arity(fast.op());
    const std::uint64_t x[3] = {a, b, c};
    for (int i = 0; i < arity; ++i)
      if (x[i] > operand_limit)
        throw ArithError(fmt::format("{}operand {} = {:#x} does not fit the {} bits of {}",
                                     batch ? fmt::format("element {}: ", element) : std::string(), "abc"[i], x[i],
                                     format.width(), format.name()));
  }

  // One operation on checked operands.
  void compute(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint32_t word, uint64_t* code, uint32_t* flags) const {
    const FastResult r = fast.complete(a, b, c, word);
    if (code) *code = r.code;
    if (flags) *flags = r.flags;
  }
};

namespace {

bitsim_arith* make_arith(const char* op, const char* format, const char* to, const char* options) {
  const auto o = parse_op(op ? op : "");
  if (!o) throw ArithError(fmt::format("unknown operation '{}'", op ? op : "NULL"));
  const Format& f = format_of(format);
  check_code_width(f, *o == Op::convert ? "source" : "the");
  const Format* t = nullptr;
  if (*o == Op::convert) {
    if (!to) throw ArithError("convert needs a destination format (to is NULL)");
    t = &format_of(to);
    check_code_width(*t, "destination");
    if (!t->is_binary()) throw ArithError(fmt::format("destination format {}: Graham formats have no arithmetic", t->name()));
  } else if (to) {
    throw ArithError(fmt::format("{} takes no destination format (to must be NULL)", op_name(*o)));
  }
  if (!f.is_binary()) throw ArithError(fmt::format("format {}: Graham formats have no arithmetic", f.name()));
  const ArithOptions& opts = options_of(options);
  if (opts.rounding.mode == Rounding::sr && (opts.rounding.sr_bits < 1 || opts.rounding.sr_bits > 32))
    throw ArithError(fmt::format("sr_bits must be 1..32, got {}", opts.rounding.sr_bits));
  if (!FastArith::supports(*o, f, opts, t))  // the checks above leave nothing it refuses
    throw std::logic_error(fmt::format("bitsim_arith_new: no fast path for {} on {}", op_name(*o), f.name()));
  return new bitsim_arith(*o, f, t, opts);
}

// The last prepared operations of this thread, by their strings (a test bench repeats the same few).
struct CachedArith {
  std::string op, format, to, options;
  std::unique_ptr<bitsim_arith> arith;

  bool matches(const char* o, const char* f, const char* t, const char* opts) const {
    // Inline rather than strcmp: the strings are short, and a call into libc costs what the rest does.
    auto same = [](const std::string& s, const char* c) {
      if (!c) return s.empty();
      const char* p = s.c_str();
      while (*p && *p == *c) ++p, ++c;
      return *p == *c;
    };
    return arith && same(op, o) && same(format, f) && same(to, t) && same(options, opts);
  }
};
// What a thread keeps between calls, in one thread-local object: a library loaded by a simulator
// (dlopen) reaches each thread-local through a call, so the per-call path reaches this one once.
struct ThreadState {
  ~ThreadState();
  std::string last_error;
  std::array<CachedArith, 8> ariths;
  std::size_t last = 0, next = 0;  // the entry found last; the entry to replace next

  // The cached operation for these strings, or null; the last one found is tried first.
  const bitsim_arith* find(const char* op, const char* format, const char* to, const char* options) {
    if (ariths[last].matches(op, format, to, options)) return ariths[last].arith.get();
    for (std::size_t i = 0; i < ariths.size(); ++i)
      if (ariths[i].matches(op, format, to, options)) {
        last = i;
        return ariths[i].arith.get();
      }
    return nullptr;
  }
};

// A plain pointer: reached without the initialisation check a thread-local object needs on every access.
thread_local ThreadState* thread_state_ptr = nullptr;

[[gnu::noinline]] ThreadState& new_thread_state() {
  thread_local std::unique_ptr<ThreadState> owner;  // frees the state when the thread ends
  owner = std::make_unique<ThreadState>();
  thread_state_ptr = owner.get();
  return *owner;
}

ThreadState& thread_state() {
  ThreadState* state = thread_state_ptr;
  return state ? *state : new_thread_state();
}
ThreadState::~ThreadState() { thread_state_ptr = nullptr; }
std::string& last_error() { return thread_state().last_error; }

const bitsim_arith& cached_arith(const char* op, const char* format, const char* to, const char* options) {
  ThreadState& t = thread_state();
  if (const bitsim_arith* found = t.find(op, format, to, options)) return *found;
  t.last = t.next++ % t.ariths.size();
  CachedArith& e = t.ariths[t.last];
  e.arith.reset(make_arith(op, format, to, options));
  e.op = op ? op : "";
  e.format = format ? format : "";
  e.to = to ? to : "";
  e.options = options ? options : "";
  return *e.arith;
}

// One operation of a prepared operation when its operands are in range and the fast path answers: the
// common case, outside the exception guard. False: the caller takes the guarded path.
bool answer_directly(ThreadState& t, const bitsim_arith* arith, uint64_t a, uint64_t b, uint64_t c, uint32_t word,
                     uint64_t* code, uint32_t* flags) {
  if (!arith) return false;
  const std::uint64_t limit = arith->operand_limit;
  if (a > limit || b > limit || c > limit) return false;
  const FastResult r = arith->fast(a, b, c, word);
  if (r.golden) return false;
  if (code) *code = r.code;
  if (flags) *flags = r.flags;
  t.last_error.clear();
  return true;
}

}  // namespace

BITSIM_EXPORT const char* bitsim_last_error(void) { return last_error().c_str(); }

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

namespace {

// The guarded paths of the per-call functions (a new operation, operands out of range, the golden path,
// errors), kept out of line so that the common case stays a short function.
[[gnu::noinline]] int op_guarded(const char* op, const char* format, const char* options, uint64_t a, uint64_t b,
                                 uint64_t c, uint32_t word, uint64_t* code, uint32_t* flags) {
  return guarded([&] {
    if (op && std::string_view(op) == "convert")
      throw ArithError("unknown operation 'convert' (convert has its own function, bitsim_convert)");
    const bitsim_arith& x = cached_arith(op, format, nullptr, options);
    x.check_operands(a, b, c, 0, false);
    x.compute(a, b, c, word, code, flags);
  });
}

[[gnu::noinline]] int convert_guarded(const char* from, const char* to, const char* options, uint64_t a, uint32_t word,
                                      uint64_t* code, uint32_t* flags) {
  return guarded([&] {
    if (!to) throw ArithError("destination format is NULL");
    const bitsim_arith& x = cached_arith("convert", from, to, options);
    x.check_operands(a, 0, 0, 0, false);
    x.compute(a, 0, 0, word, code, flags);
  });
}

[[gnu::noinline]] int arith_one_guarded(const bitsim_arith* arith, uint64_t a, uint64_t b, uint64_t c, uint32_t word,
                                        uint64_t* code, uint32_t* flags) {
  return guarded([&] {
    if (!arith) throw ArithError("the prepared operation is NULL");
    arith->check_operands(a, b, c, 0, false);
    arith->compute(a, b, c, word, code, flags);
  });
}

}  // namespace

BITSIM_EXPORT int bitsim_op(const char* op, const char* format, const char* options, uint64_t a, uint64_t b, uint64_t c,
                            uint32_t word, uint64_t* code, uint32_t* flags) {
  // A convert is never cached without its destination, so op_guarded still meets it.
  ThreadState& t = thread_state();
  if (answer_directly(t, t.find(op, format, nullptr, options), a, b, c, word, code, flags)) return 0;
  return op_guarded(op, format, options, a, b, c, word, code, flags);
}

BITSIM_EXPORT int bitsim_convert(const char* from, const char* to, const char* options, uint64_t a, uint32_t word,
                                 uint64_t* code, uint32_t* flags) {
  ThreadState& t = thread_state();
  if (to && answer_directly(t, t.find("convert", from, to, options), a, 0, 0, word, code, flags)) return 0;
  return convert_guarded(from, to, options, a, word, code, flags);
}

BITSIM_EXPORT bitsim_arith* bitsim_arith_new(const char* op, const char* format, const char* to, const char* options) {
  bitsim_arith* made = nullptr;
  guarded([&] { made = make_arith(op, format, to, options); });
  return made;
}

BITSIM_EXPORT void bitsim_arith_free(bitsim_arith* arith) { delete arith; }

BITSIM_EXPORT int bitsim_arith_one(const bitsim_arith* arith, uint64_t a, uint64_t b, uint64_t c, uint32_t word,
                                   uint64_t* code, uint32_t* flags) {
  if (answer_directly(thread_state(), arith, a, b, c, word, code, flags)) return 0;
  return arith_one_guarded(arith, a, b, c, word, code, flags);
}

BITSIM_EXPORT int bitsim_arith_array(const bitsim_arith* arith, uint64_t n, const uint64_t* a, const uint64_t* b,
                                     const uint64_t* c, const uint32_t* words, uint64_t* codes, uint8_t* flags) {
  return guarded([&] {
    if (!arith) throw ArithError("the prepared operation is NULL");
    const int arity = op_arity(arith->fast.op());
    if (n > 0 && (!a || (arity >= 2 && !b) || (arity >= 3 && !c) || !codes))
      throw ArithError(fmt::format("{} reads {} operand array(s) and writes codes: a NULL array was given",
                                   op_name(arith->fast.op()), arity));
    for (std::uint64_t i = 0; i < n; ++i) arith->check_operands(a[i], arity >= 2 ? b[i] : 0, arity >= 3 ? c[i] : 0, i, true);
    arith->fast.run(n, a, b, c, words, codes, flags);
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
    const std::string ord = order ? order : "sequential";
    if (ord.rfind("blocked:", 0) == 0) {
      cfg.order = bitsim::sim::AccOrder::blocked;
      const auto c = parse_int64(std::string_view(ord).substr(8));
      if (!c || *c < 1) throw bitsim::sim::GemmError(fmt::format("order '{}': the chunk must be an integer >= 1", ord));
      cfg.chunk = *c;
    } else if (ord == "blocked") {
      throw bitsim::sim::GemmError("order 'blocked': give the chunk as blocked:C");
    } else {
      bitsim::sim::parse_acc_order(ord, cfg);  // sequential, pairwise or aligned(...)
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
