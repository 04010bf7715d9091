#include "sim/kernels/gemm_setup.hpp"

#include "sim/kernels/gemm.hpp"

namespace bitsim::sim::nn {

GemmSetup::GemmSetup() : acc(formats::parse_format("fp32")) {}

bool GemmSetup::is_fast() const {
  return !product && acc && is_fp32(*acc) && rounding == formats::Rounding::rne &&
         (order == AccOrder::sequential || (order == AccOrder::blocked && chunk == 1));
}

GemmConfig GemmSetup::config() const {
  GemmConfig c;
  c.a_format = c.b_format = c.out_format = formats::parse_format("fp32");
  c.product = product;
  c.acc = acc;
  c.order = order;
  c.chunk = chunk;
  c.aligned = aligned;
  c.rounding = rounding;
  return c;
}

std::string GemmSetup::describe() const {
  std::string s = "acc=" + (acc ? acc->name() : std::string("exact"));
  if (product) s += " product=" + product->name();
  if (acc) {
    GemmConfig order_only;  // acc_order_text reads only the order and the aligned parameters: no formats parsed
    order_only.order = order;
    order_only.aligned = aligned;
    s += " order=" + acc_order_text(order_only);
    if (order == AccOrder::blocked) s += " chunk=" + std::to_string(chunk);
  }
  if (rounding != formats::Rounding::rne) s += std::string(" rounding=") + formats::rounding_name(rounding);
  return s;
}

}  // namespace bitsim::sim::nn
