// The extension module bitsim._bitsim; python/bitsim/__init__.py is its public face.
#include "python/src/common.hpp"

#include "formats/format.hpp"
#include "io/version.hpp"

PYBIND11_MODULE(_bitsim, m) {
  namespace bp = bitsim::python;
  m.doc() = "bitsim's C++ library: exact number formats, rounding, golden arithmetic, GEMM and tensors";
  bp::add_errors(m);
  bp::add_formats(m);
  bp::add_rounding(m);
  bp::add_arith(m);
  bp::add_gemm(m);
  bp::add_tensor(m);
  m.attr("__version__") = bitsim::io::version_number();
  m.attr("version_line") = bitsim::io::version_line();
}
