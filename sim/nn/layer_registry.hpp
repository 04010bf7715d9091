// The layer types a model description may use, and the keys they read, declared once.
//
// Model building (model.cpp), the config reader and writer (sim/train/config.cpp: `[[model.layers]]`,
// `formats.override` kinds) and the docs' test take the names, keys and constructors from here. A new
// layer type is its own files (the class and its make_* function) plus one line in layer_registry.cpp;
// a new key of LayerSpec is its field in model_spec.hpp plus one line in layer_keys().
#pragma once

#include "sim/nn/layer.hpp"
#include "sim/nn/model_spec.hpp"

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bitsim::sim::nn {

// What a layer's constructor gets: its description, the shape of one input sample, and the name the
// model gives it (for messages).
struct LayerBuild {
  const LayerSpec& spec;
  Nchw in;
  const std::string& name;
};
using LayerFactory = std::unique_ptr<Layer> (*)(const LayerBuild&);

struct LayerType {
  std::string_view type;    // in a model description: type = "conv"
  std::string_view prefix;  // default names are <prefix><count>: "conv1", "fc2", "block3"
  std::string_view kind;    // Layer::kind() of what it builds (a residual block: its "add" node)
  std::vector<std::string_view> keys;  // the keys it reads besides `type` and `name`
  LayerFactory make;        // null for "residual": a block of layers the model builder expands
  std::string_view doc;     // one line, for docs/training.md
};

// Every layer type, in the order the docs list them.
const std::vector<LayerType>& layer_types();
// The type named `type`; throws ModelError naming the known ones.
const LayerType& layer_type(std::string_view type);
std::vector<std::string> layer_type_names();
// Every Layer::kind() a model can hold (what `formats.override` `kinds` selects), without repeats.
std::vector<std::string> layer_kind_names();
// Whether some layer type reads `key` (a scalar key of layer_keys(), or a residual block's `body`,
// `shortcut`, `pre`, `shortcut_from`).
bool some_layer_reads(std::string_view key);

// A key of LayerSpec: its name, the field it fills, the accepted range of its value and its meaning.
struct LayerKey {
  std::string_view name;
  std::variant<std::optional<std::int64_t> LayerSpec::*, std::optional<bool> LayerSpec::*,
               std::optional<double> LayerSpec::*>
      field;
  double lo = 0, hi = 0;  // for integers and reals
  std::string_view doc;
};
// The scalar keys, in the order a resolved config writes them. The residual block's `body`,
// `shortcut`, `pre` and `shortcut_from` are its structure, read by the config reader itself.
const std::vector<LayerKey>& layer_keys();
const LayerKey* find_layer_key(std::string_view name);

// For factories: `out`, which the layer requires (ModelError when missing).
std::int64_t required_out(const LayerBuild& b);
// Refuses a parameter tensor above kMaxLayerParameters (model.hpp) before it is allocated.
void check_parameter_count(const std::string& name, const char* what, std::initializer_list<std::int64_t> dims);

}  // namespace bitsim::sim::nn
