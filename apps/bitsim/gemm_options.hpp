// Options shared by `bitsim gemm` and `bitsim golden gemm|conv`: the formats, accumulation and rounding
// of docs/spec/gemm.md, declared and checked in one place.
#pragma once

#include "sim/kernels/gemm.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace bitsim::cli {

struct GemmOptions {
  std::string a_format, b_format, product = "exact", acc, order = "sequential", out_format, rounding = "rne";
  std::int64_t chunk = 0;
};

// Registers --a-format, --b-format, --product, --acc, --order, --chunk, --out-format and --rounding.
void add_gemm_options(CLI::App& cmd, GemmOptions& o, const char* a_help, const char* b_help, const char* out_help);

// Builds and validates the configuration. Returns "" or the error, naming the option. An option that
// would have no effect is an error too: --chunk without --order blocked, --order with --acc exact.
std::string make_gemm_config(const GemmOptions& o, const CLI::App& cmd, sim::GemmConfig& c);

// The message of a gemm error prefixed by the option that sets the GemmConfig field it names
// (site().key, e.g. "acc" -> "--acc: ..."); the plain message when it names none.
std::string with_option(const bitsim::Error& e);

}  // namespace bitsim::cli
