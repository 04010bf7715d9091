// The declarative description of a model: a list of layer descriptions, nested for residual blocks.
// Built-in models (model_zoo.hpp) are produced as such descriptions, and users write the same thing in
// TOML ([[model.layers]] tables, sim/train/config.hpp); build_model() (model.hpp) turns either into a
// graph of layers. Input channels and features are inferred from the shapes, so a description only
// says what each layer produces.
//
// Layer types, their keys and defaults: the layer registry (layer_registry.hpp; the table in
// docs/training.md). A residual block is body = [...], shortcut = [...] (empty: identity), pre = [...]
// (applied to the block input first), shortcut_from = "input" | "pre" (which tensor the shortcut
// reads); its output is add(body(pre(x)), shortcut(...)).
// Names: a layer without a `name` gets <prefix><count> with its type's prefix (conv, fc, bn, relu,
// pool, avgpool, gap, flatten, block), counted from 1 per prefix within its scope; layers inside a block are
// named "<block>.<name>" (e.g. "block4.conv2"), the block's add is "<block>.add". Names must be unique.
#pragma once

#include "io/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bitsim::sim::nn {

// A model that cannot be built (an unknown layer type or model, a bad layer shape, a size over the
// limits), or a loss given labels that do not fit its logits.
class ModelError : public bitsim::Error {
 public:
  using Error::Error;
};

struct LayerSpec {
  std::string type;
  std::string name;
  std::optional<std::int64_t> out, kernel, stride, pad, heads;
  std::optional<bool> bias;
  std::optional<double> eps, momentum, init_gain;
  std::vector<LayerSpec> body, shortcut, pre;
  std::string shortcut_from = "input";
  // Where the layer was described, for messages: "run.toml:12: key 'model.layers[3]'" when it comes
  // from a config file; empty for the built-in models.
  std::string origin;
};

struct ModelSpec {
  std::string name;  // "cnn", "resnet20", ... or "custom"
  std::vector<LayerSpec> layers;
};

}  // namespace bitsim::sim::nn
