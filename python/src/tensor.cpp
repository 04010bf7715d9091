// bitsim.Tensor: the format-carrying tensor of sim/tensor with its policy (element-wise, scaled, affine,
// MX): codes, scales and decoded values as numpy arrays (docs/tensor.md).
#include "python/src/common.hpp"

#include "sim/tensor/tensor.hpp"
#include "sim/tensor/tensor_policy.hpp"

#include <fmt/format.h>

namespace bitsim::python {

namespace {

using sim::Tensor;

sim::Shape shape_of(const py::array& x) {
  std::vector<std::int64_t> dims(x.shape(), x.shape() + x.ndim());
  return sim::Shape(std::span<const std::int64_t>(dims));
}

std::vector<py::ssize_t> dims_of(const Tensor& t) {
  std::vector<py::ssize_t> d;
  for (int i = 0; i < t.shape().rank(); ++i) d.push_back(t.shape()[i]);
  return d;
}

void quantize_into(Tensor& t, const py::array& x, std::uint64_t word_offset) {
  if (py::isinstance<py::array_t<float>>(x)) {
    const auto c = py::array_t<float, py::array::c_style>::ensure(x);
    py::gil_scoped_release release;
    t.quantize(std::span<const float>(c.data(), static_cast<std::size_t>(c.size())), word_offset);
  } else if (py::isinstance<py::array_t<double>>(x)) {
    const auto c = py::array_t<double, py::array::c_style>::ensure(x);
    py::gil_scoped_release release;
    t.quantize(std::span<const double>(c.data(), static_cast<std::size_t>(c.size())), word_offset);
  } else {
    throw py::type_error(fmt::format("x: dtype {} is not float32 or float64", std::string(py::str(x.dtype()))));
  }
}

Tensor make_tensor(const py::array& x, const std::string& policy, const std::string& rounding, std::optional<int> sr_bits,
                   std::uint64_t seed, std::uint64_t word_offset) {
  sim::TensorPolicy p;
  try {
    p = sim::parse_policy(policy);
  } catch (const formats::FormatError& e) {
    ErrorSite site = e.site();
    site.option = "policy";
    throw formats::FormatError("policy: " + std::string(e.what()), site);
  }
  const formats::Rounding mode = rounding_argument(rounding, "rounding");
  if (sr_bits && mode != formats::Rounding::sr) bad_argument("sr_bits", "applies only to rounding='sr'");
  Tensor t(shape_of(x), p, {mode, sr_bits.value_or(32)}, seed);
  quantize_into(t, x, word_offset);
  return t;
}

py::array decoded(const Tensor& t, bool as_float32) {
  if (as_float32) {
    py::array_t<float> out(dims_of(t));
    t.decode(std::span<float>(out.mutable_data(), static_cast<std::size_t>(t.numel())));
    return out;
  }
  py::array_t<double> out(dims_of(t));
  t.decode(std::span<double>(out.mutable_data(), static_cast<std::size_t>(t.numel())));
  return out;
}

py::array codes_of(const Tensor& t) {
  std::vector<std::uint64_t> c(static_cast<std::size_t>(t.numel()));
  for (std::int64_t i = 0; i < t.numel(); ++i) c[static_cast<std::size_t>(i)] = t.codes().get(i);
  return narrow_codes(c.data(), c.size(), t.codes().width(), dims_of(t));
}

// Per group: field(GroupScale) as a 1-D array.
template <class T, class F> py::array_t<T> per_group(const Tensor& t, F field) {
  py::array_t<T> out(static_cast<py::ssize_t>(t.num_groups()));
  for (std::int64_t g = 0; g < t.num_groups(); ++g) out.mutable_data()[g] = static_cast<T>(field(t.group_scale(g)));
  return out;
}

const char* kind_name(sim::PolicyKind k) {
  switch (k) {
    case sim::PolicyKind::elementwise: return "elementwise";
    case sim::PolicyKind::scaled: return "scaled";
    case sim::PolicyKind::affine: return "affine";
    case sim::PolicyKind::mx: return "mx";
  }
  return "?";
}

}  // namespace

void add_tensor(py::module_& m) {
  py::class_<Tensor>(m, "Tensor",
                     "A format-carrying tensor (up to 4-D): x rounded under a policy, stored as codes plus the policy's "
                     "scales (docs/tensor.md). Policies: a format name (element-wise), scaled(format=F,scale=pow2|real"
                     "[,axis=N]), affine(bits=B[,signed=yes|no][,axis=N]), mx(element=F[,block=K]) and the aliases "
                     "mxfp8_e4m3, mxfp8_e5m2, mxfp6_e3m2, mxfp6_e2m3, mxfp4_e2m1, mxint8.")
      .def(py::init(&make_tensor), py::arg("x"), py::arg("policy"), py::arg("rounding") = "rne", py::arg("sr_bits") = py::none(),
           py::arg("seed") = 0, py::arg("word_offset") = 0,
           "Quantizes x (float32 or float64, up to 4-D). Under sr element i (C order) takes Philox word word_offset + i of seed.")
      .def("quantize", &quantize_into, py::arg("x"), py::arg("word_offset") = 0,
           "Replaces codes and scales by those of x (same shape); on an error the tensor is unchanged.")
      .def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(dims_of(t))); })
      .def_property_readonly("policy", [](const Tensor& t) { return t.policy().name(); })
      .def_property_readonly("kind", [](const Tensor& t) { return std::string(kind_name(t.policy().kind())); },
                             "elementwise, scaled, affine or mx")
      .def_property_readonly("format", [](const Tensor& t) { return t.format(); }, "the format of the stored codes")
      .def_property_readonly("rounding", [](const Tensor& t) { return std::string(formats::rounding_name(t.rounding().mode)); })
      .def_property_readonly("seed", &Tensor::seed)
      .def_property_readonly("num_groups", &Tensor::num_groups,
                             "scale groups: 0 (element-wise), 1 (per tensor), shape[axis], or rows x blocks (mx)")
      .def("group_of", &Tensor::group_of, py::arg("flat"), "the scale group of element `flat` (C order)")
      .def_property_readonly("codes", &codes_of, "the stored codes, shape of the tensor (smallest unsigned dtype)")
      .def_property_readonly("scales", [](const Tensor& t) { return per_group<double>(t, [](const sim::GroupScale& s) { return s.scale; }); },
                             "per group: the multiplier s_g (nearest double; NaN for a NaN MX block)")
      .def_property_readonly("exponents",
                             [](const Tensor& t) { return per_group<std::int32_t>(t, [](const sim::GroupScale& s) { return s.exponent; }); },
                             "per group: k with s_g = 2^k (pow2 and mx)")
      .def_property_readonly("zero_points",
                             [](const Tensor& t) { return per_group<std::int64_t>(t, [](const sim::GroupScale& s) { return s.zero_point; }); },
                             "per group: the affine zero point z_g")
      .def_property_readonly("e8m0",
                             [](const Tensor& t) {
                               const auto s = t.e8m0_scales();
                               py::array_t<std::uint8_t> out(static_cast<py::ssize_t>(s.size()));
                               std::copy(s.begin(), s.end(), out.mutable_data());
                               return out;
                             },
                             "mx: one E8M0 scale code per block (0xFF: the block held a NaN or an infinity)")
      .def("values", &decoded, py::arg("float32") = false, "the values the codes and scales represent (float64, or float32)")
      .def("__repr__", [](const Tensor& t) {
        return fmt::format("bitsim.Tensor(shape={}, policy='{}', rounding='{}')", std::string(py::str(py::tuple(py::cast(dims_of(t))))),
                           t.policy().name(), formats::rounding_name(t.rounding().mode));
      });
}

}  // namespace bitsim::python
