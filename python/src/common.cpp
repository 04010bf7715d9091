// Errors, argument conversion and the thread split shared by the extension's files.
#include "python/src/common.hpp"

#include "formats/rounding.hpp"
#include "hw/arith.hpp"
#include "sim/kernels/gemm.hpp"
#include "sim/runtime/thread_pool.hpp"
#include "sim/tensor/tensor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>

namespace bitsim::python {

namespace {

// The Python classes, created once by add_errors (module lifetime: never freed).
PyObject* error_class = nullptr;
PyObject* format_error_class = nullptr;
PyObject* quantize_error_class = nullptr;
PyObject* arith_error_class = nullptr;
PyObject* gemm_error_class = nullptr;
PyObject* tensor_error_class = nullptr;

PyObject* new_class(py::module_& m, const char* name, PyObject* base, const char* doc) {
  const std::string qualified = std::string("bitsim.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base, nullptr);
  if (!cls) throw py::error_already_set();
  m.add_object(name, py::handle(cls));
  return cls;
}

// Raises `cls` with the library's message and its ErrorSite as attributes.
void raise(PyObject* cls, const bitsim::Error& e) {
  py::gil_scoped_acquire gil;
  PyObject* instance = PyObject_CallFunction(cls, "s", e.what());
  if (!instance) return;  // the call set its own error
  const ErrorSite& s = e.site();
  auto set = [&](const char* name, py::object value) { PyObject_SetAttrString(instance, name, value.ptr()); };
  set("file", s.file.empty() ? py::none() : py::object(py::str(s.file)));
  set("line", s.line ? py::object(py::int_(s.line)) : py::none());
  set("key", s.key.empty() ? py::none() : py::object(py::str(s.key)));
  set("option", s.option.empty() ? py::none() : py::object(py::str(s.option)));
  set("element", s.element ? py::object(py::int_(*s.element)) : py::none());
  PyErr_SetObject(cls, instance);
  Py_DECREF(instance);
}

}  // namespace

void add_errors(py::module_& m) {
  error_class = new_class(m, "Error", PyExc_ValueError,
                          "An error of bitsim's library: bad input or a request it cannot carry out. A ValueError; "
                          "the attributes file, line, key, option and element say where (None when not known).");
  format_error_class = new_class(m, "FormatError", error_class, "A format name or constructor that is not valid.");
  quantize_error_class = new_class(m, "QuantizeError", error_class,
                                   "A value a format cannot take (a NaN into a format without NaN, ...) or a rounding "
                                   "it does not allow; `element` is the flat index (C order) of the element.");
  arith_error_class = new_class(m, "ArithError", error_class, "An operation, operand or option the arithmetic cannot take.");
  gemm_error_class = new_class(m, "GemmError", error_class, "A GEMM configuration or operand that is not valid.");
  tensor_error_class = new_class(m, "TensorError", error_class, "A tensor policy, shape or request that is not valid.");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const formats::FormatError& e) {
      raise(format_error_class, e);
    } catch (const formats::QuantizeError& e) {
      raise(quantize_error_class, e);
    } catch (const formats::ArithError& e) {
      raise(arith_error_class, e);
    } catch (const sim::GemmError& e) {
      raise(gemm_error_class, e);
    } catch (const sim::TensorError& e) {
      raise(tensor_error_class, e);
    } catch (const bitsim::Error& e) {
      raise(error_class, e);
    }
  });
}

void bad_argument(const std::string& argument, const std::string& message) {
  ErrorSite site;
  site.option = argument;
  throw bitsim::Error(argument + ": " + message, site);
}

formats::Format format_argument(const py::handle& value, const std::string& argument) {
  if (py::isinstance<formats::Format>(value)) return value.cast<formats::Format>();
  if (!py::isinstance<py::str>(value))
    throw py::type_error(fmt::format("{}: expected a format name (str) or a bitsim.Format, not {}", argument,
                                     std::string(py::str(py::type::of(value).attr("__name__")))));
  try {
    return formats::parse_format(value.cast<std::string>());
  } catch (const formats::FormatError& e) {
    ErrorSite site = e.site();
    site.option = argument;
    throw formats::FormatError(argument + ": " + e.what(), site);
  }
}

formats::Rounding rounding_argument(const std::string& name, const std::string& argument, bool allow_sr) {
  const auto mode = formats::parse_rounding(name);
  if (!mode || (!allow_sr && *mode == formats::Rounding::sr))
    bad_argument(argument, fmt::format("unknown rounding '{}' (expected rne, rna, rtz, rup, rdn{})", name,
                                       allow_sr ? " or sr" : ""));
  return *mode;
}

RandomWords::RandomWords(formats::Rounding mode, const std::string& rounding, std::optional<int> sr_bits,
                         std::optional<std::uint64_t> seed, const py::object& random_words, std::int64_t n)
    : sr_(mode == formats::Rounding::sr), sr_bits_(sr_bits.value_or(32)), philox_(seed.value_or(0)) {
  const bool words_given = !random_words.is_none();
  if (!sr_ && (sr_bits || seed || words_given))
    bad_argument(sr_bits ? "sr_bits" : seed ? "seed" : "random_words",
                 fmt::format("applies only to rounding='sr' (the rounding is {})", rounding));
  if (seed && words_given) bad_argument("seed", "seed and random_words exclude each other");
  if (sr_ && (sr_bits_ < 1 || sr_bits_ > 32)) bad_argument("sr_bits", fmt::format("{}: must be 1..32", sr_bits_));
  if (words_given) {
    if (!py::isinstance<py::array_t<std::uint32_t>>(random_words))
      throw py::type_error("random_words: expected a numpy array of dtype uint32 (one word per element)");
    given_ = py::array_t<std::uint32_t, py::array::c_style>::ensure(random_words);
    if (given_->size() != n)
      bad_argument("random_words", fmt::format("{} words for {} elements (one word per element, in C order)", given_->size(), n));
  }
}

void RandomWords::fill(std::int64_t first, std::span<std::uint32_t> out) const {
  if (!sr_) return;
  if (given_) std::copy(given_->data() + first, given_->data() + first + static_cast<std::int64_t>(out.size()), out.begin());
  else philox_.fill(static_cast<std::uint64_t>(first), out);
}

int threads_argument(int threads) {
  if (threads < 0) bad_argument("threads", fmt::format("{}: must be >= 0 (0: every core)", threads));
  return threads == 0 ? sim::all_cores() : threads;
}

py::dtype code_dtype(int width) {
  return width <= 8 ? py::dtype::of<std::uint8_t>() : width <= 16 ? py::dtype::of<std::uint16_t>()
       : width <= 32 ? py::dtype::of<std::uint32_t>() : py::dtype::of<std::uint64_t>();
}

py::array narrow_codes(const std::uint64_t* codes, std::size_t n, int width, const std::vector<py::ssize_t>& shape) {
  py::array out(code_dtype(width), shape);
  auto copy = [&](auto* to) {
    for (std::size_t i = 0; i < n; ++i) to[i] = static_cast<std::remove_pointer_t<decltype(to)>>(codes[i]);
  };
  void* data = out.mutable_data();
  if (width <= 8) copy(static_cast<std::uint8_t*>(data));
  else if (width <= 16) copy(static_cast<std::uint16_t*>(data));
  else if (width <= 32) copy(static_cast<std::uint32_t*>(data));
  else copy(static_cast<std::uint64_t*>(data));
  return out;
}

int blocks_for(std::int64_t n, int threads) {
  return static_cast<int>(std::clamp<std::int64_t>(n / kElementsPerThreadBlock, 1, std::max(1, threads)));
}

}  // namespace bitsim::python
