// Text matrices for `bitsim gemm`: whitespace-separated numbers, one row per line, each read as
// `bitsim quantize` reads a number (decimal or C99 hex float, nan, inf, -inf; the nearest double);
// blank lines are skipped.
#pragma once

#include "sim/kernels/gemm.hpp"

#include <stdexcept>
#include <string>

namespace bitsim::cli {

// Throws std::runtime_error naming the file, row and column of the problem (unreadable file,
// unparsable number, ragged rows, empty matrix).
sim::Matrix read_text_matrix(const std::string& path);

// The same text, each number taken as the exact value it spells (formats/format_text.hpp,
// parse_exact_number): `bitsim gemm --exact-input`.
sim::ExactMatrix read_exact_text_matrix(const std::string& path);

}  // namespace bitsim::cli
