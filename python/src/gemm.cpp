// bitsim.gemm: C = A x B with the rounding points and accumulation order of docs/spec/gemm.md, the same
// call as `bitsim gemm` (sim::gemm on doubles), so the same bits.
#include "python/src/common.hpp"

#include "sim/kernels/gemm.hpp"

#include <fmt/format.h>

namespace bitsim::python {

namespace {

using Dense = py::array_t<double, py::array::c_style>;

sim::Matrix matrix_of(const Dense& x, const char* name) {
  if (x.ndim() != 2) bad_argument(name, fmt::format("expected a 2-D array, not {}-D", x.ndim()));
  sim::Matrix m(x.shape(0), x.shape(1));
  std::copy(x.data(), x.data() + x.size(), m.data.begin());
  return m;
}

// A GemmError of a configuration field names the Python argument of that field (they share names).
[[noreturn]] void rethrow_naming_argument(const sim::GemmError& e) {
  static const char* const kArguments[] = {"a_format", "b_format", "product", "acc", "order", "chunk", "out_format", "rounding"};
  for (const char* argument : kArguments)
    if (e.site().key == argument) {
      ErrorSite site = e.site();
      site.option = argument;
      throw sim::GemmError(fmt::format("{}: {}", argument, e.what()), site);
    }
  throw e;
}

py::tuple run_gemm(const Dense& a, const Dense& b, const py::handle& a_format, const py::handle& b_format,
                   const py::object& product, const py::object& acc, const std::optional<std::string>& order,
                   std::optional<std::int64_t> chunk, const py::handle& out_format, const std::string& rounding, int threads,
                   bool want_codes) {
  sim::GemmConfig c;
  c.a_format = format_argument(a_format, "a_format");
  c.b_format = format_argument(b_format, "b_format");
  if (!product.is_none() && !(py::isinstance<py::str>(product) && product.cast<std::string>() == "exact"))
    c.product = format_argument(product, "product");
  const bool exact_acc = py::isinstance<py::str>(acc) && acc.cast<std::string>() == "exact";
  if (!exact_acc) c.acc = format_argument(acc, "acc");
  c.out_format = format_argument(out_format, "out_format");
  c.rounding = rounding_argument(rounding, "rounding", false);
  if (order && exact_acc)
    bad_argument("order", "an exact accumulator (acc='exact') adds all products in one exact sum, so the order has no effect; "
                          "drop order, or give acc a format");
  try {
    sim::parse_acc_order(order.value_or("sequential"), c);
  } catch (const sim::GemmError& e) {
    rethrow_naming_argument(e);
  }
  if (chunk) {
    if (c.order != sim::AccOrder::blocked)
      bad_argument("chunk", fmt::format("{}: applies only to order='blocked' (the order is {})", *chunk, order.value_or("sequential")));
    if (*chunk < 1) bad_argument("chunk", fmt::format("{}: must be >= 1", *chunk));
    c.chunk = *chunk;
  }
  if (want_codes && c.out_format.width() > 64)
    bad_argument("out_format", fmt::format("{} codes have {} bits, more than numpy's 64", c.out_format.name(), c.out_format.width()));
  const sim::Matrix am = matrix_of(a, "a"), bm = matrix_of(b, "b");
  if (am.cols != bm.rows) bad_argument("b", fmt::format("A has {} columns but B has {} rows", am.cols, bm.rows));
  const int t = threads_argument(threads);
  sim::GemmResult r;
  try {
    sim::validate(c);
    py::gil_scoped_release release;
    r = sim::gemm(c, am, bm, t, want_codes);
  } catch (const sim::GemmError& e) {
    rethrow_naming_argument(e);
  }
  Dense values({r.values.rows, r.values.cols});
  std::copy(r.values.data.begin(), r.values.data.end(), values.mutable_data());
  py::object codes = py::none();
  if (want_codes)
    codes = narrow_codes(r.codes.data(), r.codes.size(), c.out_format.width(), {r.values.rows, r.values.cols});
  return py::make_tuple(values, codes, std::string(sim::gemm_path_name(r.path)));
}

}  // namespace

void add_gemm(py::module_& m) {
  m.def("_gemm", &run_gemm, py::arg("a"), py::arg("b"), py::arg("a_format"), py::arg("b_format"), py::arg("product"),
        py::arg("acc"), py::arg("order"), py::arg("chunk"), py::arg("out_format"), py::arg("rounding"), py::arg("threads"),
        py::arg("codes"));
}

}  // namespace bitsim::python
