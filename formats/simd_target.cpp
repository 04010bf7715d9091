#include "formats/simd_target.hpp"

#include <hwy/highway.h>
#include <hwy/targets.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>

namespace bitsim::formats {

// The CPU features the baseline code was compiled to assume (read by the start-up check in
// cpu_check.cpp, which is compiled for plain x86-64 so that it runs on any CPU). Constant data: no
// instruction of this file runs before that check.
extern const char* const kBaselineFeatures[];
const char* const kBaselineFeatures[] = {
#if defined(__x86_64__)
#ifdef __SSE3__
    "sse3",
#endif
#ifdef __SSSE3__
    "ssse3",
#endif
#ifdef __SSE4_1__
    "sse4.1",
#endif
#ifdef __SSE4_2__
    "sse4.2",
#endif
#ifdef __POPCNT__
    "popcnt",
#endif
#ifdef __AVX__
    "avx",
#endif
#ifdef __AVX2__
    "avx2",
#endif
#ifdef __FMA__
    "fma",
#endif
#ifdef __BMI__
    "bmi",
#endif
#ifdef __BMI2__
    "bmi2",
#endif
#ifdef __AES__
    "aes",
#endif
#ifdef __PCLMUL__
    "pclmul",
#endif
#ifdef __AVX512F__
    "avx512f",
#endif
#ifdef __AVX512VL__
    "avx512vl",
#endif
#ifdef __AVX512BW__
    "avx512bw",
#endif
#ifdef __AVX512DQ__
    "avx512dq",
#endif
#ifdef __AVX512CD__
    "avx512cd",
#endif
#ifdef __AVX512VNNI__
    "avx512vnni",
#endif
#endif
    nullptr};

// Defined in cpu_check.cpp; referenced here so that the linker keeps that object (and its start-up
// check) in every program that runs a kernel.
bool cpu_has_baseline_features();

namespace {

std::string target_name(std::int64_t target) {
  switch (target) {
#if HWY_ARCH_X86
    case HWY_AVX3: return "avx512";
    case HWY_AVX3_DL: return "avx512_dl";
#endif
    default: break;
  }
  std::string name = hwy::TargetName(target);
  for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return name;
}

// The targets compiled into the kernels (HWY_TARGETS: every kernel file is compiled with the same
// flags and policy as this one) that the CPU supports, without any restriction in force.
std::int64_t available_mask() {
  static const std::int64_t mask = [] {
    hwy::SetSupportedTargetsForTest(0);
    return hwy::SupportedTargets() & HWY_TARGETS;
  }();
  return mask;
}

std::vector<std::int64_t> bits_of(std::int64_t mask) {
  std::vector<std::int64_t> out;
  for (std::int64_t m = mask; m != 0; m &= m - 1) out.push_back(m & -m);  // lowest bit = best target
  return out;
}

}  // namespace

std::vector<std::string> simd_targets() {
  std::vector<std::string> names;
  for (const std::int64_t t : bits_of(available_mask())) names.push_back(target_name(t));
  return names;
}

std::string simd_target() {
  const std::int64_t current = hwy::SupportedTargets() & HWY_TARGETS;
  return current == 0 ? target_name(HWY_STATIC_TARGET) : target_name(current & -current);
}

void set_simd_target(std::string_view name) {
  (void)cpu_has_baseline_features();
  const std::int64_t available = available_mask();
  if (name == "best") {
    hwy::SetSupportedTargetsForTest(0);
    return;
  }
  for (const std::int64_t t : bits_of(available))
    if (target_name(t) == name) {
      hwy::SetSupportedTargetsForTest(t);
      return;
    }
  throw SimdTargetError(fmt::format("SIMD target '{}' is not available: this build and CPU have {} (or 'best')", name,
                                    fmt::join(simd_targets(), ", ")));
}

void apply_simd_environment() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* value = std::getenv("BITSIM_SIMD");
    if (value == nullptr || *value == '\0') return;
    try {
      set_simd_target(value);
    } catch (const SimdTargetError& e) {
      throw SimdTargetError(fmt::format("environment variable BITSIM_SIMD: {}", e.what()), ErrorSite::at_key("BITSIM_SIMD"));
    }
  });
}

std::string_view build_march() { return BITSIM_BUILD_MARCH; }

}  // namespace bitsim::formats
