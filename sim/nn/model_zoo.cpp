#include "sim/nn/model_zoo.hpp"

#include <stdexcept>

namespace bitsim::sim::nn {

namespace {

LayerSpec conv(std::int64_t out, std::int64_t kernel = 3, std::int64_t stride = 1) {
  LayerSpec s;
  s.type = "conv";
  s.out = out;
  s.kernel = kernel;
  s.stride = stride;
  s.pad = kernel / 2;
  return s;
}
LayerSpec linear(std::int64_t out, bool bias) {
  LayerSpec s;
  s.type = "linear";
  s.out = out;
  s.bias = bias;
  return s;
}
LayerSpec simple(const char* type) {
  LayerSpec s;
  s.type = type;
  return s;
}
LayerSpec maxpool(std::int64_t k) {
  LayerSpec s = simple("maxpool");
  s.kernel = k;
  s.stride = k;
  return s;
}

std::vector<LayerSpec> resnet(std::int64_t classes, std::int64_t base, bool preact) {
  std::vector<LayerSpec> L;
  L.push_back(conv(base));
  if (!preact) {
    L.push_back(simple("batchnorm"));
    L.push_back(simple("relu"));
  }
  std::int64_t in = base;
  for (int stage = 0; stage < 3; ++stage) {
    const std::int64_t w = base << stage;
    for (int b = 0; b < 3; ++b) {
      const std::int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      LayerSpec blk = simple("residual");
      const bool project = stride != 1 || in != w;
      if (preact) {
        blk.pre = {simple("batchnorm"), simple("relu")};
        blk.body = {conv(w, 3, stride), simple("batchnorm"), simple("relu"), conv(w)};
        if (project) {
          blk.shortcut = {conv(w, 1, stride)};
          blk.shortcut_from = "pre";
        }
      } else {
        blk.body = {conv(w, 3, stride), simple("batchnorm"), simple("relu"), conv(w), simple("batchnorm")};
        if (project) blk.shortcut = {conv(w, 1, stride), simple("batchnorm")};
      }
      L.push_back(blk);
      if (!preact) L.push_back(simple("relu"));
      in = w;
    }
  }
  if (preact) {
    L.push_back(simple("batchnorm"));
    L.push_back(simple("relu"));
  }
  L.push_back(simple("gap"));
  L.push_back(linear(classes, true));
  return L;
}

}  // namespace

std::vector<std::string> builtin_model_names() { return {"mlp", "cnn", "resnet20", "preact_resnet20"}; }

ModelSpec builtin_model(const std::string& name, std::int64_t classes, std::int64_t width) {
  ModelSpec m;
  m.name = name;
  if (name == "mlp") {
    const std::int64_t w = width > 0 ? width : 1024;
    m.layers = {simple("flatten"),   linear(w, false),     simple("batchnorm"), simple("relu"), linear(w, false),
                simple("batchnorm"), simple("relu"),       linear(classes, true)};
  } else if (name == "cnn") {
    const std::int64_t a = width > 0 ? width : 32;
    m.layers = {conv(a),     simple("batchnorm"), simple("relu"),      conv(a),     simple("batchnorm"),
                simple("relu"), maxpool(2),       conv(2 * a),         simple("batchnorm"), simple("relu"),
                conv(2 * a), simple("batchnorm"), simple("relu"),      maxpool(2),  simple("flatten"),
                linear(classes, true)};
  } else if (name == "resnet20" || name == "preact_resnet20") {
    m.layers = resnet(classes, width > 0 ? width : 16, name == "preact_resnet20");
  } else {
    std::string known;
    for (const auto& n : builtin_model_names()) known += (known.empty() ? "" : ", ") + n;
    throw ModelError("unknown model '" + name + "' (built-in models: " + known + ")");
  }
  return m;
}

}  // namespace bitsim::sim::nn
