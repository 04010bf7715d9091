#include "sim/nn/layers/conv_layer.hpp"

#include "sim/nn/layer_registry.hpp"

namespace bitsim::sim::nn {

namespace {

Conv2dParams conv_params(const ConvSpec& s) {
  Conv2dParams p;
  p.stride_h = p.stride_w = s.stride;
  p.pad_h = p.pad_w = s.pad;
  return p;
}

}  // namespace

ConvLayer::ConvLayer(const ConvSpec& spec) : spec_(spec) {
  if (spec.in_channels < 1 || spec.out_channels < 1 || spec.kernel_h < 1 || spec.kernel_w < 1 || spec.stride < 1 ||
      spec.pad < 0)
    throw KernelShapeError("conv: channels, kernel and stride must be >= 1 and pad >= 0");
  weight_.name = "weight";
  weight_.value = FTensor(Nchw{spec.out_channels, spec.in_channels, spec.kernel_h, spec.kernel_w});
  if (spec.bias) {
    bias_.name = "bias";
    bias_.value = FTensor(Nchw{1, spec.out_channels, 1, 1});
  }
}

std::vector<Param*> ConvLayer::params() {
  if (spec_.bias) return {&weight_, &bias_};
  return {&weight_};
}

Nchw ConvLayer::output_shape(std::span<const Nchw> in) const {
  const Nchw& x = in[0];
  if (x.c != spec_.in_channels)
    throw KernelShapeError(name + ": input has " + std::to_string(x.c) + " channels, the layer expects " +
                           std::to_string(spec_.in_channels));
  Nchw probe = x;
  probe.n = 1;
  Nchw y = conv2d_output_shape(probe, weight_.value.shape, conv_params(spec_));
  y.n = x.n;
  const_cast<ConvLayer*>(this)->macs_ =
      static_cast<double>(y.c * y.h * y.w) * static_cast<double>(spec_.in_channels * spec_.kernel_h * spec_.kernel_w);
  return y;
}

void ConvLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  input_ = &x;
  (void)output_shape(std::span<const Nchw>(&x.shape, 1));  // checks the channels, keeps the MACs
  kernels_.forward(gemm, x, weight_.used(), spec_.bias ? bias_.used().ptr() : nullptr, conv_params(spec_), out, ctx.threads);
  round(ctx, Role::A, out);
}

void ConvLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  const FTensor& x = *input_;
  // The weight and bias gradients read the bifurcated copy of dy when there is one.
  kernels_.backward_weight(gemm, x, weight_dy(dy), weight_.value.shape, conv_params(spec_), weight_.grad,
                           spec_.bias ? &bias_.grad : nullptr, ctx.threads);
  if (dx[0]) kernels_.backward_input(gemm, dy, weight_.used(), x.shape, conv_params(spec_), *dx[0], ctx.threads);
  finish_grad(ctx, weight_, 0);
  if (spec_.bias) finish_grad(ctx, bias_, 1);
  if (dx[0]) round(ctx, Role::E, *dx[0]);
}

std::unique_ptr<Layer> make_conv_layer(const LayerBuild& b) {
  ConvSpec c;
  c.in_channels = b.in.c;
  c.out_channels = required_out(b);
  c.kernel_h = c.kernel_w = b.spec.kernel.value_or(3);
  c.stride = b.spec.stride.value_or(1);
  c.pad = b.spec.pad.value_or(c.kernel_h / 2);
  c.bias = b.spec.bias.value_or(false);
  check_parameter_count(b.name, "weights", {c.out_channels, c.in_channels, c.kernel_h, c.kernel_w});
  return std::make_unique<ConvLayer>(c);
}

}  // namespace bitsim::sim::nn
