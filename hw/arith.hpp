// Golden arithmetic in any float or fixed format, for hardware verification (docs/hardware.md).
//
// Every operation takes operand codes of one format, computes the exact result on rationals (sqrt: an
// exact integer square root with a sticky bit), and rounds it once with golden_quantize_exact's rules
// (docs/spec/formats.md sections 1-3), so results agree bit for bit with `bitsim quantize`. Flags are
// Berkeley TestFloat's bits (flag:: in rounding.hpp) and follow IEEE 754-2019 section 7.
//
// Options select behaviours in which real designs differ (ArithOptions): tininess before or after
// rounding, which NaN an operation returns (x86 SSE/AVX, Arm with DN=0, or the format's canonical NaN
// as RISC-V and Arm with DN=1 do), denormals-are-zero on operands and flush-to-zero on results.
//
// Graham formats are not arithmetic formats: operations on them throw ArithError.
#pragma once

#include "io/error.hpp"
#include "formats/exact_number.hpp"
#include "formats/format.hpp"
#include "formats/golden.hpp"
#include "formats/rounding.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bitsim::formats {

class ArithError : public bitsim::Error {
 public:
  using Error::Error;
};

// IEEE 754 "tininess": whether a non-zero result below the smallest normal magnitude is detected on
// the value rounded to the format's precision with an unbounded exponent (after rounding: x86, RISC-V,
// Arm with FPCR.AH=1; the default, as formats.md specifies for quantize) or on the exact value (before
// rounding: Arm with FPCR.AH=0, SoftFloat's ARM-VFPv2 specialisation). Underflow is flagged only when the
// result is also inexact, or when it is flushed to zero.
enum class Tininess { after_rounding, before_rounding };

// Which NaN an operation with a NaN result returns:
//  - canonical: the format's canonical NaN (formats.md: sign clear, quiet bit only), as RISC-V and Arm
//    with FPCR.DN=1 do; min/max follow IEEE 754-2019 minimumNumber/maximumNumber (RISC-V fmin/fmax).
//  - x86: the first NaN operand in operand order (a, b, c), quieted, sign and payload kept (SSE/AVX);
//    fma(0, Inf, qNaN) returns the quieted addend and, unlike the other two, raises invalid only for a
//    signalling NaN (Intel SDM vol. 1 table 14-17; AMD EPYC measured alike);
//    min/max are MINSS/MAXSS: a < b ? a : b (resp. >), so a NaN or equal zeros give b unchanged.
//  - arm: the first signalling NaN operand, else the first quiet one, quieted (FPCR.DN=0); for fma the
//    operand order is c, a, b (Arm's FPProcessNaNs3 takes the addend first), and a quiet-NaN addend with
//    0 x Inf gives the default NaN; min/max are FMIN/FMAX (NaN propagates, -0 < +0).
// For float->integer conversions it also picks the result of a NaN or out-of-range input (SoftFloat's
// specialisations: x86 the "integer indefinite", Arm saturation with NaN -> 0, canonical (RISC-V)
// saturation with NaN -> the largest positive code).
enum class NanPolicy { canonical, x86, arm };

struct ArithOptions {
  RoundingSpec rounding;                         // every rounding of the operation
  Tininess tininess = Tininess::after_rounding;
  NanPolicy nan = NanPolicy::canonical;
  bool daz = false;  // denormals-are-zero: subnormal operands are read as zero of their sign (no flag)
  bool ftz = false;  // flush-to-zero as x86 MXCSR.FTZ: a non-zero result that is tiny (by `tininess`),
                     // exact or not, becomes zero of its sign, flags underflow and inexact. (A format's
                     // subnormals=no is formats.md's rule instead: round, then flush subnormal results.)
  // Conversions to a fixed-point (integer) format: false raises inexact when the result differs from the
  // operand (IEEE 754-2019 convertToIntegerExact, TestFloat's -exact, C's lrint); true never raises it
  // (convertToInteger without "Exact", TestFloat's -notexact). Other operations ignore it.
  bool notexact = false;
  bool operator==(const ArithOptions&) const = default;
};

enum class Op { add, sub, mul, div, fma, sqrt, min, max, eq, lt, le, eq_signaling, lt_quiet, le_quiet, convert };

// Names as on the command line ("add", ..., "le_quiet", "convert"); nullopt for an unknown name.
std::optional<Op> parse_op(std::string_view name);
const char* op_name(Op op);
int op_arity(Op op);               // 1, 2 or 3
bool op_is_compare(Op op);         // result is a boolean: code 0 or 1, width 1
const std::vector<Op>& all_ops();  // in the enum's order

// parse_nan_policy accepts "canonical", "riscv" (= canonical), "x86", "arm".
std::optional<NanPolicy> parse_nan_policy(std::string_view name);
const char* nan_policy_name(NanPolicy p);
std::optional<Tininess> parse_tininess(std::string_view name);  // "after", "before"
const char* tininess_name(Tininess t);

// Options from text as the C interface takes them: space- or comma-separated `key=value` items among
// rounding=MODE, sr_bits=R, tininess=after|before, nan=canonical|riscv|x86|arm, daz, ftz, notexact (the
// last three also as daz=0|1). Empty text gives the defaults. Throws ArithError naming the item that is wrong.
ArithOptions parse_arith_options(std::string_view text);
// The text form of options (only the non-default ones), which parse_arith_options reads back.
std::string arith_options_to_string(const ArithOptions& o);

// flag bit missing from rounding.hpp's TestFloat set (operations can divide by zero; conversions can't).
namespace flag {
inline constexpr std::uint8_t divide_by_zero = 0x08;
}

// The exact, unrounded result of an operation: NaN, a signed infinity, or a signed real that is either
// a rational (`magnitude`) or, for sqrt, the square root of one (`is_sqrt`).
struct ExactResult {
  ValueKind kind = ValueKind::finite;
  bool negative = false;
  Rational magnitude;
  bool is_sqrt = false;
  // The nearest double (ties to even; +-inf beyond range; NaN for NaN).
  double nearest_double() const;
  // Text: "nan", "inf", "-inf", or the rational ("-3/16", "sqrt(2)"), exact.
  std::string to_string() const;
};

struct ArithResult {
  BigInt code;            // the result's code in the result format (compare: 0 or 1)
  int width = 0;          // bits of `code`
  ValueKind kind = ValueKind::finite;
  bool negative = false;  // sign of the result (a NaN's sign bit)
  double value = 0;       // decoded value as the nearest double (NaN for NaN; compare: 0 or 1)
  std::optional<Rational> exact_value;  // the result's exact value when finite
  ExactResult unrounded;  // the exact value before the final rounding (compare: the boolean, 0 or 1)
  std::uint8_t flags = 0;
};

// One operation. `format` is the operands' format and, except for convert, the result's; `to` is
// convert's result format. Operands are codes (< 2^width); op_arity(op) of them are read. `word` is the
// random word for sr. Throws ArithError for a Graham format, a wrong operand count or a code out of
// range. A NaN result in a format without NaN (float special=none, fixed point) is +0 with the invalid
// flag, except float->fixed conversions, which follow ArithOptions::nan. Division by zero into a
// format without infinity gives what its overflow policy gives an infinite input (fixed point:
// saturation), with only the divide-by-zero flag.
// arith() takes a double-based fast path where it is provably exact (arith_fast.hpp: add, sub, mul, div,
// sqrt of finite non-zero operands of float formats up to 51 significant bits) and arith_golden(), the
// rational reference, everywhere else; both give identical results (tests/test_arith_fast.cpp).
ArithResult arith(Op op, const Format& format, const std::vector<BigInt>& operands, const ArithOptions& options,
                  std::uint32_t word = 0, const Format* to = nullptr);
ArithResult arith_golden(Op op, const Format& format, const std::vector<BigInt>& operands, const ArithOptions& options,
                         std::uint32_t word = 0, const Format* to = nullptr);

// Decoded operand, exposed for tests and for `bitsim check`'s explanations.
struct Operand {
  ValueKind kind = ValueKind::finite;
  bool negative = false;
  Rational magnitude;       // finite only
  bool signalling = false;  // NaN only
  bool subnormal = false;   // finite non-zero below the smallest normal (floats only)
  BigInt code;
};
Operand decode_operand(const Format& format, const BigInt& code);

// Signed distance in units in the last place from code b to code a of one float or fixed format:
// position(a) - position(b) on the ordered line of values (-max ... -0 +0 ... +max, -0 and +0 one apart
// for floats, an infinity one past the largest finite value); nullopt when either is NaN.
std::optional<BigInt> ulp_distance(const Format& format, const BigInt& a, const BigInt& b);

}  // namespace bitsim::formats
