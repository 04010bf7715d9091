// The start-up check that this CPU has the instructions the build's baseline code assumes (for the
// default -march=x86-64-v3: AVX2, FMA, BMI2). Without it, a binary copied to an older machine (a
// cluster's compute nodes) would die with SIGILL somewhere, or never say why.
//
// This file is compiled for plain x86-64 (see formats/CMakeLists.txt) and runs as a constructor of
// high priority, before the C++ static initializers of the rest of the program, which may already use
// the newer instructions. It uses only C library calls.
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace bitsim::formats {

extern const char* const kBaselineFeatures[];  // simd_target.cpp: what the baseline was compiled for

namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// __builtin_cpu_supports takes a string literal only, hence one line per feature.
bool supports(const char* feature) {
  struct Entry {
    const char* name;
    bool has;
  };
  const Entry table[] = {
      {"sse3", __builtin_cpu_supports("sse3") != 0},         {"ssse3", __builtin_cpu_supports("ssse3") != 0},
      {"sse4.1", __builtin_cpu_supports("sse4.1") != 0},     {"sse4.2", __builtin_cpu_supports("sse4.2") != 0},
      {"popcnt", __builtin_cpu_supports("popcnt") != 0},     {"avx", __builtin_cpu_supports("avx") != 0},
      {"avx2", __builtin_cpu_supports("avx2") != 0},         {"fma", __builtin_cpu_supports("fma") != 0},
      {"bmi", __builtin_cpu_supports("bmi") != 0},           {"bmi2", __builtin_cpu_supports("bmi2") != 0},
      {"aes", __builtin_cpu_supports("aes") != 0},           {"pclmul", __builtin_cpu_supports("pclmul") != 0},
      {"avx512f", __builtin_cpu_supports("avx512f") != 0},   {"avx512vl", __builtin_cpu_supports("avx512vl") != 0},
      {"avx512bw", __builtin_cpu_supports("avx512bw") != 0}, {"avx512dq", __builtin_cpu_supports("avx512dq") != 0},
      {"avx512cd", __builtin_cpu_supports("avx512cd") != 0}, {"avx512vnni", __builtin_cpu_supports("avx512vnni") != 0},
  };
  for (const Entry& e : table)
    if (std::strcmp(e.name, feature) == 0) return e.has;
  return false;  // a feature this table lacks: treat as missing, so the message names it
}

bool check(bool report) {
  __builtin_cpu_init();  // required before __builtin_cpu_supports in a constructor
  char missing[256] = "";
  for (const char* const* f = kBaselineFeatures; *f != nullptr; ++f)
    if (!supports(*f) && std::strlen(missing) + std::strlen(*f) + 2 < sizeof missing) {
      if (missing[0] != '\0') std::strcat(missing, " ");
      std::strcat(missing, *f);
    }
  if (missing[0] == '\0') return true;
  if (report)
    std::fprintf(stderr,
                 "bitsim: this CPU lacks instructions this build of bitsim was compiled for (-march=%s): %s.\n"
                 "bitsim needs at least an x86-64-v3 CPU with AES and CLMUL (AVX2, FMA, BMI2: Intel Haswell or AMD\n"
                 "Zen and later); a build made with -DBITSIM_MARCH=native runs only on CPUs like the one it was built on.\n",
                 BITSIM_BUILD_MARCH, missing);
  return false;
}

[[gnu::constructor(101)]] void check_at_start_up() {
  if (!check(true)) std::_Exit(2);
}
#else
bool check(bool) { return true; }
#endif

}  // namespace

bool cpu_has_baseline_features() { return check(false); }

}  // namespace bitsim::formats
