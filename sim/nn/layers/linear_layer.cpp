#include "sim/nn/layers/linear_layer.hpp"

#include "sim/nn/layer_registry.hpp"

#include "sim/kernels/matmul.hpp"


namespace bitsim::sim::nn {

LinearLayer::LinearLayer(const LinearSpec& spec) : spec_(spec) {
  if (spec.in_features < 1 || spec.out_features < 1) throw KernelShapeError("linear: features must be >= 1");
  weight_.name = "weight";
  weight_.value = FTensor(Nchw{spec.out_features, spec.in_features, 1, 1});
  if (spec.bias) {
    bias_.name = "bias";
    bias_.value = FTensor(Nchw{1, spec.out_features, 1, 1});
  }
}

std::vector<Param*> LinearLayer::params() {
  if (spec_.bias) return {&weight_, &bias_};
  return {&weight_};
}

Nchw LinearLayer::output_shape(std::span<const Nchw> in) const {
  const std::int64_t f = in[0].c * in[0].h * in[0].w;
  if (f != spec_.in_features)
    throw KernelShapeError(name + ": input has " + std::to_string(f) + " features (shape " + in[0].to_string() +
                           "), the layer expects " + std::to_string(spec_.in_features));
  return Nchw{in[0].n, spec_.out_features, 1, 1};
}

void LinearLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  input_ = &x;
  const std::int64_t N = x.shape.n, F = spec_.in_features, O = spec_.out_features;
  out.reshape(Nchw{N, O, 1, 1});
  // y = x W^T: W (O x F) is B^T.
  matmul(gemm, x.ptr(), weight_.used().ptr(), out.ptr(), N, F, O, ctx.threads, true);
  if (spec_.bias) {
    const float* b = bias_.used().ptr();
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t o = 0; o < O; ++o) out.data[static_cast<std::size_t>(n * O + o)] += b[o];
  }
  round(ctx, Role::A, out);
}

void LinearLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  const FTensor& x = *input_;
  const std::int64_t N = x.shape.n, F = spec_.in_features, O = spec_.out_features;
  // dW = dy^T x: A = dy^T (O x N), B = x (N x F); dy here is the bifurcated copy when there is one.
  const FTensor& dyw = weight_dy(dy);
  scratch_.resize(static_cast<std::size_t>(O * N));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < O; ++o) scratch_[static_cast<std::size_t>(o * N + n)] = dyw.data[static_cast<std::size_t>(n * O + o)];
  weight_.grad.reshape(weight_.value.shape);
  matmul(gemm, scratch_.data(), x.ptr(), weight_.grad.ptr(), O, N, F, ctx.threads);
  finish_grad(ctx, weight_, 0);
  if (spec_.bias) {
    // db = dy^T times a column of ones (exact products), under the layer's setup.
    bias_.grad.reshape(bias_.value.shape);
    const std::vector<float> ones(static_cast<std::size_t>(N), 1.0f);
    matmul(gemm, scratch_.data(), ones.data(), bias_.grad.ptr(), O, N, 1, ctx.threads);
    finish_grad(ctx, bias_, 1);
  }
  if (dx[0]) {
    dx[0]->reshape(x.shape);
    matmul(gemm, dy.ptr(), weight_.used().ptr(), dx[0]->ptr(), N, O, F, ctx.threads);
    round(ctx, Role::E, *dx[0]);
  }
}

std::unique_ptr<Layer> make_linear_layer(const LayerBuild& b) {
  LinearSpec l;
  l.in_features = b.in.c * b.in.h * b.in.w;
  l.out_features = required_out(b);
  l.bias = b.spec.bias.value_or(true);
  check_parameter_count(b.name, "weights", {l.out_features, l.in_features});
  return std::make_unique<LinearLayer>(l);
}

}  // namespace bitsim::sim::nn
