#include "sim/nn/model.hpp"

#include "formats/random_words.hpp"
#include "io/error.hpp"
#include "sim/nn/layer_registry.hpp"
#include "sim/nn/layers/simple_layers.hpp"
#include "sim/tensor/shape.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>
#include <numbers>
#include <set>
#include <stdexcept>

namespace bitsim::sim::nn {

// ---- running -------------------------------------------------------------------------------------
const FTensor& Model::forward(StepContext ctx, const FTensor& x) {
  out_.resize(nodes_.size());
  for (std::size_t j = 0; j < nodes_.size(); ++j) {
    ctx.node = static_cast<std::int64_t>(j);
    const FTensor* in[2] = {nullptr, nullptr};
    for (std::size_t i = 0; i < nodes_[j].inputs.size(); ++i) {
      const int src = nodes_[j].inputs[i];
      in[i] = src < 0 ? &x : &out_[static_cast<std::size_t>(src)];
    }
    const auto t0 = timing_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    nodes_[j].layer->forward(ctx, std::span<const FTensor* const>(in, nodes_[j].inputs.size()), out_[j]);
    if (timing_) {
      fwd_ms_.resize(nodes_.size());
      fwd_ms_[j] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
  }
  return out_.back();
}

void Model::round_loss_gradient(StepContext ctx, FTensor& dlogits) {
  ctx.node = static_cast<std::int64_t>(nodes_.size());  // the loss's own site keys, after every layer's
  if (ctx.loss_scale != 1)
    for (float& g : dlogits.data) g = g * ctx.loss_scale;  // a power of two: exact unless it overflows
  nodes_.back().layer->round_span(ctx, Role::E, dlogits.span(), 0, "loss", dlogits.shape.n, dlogits.shape, Layer::kLossStateSlot);
}

void Model::backward(StepContext ctx, const FTensor& dlogits) {
  grad_.resize(nodes_.size());
  std::vector<bool> started(nodes_.size(), false);
  grad_.back() = dlogits;
  started.back() = true;
  for (std::size_t jj = nodes_.size(); jj-- > 0;) {
    Node& node = nodes_[jj];
    ctx.node = static_cast<std::int64_t>(jj);
    if (!started[jj]) continue;  // nothing depends on this output (cannot happen in a built model)
    // The sum of the errors from several consumers is rounded to E again (slot 7, tensor "sum").
    if (node.consumers > 1) node.layer->round_span(ctx, Role::E, grad_[jj].span(), 7, "sum", grad_[jj].shape.n, grad_[jj].shape);
    FTensor* dx[2] = {nullptr, nullptr};
    bool add_into[2] = {false, false};
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
      const int src = node.inputs[i];
      if (src < 0) continue;
      if (!started[static_cast<std::size_t>(src)]) {
        dx[i] = &grad_[static_cast<std::size_t>(src)];
      } else {
        dx[i] = &tmp_[i];
        add_into[i] = true;
      }
    }
    const auto t0 = timing_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    node.layer->begin_backward(ctx, grad_[jj]);
    node.layer->backward(ctx, grad_[jj], std::span<FTensor* const>(dx, node.inputs.size()));
    if (timing_) {
      bwd_ms_.resize(nodes_.size());
      bwd_ms_[jj] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
      const int src = node.inputs[i];
      if (src < 0) continue;
      FTensor& g = grad_[static_cast<std::size_t>(src)];
      if (add_into[i])
        for (std::size_t e = 0; e < g.data.size(); ++e) g.data[e] += tmp_[i].data[e];
      started[static_cast<std::size_t>(src)] = true;
    }
  }
}

void Model::round_weights(StepContext ctx) {
  for (std::size_t j = 0; j < nodes_.size(); ++j) {
    ctx.node = static_cast<std::int64_t>(j);
    nodes_[j].layer->round_weights(ctx);
  }
}

std::vector<std::pair<std::string, Param*>> Model::parameters() {
  std::vector<std::pair<std::string, Param*>> r;
  for (auto& n : nodes_)
    for (Param* p : n.layer->params()) r.emplace_back(n.layer->name + "." + p->name, p);
  return r;
}

std::vector<std::pair<std::string, FTensor*>> Model::buffers() {
  std::vector<std::pair<std::string, FTensor*>> r;
  for (auto& n : nodes_) {
    int i = 0;
    for (FTensor* b : n.layer->buffers()) r.emplace_back(n.layer->name + ".buffer" + std::to_string(i++), b);
    for (auto& [role, b] : n.layer->role_buffers()) r.emplace_back(n.layer->name + "." + role, b);
  }
  return r;
}

std::int64_t Model::parameter_count() {
  std::int64_t c = 0;
  for (auto& [name, p] : parameters()) c += p->value.numel();
  return c;
}

double Model::forward_macs_per_sample() const {
  double m = 0;
  for (const auto& n : nodes_) m += n.layer->forward_macs_per_sample();
  return m;
}

std::string Model::summary() {
  std::string s = fmt::format("{:>4}  {:<22} {:<10} {:<10} {:<18} {:>9}  {}\n", "node", "name", "kind", "inputs",
                              "output (1 sample)", "params", "formats (roles not fp32; gemm)");
  for (std::size_t j = 0; j < nodes_.size(); ++j) {
    Node& n = nodes_[j];
    std::string ins;
    for (int i : n.inputs) {
      if (!ins.empty()) ins += ",";
      ins += i < 0 ? std::string("input") : std::to_string(i);
    }
    std::int64_t pc = 0;
    for (Param* p : n.layer->params()) pc += p->value.numel();
    std::string roles;
    for (int r = 0; r < kRoleCount; ++r) {
      const RoleRounding& rr = n.layer->roles[static_cast<Role>(r)];
      if (!rr.is_identity() && n.layer->uses_role(static_cast<Role>(r)))
        roles += fmt::format("{}={} ", role_name(static_cast<Role>(r)), rr.describe());
    }
    if (n.layer->bifurcate && n.layer->has_weight_product()) roles += "bifurcate ";
    roles += n.layer->summary_notes();
    if (n.layer->reads_gemm_setup() && !n.layer->gemm.is_fast()) roles += n.layer->gemm.describe();
    const Nchw o = n.out_shape;
    s += fmt::format("{:>4}  {:<22} {:<10} {:<10} {:<18} {:>9}  {}\n", j, n.layer->name, n.layer->kind(), ins,
                     fmt::format("{}x{}x{}", o.c, o.h, o.w), pc, roles.empty() ? "-" : roles);
  }
  return s;
}

std::string Model::timing_report() {
  fwd_ms_.resize(nodes_.size());
  bwd_ms_.resize(nodes_.size());
  std::string s = fmt::format("{:<22} {:<10} {:>12} {:>12}\n", "layer", "kind", "forward ms", "backward ms");
  double tf = 0, tb = 0;
  for (std::size_t j = 0; j < nodes_.size(); ++j) {
    s += fmt::format("{:<22} {:<10} {:>12.2f} {:>12.2f}\n", nodes_[j].layer->name, nodes_[j].layer->kind(), fwd_ms_[j], bwd_ms_[j]);
    tf += fwd_ms_[j];
    tb += bwd_ms_[j];
  }
  s += fmt::format("{:<22} {:<10} {:>12.2f} {:>12.2f}\n", "total", "", tf, tb);
  std::fill(fwd_ms_.begin(), fwd_ms_.end(), 0.0);
  std::fill(bwd_ms_.begin(), bwd_ms_.end(), 0.0);
  return s;
}

// ---- building ------------------------------------------------------------------------------------
namespace {

// A build error that already names the config entry of its layer (LayerSpec::origin), so that the
// residual blocks around the layer do not prefix theirs as well.
class LayerOriginError : public ModelError {
 public:
  using ModelError::ModelError;
};

struct Builder {
  Model& model;
  std::vector<Model::Node>& nodes;
  const std::function<void(Layer&)>& configure;
  std::set<std::string> names;

  Nchw shape_of(int node, const Nchw& input) const { return node < 0 ? input : nodes[static_cast<std::size_t>(node)].out_shape; }

  int add_node(std::unique_ptr<Layer> layer, const std::string& name, std::vector<int> inputs, const Nchw& input) {
    if (!names.insert(name).second) throw ModelError("layer name '" + name + "' is used twice");
    layer->name = name;
    std::vector<Nchw> in_shapes;
    for (int i : inputs) in_shapes.push_back(shape_of(i, input));
    Model::Node node;
    try {
      node.out_shape = layer->output_shape(in_shapes);
    } catch (const std::exception& e) {
      throw ModelError(std::string(e.what()).find(name) == std::string::npos ? name + ": " + e.what() : e.what());
    }
    const Nchw& y = node.out_shape;
    if (!product_within({y.c, y.h, y.w}, kMaxSampleActivations))
      throw ModelError(fmt::format("{}: its output of {} x {} x {} values per sample is more than the limit of 2^28",
                                              name, y.c, y.h, y.w));
    configure(*layer);
    layer->prepare_role_state();
    for (int i : inputs)
      if (i >= 0) ++nodes[static_cast<std::size_t>(i)].consumers;
    node.layer = std::move(layer);
    node.inputs = std::move(inputs);
    nodes.push_back(std::move(node));
    return static_cast<int>(nodes.size()) - 1;
  }

  // Appends `layers` reading `from`; returns the last node (or `from` when empty).
  int chain(const std::vector<LayerSpec>& layers, int from, const std::string& scope, const Nchw& input,
            std::map<std::string, int>& counters) {
    int cur = from;
    for (const LayerSpec& s : layers) cur = one(s, cur, scope, input, counters);
    return cur;
  }

  // Appends one layer (or residual block) reading `cur`; errors name the layer, and where the config
  // describes it.
  int one(const LayerSpec& s, int cur, const std::string& scope, const Nchw& input, std::map<std::string, int>& counters) {
    try {
      return one_layer(s, cur, scope, input, counters);
    } catch (const LayerOriginError&) {
      throw;
    } catch (const bitsim::Error& e) {
      if (s.origin.empty()) throw;
      throw LayerOriginError(s.origin + ": " + e.what());
    }
  }

  int one_layer(const LayerSpec& s, int cur, const std::string& scope, const Nchw& input, std::map<std::string, int>& counters) {
    const std::string label = scope.empty() ? s.name : (s.name.empty() ? scope : scope + "." + s.name);
    const LayerType* type = nullptr;
    try {
      type = &layer_type(s.type);
    } catch (const bitsim::Error& e) {
      throw ModelError((label.empty() ? std::string("layer") : label) + ": " + e.what());
    }
    const std::string prefix(type->prefix);
    const std::string local = s.name.empty() ? prefix + std::to_string(++counters[prefix]) : s.name;
    const std::string name = scope.empty() ? local : scope + "." + local;
    if (!type->make) {  // a residual block
      std::map<std::string, int> inner;
      const int pre = chain(s.pre, cur, name, input, inner);
      const int body = chain(s.body, pre, name, input, inner);
      if (s.shortcut_from != "input" && s.shortcut_from != "pre")
        throw ModelError(name + ": shortcut_from must be \"input\" or \"pre\", not \"" + s.shortcut_from + "\"");
      const int sc = chain(s.shortcut, s.shortcut_from == "pre" ? pre : cur, name, input, inner);
      if (body == sc) throw ModelError(name + ": a residual block needs a non-empty body");
      return add_node(std::make_unique<AddLayer>(), name + ".add", {body, sc}, input);
    }
    std::unique_ptr<Layer> layer;
    try {
      layer = type->make(LayerBuild{s, shape_of(cur, input), name});
    } catch (const std::exception& e) {
      const std::string msg = e.what();
      if (msg.find(name) != std::string::npos) throw;
      throw ModelError(name + ": " + msg);
    }
    layer->init_gain = s.init_gain;
    return add_node(std::move(layer), name, {cur}, input);
  }
};

}  // namespace

Model build_model(const ModelSpec& spec, const Nchw& input, const std::function<void(Layer&)>& configure) {
  Model m;
  m.input_shape_ = Nchw{1, input.c, input.h, input.w};
  check_shape(m.input_shape_, "model input");
  if (spec.layers.empty()) throw ModelError("model '" + spec.name + "' has no layers");
  Builder b{m, m.nodes_, configure, {}};
  std::map<std::string, int> counters;
  b.chain(spec.layers, -1, "", m.input_shape_, counters);
  return m;
}

void initialize(Model& model, std::uint64_t seed) {
  std::uint64_t index = 0;
  for (auto& node : model.nodes()) {
    Layer& l = *node.layer;
    for (Param* p : l.params()) {
      ++index;
      FTensor& v = p->value;
      if (p->name == "weight") {
        const double fan_in = static_cast<double>(v.shape.c * v.shape.h * v.shape.w);
        // He normal where a ReLU follows (convolutions); LeCun normal (std sqrt(1 / fan_in)) for fully
        // connected layers, whose output feeds a BN or the softmax directly: keeps the initial logits O(1).
        const double sd = std::sqrt(l.init_gain.value_or(l.weight_init_gain()) / fan_in);
        const formats::PhiloxWords rng(seed * 0x9E3779B97F4A7C15ull + index);
        for (std::size_t i = 0; i < v.data.size(); ++i) {
          const double u1 = (static_cast<double>(rng.word(2 * i)) + 0.5) / 4294967296.0;
          const double u2 = (static_cast<double>(rng.word(2 * i + 1)) + 0.5) / 4294967296.0;
          v.data[i] = static_cast<float>(sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
        }
      } else {
        std::fill(v.data.begin(), v.data.end(), p->name == "gamma" ? 1.0f : 0.0f);
      }
      p->momentum = FTensor(v.shape);
    }
    l.reset_buffers();
    for (auto& [role, b] : l.role_buffers()) std::fill(b->data.begin(), b->data.end(), 0.0f);  // as the reference code
  }
}

}  // namespace bitsim::sim::nn
