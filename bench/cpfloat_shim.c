/* A thin C wrapper around CPFloat (M. Fasi and M. Mikaitis, header-only C), the peer of
 * bench_vs_cpfloat. It is compiled only by the temporary build of bench/compare_cpfloat.sh, from a
 * copy of CPFloat fetched there (never part of this repository), twice: for x86-64-v3 and for
 * -march=native, with CPFLOAT_SHIM_SUFFIX naming the two sets of functions. CPFloat's stochastic
 * rounding draws from PCG (pcg_variants.h, given with -include), as CPFloat's own build does. */
#define SHIM_CAT2(a, b) a##_##b
#define SHIM_CAT(a, b) SHIM_CAT2(a, b)
#define SHIM(name) SHIM_CAT(name, CPFLOAT_SHIM_SUFFIX)

/* CPFloat's few functions with external linkage, renamed so that both copies link into one program. */
#define init_optstruct SHIM(init_optstruct)
#define free_optstruct SHIM(free_optstruct)
#define cpfloat_populate_optstruct_from_format SHIM(cpfloat_populate_optstruct_from_format)

#include "cpfloat_binary32.h"

/* A target format: `precision` significand bits (with the implicit one), exponents emin..emax,
 * subnormals, infinities or not, the exponent range of the target format, no saturation and no bit
 * flips. `round` is CPFloat's rounding-mode code. Returns NULL when CPFloat rejects the options. */
void* SHIM(cpfloat_shim_create)(int precision, int emin, int emax, int infinity, int round) {
  optstruct* o = init_optstruct();
  strcpy(o->format, "custom");
  o->precision = (cpfloat_precision_t)precision;
  o->emin = emin;
  o->emax = emax;
  o->explim = CPFLOAT_EXPRANGE_TARG;
  o->infinity = infinity ? CPFLOAT_INF_USE : CPFLOAT_INF_NO;
  o->round = (cpfloat_rounding_t)round;
  o->saturation = CPFLOAT_SAT_NO;
  o->subnormal = CPFLOAT_SUBN_USE;
  o->flip = CPFLOAT_SOFTERR_NO;
  o->p = 0;
  if (cpfloat_validate_optstructf(o) < 0) {
    free_optstruct(o);
    return NULL;
  }
  return o;
}

/* out[i] = in[i] rounded; returns CPFloat's status (0: success). */
int SHIM(cpfloat_shim_round)(void* options, float* out, const float* in, size_t n) {
  return cpfloatf(out, in, n, (optstruct*)options);
}

void SHIM(cpfloat_shim_free)(void* options) { free_optstruct((optstruct*)options); }
