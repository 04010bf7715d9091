// Multi-head self-attention over the positions of a token map (Vaswani et al. 2017), without its
// projections: the input [N, 3D, H, W] holds q, k and v (channels 0..D-1, D..2D-1, 2D..3D-1), as a 1x1
// conv with 3D outputs produces them; the output is [N, D, H, W], which a 1x1 conv projects. Each of
// `heads` heads reads d = D / heads consecutive channels of q, k and v; its T = H*W positions are the
// tokens. Per sample and head, with Q, K, V the [T, d] matrices (row t = position t's channels):
//
//   S = round_ATT_S(float(float(Q K^T) * s)),  s = float(1 / sqrt(d))      (product: the layer's GemmSetup)
//   e[t][u] = float(exp(double(float(S[t][u] - m_t)))),  m_t = max_u S[t][u]   (the max is exact)
//   z_t = sum_u e[t][u]                                                    (the layer's GemmSetup: e times ones)
//   P = round_ATT_P(float(e / z_t))
//   O = P V                                                                (the layer's GemmSetup)
//   y[n][h*d + j][t] = O[t][j], rounded to A
// so every accumulation, the softmax's sum included, follows the layer's GemmSetup (accumulator format,
// order, product format), and the scores and probabilities are roles of their own. The roles' tensors
// are [N * heads * T, T, 1, 1]: one row of T keys per query, so a tensor policy's axis 1 (MX blocks,
// per-channel scales) runs along the keys, the reduction axis of P V.
//
// Backward reads the rounded P and the forward's q, k, v; dO is dy (rounded to DY) per head:
//   dV = P^T dO,  dP = dO V^T                                              (the layer's GemmSetup)
//   dS~[t][u] = float(P[t][u] (dP[t][u] - r_t) s),  r_t = sum_u P[t][u] dP[t][u]   (double, u in order)
//   dQ = dS~ K,  dK = dS~^T Q                                              (the layer's GemmSetup)
//   dx = [dQ; dK; dV] in the input's layout, rounded to E
// dP and dS~ stay fp32 (no role). Samples and heads are independent: the thread split never changes a bit.
#pragma once

#include "sim/nn/layer.hpp"

#include <memory>

namespace bitsim::sim::nn {

struct LayerBuild;  // layer_registry.hpp

class AttentionLayer final : public Layer {
 public:
  explicit AttentionLayer(std::int64_t heads);
  const char* kind() const override { return "attention"; }
  bool reads_gemm_setup() const override { return true; }
  bool uses_role(Role r) override { return r == Role::ATT_S || r == Role::ATT_P || Layer::uses_role(r); }
  Nchw output_shape(std::span<const Nchw> in) const override;
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;
  double forward_macs_per_sample() const override { return macs_; }
  // The scores and probabilities of the last forward pass as used (for tests and golden vectors).
  const FTensor& scores() const { return s_; }
  const FTensor& probabilities() const { return p_; }

 private:
  std::int64_t heads_;
  mutable double macs_ = 0;  // set by output_shape (the model builder calls it once)
  Nchw in_shape_;
  FTensor qkv_;   // per (n, head): Q, K, V as [T, d] row-major, one after the other
  FTensor s_, p_; // [N * heads * T, T, 1, 1]
};

// The registry's constructor of `type = "attention"` (layer_registry.hpp).
std::unique_ptr<Layer> make_attention_layer(const LayerBuild& b);

}  // namespace bitsim::sim::nn
