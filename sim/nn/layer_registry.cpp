#include "sim/nn/layer_registry.hpp"

#include "sim/nn/layers/attention_layer.hpp"
#include "sim/nn/layers/batchnorm_layer.hpp"
#include "sim/nn/layers/conv_layer.hpp"
#include "sim/nn/layers/linear_layer.hpp"
#include "sim/nn/model.hpp"
#include "sim/nn/layers/simple_layers.hpp"
#include "sim/nn/layers/transformer_layers.hpp"
#include "sim/tensor/shape.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace bitsim::sim::nn {

const std::vector<LayerType>& layer_types() {
  static const std::vector<LayerType> types = {
      {"conv", "conv", "conv", {"out", "kernel", "stride", "pad", "bias", "init_gain"}, make_conv_layer,
       "`out`, `kernel` 3, `stride` 1, `pad` kernel/2, `bias` false, `init_gain` 2 (He: a ReLU follows)"},
      {"linear", "fc", "linear", {"out", "bias", "init_gain"}, make_linear_layer,
       "`out`, `bias` true, `init_gain` 1 (LeCun); flattens its input"},
      {"batchnorm", "bn", "batchnorm", {"eps", "momentum"}, make_batchnorm_layer, "`eps` 1e-5, `momentum` 0.1"},
      {"relu", "relu", "relu", {}, make_relu_layer, "no keys"},
      {"flatten", "flatten", "flatten", {}, make_flatten_layer, "no keys: [N, C, H, W] to [N, C*H*W, 1, 1]"},
      {"maxpool", "pool", "maxpool", {"kernel", "stride", "pad"}, make_maxpool_layer,
       "`kernel` 2, `stride` = kernel, `pad` 0"},
      {"avgpool", "avgpool", "avgpool", {"kernel", "stride", "pad"}, make_avgpool_layer,
       "`kernel` 2, `stride` = kernel, `pad` 0"},
      {"gap", "gap", "gap", {}, make_gap_layer, "no keys: the average of each channel's plane, [N, C, 1, 1]"},
      {"layernorm", "ln", "layernorm", {"eps"}, make_layernorm_layer,
       "`eps` 1e-5: normalizes the C channels of each position [n, :, h, w]"},
      {"rmsnorm", "rms", "rmsnorm", {"eps"}, make_rmsnorm_layer, "`eps` 1e-5: scales the C channels of each position by their RMS"},
      {"gelu", "gelu", "gelu", {}, make_gelu_layer, "no keys: x Phi(x) with the exact normal CDF"},
      {"pos_embed", "pos", "pos_embed", {}, make_pos_embed_layer, "no keys: adds a learned [1, C, H, W] tensor (`embedding`)"},
      {"attention", "attn", "attention", {"heads"}, make_attention_layer,
       "`heads` 1: multi-head self-attention over the H*W positions of [N, 3D, H, W] (q, k, v) to [N, D, H, W]"},
      {"residual", "block", "add", {"body", "shortcut", "pre", "shortcut_from"}, nullptr,
       "`body`, `shortcut` (empty = identity), `pre`, `shortcut_from` = `input` or `pre`; its add is "
       "`<block>.add`"},
  };
  return types;
}

const std::vector<LayerKey>& layer_keys() {
  static const std::vector<LayerKey> keys = {
      {"out", &LayerSpec::out, 1, double(std::int64_t{1} << 24), "output channels (conv) or features (linear)"},
      {"kernel", &LayerSpec::kernel, 1, 64, "window height and width"},
      {"stride", &LayerSpec::stride, 1, 64, "step of the window"},
      {"pad", &LayerSpec::pad, 0, 64, "zeros added on each side"},
      {"bias", &LayerSpec::bias, 0, 0, "whether the layer adds a bias"},
      {"eps", &LayerSpec::eps, 1e-30, 1, "added to the variance"},
      {"momentum", &LayerSpec::momentum, 0, 1, "weight of the batch in the running statistics"},
      {"init_gain", &LayerSpec::init_gain, 1e-6, 100, "the weights' initial variance times fan_in (default: the layer's own)"},
      {"heads", &LayerSpec::heads, 1, 4096, "attention heads; each reads 1/heads of the q, k and v channels"},
  };
  return keys;
}

const LayerType& layer_type(std::string_view type) {
  for (const LayerType& t : layer_types())
    if (t.type == type) return t;
  std::string known;
  for (const LayerType& t : layer_types()) known += fmt::format("{}{}", known.empty() ? "" : ", ", t.type);
  throw ModelError(fmt::format("unknown layer type '{}' (known: {})", type, known));
}

std::vector<std::string> layer_type_names() {
  std::vector<std::string> names;
  for (const LayerType& t : layer_types()) names.emplace_back(t.type);
  return names;
}

std::vector<std::string> layer_kind_names() {
  std::vector<std::string> kinds;
  for (const LayerType& t : layer_types())
    if (std::find(kinds.begin(), kinds.end(), t.kind) == kinds.end()) kinds.emplace_back(t.kind);
  return kinds;
}

bool some_layer_reads(std::string_view key) {
  for (const LayerType& t : layer_types())
    if (std::find(t.keys.begin(), t.keys.end(), key) != t.keys.end()) return true;
  return false;
}

const LayerKey* find_layer_key(std::string_view name) {
  for (const LayerKey& k : layer_keys())
    if (k.name == name) return &k;
  return nullptr;
}

std::int64_t required_out(const LayerBuild& b) {
  if (!b.spec.out || *b.spec.out < 1) throw ModelError(b.name + " (" + b.spec.type + "): `out` must be given and >= 1");
  return *b.spec.out;
}

void check_parameter_count(const std::string& name, const char* what, std::initializer_list<std::int64_t> dims) {
  if (product_within(dims, kMaxLayerParameters)) return;
  std::string shape;
  for (const std::int64_t d : dims) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
  throw ModelError(fmt::format("{}: {} of {} elements, more than the limit of 2^28 per tensor", name, what, shape));
}

}  // namespace bitsim::sim::nn
