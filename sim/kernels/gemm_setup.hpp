// How a layer's matrix products are computed: the accumulator and product formats and the order
// (docs/spec/gemm.md). The default, fp32 accumulation in k order with exact products under rne, runs
// on the engine's own kernel (panel_gemm.hpp); any other setup runs through sim::gemm() / the conv2d
// kernels on doubles, which give the same bits for the default and implement every other setup
// exactly, only slower. Operands are already rounded to their roles (W, A, E), so the GEMM's input
// formats are fp32 (every role value is a float); its output is rounded to fp32, then to the result's
// role.
#pragma once

#include "sim/kernels/gemm.hpp"

#include <optional>
#include <string>

namespace bitsim::sim::nn {

struct GemmSetup {
  std::optional<formats::Format> product;  // empty: exact products
  std::optional<formats::Format> acc;      // empty: exact accumulation; default fp32
  AccOrder order = AccOrder::sequential;
  std::int64_t chunk = 0;
  AlignedAccumulation aligned;  // order == aligned: the fused adder's parameters (gemm.md rule 11)
  formats::Rounding rounding = formats::Rounding::rne;  // every rounding of the GEMM (products, accumulator, output)

  GemmSetup();  // fp32 accumulator, exact products, sequential
  // Whether the engine's fp32 kernel computes this setup (fp32 accumulator, sequential, exact products,
  // rne).
  bool is_fast() const;
  // The GemmConfig for the reference kernels: fp32 operands and output.
  GemmConfig config() const;
  std::string describe() const;
};

}  // namespace bitsim::sim::nn
