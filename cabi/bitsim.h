/* bitsim's C interface: the golden model of number formats for test benches (SystemVerilog DPI-C,
 * cocotb, C/C++). Link with -lbitsim_c (the shared library libbitsim_c.so built by CMake target
 * bitsim_c). See docs/hardware.md.
 *
 * Conventions, for every function:
 *  - A format is a string as bitsim reads it everywhere (docs/spec/formats.md section 1), e.g.
 *    "fp8_e4m3", "float(e=5,m=2)", "fixed(i=3,f=4)". Formats are parsed once and cached (thread-safe).
 *  - Codes are bit patterns in the low `width` bits of a uint64_t (formats wider than 64 bits are not
 *    available here; use the command line). The result's other bits are zero.
 *  - Flags are Berkeley TestFloat's bits: 0x10 invalid, 0x08 divide-by-zero, 0x04 overflow,
 *    0x02 underflow, 0x01 inexact.
 *  - `options` is NULL or "" for the defaults, else space- or comma-separated items:
 *      rounding=rne|rna|rtz|rup|rdn|sr   sr_bits=1..32   tininess=after|before
 *      nan=canonical|riscv|x86|arm       daz   ftz   notexact (convert to fixed point: no inexact)
 *  - `word` is the 32-bit random word of stochastic rounding (ignored by other modes).
 *  - Return value: 0 on success; -1 on an error (unknown format, option or operation, a code out of
 *    range, a NaN into a format without NaN): the outputs are then untouched and bitsim_last_error()
 *    returns the message (per thread, valid until the next call on that thread).
 *  - All outputs are pointers the caller owns; a NULL output pointer is allowed and skipped.
 * Every result is exact, rounded once, bit-identical to the bitsim command: integer arithmetic on the
 * significands where formats are at most 64 bits wide (hw/arith_fast.hpp), exact rationals elsewhere.
 *
 * For speed, prepare an operation once (bitsim_arith_new: op, formats and options parsed, the format's
 * layout computed) and call it per stimulus (bitsim_arith_one) or per batch of stimuli
 * (bitsim_arith_array). bitsim_op and bitsim_convert keep the last few prepared operations of each
 * thread, so repeated calls with the same strings also skip the parsing. */
#ifndef BITSIM_C_H
#define BITSIM_C_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The message of this thread's last failed call ("" if none). */
const char* bitsim_last_error(void);

/* Width in bits of a format, or -1 (error) for an invalid name. */
int bitsim_format_width(const char* format);

/* Writes the canonical constructor form of `format` ("float(e=4,m=3,special=fn)") into buf (size
 * bytes, NUL-terminated, truncated if too small). Returns the full length, or -1 on error. */
int bitsim_format_canonical(const char* format, char* buf, int size);

/* Quantizes a double (taken exactly) to `format`, as `bitsim quantize --flags`: code, value (the
 * decoded value as the nearest double) and flags. `options` as above (only rounding and sr_bits
 * matter). Graham formats' +-0, which has no code, gives -1. */
int bitsim_quantize(const char* format, double x, const char* options, uint32_t word, uint64_t* code, double* value,
                    uint32_t* flags);

/* Decodes a code of `format` to the nearest double of its value. */
int bitsim_decode(const char* format, uint64_t code, double* value);

/* One operation on codes of `format`, as `bitsim op`: op is one of add sub mul div fma sqrt min max
 * eq lt le eq_signaling lt_quiet le_quiet (fma(a, b, c) = a*b + c rounded once; unary ops read a only,
 * binary ops a and b). Compare operations give code 0 or 1. */
int bitsim_op(const char* op, const char* format, const char* options, uint64_t a, uint64_t b, uint64_t c, uint32_t word,
              uint64_t* code, uint32_t* flags);

/* Conversion of a code of format `from` to format `to` (float, fixed or integer), rounded once. */
int bitsim_convert(const char* from, const char* to, const char* options, uint64_t a, uint32_t word, uint64_t* code,
                   uint32_t* flags);

/* A prepared operation (opaque; a chandle in SystemVerilog). */
typedef struct bitsim_arith bitsim_arith;

/* Prepares `op` (as bitsim_op, or "convert") on codes of `format`; `to` is convert's destination format
 * (NULL otherwise). Returns NULL on error (bitsim_last_error() says why). Free with bitsim_arith_free.
 * A prepared operation may be called from several threads at once. */
bitsim_arith* bitsim_arith_new(const char* op, const char* format, const char* to, const char* options);
void bitsim_arith_free(bitsim_arith* arith);

/* One operation: as bitsim_op / bitsim_convert (operands the operation does not read are ignored). */
int bitsim_arith_one(const bitsim_arith* arith, uint64_t a, uint64_t b, uint64_t c, uint32_t word, uint64_t* code,
                     uint32_t* flags);

/* A batch of n operations: element i reads a[i] (and b[i], c[i] when the operation has them; pass NULL
 * for operands it does not read) and words[i] (NULL: word 0 for every element); writes codes[i] and
 * flags[i] (flags may be NULL). On an operand code out of range nothing is written and the error names
 * the element. */
int bitsim_arith_array(const bitsim_arith* arith, uint64_t n, const uint64_t* a, const uint64_t* b, const uint64_t* c,
                       const uint32_t* words, uint64_t* codes, uint8_t* flags);

/* Dot product of k >= 1 pairs of codes a[i] (format a_format) and b[i] (b_format), with the semantics
 * of docs/spec/gemm.md: `product` is the products' format or "exact"; `acc` the accumulator's format
 * or "exact"; `order` is "sequential", "pairwise", "blocked:C" (C products per chunk) or a fused
 * multi-term adder "aligned(group=G,width=W,...)" (docs/spec/gemm.md rule 11); the sum is
 * rounded to out_format. `rounding` is rne, rna, rtz, rup or rdn (not sr), used for every rounding.
 * Writes the result's code in out_format. */
int bitsim_dot(const char* a_format, const char* b_format, const char* product, const char* acc, const char* order,
               const char* out_format, const char* rounding, const uint64_t* a, const uint64_t* b, int k,
               uint64_t* code);

#ifdef __cplusplus
}
#endif

#endif /* BITSIM_C_H */
