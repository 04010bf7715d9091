// Writing test-vector bundles for hardware test benches (`bitsim golden`): one directory holding
//   bundle.h5      every tensor as values (float64) and codes (uint64), formats and options as attributes
//   <name>.hex     the codes of one tensor, one per line, ceil(width/4) lower-case hex digits, row-major:
//                  the format Verilog's $readmemh and VHDL's hread-based loaders read
//   manifest.txt   what each file holds, in plain text
// The bundle is written into a temporary sibling directory and renamed into place at the end, so an
// error never leaves a half-written bundle behind. Layout documented in docs/golden-vectors.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bitsim::hw {

struct BundleTensor {
  std::string name;                  // dataset and hex-file name, e.g. "A"
  std::vector<std::int64_t> shape;   // row-major
  std::string format;                // canonical format string of its codes
  int width = 0;                     // code width in bits
  std::vector<double> values;        // exact values as the nearest doubles
  std::vector<std::uint64_t> codes;  // codes in `format`
  std::string role;                  // "input" or "output"
};

struct Bundle {
  std::string kind;                               // "gemm" or "conv2d"
  std::map<std::string, std::string> attributes;  // options, formats, seed, version
  std::vector<BundleTensor> tensors;
};

// Writes the bundle into directory `dir` (must not exist yet, or is replaced only if it is a previous
// bundle: it must contain manifest.txt). Throws std::runtime_error naming the path on failure.
void write_bundle(const Bundle& bundle, const std::string& dir);

}  // namespace bitsim::hw
