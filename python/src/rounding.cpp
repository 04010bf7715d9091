// bitsim.quantize / encode / decode on numpy arrays: the formats library's Quantizer, the same bits as
// `bitsim quantize` (element i, in C order, takes Philox word i of the seed under sr). The array loops
// run where the format allows them; flags, and formats whose values an array type cannot hold, go
// element by element through the scalar path (the fast kernel, or the golden path for wide formats).
#include "python/src/common.hpp"

#include "formats/golden.hpp"
#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"
#include "sim/runtime/task_split.hpp"

#include <fmt/format.h>

#include <chrono>
#include <span>
#include <vector>

namespace bitsim::python {

namespace {

using namespace bitsim::formats;

// What one call asks for, checked as `bitsim quantize` checks its options.
struct RoundRequest {
  Format format;
  Rounding mode;
  RandomWords random;
  RoundingSpec spec() const { return {mode, random.sr_bits()}; }
};

RoundRequest make_request(const py::handle& fmt_arg, const std::string& rounding, std::optional<int> sr_bits,
                          std::optional<std::uint64_t> seed, const py::object& random_words, std::int64_t n) {
  const Format format = format_argument(fmt_arg, "fmt");
  const Rounding mode = rounding_argument(rounding, "rounding");
  if (format.has_own_rounding()) {
    if (mode != Rounding::rne)
      bad_argument("rounding", fmt::format("{}: format {} defines its own rounding (only rne is allowed)", rounding, format.name()));
    if (sr_bits || seed || !random_words.is_none())
      bad_argument(sr_bits ? "sr_bits" : seed ? "seed" : "random_words",
                   fmt::format("format {} defines its own rounding and takes no random bits", format.name()));
  }
  return {format, mode, RandomWords(mode, rounding, sr_bits, seed, random_words, n)};
}

// One element through the scalar path (the golden path where the fast kernel does not serve the format).
Quantized quantize_one(const Quantizer& q, double x, std::uint32_t word) {
  if (q.scalar_is_fast()) return q.quantize(x, word);
  const GoldenResult g = golden_quantize(q.format(), x, q.rounding(), word);
  Quantized r;
  if (g.code && q.format().width() <= 64) r.code = static_cast<std::uint64_t>(*g.code);
  r.value = g.value;
  r.flags = g.flags;
  return r;
}

template <class T> const T* contiguous_data(const py::array& x, py::object& keep) {
  if (x.flags() & py::array::c_style) return static_cast<const T*>(x.data());
  keep = py::array_t<T, py::array::c_style>::ensure(x);  // strided input: one copy in C order
  return static_cast<const T*>(py::array(keep).data());
}

std::vector<py::ssize_t> shape_of(const py::array& x) { return {x.shape(), x.shape() + x.ndim()}; }

// The output array: `out` when given (same shape, dtype T, C-contiguous, writeable; may be x itself).
template <class T> py::array output_array(const py::array& x, const py::object& out) {
  if (out.is_none()) return py::array_t<T>(shape_of(x));
  if (!py::isinstance<py::array_t<T>>(out))
    throw py::type_error(fmt::format("out: expected a numpy array of dtype {} (the input's)", sizeof(T) == 4 ? "float32" : "float64"));
  py::array o = py::reinterpret_borrow<py::array>(out);
  if (shape_of(o) != shape_of(x)) bad_argument("out", "its shape differs from the input's");
  if (!(o.flags() & py::array::c_style) || !o.writeable()) bad_argument("out", "must be C-contiguous and writeable");
  return o;
}

constexpr std::int64_t kChunk = 4096;  // elements per scalar-path chunk (random words and codes buffers)

template <class T>
py::tuple round_typed(const py::array& x, const RoundRequest& r, bool want_codes, bool want_flags, int threads, const py::object& out) {
  const Quantizer q(r.format, r.spec());
  const std::int64_t n = x.size();
  const int width = r.format.width();
  if (want_codes && width > 64)
    throw QuantizeError(fmt::format("{} codes have {} bits, more than numpy's 64: quantize() gives the values", r.format.name(), width));
  const bool array_loop = sizeof(T) == 4 ? q.supports_float_arrays() : q.supports_double_arrays();
  if (!want_codes && sizeof(T) == 4 && !array_loop)
    throw QuantizeError(fmt::format("format {} has values that float32 cannot hold: pass float64 input", r.format.name()));
  py::object keep;
  const T* in = contiguous_data<T>(x, keep);
  py::array values;
  if (!want_codes) values = output_array<T>(x, out);
  else if (!out.is_none()) bad_argument("out", "encode() returns a new array of codes");
  std::vector<std::uint64_t> codes(want_codes ? static_cast<std::size_t>(n) : 0);
  py::array_t<std::uint8_t> flags = want_flags ? py::array_t<std::uint8_t>(shape_of(x)) : py::array_t<std::uint8_t>();
  T* value_out = want_codes ? nullptr : static_cast<T*>(values.mutable_data());
  std::uint8_t* flag_out = want_flags ? flags.mutable_data() : nullptr;
  const RandomWords& random = r.random;
  auto body = [&](std::int64_t begin, std::int64_t end) {
    try {
      if (array_loop && !want_flags && !want_codes) {
        const std::span<const T> src(in + begin, static_cast<std::size_t>(end - begin));
        const std::span<T> dst(value_out + begin, src.size());
        if (!random.sr()) q.quantize(src, dst);
        else if (random.given(begin)) q.quantize(src, dst, std::span<const std::uint32_t>(random.given(begin), src.size()));
        else q.quantize(src, dst, random.philox(), static_cast<std::uint64_t>(begin));
        return;
      }
      std::vector<std::uint32_t> words(random.sr() ? kChunk : 0);
      for (std::int64_t c = begin; c < end; c += kChunk) {
        const std::int64_t len = std::min(kChunk, end - c);
        const std::span<const std::uint32_t> chunk_words(words.data(), random.sr() ? static_cast<std::size_t>(len) : 0);
        random.fill(c, std::span(words.data(), chunk_words.size()));
        if (array_loop && !want_flags) {  // codes by the array loop
          try {
            q.encode(std::span<const T>(in + c, static_cast<std::size_t>(len)),
                     std::span<std::uint64_t>(codes.data() + c, static_cast<std::size_t>(len)), chunk_words);
          } catch (const QuantizeError& e) {
            throw e.shifted(c - begin);
          }
          continue;
        }
        for (std::int64_t i = c; i < c + len; ++i) {
          Quantized one;
          try {
            one = quantize_one(q, static_cast<double>(in[i]), random.sr() ? words[static_cast<std::size_t>(i - c)] : 0);
          } catch (const QuantizeError& e) {
            throw QuantizeError::at_element(i - begin, e.cause());
          }
          if (want_codes) {
            if (!one.code) throw QuantizeError::at_element(i - begin, fmt::format("{} has no code for +-0", r.format.name()));
            codes[static_cast<std::size_t>(i)] = *one.code;
          } else {
            value_out[i] = static_cast<T>(one.value);
          }
          if (flag_out) flag_out[i] = one.flags;
        }
      }
    } catch (const QuantizeError& e) {
      throw e.shifted(begin);  // element indices above are relative to the block
    }
  };
  {
    py::gil_scoped_release release;
    sim::detail::run_blocks(n, blocks_for(n, threads), body);
  }
  py::object result = want_codes ? py::object(narrow_codes(codes.data(), codes.size(), width, shape_of(x))) : py::object(values);
  return py::make_tuple(result, want_flags ? py::object(flags) : py::none());
}

py::tuple round_array(const py::array& x, const py::handle& fmt_arg, const std::string& rounding, std::optional<int> sr_bits,
                      std::optional<std::uint64_t> seed, const py::object& random_words, bool want_codes, bool want_flags,
                      int threads, const py::object& out) {
  const RoundRequest r = make_request(fmt_arg, rounding, sr_bits, seed, random_words, x.size());
  const int t = threads_argument(threads);
  if (py::isinstance<py::array_t<float>>(x)) return round_typed<float>(x, r, want_codes, want_flags, t, out);
  if (py::isinstance<py::array_t<double>>(x)) return round_typed<double>(x, r, want_codes, want_flags, t, out);
  throw py::type_error(fmt::format("x: dtype {} is not float32 or float64 (convert it with x.astype(numpy.float64))",
                                   std::string(py::str(x.dtype()))));
}

py::array decode_array(const py::array_t<std::uint64_t, py::array::c_style>& codes, const py::handle& fmt_arg, bool as_float32,
                       int threads) {
  const Format format = format_argument(fmt_arg, "fmt");
  const Quantizer q(format);
  const int t = threads_argument(threads);
  const std::int64_t n = codes.size();
  const std::vector<py::ssize_t> shape(codes.shape(), codes.shape() + codes.ndim());
  auto run = [&](auto* out) {
    using T = std::remove_pointer_t<decltype(out)>;
    py::gil_scoped_release release;
    sim::detail::run_blocks(n, blocks_for(n, t), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t c = begin; c < end; c += kChunk) {
        const std::size_t len = static_cast<std::size_t>(std::min(kChunk, end - c));
        try {
          q.decode(std::span<const std::uint64_t>(codes.data() + c, len), std::span<T>(out + c, len));
        } catch (const QuantizeError&) {
          for (std::size_t i = 0; i < len; ++i) {  // name the element
            try {
              q.decode(codes.data()[c + static_cast<std::int64_t>(i)]);
            } catch (const QuantizeError& e) {
              throw QuantizeError::at_element(c + static_cast<std::int64_t>(i), e.cause());
            }
          }
          throw;
        }
      }
    });
  };
  if (as_float32) {
    if (!q.supports_float_arrays())
      throw QuantizeError(fmt::format("format {} has values that float32 cannot hold: decode to float64", format.name()));
    py::array_t<float> out(shape);
    run(out.mutable_data());
    return out;
  }
  py::array_t<double> out(shape);
  run(out.mutable_data());
  return out;
}

// The C++ kernel's own time for quantize() on one thread (bench/bench_python.py compares it with the
// same call made from Python): seconds per call, `repeats` calls.
std::vector<double> kernel_seconds(const py::array_t<float, py::array::c_style>& x, py::array_t<float, py::array::c_style>& out,
                                   const py::handle& fmt_arg, const std::string& rounding, std::uint64_t seed, int repeats) {
  const Format format = format_argument(fmt_arg, "fmt");
  const Quantizer q(format, {rounding_argument(rounding, "rounding"), 32});
  const PhiloxWords philox(seed);
  const std::span<const float> in(x.data(), static_cast<std::size_t>(x.size()));
  const std::span<float> dst(out.mutable_data(), in.size());
  std::vector<double> seconds;
  py::gil_scoped_release release;
  for (int k = 0; k < repeats; ++k) {
    const auto start = std::chrono::steady_clock::now();
    if (q.rounding().mode == Rounding::sr) q.quantize(in, dst, philox, 0);
    else q.quantize(in, dst);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return seconds;
}

}  // namespace

void add_rounding(py::module_& m) {
  m.def("_round", &round_array, py::arg("x"), py::arg("fmt"), py::arg("rounding"), py::arg("sr_bits"), py::arg("seed"),
        py::arg("random_words"), py::arg("codes"), py::arg("flags"), py::arg("threads"), py::arg("out"));
  m.def("_decode", &decode_array, py::arg("codes"), py::arg("fmt"), py::arg("float32"), py::arg("threads"));
  m.def("_kernel_seconds", &kernel_seconds, py::arg("x"), py::arg("out"), py::arg("fmt"), py::arg("rounding"), py::arg("seed"),
        py::arg("repeats"));
}

}  // namespace bitsim::python
