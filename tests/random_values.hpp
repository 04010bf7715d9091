// Random floats spread over many binades, for the policy tests: a uniform sign and significand in
// (-1, 1) times 2^N(0, spread), from std::mt19937 (the same values on every machine).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace bitsim::test {

inline std::vector<float> random_values(std::size_t n, std::uint32_t seed, double spread) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> mag(0.0, spread);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<float> x(n);
  for (auto& v : x) v = static_cast<float>(u(rng) * std::exp2(mag(rng)));
  return x;
}

}  // namespace bitsim::test
