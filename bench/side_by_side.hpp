// What the benchmark programs with their own interleaved rounds share (bench_gemm_blas,
// bench_conv_stages, bench_vs_cpfloat): a clock, the median, and "--name value" option parsing with
// clear errors.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace bitsim::bench {

inline double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds per call of f over `calls` calls.
template <class F> double seconds_per_call(F&& f, int calls) {
  const double t0 = seconds_now();
  for (int i = 0; i < calls; ++i) f();
  return (seconds_now() - t0) / calls;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Parses "--name value" pairs: handle(name, value) returns "" when it took the option, else the error
// to print. Returns 0, or 2 after printing "PROGRAM: error" and the usage line.
template <class Handle> int parse_options(int argc, char** argv, const char* program, const char* usage, Handle handle) {
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    std::string error = i + 1 >= argc ? "option " + name + " needs a value" : handle(name, std::string(argv[i + 1]));
    if (!error.empty()) {
      std::fprintf(stderr, "%s: %s\nusage: %s\n", program, error.c_str(), usage);
      return 2;
    }
    ++i;
  }
  return 0;
}

// A positive integer (at most `max`) or a positive number of seconds from an option's value; false if
// it is not one.
inline bool positive_int(const std::string& v, int& out, long max = 1000000) {
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || x < 1 || x > max) return false;
  out = static_cast<int>(x);
  return true;
}
inline bool positive_seconds(const std::string& v, double& out) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !(x > 0)) return false;
  out = x;
  return true;
}

}  // namespace bitsim::bench
