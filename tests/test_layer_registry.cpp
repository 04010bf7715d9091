// The layer registry (sim/nn/layer_registry.hpp): every registered type builds a layer of its
// declared kind, the config reader and the docs list exactly the registered types, and every
// committed experiment config still loads (the config reader builds its model).
#include "sim/methods/batchnorm_methods.hpp"
#include "sim/nn/layers/batchnorm_layer.hpp"
#include "sim/nn/layer_registry.hpp"
#include "sim/nn/model.hpp"
#include "sim/train/config.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

using namespace bitsim::sim;
using namespace bitsim::sim::nn;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A layer of `type` with `out` where it needs one, inside a model that gives it a 12x8x8 input (12
// channels: attention's q, k and v of 4 channels each).
LayerSpec sample_spec(const LayerType& t) {
  LayerSpec s;
  s.type = std::string(t.type);
  if (std::find(t.keys.begin(), t.keys.end(), "out") != t.keys.end()) s.out = 4;
  if (!t.make) {
    LayerSpec relu;
    relu.type = "relu";
    s.body = {relu};
  }
  return s;
}

}  // namespace

TEST_CASE("layer registry: each type builds a layer of its kind, named with its prefix", "[nn]") {
  std::set<std::string> types, prefixes;
  for (const LayerType& t : layer_types()) {
    INFO("type " << t.type);
    CHECK(types.insert(std::string(t.type)).second);
    CHECK(prefixes.insert(std::string(t.prefix)).second);
    CHECK(!t.doc.empty());
    for (const std::string_view k : t.keys) {
      const bool structural = k == "body" || k == "shortcut" || k == "pre" || k == "shortcut_from";
      CHECK((find_layer_key(k) != nullptr) != structural);
    }
    ModelSpec m{"custom", {sample_spec(t)}};
    const Model model = build_model(m, Nchw{1, 12, 8, 8}, [](Layer&) {});
    const Layer& last = *model.nodes().back().layer;
    CHECK(std::string(last.kind()) == std::string(t.kind));
    CHECK(last.name.rfind(std::string(t.prefix) + "1", 0) == 0);
  }
  const std::vector<std::string> kinds = layer_kind_names();
  CHECK(std::set<std::string>(kinds.begin(), kinds.end()).size() == kinds.size());
  CHECK_THROWS_WITH(layer_type("dense"), Catch::Contains("unknown layer type 'dense' (known: conv, linear,"));
}

TEST_CASE("layer registry: the resolved config writes every layer key and reads it back", "[nn][train]") {
  // One layer per type with every key it takes set, written by to_toml() and read again.
  std::string text = "[model]\nname = \"custom\"\n";
  std::size_t helpers = 0;
  for (const LayerType& t : layer_types()) {
    if (!t.make) continue;
    if (t.type == "attention") {  // heads = 2 needs q, k and v of a multiple of 2 channels each
      text += "\n[[model.layers]]\ntype = \"conv\"\nout = 6\nkernel = 1\n";
      ++helpers;
    }
    text += "\n[[model.layers]]\ntype = \"" + std::string(t.type) + "\"\n";
    for (const std::string_view k : t.keys) {
      const LayerKey& key = *find_layer_key(k);
      std::visit(bitsim::formats::overloaded{
                     // pad 1, kernel and stride 2, out 2: a valid layer on 28x28 images
                     [&](std::optional<std::int64_t> LayerSpec::*) {
                       text += std::string(k) + " = " + std::to_string(static_cast<std::int64_t>(key.lo) + 1) + "\n";
                     },
                     [&](std::optional<bool> LayerSpec::*) { text += std::string(k) + " = true\n"; },
                     [&](std::optional<double> LayerSpec::*) { text += std::string(k) + " = 0.25\n"; }},
                 key.field);
    }
  }
  text += "\n[[model.layers]]\ntype = \"linear\"\nout = 10\n";  // the 10 classes of Fashion-MNIST
  const train::TrainConfig c = train::parse_config(text, "keys.toml");
  std::size_t set_keys = 0, layers = 0;
  for (const LayerSpec& l : c.layers) {
    ++layers;
    for (const LayerKey& key : layer_keys())
      std::visit([&](auto field) { set_keys += (l.*field).has_value(); }, key.field);
  }
  std::size_t expected = 0;
  for (const LayerType& t : layer_types())
    if (t.make) expected += t.keys.size();
  CHECK(layers == layer_types().size() + helpers);  // the registered ones but residual, the last linear, the helpers
  CHECK(set_keys == expected + 1 + 2 * helpers);  // + the last linear's out, the helpers' out and kernel
  const std::string written = train::to_toml(c);
  CHECK(train::to_toml(train::parse_config(written, "written.toml")) == written);
}

TEST_CASE("layer registry: docs/training.md's table of layer types is the registry", "[nn][docs]") {
  const std::string doc = slurp(fs::path(BITSIM_SOURCE_DIR) / "docs/training.md");
  const std::string begin = "| layer `type` | keys (default) |";
  const std::size_t at = doc.find(begin);
  REQUIRE(at != std::string::npos);
  std::istringstream rows(doc.substr(at));
  std::string line;
  std::getline(rows, line);  // header
  std::getline(rows, line);  // |---|---|
  std::vector<std::string> found;
  while (std::getline(rows, line) && line.rfind("|", 0) == 0) found.push_back(line);
  std::vector<std::string> expected;
  for (const LayerType& t : layer_types())
    expected.push_back("| `" + std::string(t.type) + "` | " + std::string(t.doc) + " |");
  CHECK(found == expected);
}

TEST_CASE("layer registry: every committed experiment config loads and builds its model", "[train]") {
  int configs = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(BITSIM_SOURCE_DIR) / "experiments")) {
    if (!e.is_regular_file() || e.path().extension() != ".toml") continue;
    const std::string text = slurp(e.path());
    if (text.find("\n[[row]]") != std::string::npos) continue;  // a sweep plan
    INFO(e.path().string());
    // load_config checks the model against the data set's image shape by building it.
    CHECK_NOTHROW(train::load_config(e.path().string()));
    ++configs;
  }
  CHECK(configs >= 20);
}

TEST_CASE("batch-norm methods: each name the config accepts gives a layer that method, written back", "[train]") {
  const std::vector<std::string> names = bitsim::sim::methods::batchnorm_method_names();
  CHECK(names == std::vector<std::string>{"standard", "range", "wageubn"});
  for (const std::string& name : names) {
    INFO(name);
    const train::TrainConfig c = train::parse_config("[formats]\nbatchnorm = \"" + name + "\"\n", "bn.toml");
    BatchNormLayer bn(BatchNormSpec{4, 1e-5, 0.1});
    bn.name = "bn1";
    train::configure_layer(c, bn);
    CHECK(bn.method().name() == name);
    // The second running buffer starts at the method's value (Range BN's scale 0, else variance 1).
    CHECK(bn.buffers()[1]->data[0] == bn.method().initial_second());
    CHECK_THAT(train::to_toml(c), Catch::Contains("batchnorm = \"" + name + "\""));
  }
  CHECK_THROWS_WITH(train::parse_config("[formats]\nbatchnorm = \"group\"\n", "bn.toml"),
                    Catch::Contains("'group' is not one of: standard, range, wageubn"));
}
