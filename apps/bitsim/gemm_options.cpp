#include "apps/bitsim/gemm_options.hpp"

#include "formats/format.hpp"

#include <fmt/format.h>

namespace bitsim::cli {

void add_gemm_options(CLI::App& cmd, GemmOptions& o, const char* a_help, const char* b_help, const char* out_help) {
  cmd.add_option("--a-format", o.a_format, a_help)->required();
  cmd.add_option("--b-format", o.b_format, b_help)->required();
  cmd.add_option("--product", o.product, "exact (default) or the format each product is rounded to");
  cmd.add_option("--acc", o.acc, "exact (one exact sum, rounded once to the output), or the accumulator's format")->required();
  cmd.add_option("--order", o.order,
                 "accumulation order with a rounded accumulator: sequential (default), pairwise, blocked, or a fused "
                 "multi-term adder aligned(group=G,width=W[,beyond=truncate|floor|rne|rna|sticky][,lead=value|exponents]"
                 "[,acc=aligned|separate][,groups=sequential|pairwise]) (docs/spec/gemm.md rule 11)");
  cmd.add_option("--chunk", o.chunk, "--order blocked: products summed exactly per accumulator step (>= 1)");
  cmd.add_option("--out-format", o.out_format, out_help)->required();
  cmd.add_option("--rounding", o.rounding, "rne (default), rna, rtz, rup or rdn: products, accumulator and output");
}

std::string with_option(const bitsim::Error& e) {
  static const std::pair<const char*, const char*> kOptions[] = {
      {"a_format", "--a-format"}, {"b_format", "--b-format"}, {"out_format", "--out-format"}, {"product", "--product"},
      {"acc", "--acc"},           {"rounding", "--rounding"}, {"chunk", "--chunk"},         {"order", "--order"}};
  for (const auto& [field, option] : kOptions)
    if (e.site().key == field) return std::string(option) + ": " + e.what();
  return e.what();
}

std::string make_gemm_config(const GemmOptions& o, const CLI::App& cmd, sim::GemmConfig& c) {
  auto format = [](const char* option, const std::string& spec) {
    try {
      return formats::parse_format(spec);
    } catch (const formats::FormatError& e) {
      ErrorSite site = e.site();
      site.option = option;
      throw formats::FormatError(fmt::format("{}: {}", option, e.what()), site);
    }
  };
  try {
    c.a_format = format("--a-format", o.a_format);
    c.b_format = format("--b-format", o.b_format);
    if (o.product != "exact") c.product = format("--product", o.product);
    if (o.acc != "exact") c.acc = format("--acc", o.acc);
    c.out_format = format("--out-format", o.out_format);
  } catch (const bitsim::Error& e) {
    return e.what();
  }
  try {
    sim::parse_acc_order(o.order, c);
  } catch (const sim::GemmError& e) {
    return with_option(e);
  }
  if (!c.acc && cmd.count("--order"))
    return "--order: an exact accumulator (--acc exact) adds all products in one exact sum, so the order has no effect; "
           "drop --order, or give --acc a format";
  if (cmd.count("--chunk")) {
    if (c.order != sim::AccOrder::blocked)
      return fmt::format("--chunk {}: applies only to --order blocked (the order is {})", o.chunk, o.order);
    if (o.chunk < 1) return fmt::format("--chunk {}: must be >= 1", o.chunk);
  }
  c.chunk = o.chunk;
  const auto mode = formats::parse_rounding(o.rounding);
  if (!mode) return fmt::format("--rounding: unknown mode '{}' (expected rne, rna, rtz, rup or rdn)", o.rounding);
  c.rounding = *mode;
  try {
    sim::validate(c);
  } catch (const sim::GemmError& e) {
    return with_option(e);
  }
  return "";
}

}  // namespace bitsim::cli
