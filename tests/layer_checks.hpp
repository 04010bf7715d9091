// Shared by the layer tests: the fp64 reference's tensors, random inputs, a relative closeness check,
// and check_layer, which checks a layer two ways: (1) an fp64 reference of its forward and analytic
// backward against central differences, (2) the engine's fp32 forward and backward against that reference.
#pragma once

#include "sim/kernels/ftensor.hpp"
#include "sim/nn/layer.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace bitsim::sim::nn::testing {

using T4 = NchwArray;  // fp64 tensors of the reference

inline T4 to_t4(const FTensor& t) { return T4(t.shape, std::vector<double>(t.data.begin(), t.data.end())); }

inline FTensor random_tensor(Nchw s, std::mt19937& rng, double sigma = 1.0, double mean = 0.0) {
  FTensor t(s);
  std::normal_distribution<double> nd(mean, sigma);
  for (float& v : t.data) v = static_cast<float>(nd(rng));
  return t;
}


// max |got - want| <= rel * max |want| (and want is not all zero, so the check can fail).
inline void check_close(std::span<const double> got, std::span<const double> want, double rel, const std::string& what) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  double scale = 0, err = 0;
  std::size_t worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    scale = std::max(scale, std::abs(want[i]));
    const double e = std::abs(got[i] - want[i]);
    if (!(e <= err)) {
      err = e;
      worst = i;
    }
  }
  INFO("max |want| " << scale << ", max error " << err << " at " << worst << " (got " << got[worst] << ", want "
                     << want[worst] << "), relative " << err / scale);
  CHECK(scale > 0);
  CHECK(err <= rel * scale);
}

inline void check_close(const FTensor& got, const T4& want, double rel, const std::string& what) {
  INFO(what << ": engine shape " << got.shape.to_string() << ", reference " << want.shape.to_string());
  REQUIRE(got.shape == want.shape);
  check_close(to_t4(got).data, want.data, rel, what);
}

// ---- per-layer checks ------------------------------------------------------------------------------

// A layer as a function of its tensors: the first `inputs` are the layer's inputs, the rest its
// parameters in Layer::params() order. bwd returns the gradient of every tensor for dL/dy.
struct RefOp {
  std::size_t inputs = 1;
  std::function<T4(const std::vector<T4>&)> fwd;
  std::function<std::vector<T4>(const std::vector<T4>&, const T4&)> bwd;
};

// (1) the analytic fp64 backward against central differences of L = sum(y * R), R random;
// (2) the engine's fp32 forward and backward (dy = R) against the fp64 reference.
inline void check_layer(const std::string& what, Layer& layer, const RefOp& op, const std::vector<FTensor>& tensors, unsigned seed) {
  INFO(what);
  std::mt19937 rng(seed + 1000);  // not the stream the tensors came from: R must not be a function of them
  std::vector<T4> t;
  for (const FTensor& f : tensors) t.push_back(to_t4(f));
  const T4 y = op.fwd(t);
  const FTensor R = random_tensor(y.shape, rng);  // float values: also the engine's dy
  const T4 r = to_t4(R);
  const std::vector<T4> grads = op.bwd(t, r);
  REQUIRE(grads.size() == t.size());
  auto loss = [&](const std::vector<T4>& tt) {
    const T4 yy = op.fwd(tt);
    double l = 0;
    for (std::size_t i = 0; i < yy.data.size(); ++i) l += yy.data[i] * r.data[i];
    return l;
  };
  const double h = 1e-5;
  for (std::size_t k = 0; k < t.size(); ++k) {
    std::vector<double> fd(t[k].data.size());
    for (std::size_t i = 0; i < fd.size(); ++i) {
      const double v = t[k].data[i];
      t[k].data[i] = v + h;
      const double lp = loss(t);
      t[k].data[i] = v - h;
      const double lm = loss(t);
      t[k].data[i] = v;
      fd[i] = (lp - lm) / (2 * h);
    }
    check_close(grads[k].data, fd, 1e-6, "fp64 analytic gradient vs central differences, tensor " + std::to_string(k));
  }

  // The engine.
  std::vector<Param*> params = layer.params();
  REQUIRE(params.size() == t.size() - op.inputs);
  for (std::size_t i = 0; i < params.size(); ++i) {
    REQUIRE(params[i]->value.shape == tensors[op.inputs + i].shape);
    params[i]->value = tensors[op.inputs + i];
  }
  StepContext ctx;
  layer.round_weights(ctx);
  std::vector<const FTensor*> in;
  for (std::size_t i = 0; i < op.inputs; ++i) in.push_back(&tensors[i]);
  FTensor out;
  layer.forward(ctx, in, out);
  const double tol = 1e-4;
  check_close(out, y, tol, "engine forward vs fp64");
  std::vector<FTensor> dx(op.inputs);
  std::vector<FTensor*> dxp;
  for (FTensor& d : dx) dxp.push_back(&d);
  layer.backward(ctx, R, dxp);
  for (std::size_t i = 0; i < op.inputs; ++i) check_close(dx[i], grads[i], tol, "engine input gradient " + std::to_string(i));
  for (std::size_t i = 0; i < params.size(); ++i)
    check_close(params[i]->grad, grads[op.inputs + i], tol, "engine gradient of " + params[i]->name);
}


}  // namespace bitsim::sim::nn::testing
