// Shared pieces of the Python extension `bitsim._bitsim` (python/): argument conversion, the error
// classes, and the split of array work over the library's threads. Every computation is the C++
// library's own; this layer only moves numpy buffers in and out (docs/python.md).
#pragma once

#include "formats/format.hpp"
#include "formats/random_words.hpp"
#include "formats/rounding.hpp"
#include "io/error.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace bitsim::python {

namespace py = pybind11;

// Registers bitsim.Error (a ValueError) and its subclasses, and the translation of the library's
// exceptions into them with their fields (file, line, key, option, element).
void add_errors(py::module_& m);
void add_formats(py::module_& m);
void add_rounding(py::module_& m);
void add_arith(py::module_& m);
void add_gemm(py::module_& m);
void add_tensor(py::module_& m);

// An error in the value of the Python argument `argument`: bitsim.Error "ARGUMENT: MESSAGE" with the
// field `option` = ARGUMENT.
[[noreturn]] void bad_argument(const std::string& argument, const std::string& message);

// A format given as a bitsim.Format or a string (alias or constructor); a bad string raises
// bitsim.FormatError naming `argument`.
formats::Format format_argument(const py::handle& value, const std::string& argument);

// A rounding mode name ("rne", "rna", "rtz", "rup", "rdn", "sr"); `allow_sr` false for the GEMM.
formats::Rounding rounding_argument(const std::string& name, const std::string& argument, bool allow_sr = true);

// The random words of stochastic rounding over an array of n elements, from the arguments sr_bits, seed
// and random_words, checked as `bitsim quantize` checks --sr-bits, --seed and --random-words: element i
// takes Philox word i of the seed (default 0), or random_words[i] (a uint32 array of n words).
class RandomWords {
 public:
  RandomWords(formats::Rounding mode, const std::string& rounding, std::optional<int> sr_bits,
              std::optional<std::uint64_t> seed, const py::object& random_words, std::int64_t n);
  bool sr() const { return sr_; }
  int sr_bits() const { return sr_bits_; }
  const formats::PhiloxWords& philox() const { return philox_; }
  // The caller's words from element `first` on, or null when they come from Philox.
  const std::uint32_t* given(std::int64_t first) const { return given_ ? given_->data() + first : nullptr; }
  // out[j] = the word of element first + j (nothing when the rounding is not sr).
  void fill(std::int64_t first, std::span<std::uint32_t> out) const;

 private:
  bool sr_ = false;
  int sr_bits_ = 32;
  formats::PhiloxWords philox_;
  std::optional<py::array_t<std::uint32_t, py::array::c_style>> given_;
};

// Threads for a call: 0 means every core the process may use; negative is an error.
int threads_argument(int threads);

// The numpy dtype of codes of `width` bits: the smallest unsigned integer type that holds them.
py::dtype code_dtype(int width);

// Copies n uint64 codes into a new array of code_dtype(width) and `shape`.
py::array narrow_codes(const std::uint64_t* codes, std::size_t n, int width, const std::vector<py::ssize_t>& shape);

// Elements per block when an array is split over threads: small arrays stay on the calling thread.
inline constexpr std::int64_t kElementsPerThreadBlock = 1 << 16;
int blocks_for(std::int64_t n, int threads);

}  // namespace bitsim::python
