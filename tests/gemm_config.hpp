// A GemmConfig from format names, for the GEMM and convolution tests.
#pragma once

#include "formats/format.hpp"
#include "sim/kernels/gemm.hpp"

#include <cmath>
#include <cstring>
#include <map>
#include <sstream>
#include <string>

namespace bitsim::test {

inline sim::GemmConfig config(const char* a, const char* b, const char* acc, sim::AccOrder order, const char* out,
                              formats::Rounding mode = formats::Rounding::rne, std::int64_t chunk = 0,
                              const char* product = nullptr) {
  sim::GemmConfig c;
  c.a_format = formats::parse_format(a);
  c.b_format = formats::parse_format(b);
  if (acc) c.acc = formats::parse_format(acc);  // nullptr: exact accumulation
  if (product) c.product = formats::parse_format(product);
  c.order = order;
  c.chunk = chunk;
  c.out_format = formats::parse_format(out);
  c.rounding = mode;
  return c;
}

// gemm() against gemm_reference() on the same inputs: "" when both throw a GemmError or both give the
// same values and codes bit for bit (counting the fast path taken in `paths`), else what differs.
inline std::string fast_vs_reference(const sim::GemmConfig& c, const sim::Matrix& a, const sim::Matrix& b, int threads,
                                     std::map<sim::GemmPath, int>& paths) {
  sim::GemmResult fast, ref;
  std::string fast_err, ref_err;
  try {
    fast = sim::gemm(c, a, b, threads);
  } catch (const sim::GemmError& e) {
    fast_err = e.what();
  }
  try {
    ref = sim::gemm_reference(c, a, b);
  } catch (const sim::GemmError& e) {
    ref_err = e.what();
  }
  if (fast_err.empty() != ref_err.empty()) return "fast error '" + fast_err + "', reference error '" + ref_err + "'";
  if (!fast_err.empty()) return "";
  ++paths[fast.path];
  auto same = [](double x, double y) {
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    return std::memcmp(&x, &y, sizeof x) == 0;
  };
  for (std::size_t e = 0; e < ref.codes.size(); ++e)
    if (!same(fast.values.data[e], ref.values.data[e]) || fast.codes[e] != ref.codes[e]) {
      std::ostringstream m;
      m << "path " << sim::gemm_path_name(fast.path) << ", element " << e << ": fast " << fast.values.data[e] << " reference "
        << ref.values.data[e];
      return m.str();
    }
  return "";
}

}  // namespace bitsim::test
