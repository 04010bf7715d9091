// NumPy's .npy format (version 1.0 to 3.0), read and written without Python: how `bitsim quantize`
// takes a numpy array of float32/float64 and gives back codes or values as arrays of the same shape.
// Format: the magic "\x93NUMPY", a version, a header length, a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces to a multiple of 64
// bytes, then the elements in that dtype and memory order.
#pragma once

#include "io/error.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bitsim::io {

class NpyError : public bitsim::Error {
 public:
  using Error::Error;
};

struct NpyArray {
  std::string descr;                // as written: "<f4", "<f8", ">f4", "|u1", ...
  bool fortran_order = false;       // column-major element order
  std::vector<std::int64_t> shape;  // () for a scalar
  std::string data;                 // the raw elements, as stored

  std::int64_t count() const;       // elements (1 for a scalar)
};

// Parses a whole .npy file; `source` names it in errors. Throws NpyError for anything that is not an
// .npy file of a supported dtype, a header that does not parse, or data of another size than the header
// says (more than 2^32 elements are refused).
NpyArray parse_npy(std::string_view bytes, const std::string& source);

// The floats of a float32 or float64 array (either byte order), in storage order, as doubles (exact).
std::vector<double> npy_doubles(const NpyArray& a, const std::string& source);

// An .npy file (version 1.0) of the given dtype ("<u2", "<f8", ...), order and shape around `data`.
std::string npy_file(const std::string& descr, bool fortran_order, const std::vector<std::int64_t>& shape,
                     std::string_view data);

}  // namespace bitsim::io
