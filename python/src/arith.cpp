// bitsim.op: the golden arithmetic of hw/ over numpy arrays of operand codes, for test benches (cocotb):
// the prepared fast path (FastArith::run, the same as the C interface's bitsim_arith_array) where it
// covers the format, else hw::arith per element. Element i takes Philox word i of the seed under sr, as
// `bitsim op` and `bitsim vectors` do.
#include "python/src/common.hpp"

#include "hw/arith.hpp"
#include "hw/arith_fast.hpp"
#include "sim/runtime/task_split.hpp"

#include <fmt/format.h>

#include <span>
#include <vector>

namespace bitsim::python {

namespace {

using namespace bitsim::formats;
using Codes = py::array_t<std::uint64_t, py::array::c_style>;

ArithOptions options_of(Rounding mode, const RandomWords& random, const std::string& tininess, const std::string& nan,
                        bool daz, bool ftz, bool notexact) {
  ArithOptions o;
  o.rounding = {mode, random.sr_bits()};
  const auto t = parse_tininess(tininess);
  if (!t) bad_argument("tininess", fmt::format("'{}': expected 'after' or 'before'", tininess));
  o.tininess = *t;
  const auto p = parse_nan_policy(nan);
  if (!p) bad_argument("nan", fmt::format("'{}': expected canonical, riscv, x86 or arm", nan));
  o.nan = *p;
  o.daz = daz;
  o.ftz = ftz;
  o.notexact = notexact;
  return o;
}

py::tuple run_op(const std::string& name, const Codes& a, const std::optional<Codes>& b, const std::optional<Codes>& c,
                 const py::handle& fmt_arg, const py::object& to_arg, const std::string& rounding, std::optional<int> sr_bits,
                 const std::string& tininess, const std::string& nan, bool daz, bool ftz, bool notexact,
                 std::optional<std::uint64_t> seed, const py::object& random_words, int threads) {
  const auto op = parse_op(name);
  if (!op) bad_argument("name", fmt::format("unknown operation '{}' (add, sub, mul, div, fma, sqrt, min, max, eq, lt, le, "
                                            "eq_signaling, lt_quiet, le_quiet, convert)", name));
  const Format format = format_argument(fmt_arg, "fmt");
  std::optional<Format> to;
  if (*op == Op::convert) {
    if (to_arg.is_none()) bad_argument("to", "convert needs the result format (to=...)");
    to = format_argument(to_arg, "to");
  } else if (!to_arg.is_none()) {
    bad_argument("to", fmt::format("applies only to convert (the operation is {})", name));
  }
  const int arity = op_arity(*op);
  const int given = 1 + (b ? 1 : 0) + (c ? 1 : 0);
  if (given != arity) bad_argument("operands", fmt::format("{} takes {} operand{}, {} given", name, arity, arity == 1 ? "" : "s", given));
  const std::int64_t n = a.size();
  if ((b && b->size() != n) || (c && c->size() != n)) bad_argument("operands", "the operand arrays differ in size");
  const int in_width = format.width();
  const Format& result_format = to ? *to : format;
  const int out_width = op_is_compare(*op) ? 1 : result_format.width();
  if (in_width > 64 || out_width > 64)
    throw ArithError(fmt::format("{}: codes wider than 64 bits do not fit numpy integers", in_width > 64 ? format.name() : result_format.name()));
  if (!format.is_binary()) throw ArithError(fmt::format("{} is not an arithmetic format (Graham formats have no operations)", format.name()));
  const Rounding mode = rounding_argument(rounding, "rounding");
  const RandomWords random(mode, rounding, sr_bits, seed, random_words, n);
  const ArithOptions options = options_of(mode, random, tininess, nan, daz, ftz, notexact);
  // Operand codes must fit the format's width.
  const std::uint64_t limit = in_width >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << in_width) - 1;
  const Codes* operands[3] = {&a, b ? &*b : nullptr, c ? &*c : nullptr};
  for (int k = 0; k < arity; ++k)
    for (std::int64_t i = 0; i < n; ++i)
      if (operands[k]->data()[i] > limit)
        throw ArithError(fmt::format("element {}: operand {} = {:#x} does not fit the {} bits of {}", i, "abc"[k],
                                     operands[k]->data()[i], in_width, format.name()),
                         ErrorSite::at_element(i));
  std::vector<std::uint64_t> codes(static_cast<std::size_t>(n));
  py::array_t<std::uint8_t> flags(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
  std::uint8_t* flag_out = flags.mutable_data();
  const Format* to_ptr = to ? &*to : nullptr;
  const bool fast = FastArith::supports(*op, format, options, to_ptr);
  std::optional<FastArith> prepared;
  if (fast) prepared.emplace(*op, format, options, to_ptr);
  {
    py::gil_scoped_release release;
    sim::detail::run_blocks(n, blocks_for(n, threads_argument(threads)), [&](std::int64_t begin, std::int64_t end) {
      constexpr std::int64_t kChunk = 4096;
      std::vector<std::uint32_t> chunk_words(random.sr() ? kChunk : 0);
      for (std::int64_t s = begin; s < end; s += kChunk) {
        const std::int64_t len = std::min(kChunk, end - s);
        const std::uint32_t* w = random.given(s);  // null under Philox (and when not sr)
        if (random.sr() && !w) {
          random.fill(s, std::span(chunk_words.data(), static_cast<std::size_t>(len)));
          w = chunk_words.data();
        }
        if (fast) {
          prepared->run(static_cast<std::size_t>(len), a.data() + s, b ? b->data() + s : nullptr, c ? c->data() + s : nullptr, w,
                        codes.data() + s, flag_out + s);
          continue;
        }
        for (std::int64_t i = s; i < s + len; ++i) {
          std::vector<BigInt> ops;
          for (int k = 0; k < arity; ++k) ops.emplace_back(operands[k]->data()[i]);
          const ArithResult r = arith(*op, format, ops, options, w ? w[i - s] : 0, to_ptr);
          codes[static_cast<std::size_t>(i)] = static_cast<std::uint64_t>(r.code);
          flag_out[i] = r.flags;
        }
      }
    });
  }
  return py::make_tuple(narrow_codes(codes.data(), codes.size(), out_width,
                                     std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim())),
                        flags);
}

}  // namespace

void add_arith(py::module_& m) {
  m.def("_op", &run_op, py::arg("name"), py::arg("a"), py::arg("b"), py::arg("c"), py::arg("fmt"), py::arg("to"),
        py::arg("rounding"), py::arg("sr_bits"), py::arg("tininess"), py::arg("nan"), py::arg("daz"), py::arg("ftz"),
        py::arg("notexact"), py::arg("seed"), py::arg("random_words"), py::arg("threads"));
  m.def("operations", [] {
    py::list l;
    for (Op op : all_ops()) l.append(py::str(op_name(op)));
    return l;
  }, "the names op() takes");
}

}  // namespace bitsim::python
