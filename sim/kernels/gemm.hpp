// GEMM with explicit rounding points, following docs/spec/gemm.md exactly:
//   C[i][j] = round_out( accumulate_k( round_prod( round_A(A[i][k]) * round_B(B[k][j]) ) ) )
// Inputs are rounded to their formats with rne; products are exact (IEEE specials) or rounded once to
// a product format; the accumulator is `exact` (one rounding at the end) or a format with an order:
// sequential (s = round_acc(s + p_k) from +0), pairwise (a balanced binary tree, gemm.md rule 7) or
// blocked (exact chunk sums, one rounding per chunk) or aligned (a fused multi-term adder: the terms of
// a step aligned at the largest one's leading bit and cut to a fixed width, gemm.md rule 11); finally
// a rounding to the output format.
//
// gemm() picks the fastest path that is provably bit-identical to gemm_reference():
//   * exact-sum fast path: when every partial sum is exact in float or double (a bound computed from
//     the actual data and K) and the accumulator holds every partial sum exactly, the order does not
//     matter and Eigen's GEMM gives the exact sum, rounded once;
//   * fp32 sequential fast path: accumulator fp32 with rne and products exact in float: native float
//     additions in k order are exactly round_acc(s + p_k);
//   * exact kernel: TwoSum and round-to-odd, then the format's rounding (sequential and pairwise,
//     accumulators of at most 50 significant bits), else the golden reference per element;
//   * aligned kernel (the aligned order): each step's aligned terms added as integers, rounded once
//     (gemm_aligned.cpp), else the golden reference per element.
// Results never depend on the path or on the thread count.
#pragma once

#include "io/error.hpp"
#include "formats/format.hpp"
#include "formats/golden.hpp"
#include "formats/rounding.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitsim::sim {

class GemmError : public bitsim::Error {
 public:
  using Error::Error;
};

enum class AccOrder { sequential, pairwise, blocked, aligned };

// The orders without parameters as configs and the CLI spell them: "sequential", "pairwise", "blocked"
// (training configs take these; `aligned` has parameters, see parse_acc_order).
const std::vector<std::string>& acc_order_names();
const char* acc_order_name(AccOrder o);  // "aligned" for AccOrder::aligned
std::optional<AccOrder> acc_order_from_name(const std::string& name);  // empty for an unknown name

// What a fused multi-term adder does with the bits of an aligned term below its width (gemm.md rule 11):
// truncate (toward zero, as a sign-magnitude shifter), floor (toward -Inf, as a two's-complement
// shifter), rne or rna (to nearest on the width's grid, ties to even or away from zero: a guard bit with
// or without a sticky bit), sticky (truncate, then one more bit below the width that is 1 when any
// dropped bit was: round to odd on a grid of width + 1 bits).
enum class AlignRounding { truncate, floor, rne, rna, sticky };

// The exponent a term is aligned by (gemm.md rule 11): its value's (floor(log2|t|)), or the one its
// exponent fields give, as a datapath that aligns before normalising sees it: an exact product's is the
// sum of its operands' exponents (significand in [1, 4)), a float value's never below the format's emin.
enum class AlignLead { value, exponents };

// The parameters of AccOrder::aligned (gemm.md rule 11).
struct AlignedAccumulation {
  std::int64_t group = 0;  // products per step, >= 1
  std::int64_t width = 0;  // bits kept of each aligned term, from the largest term's exponent: 1..4096
  AlignRounding beyond = AlignRounding::truncate;
  AlignLead lead = AlignLead::value;
  bool acc_in_group = true;                // the accumulator's value is one of each step's aligned terms
  AccOrder groups = AccOrder::sequential;  // acc_in_group false: sequential or pairwise over the groups
  bool operator==(const AlignedAccumulation&) const = default;
};
struct GemmConfig {
  formats::Format a_format;
  formats::Format b_format;
  std::optional<formats::Format> product;  // empty: exact products
  std::optional<formats::Format> acc;      // empty: exact accumulation (order ignored)
  AccOrder order = AccOrder::sequential;
  std::int64_t chunk = 0;                  // blocked: products per chunk (>= 1)
  AlignedAccumulation aligned;             // aligned: the fused adder's parameters
  formats::Format out_format;
  formats::Rounding rounding = formats::Rounding::rne;  // products, accumulator and output (not sr)
};

// Throws GemmError naming the option that is wrong (Graham formats, sr, blocked without chunk, ...).
void validate(const GemmConfig& config);

// Sets config.order (and config.aligned) from an order as the CLI and the C interface spell it:
// "sequential", "pairwise", "blocked" (the chunk is separate) or
// "aligned(group=G,width=W[,beyond=truncate|floor|rne|rna|sticky][,lead=value|exponents]
// [,acc=aligned|separate][,groups=sequential|pairwise])". Throws GemmError at key "order", naming the key that is wrong.
// Throws GemmError (at key "order") for parameters outside rule 11's ranges: group >= 1, width
// 1..4096, groups sequential or pairwise, and groups=pairwise only with acc=separate.
void check_aligned(const AlignedAccumulation& aligned);
void parse_acc_order(const std::string& text, GemmConfig& config);
// The order as parse_acc_order reads it, aligned with every parameter spelled out (chunk not included).
std::string acc_order_text(const GemmConfig& config);

// Whether a format is IEEE binary32 itself (fp32: its values are the floats, with inf on overflow).
bool is_fp32(const formats::Format& f);

// Dense row-major matrix of doubles.
struct Matrix {
  std::int64_t rows = 0, cols = 0;
  std::vector<double> data;
  Matrix() = default;
  Matrix(std::int64_t r, std::int64_t c) : rows(r), cols(c), data(static_cast<std::size_t>(r * c), 0.0) {}
  double& operator()(std::int64_t i, std::int64_t j) { return data[static_cast<std::size_t>(i * cols + j)]; }
  double operator()(std::int64_t i, std::int64_t j) const { return data[static_cast<std::size_t>(i * cols + j)]; }
};

enum class GemmPath { exact_sum_eigen_float, exact_sum_eigen_double, fp32_sequential, exact_kernel, aligned_kernel, reference };
const char* gemm_path_name(GemmPath p);

struct GemmResult {
  Matrix values;                     // C as the nearest doubles of its exact values
  std::vector<std::uint64_t> codes;  // C's codes in the output format, row-major (empty unless requested)
  GemmPath path = GemmPath::reference;
};

// C = A x B under `config` on `threads` threads (results identical for any thread count).
// Throws GemmError for mismatched shapes and for values a rounding cannot take (gemm.md rule 4),
// naming the row and column of C.
GemmResult gemm(const GemmConfig& config, const Matrix& a, const Matrix& b, int threads = 1, bool want_codes = true);

// The float interface used by layers: row-major float A (M x K), B (K x N) and C (M x N), the values of C
// identical to gemm()'s. The output format's values must be exact in float (else GemmError). Fast paths
// run on the float buffers directly; other cases go through gemm(). Returns the path taken.
GemmPath gemm_f32(const GemmConfig& config, const float* a, const float* b, float* c, std::int64_t M, std::int64_t K,
                  std::int64_t N, int threads = 1);

// The golden reference: gemm.md rule by rule on exact rationals (slow; any format size).
GemmResult gemm_reference(const GemmConfig& config, const Matrix& a, const Matrix& b);

// A matrix of exact values (`bitsim gemm --exact-input`: each element the value its text spells,
// which a double may not hold), row-major.
struct ExactMatrix {
  std::int64_t rows = 0, cols = 0;
  std::vector<formats::ExactInput> data;
};
// The golden reference on exact inputs: rule 1 rounds each element once, from its exact value.
GemmResult gemm_reference(const GemmConfig& config, const ExactMatrix& a, const ExactMatrix& b);

}  // namespace bitsim::sim
