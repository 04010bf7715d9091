// A GemmConfig from format names, for the GEMM and convolution tests.
#pragma once

#include "formats/format.hpp"
#include "sim/kernels/gemm.hpp"

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

}  // namespace bitsim::test
