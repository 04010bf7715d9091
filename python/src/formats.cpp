// bitsim.Format: a format's parameters, facts, description and code table.
#include "python/src/common.hpp"

#include "formats/format.hpp"
#include "formats/format_describe.hpp"
#include "formats/format_limits.hpp"
#include "formats/golden.hpp"

#include <fmt/format.h>

#include <cmath>

namespace bitsim::python {

namespace {

using namespace bitsim::formats;

py::object python_int(const BigInt& v) {
  const std::string text = v.str();
  return py::reinterpret_steal<py::object>(PyLong_FromString(text.c_str(), nullptr, 10));
}

// An exact value as fractions.Fraction.
py::object fraction(const Rational& v) {
  static const py::object cls = py::module_::import("fractions").attr("Fraction");
  return cls(python_int(numerator(v)), python_int(denominator(v)));
}

py::object fraction_or_none(const std::optional<Rational>& v) { return v ? fraction(*v) : py::none(); }

double as_double(const Rational& v) { return v < 0 ? -nearest_double(Rational(-v)) : nearest_double(v); }
py::object double_or_none(const std::optional<Rational>& v) { return v ? py::object(py::float_(as_double(*v))) : py::none(); }

// The exact facts of a float or fixed format (golden_facts), as a dict of Fractions (None: absent).
py::dict exact_facts(const Format& f) {
  py::dict d;
  if (!f.is_binary()) throw FormatError(fmt::format("{}: exact facts are defined for float and fixed formats only", f.name()));
  const FormatFacts facts = golden_facts(f);
  d["largest_finite"] = fraction(facts.largest_finite);
  d["smallest_normal"] = fraction_or_none(facts.smallest_normal);
  d["smallest_subnormal"] = fraction_or_none(facts.smallest_subnormal);
  d["epsilon"] = fraction_or_none(facts.epsilon);
  d["most_negative"] = fraction_or_none(facts.most_negative);
  return d;
}

// Every code of a format of at most 16 bits: code, value (nearest double; NaN for NaN and unused
// codes) and whether the format uses the code.
py::dict code_table(const Format& f) {
  const int w = f.width();
  if (w > 16) throw FormatError(fmt::format("{}: codes() lists formats of at most 16 bits ({} has {})", f.name(), f.name(), w));
  const std::size_t n = std::size_t{1} << w;
  py::array_t<std::uint64_t> codes(static_cast<py::ssize_t>(n));
  py::array_t<double> values(static_cast<py::ssize_t>(n));
  py::array_t<bool> used(static_cast<py::ssize_t>(n));
  auto c = codes.mutable_unchecked<1>();
  auto v = values.mutable_unchecked<1>();
  auto u = used.mutable_unchecked<1>();
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = static_cast<py::ssize_t>(i);
    c(k) = i;
    try {
      const GoldenResult g = golden_decode(f, BigInt(i));
      v(k) = g.kind == ValueKind::nan ? std::nan("") : g.value;
      u(k) = true;
    } catch (const QuantizeError&) {
      v(k) = std::nan("");
      u(k) = false;
    }
  }
  py::dict d;
  d["code"] = codes;
  d["value"] = values;
  d["used"] = used;
  return d;
}

}  // namespace

void add_formats(py::module_& m) {
  py::class_<Format> cls(m, "Format",
                         "A number format, parsed from an alias (\"fp8_e4m3\") or a constructor (\"float(e=4,m=3,special=fn)\"): "
                         "docs/spec/formats.md.");
  cls.def(py::init([](const std::string& spec) {
            try {
              return parse_format(spec);
            } catch (const FormatError& e) {
              ErrorSite site = e.site();
              site.option = "spec";
              throw FormatError(e.what(), site);
            }
          }),
          py::arg("spec"))
      .def_property_readonly("name", &Format::name, "the alias if it has one, else the canonical constructor")
      .def_property_readonly("alias", [](const Format& f) { return f.alias().empty() ? py::none() : py::object(py::str(f.alias())); })
      .def_property_readonly("canonical", &Format::to_string, "the canonical constructor form (parses back to this format)")
      .def_property_readonly("family", [](const Format& f) { return std::string(f.traits().family); },
                             "float, fixed, log, midrise or O4")
      .def_property_readonly("width", &Format::width, "bits per code")
      .def_property_readonly("is_binary", &Format::is_binary,
                             "whether it has IEEE-style arithmetic (float and fixed): op(), gemm() operands and accumulators")
      .def_property_readonly("own_rounding", &Format::has_own_rounding,
                             "whether the format defines its own rounding (Graham formats: only rne is accepted)")
      // float
      .def_property_readonly("e", [](const Format& f) { return f.is<FloatFormat>() ? py::object(py::int_(f.as<FloatFormat>().e)) : py::none(); },
                             "exponent bits (floats; else None)")
      .def_property_readonly("m", [](const Format& f) { return f.is<FloatFormat>() ? py::object(py::int_(f.as<FloatFormat>().m)) : py::none(); },
                             "fraction bits (floats; else None)")
      .def_property_readonly("bias", [](const Format& f) { return f.is<FloatFormat>() ? py::object(py::int_(f.as<FloatFormat>().bias)) : py::none(); })
      .def_property_readonly("emin", [](const Format& f) { return f.is<FloatFormat>() ? py::object(py::int_(f.as<FloatFormat>().emin())) : py::none(); },
                             "exponent of the smallest normal number (floats)")
      .def_property_readonly("emax",
                             [](const Format& f) -> py::object {
                               if (!f.is<FloatFormat>()) return py::none();
                               const FloatFormat& ff = f.as<FloatFormat>();
                               const std::uint64_t field = ff.max_finite_index() >> ff.m;
                               // field 0 is normal only in a format without zero
                               return field == 0 && ff.has_zero ? py::none() : py::object(py::int_(static_cast<std::int64_t>(field) - ff.bias));
                             },
                             "exponent of the largest finite number (floats with normal numbers)")
      .def_property_readonly("subnormals", [](const Format& f) { return f.is<FloatFormat>() ? py::object(py::bool_(f.as<FloatFormat>().subnormals)) : py::none(); })
      .def_property_readonly("special", [](const Format& f) { return f.is<FloatFormat>() ? py::object(py::str(special_name(f.as<FloatFormat>().special))) : py::none(); },
                             "ieee, fn, fnuz, inuz or none (floats)")
      .def_property_readonly("overflow",
                             [](const Format& f) -> py::object {
                               if (f.is<FloatFormat>()) return py::str(overflow_name(f.as<FloatFormat>().overflow));
                               if (f.is<FixedFormat>())
                                 return py::str(f.as<FixedFormat>().overflow == FixedOverflow::wrap ? "wrap" : "saturate");
                               return py::none();
                             })
      .def_property_readonly("has_nan", [](const Format& f) { return f.is<FloatFormat>() && f.as<FloatFormat>().has_nan(); })
      .def_property_readonly("has_inf", [](const Format& f) { return f.is<FloatFormat>() && f.as<FloatFormat>().has_inf(); })
      // fixed
      .def_property_readonly("integer_bits", [](const Format& f) { return f.is<FixedFormat>() ? py::object(py::int_(f.as<FixedFormat>().i)) : py::none(); },
                             "i of a fixed-point format (else None)")
      .def_property_readonly("fraction_bits", [](const Format& f) { return f.is<FixedFormat>() ? py::object(py::int_(f.as<FixedFormat>().f)) : py::none(); },
                             "f of a fixed-point format (else None)")
      .def_property_readonly("signed",
                             [](const Format& f) {
                               if (f.is<FixedFormat>()) return f.as<FixedFormat>().is_signed;
                               return f.is<FloatFormat>() ? f.as<FloatFormat>().is_signed : true;
                             },
                             "false for unsigned fixed-point and unsigned float (P3109 binaryKpPu*) formats")
      .def_property_readonly("has_zero", [](const Format& f) { return f.is<FloatFormat>() ? py::object(py::bool_(f.as<FloatFormat>().has_zero)) : py::none(); },
                             "floats: False for a float without zero (e8m0, whose code 0 is the smallest value); else None")
      .def_property_readonly("has_arithmetic", &Format::has_arithmetic,
                             "whether op() and gemm() take it: is_binary, but for unsigned floats (storage formats)")
      // facts as doubles
      .def_property_readonly("largest_finite", [](const Format& f) { return finite_limits(f).max_finite; },
                             "largest finite value (nearest double)")
      .def_property_readonly("most_negative", [](const Format& f) { return finite_limits(f).min_finite; },
                             "most negative finite value (nearest double)")
      .def_property_readonly("smallest_normal",
                             [](const Format& f) { return f.is_binary() ? double_or_none(golden_facts(f).smallest_normal) : py::none(); })
      .def_property_readonly("smallest_subnormal",
                             [](const Format& f) { return f.is_binary() ? double_or_none(golden_facts(f).smallest_subnormal) : py::none(); },
                             "smallest positive subnormal (floats); the quantum (fixed)")
      .def_property_readonly("epsilon", [](const Format& f) { return f.is_binary() ? double_or_none(golden_facts(f).epsilon) : py::none(); },
                             "2^-m (floats), the quantum (fixed)")
      .def("exact", &exact_facts, "the facts as exact fractions.Fraction values (float and fixed formats)")
      .def("describe", &describe_format, "the text of `bitsim formats describe`")
      .def("codes", &code_table, "every code of a format of at most 16 bits: dict of numpy arrays code, value, used")
      .def("__str__", &Format::name)
      .def("__repr__", [](const Format& f) { return fmt::format("bitsim.Format('{}')", f.name()); })
      .def("__eq__", [](const Format& a, const Format& b) { return a == b; })
      .def("__hash__", [](const Format& f) { return py::hash(py::str(f.to_string())); })
      .def(py::pickle([](const Format& f) { return f.name(); }, [](const std::string& s) { return parse_format(s); }));
  m.def("aliases",
        [] {
          py::dict d;
          for (const AliasEntry& a : format_aliases()) d[py::str(a.alias)] = a.meaning;
          return d;
        },
        "every format alias with its constructor form (docs/spec/formats.md)");
}

}  // namespace bitsim::python
