// The SIMD target of the array and GEMM kernels, chosen at run time.
//
// The kernels that need vector instructions (the quantizer's array loops in formats/, the fp32 GEMM
// micro-kernels in sim/kernels/) are compiled once per target with Highway's foreach_target (on
// x86-64: AVX2 and AVX-512) and dispatched at their first call to the best target this CPU has. The
// rest of the program is compiled for the build's baseline (-march, x86-64-v3 by default). Every
// target computes the same bits: lanes are independent and each output keeps its order of operations,
// so the target changes speed only. To check that, or to compare speed, a run can restrict the kernels
// to one target: the environment variable BITSIM_SIMD (read once, before the first kernel call), or
// set_simd_target().
#pragma once

#include "io/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace bitsim::formats {

// A SIMD target name that this build or CPU does not have.
class SimdTargetError : public Error {
 public:
  using Error::Error;
};

// The targets the kernels were compiled for that this CPU can run, best first, e.g. {"avx512", "avx2"}.
std::vector<std::string> simd_targets();

// The target the kernels run on now.
std::string simd_target();

// Restricts the kernels to `name` (one of simd_targets()), or lifts the restriction ("best").
// Throws SimdTargetError naming the choices. Call it before kernels run on other threads.
void set_simd_target(std::string_view name);

// Applies BITSIM_SIMD, once per process; the dispatching kernels call it before their first call.
// Throws SimdTargetError (key "BITSIM_SIMD") for a value set_simd_target refuses.
void apply_simd_environment();

// The -march the baseline code was compiled for ("x86-64-v3", "native", ...; empty: the compiler's).
std::string_view build_march();

}  // namespace bitsim::formats
