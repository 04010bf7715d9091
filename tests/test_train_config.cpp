// The training configuration (sim/train/config.hpp): defaults, every key of every section, `--set`
// overrides, errors (ConfigError naming the source, the line and the full key path), the to_toml()
// round trip, layer-name globs, and the roles / GEMM setup configure_layer() gives each layer.
#include "sim/nn/model.hpp"
#include "sim/nn/model_zoo.hpp"
#include "sim/train/config.hpp"
#include "sim/train/config_schema.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace bitsim::sim;
namespace fs = std::filesystem;
using bitsim::formats::Rounding;
using train::ConfigError;
using train::parse_config;
using train::TrainConfig;

namespace {

// The message of the ConfigError parse_config() throws for `text` (read as "exp.toml").
std::string config_error(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    (void)parse_config(text, "exp.toml", sets);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("no ConfigError for:\n" << text << "\nwith " << sets.size() << " --set options");
  return {};
}

// Checks that `msg` names exp.toml, the line and the key path (quoted as the loader does).
void check_names(const std::string& msg, int line, const std::string& key) {
  INFO("message: " << msg);
  CHECK_THAT(msg, Catch::Contains(fmt::format("exp.toml:{}:", line)));
  CHECK_THAT(msg, Catch::Contains("'" + key + "'"));
}

const nn::RoleRounding& role(const nn::Layer& l, nn::Role r) { return l.roles[r]; }

std::string format_of(const nn::Layer& l, nn::Role r) { return role(l, r).format().name(); }

const nn::Layer& layer_named(const nn::Model& m, const std::string& name) {
  for (const auto& n : m.nodes())
    if (n.layer->name == name) return *n.layer;
  FAIL("no layer named " << name);
  return *m.nodes().front().layer;
}

std::string acc_name(const nn::GemmSetup& g) { return g.acc ? g.acc->name() : "exact"; }
std::string product_name(const nn::GemmSetup& g) { return g.product ? g.product->name() : "exact"; }

// Every key of every section, none at its default.
const char* const kFull = R"toml(name = "full"
seed = 42
threads = 3

[model]
name = "mlp"
width = 64

[data]
dataset = "cifar10"
dir = "/data/cifar"
batch = 64
test_batch = 500
crop_pad = 4
flip = true
normalize = false
limit_train = 2048
limit_test = 300

[train]
epochs = 3
stop_after_steps = 17
checkpoint_every_steps = 5
drop_last = false

[optimizer]
lr = 0.05
momentum = 0.8
nesterov = true
weight_decay = 1e-4
decay_bn_and_bias = false
master_weights = false

[schedule]
type = "step"
warmup_epochs = 0.5
milestones = [1, 2.5]
gamma = 0.2
final_lr = 0.001

[formats]
W = "fp8_e4m3"
A = { format = "fp16", rounding = "rtz" }
G = { format = "bf16", rounding = "sr", sr_bits = 8 }
E = "fp8_e5m2"
U = "fp32"
M = "bf16"
BN_STAT = "tf32"
BN_NORM = "fp16"
acc = "fp16"
product = "exact"
order = "blocked"
chunk = 16

[[formats.override]]
layers = "fc3"
W = "fp16"
acc = "fp32"

[[formats.override]]
layers = ["conv*", "bn1"]
order = "pairwise"
G = { format = "float(e=4, m=3)", rounding = "sr" }

[run]
dir = "/tmp/somewhere"
)toml";

// A custom model with every layer key, nested residual lists included.
const char* const kCustom = R"toml(name = "custom_net"

[model]
name = "custom"

[[model.layers]]
type = "conv"
out = 8
kernel = 3
stride = 1
pad = 1
bias = true

[[model.layers]]
type = "batchnorm"
eps = 1e-3
momentum = 0.05

[[model.layers]]
type = "relu"

[[model.layers]]
type = "residual"
name = "res"
shortcut_from = "pre"
pre = [{ type = "batchnorm" }, { type = "relu" }]
body = [{ type = "conv", out = 8, stride = 2 }, { type = "relu" }, { type = "conv", out = 8 }]
shortcut = [{ type = "conv", out = 8, kernel = 1, stride = 2 }]

[[model.layers]]
type = "maxpool"
kernel = 2

[[model.layers]]
type = "gap"

[[model.layers]]
type = "linear"
name = "head"
out = 10

[formats]
W = "fp16"

[[formats.override]]
layers = ["res.*"]
W = { format = "fp8_e5m2", rounding = "sr", sr_bits = 12 }
)toml";

}  // namespace

// ---- defaults and sections -------------------------------------------------------------------------

TEST_CASE("train config: an empty file gives the documented defaults", "[train]") {
  const TrainConfig c = parse_config("", "empty.toml");
  CHECK(c.source == "empty.toml");
  CHECK(c.name == "run");
  CHECK(c.seed == 1);
  CHECK(c.threads == 0);
  CHECK(c.model == "cnn");
  CHECK(c.width == 0);
  CHECK(c.layers.empty());
  CHECK(c.dataset == "fashion-mnist");
  CHECK(c.data_dir.empty());
  CHECK(c.batch == 128);
  CHECK(c.test_batch == 1000);
  CHECK(c.crop_pad == 0);
  CHECK_FALSE(c.flip);
  CHECK(c.normalize);
  CHECK(c.limit_train == 0);
  CHECK(c.limit_test == 0);
  CHECK(c.epochs == 10);
  CHECK(c.stop_after_steps == 0);
  CHECK(c.checkpoint_every_steps == 0);
  CHECK(c.drop_last);
  CHECK(c.schedule.lr == 0.1);
  CHECK(c.sgd.momentum == 0.9);
  CHECK_FALSE(c.sgd.nesterov);
  CHECK(c.sgd.weight_decay == 5e-4);
  CHECK(c.sgd.decay_bn_and_bias);
  CHECK(c.sgd.master_weights);
  CHECK(c.schedule.type == "cosine");
  CHECK(c.schedule.warmup_epochs == 0);
  CHECK(c.schedule.milestones.empty());
  CHECK(c.schedule.gamma == 0.1);
  CHECK(c.schedule.final_lr == 0);
  for (const auto& r : c.formats.roles) CHECK_FALSE(r.has_value());
  CHECK_FALSE(c.formats.acc.has_value());
  CHECK_FALSE(c.formats.product.has_value());
  CHECK_FALSE(c.formats.order.has_value());
  CHECK_FALSE(c.formats.chunk.has_value());
  CHECK(c.overrides.empty());
  CHECK(c.run_dir == "runs/run");  // runs/<name>

  CHECK(parse_config("name = \"exp1\"\n", "x.toml").run_dir == "runs/exp1");
  // Empty tables are the same as absent ones.
  CHECK(train::to_toml(parse_config("[model]\n[data]\n[train]\n[optimizer]\n[schedule]\n[formats]\n[run]\n", "y.toml")) ==
        train::to_toml(parse_config("", "y.toml")));
}

TEST_CASE("train config: every key of every section is read", "[train]") {
  const TrainConfig c = parse_config(kFull, "full.toml");
  CHECK(c.name == "full");
  CHECK(c.seed == 42);
  CHECK(c.threads == 3);
  CHECK(c.model == "mlp");
  CHECK(c.width == 64);
  CHECK(c.dataset == "cifar10");
  CHECK(c.data_dir == "/data/cifar");
  CHECK(c.batch == 64);
  CHECK(c.test_batch == 500);
  CHECK(c.crop_pad == 4);
  CHECK(c.flip);
  CHECK_FALSE(c.normalize);
  CHECK(c.limit_train == 2048);
  CHECK(c.limit_test == 300);
  CHECK(c.epochs == 3);
  CHECK(c.stop_after_steps == 17);
  CHECK(c.checkpoint_every_steps == 5);
  CHECK_FALSE(c.drop_last);
  CHECK(c.schedule.lr == 0.05);
  CHECK(c.sgd.momentum == 0.8);
  CHECK(c.sgd.nesterov);
  CHECK(c.sgd.weight_decay == 1e-4);
  CHECK_FALSE(c.sgd.decay_bn_and_bias);
  CHECK_FALSE(c.sgd.master_weights);
  CHECK(c.schedule.type == "step");
  CHECK(c.schedule.warmup_epochs == 0.5);
  CHECK(c.schedule.milestones == std::vector<double>{1, 2.5});
  CHECK(c.schedule.gamma == 0.2);
  CHECK(c.schedule.final_lr == 0.001);
  CHECK(c.run_dir == "/tmp/somewhere");

  auto at = [&](const train::FormatLevel& l, nn::Role r) -> const std::optional<nn::RoleRounding>& {
    return l.roles[static_cast<std::size_t>(r)];
  };
  const auto& f = c.formats;
  REQUIRE(at(f, nn::Role::W));
  CHECK(at(f, nn::Role::W)->format().name() == "fp8_e4m3");
  CHECK(at(f, nn::Role::W)->rounding().mode == Rounding::rne);
  REQUIRE(at(f, nn::Role::A));
  CHECK(at(f, nn::Role::A)->format().name() == "fp16");
  CHECK(at(f, nn::Role::A)->rounding().mode == Rounding::rtz);
  REQUIRE(at(f, nn::Role::G));
  CHECK(at(f, nn::Role::G)->format().name() == "bf16");
  CHECK(at(f, nn::Role::G)->rounding().mode == Rounding::sr);
  CHECK(at(f, nn::Role::G)->rounding().sr_bits == 8);
  REQUIRE(at(f, nn::Role::E));
  CHECK(at(f, nn::Role::E)->format().name() == "fp8_e5m2");
  REQUIRE(at(f, nn::Role::U));
  CHECK(at(f, nn::Role::U)->format().name() == "fp32");
  REQUIRE(at(f, nn::Role::M));
  CHECK(at(f, nn::Role::M)->format().name() == "bf16");
  REQUIRE(at(f, nn::Role::BN_MEAN));
  CHECK(at(f, nn::Role::BN_SCALE)->format().name() == "tf32");
  REQUIRE(at(f, nn::Role::BN_NORM));
  CHECK(at(f, nn::Role::BN_NORM)->format().name() == "fp16");
  REQUIRE(f.acc);
  REQUIRE(*f.acc);
  CHECK((*f.acc)->name() == "fp16");
  REQUIRE(f.product);
  CHECK_FALSE(f.product->has_value());  // "exact"
  REQUIRE(f.order);
  CHECK(*f.order == "blocked");
  REQUIRE(f.chunk);
  CHECK(*f.chunk == 16);

  REQUIRE(c.overrides.size() == 2);
  CHECK(c.overrides[0].layers == std::vector<std::string>{"fc3"});
  REQUIRE(at(c.overrides[0].level, nn::Role::W));
  CHECK(at(c.overrides[0].level, nn::Role::W)->format().name() == "fp16");
  CHECK_FALSE(at(c.overrides[0].level, nn::Role::A));
  REQUIRE(c.overrides[0].level.acc);
  CHECK((*c.overrides[0].level.acc)->name() == "fp32");
  CHECK_FALSE(c.overrides[0].level.order);
  CHECK(c.overrides[1].layers == std::vector<std::string>{"conv*", "bn1"});
  REQUIRE(c.overrides[1].level.order);
  CHECK(*c.overrides[1].level.order == "pairwise");
  REQUIRE(at(c.overrides[1].level, nn::Role::G));
  CHECK(at(c.overrides[1].level, nn::Role::G)->format() == bitsim::formats::parse_format("float(e=4,m=3)"));
  CHECK(at(c.overrides[1].level, nn::Role::G)->rounding().sr_bits == 32);  // the default R
  CHECK_FALSE(c.overrides[1].level.acc);

  // A custom model's layers, nested lists included.
  const TrainConfig m = parse_config(kCustom, "custom.toml");
  CHECK(m.model == "custom");
  REQUIRE(m.layers.size() == 7);
  CHECK(m.layers[0].type == "conv");
  CHECK(m.layers[0].out == 8);
  CHECK(m.layers[0].kernel == 3);
  CHECK(m.layers[0].stride == 1);
  CHECK(m.layers[0].pad == 1);
  CHECK(m.layers[0].bias == true);
  CHECK(m.layers[1].eps == 1e-3);
  CHECK(m.layers[1].momentum == 0.05);
  CHECK_FALSE(m.layers[2].out.has_value());
  const nn::LayerSpec& res = m.layers[3];
  CHECK(res.type == "residual");
  CHECK(res.name == "res");
  CHECK(res.shortcut_from == "pre");
  REQUIRE(res.pre.size() == 2);
  CHECK(res.pre[1].type == "relu");
  REQUIRE(res.body.size() == 3);
  CHECK(res.body[0].stride == 2);
  REQUIRE(res.shortcut.size() == 1);
  CHECK(res.shortcut[0].kernel == 1);
  CHECK(m.layers[6].name == "head");
}

// ---- --set ---------------------------------------------------------------------------------------

TEST_CASE("train config: --set overrides numbers, strings, booleans and inline tables, creating tables", "[train]") {
  const std::string base = "name = \"base\"\n\n[optimizer]\nlr = 0.1\n";
  SECTION("numbers replace values and fill absent keys") {
    const TrainConfig c = parse_config(base, "b.toml", {"optimizer.lr=0.025", "seed=99", "data.batch=32", "train.epochs=2"});
    CHECK(c.schedule.lr == 0.025);
    CHECK(c.seed == 99);
    CHECK(c.batch == 32);  // [data] does not exist in the text: created
    CHECK(c.epochs == 2);
    CHECK(c.name == "base");
  }
  SECTION("the last --set of a key wins") {
    CHECK(parse_config(base, "b.toml", {"optimizer.lr=0.5", "optimizer.lr=0.25"}).schedule.lr == 0.25);
  }
  SECTION("strings: TOML-quoted or bare") {
    const TrainConfig c =
        parse_config(base, "b.toml", {"name=\"quoted name\"", "run.dir=/tmp/some/run-dir", "model.name=mlp", "data.dir=/x y/z"});
    CHECK(c.name == "quoted name");
    CHECK(c.run_dir == "/tmp/some/run-dir");
    CHECK(c.model == "mlp");
    CHECK(c.data_dir == "/x y/z");
  }
  SECTION("booleans and arrays") {
    const TrainConfig c = parse_config(base, "b.toml", {"data.flip=true", "schedule.milestones=[3, 6.5]", "data.normalize=false"});
    CHECK(c.flip);
    CHECK_FALSE(c.normalize);
    CHECK(c.schedule.milestones == std::vector<double>{3, 6.5});
  }
  SECTION("an inline table for a role, and a plain format string") {
    const TrainConfig c = parse_config(base, "b.toml",
                                       {"formats.G={format=\"fp16\", rounding=\"sr\", sr_bits=8}", "formats.W=fp8_e4m3",
                                        "formats.acc=\"bf16\""});
    const auto& g = c.formats.roles[static_cast<std::size_t>(nn::Role::G)];
    REQUIRE(g);
    CHECK(g->format().name() == "fp16");
    CHECK(g->rounding().mode == Rounding::sr);
    CHECK(g->rounding().sr_bits == 8);
    const auto& w = c.formats.roles[static_cast<std::size_t>(nn::Role::W)];
    REQUIRE(w);
    CHECK(w->format().name() == "fp8_e4m3");
    CHECK(w->rounding().mode == Rounding::rne);
    REQUIRE(c.formats.acc);
    CHECK((*c.formats.acc)->name() == "bf16");
  }
  SECTION("a whole table replaced by an inline table") {
    const TrainConfig c = parse_config(base, "b.toml", {"optimizer={lr=0.01, momentum=0.5}"});
    CHECK(c.schedule.lr == 0.01);
    CHECK(c.sgd.momentum == 0.5);
  }
  SECTION("overrides go through the same checks as the file") {
    const std::string unknown = config_error(base, {"data.bogus=1"});
    CHECK_THAT(unknown, Catch::Contains("'data.bogus'"));
    CHECK_THAT(unknown, Catch::Contains("unknown key"));
    CHECK_THAT(config_error(base, {"optimizer.lr=-1"}), Catch::Contains("'optimizer.lr'"));
    CHECK_THAT(config_error(base, {"data.batch=abc"}), Catch::Contains("'data.batch'"));
    CHECK_THAT(config_error(base, {"formats.W=fp9"}), Catch::Contains("'formats.W'"));
  }
  SECTION("malformed --set options") {
    CHECK_THAT(config_error(base, {"optimizer.lr"}), Catch::Contains("optimizer.lr"));  // no '='
    CHECK_THAT(config_error(base, {"=3"}), Catch::Contains("key.path=value"));
    CHECK_THAT(config_error(base, {"optimizer..lr=3"}), Catch::Contains("empty key"));
    // `name` is a string, not a table.
    CHECK_THAT(config_error(base, {"name.x=1"}), Catch::Contains("'name' is not a table"));
  }
}

TEST_CASE("train config: an error in a --set value says it came from --set", "[train]") {
  // A value given with --set has no line in the file: the message says it came from --set.
  const std::string msg = config_error("[optimizer]\nlr = 0.1\n", {"optimizer.lr=-1"});
  CHECK_THAT(msg, Catch::Contains("'optimizer.lr'"));
  CHECK_THAT(msg, Catch::Contains("--set"));
  CHECK_THAT(msg, !Catch::Contains("exp.toml:0:"));
}

// ---- errors ----------------------------------------------------------------------------------------

TEST_CASE("train config: errors name the source, the line and the full key path", "[train]") {
  SECTION("unknown top-level key") {
    const std::string msg = config_error("name = \"a\"\nsed = 3\n");
    check_names(msg, 2, "sed");
    CHECK_THAT(msg, Catch::Contains("unknown key"));
  }
  SECTION("unknown key inside [data]") {
    const std::string msg = config_error("seed = 1\n\n[data]\nbatch = 64\nlimit = 10\n");
    check_names(msg, 5, "data.limit");
    CHECK_THAT(msg, Catch::Contains("unknown key"));
  }
  SECTION("unknown key inside an override and inside a role table") {
    check_names(config_error("[[formats.override]]\nlayers = \"fc1\"\nWW = \"fp16\"\n"), 3, "formats.override[0].WW");
    check_names(config_error("[formats]\n\nG = { format = \"fp16\", rounding = \"sr\", bits = 8 }\n"), 3, "formats.G.bits");
  }
  SECTION("wrong types") {
    check_names(config_error("[data]\nbatch = \"big\"\n"), 2, "data.batch");
    check_names(config_error("[data]\nbatch = 1.5\n"), 2, "data.batch");
    // A float beyond int64 where an integer belongs (fuzz_config: toml++'s conversion was undefined).
    check_names(config_error("[data]\nbatch = 1e29\n"), 2, "data.batch");
    check_names(config_error("[schedule]\ngscale = [1e300]\n"), 2, "schedule.gscale");
    check_names(config_error("[optimizer]\nnesterov = 1\n"), 2, "optimizer.nesterov");
    check_names(config_error("[optimizer]\n\nlr = \"fast\"\n"), 3, "optimizer.lr");
    check_names(config_error("name = 5\n"), 1, "name");
    check_names(config_error("model = \"cnn\"\n"), 1, "model");  // must be a table
    check_names(config_error("[schedule]\nmilestones = 3\n"), 2, "schedule.milestones");
    check_names(config_error("[formats]\nW = 8\n"), 2, "formats.W");
  }
  SECTION("out-of-range values") {
    const std::string lr = config_error("[optimizer]\nlr = -0.1\n");
    check_names(lr, 2, "optimizer.lr");
    CHECK_THAT(lr, Catch::Contains("out of range"));
    check_names(config_error("[data]\ntest_batch = 10\nbatch = 0\n"), 3, "data.batch");
    check_names(config_error("[optimizer]\nmomentum = 2\n"), 2, "optimizer.momentum");
    check_names(config_error("[train]\nepochs = 0\n"), 2, "train.epochs");
    check_names(config_error("seed = -1\n"), 1, "seed");
    check_names(config_error("[optimizer]\nlr = nan\n"), 2, "optimizer.lr");
    check_names(config_error("[formats]\nG = { format = \"fp16\", rounding = \"sr\", sr_bits = 33 }\n"), 2, "formats.G.sr_bits");
  }
  SECTION("a bad format string in [formats] names formats.W") {
    const std::string msg = config_error("seed = 1\n[formats]\nA = \"fp16\"\nW = \"fp9_e4m4\"\n");
    check_names(msg, 4, "formats.W");
    CHECK_THAT(msg, Catch::Contains("fp9_e4m4"));
    // A format whose values a float cannot hold.
    check_names(config_error("[formats]\nW = \"fp64\"\n"), 2, "formats.W");
    // Graham formats cannot accumulate.
    check_names(config_error("[formats]\nacc = \"graham_L4\"\n"), 2, "formats.acc");
    check_names(config_error("[formats]\norder = \"random\"\n"), 2, "formats.order");
    check_names(config_error("[formats]\norder = \"aligned(group=0,width=14)\"\n"), 2, "formats.order");
    check_names(config_error("[formats]\norder = \"aligned(group=4,width=14,beyond=sideways)\"\n"), 2, "formats.order");
    // A role table without a format.
    check_names(config_error("[formats]\nE = { rounding = \"sr\" }\n"), 2, "formats.E");
  }
  SECTION("unknown model name") {
    const std::string msg = config_error("[model]\nwidth = 8\nname = \"transformer\"\n");
    check_names(msg, 3, "model.name");
    CHECK_THAT(msg, Catch::Contains("transformer"));
    CHECK_THAT(msg, Catch::Contains("mlp"));  // lists the known ones
  }
  SECTION("unknown rounding") {
    const std::string msg = config_error("[formats]\nG = { format = \"fp16\", rounding = \"stochastic\" }\n");
    check_names(msg, 2, "formats.G.rounding");
    CHECK_THAT(msg, Catch::Contains("stochastic"));
  }
  SECTION("[[formats.override]] without layers") {
    const std::string msg = config_error("[formats]\nW = \"fp16\"\n\n[[formats.override]]\nW = \"bf16\"\n");
    check_names(msg, 4, "formats.override[0].layers");
    // A later override: its index.
    check_names(config_error("[[formats.override]]\nlayers = \"a\"\n\n[[formats.override]]\nlayers = [\"b\", 3]\n"), 5,
                "formats.override[1].layers");
  }
  SECTION("custom model without layers") {
    const std::string msg = config_error("name = \"c\"\n\n[model]\nname = \"custom\"\n");
    CHECK_THAT(msg, Catch::Contains("exp.toml:"));
    CHECK_THAT(msg, Catch::Contains("'model.layers'"));
    // The [model] table's line, or the `name` line.
    const bool line_ok = msg.find("exp.toml:3:") != std::string::npos || msg.find("exp.toml:4:") != std::string::npos;
    INFO(msg);
    CHECK(line_ok);
    // Layers with a built-in name are refused too.
    check_names(config_error("[model]\nname = \"mlp\"\n[[model.layers]]\ntype = \"relu\"\n"), 3, "model.layers");
  }
  SECTION("a custom layer with an unknown type, or an unknown key") {
    const std::string msg =
        config_error("[model]\nname = \"custom\"\n\n[[model.layers]]\ntype = \"conv\"\nout = 4\n\n[[model.layers]]\ntype = \"dense\"\n");
    check_names(msg, 9, "model.layers[1].type");
    CHECK_THAT(msg, Catch::Contains("dense"));
    check_names(config_error("[model]\nname = \"custom\"\n[[model.layers]]\ntype = \"conv\"\nouts = 4\n"), 5, "model.layers[0].outs");
    check_names(
        config_error("[model]\nname = \"custom\"\n[[model.layers]]\ntype = \"residual\"\nbody = [{ type = \"conv\", out = 4, size = 3 }]\n"),
        5, "model.layers[0].body[0].size");
  }
  SECTION("a key of another layer type is refused, naming the type's keys") {
    // Before the layer registry, `eps` on a conv and `kernel` on a gap were read and ignored.
    const std::string msg = config_error("[model]\nname = \"custom\"\n[[model.layers]]\ntype = \"conv\"\nout = 4\neps = 0.1\n");
    check_names(msg, 6, "model.layers[0].eps");
    CHECK_THAT(msg, Catch::Contains("a conv layer has no `eps` (its keys: out, kernel, stride, pad, bias, init_gain)"));
    const std::string gap = config_error("[model]\nname = \"custom\"\n[[model.layers]]\ntype = \"gap\"\nkernel = 3\n");
    check_names(gap, 5, "model.layers[0].kernel");
    CHECK_THAT(gap, Catch::Contains("none besides type and name"));
    check_names(config_error("[model]\nname = \"custom\"\n[[model.layers]]\ntype = \"relu\"\nbody = []\n"), 5,
                "model.layers[0].body");
  }
  SECTION("an unknown key's error carries its site") {
    try {
      (void)parse_config("seed = 1\nseeds = 2\n", "exp.toml");
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK(e.site().file == "exp.toml");
      CHECK(e.site().line == 2);
      CHECK(e.site().key == "seeds");
    }
  }
  SECTION("TOML syntax errors name the file and line") {
    const std::string msg = config_error("name = \"a\"\nseed = = 3\n");
    CHECK_THAT(msg, Catch::Contains("exp.toml:2:"));
  }
  SECTION("load_config: a missing file is named") {
    try {
      (void)train::load_config("/nonexistent/dir/exp.toml");
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains("/nonexistent/dir/exp.toml"));
    }
  }
}

// ---- to_toml round trip ------------------------------------------------------------------------------

TEST_CASE("train config: to_toml() parses back to the same text", "[train]") {
  auto round_trip = [](const TrainConfig& c) {
    const std::string t1 = train::to_toml(c);
    const TrainConfig c2 = parse_config(t1, "resolved.toml");
    const std::string t2 = train::to_toml(c2);
    INFO("first:\n" << t1 << "\nsecond:\n" << t2);
    CHECK(t1 == t2);
    return c2;
  };
  SECTION("defaults") { round_trip(parse_config("", "a.toml")); }
  SECTION("every key, overrides, sr roles") {
    const TrainConfig c = round_trip(parse_config(kFull, "full.toml"));
    CHECK(c.name == "full");
    CHECK(c.run_dir == "/tmp/somewhere");
    CHECK(c.schedule.milestones == std::vector<double>{1, 2.5});
    CHECK(c.schedule.lr == 0.05);
    CHECK(c.sgd.weight_decay == 1e-4);
    const auto& g = c.formats.roles[static_cast<std::size_t>(nn::Role::G)];
    REQUIRE(g);
    CHECK(g->rounding().mode == Rounding::sr);
    CHECK(g->rounding().sr_bits == 8);
    const auto& a = c.formats.roles[static_cast<std::size_t>(nn::Role::A)];
    REQUIRE(a);
    CHECK(a->rounding().mode == Rounding::rtz);
    REQUIRE(c.overrides.size() == 2);
    CHECK(c.overrides[1].layers == std::vector<std::string>{"conv*", "bn1"});
    REQUIRE(c.formats.product);
    CHECK_FALSE(c.formats.product->has_value());
    CHECK(*c.formats.chunk == 16);
  }
  SECTION("custom layers with residual blocks") {
    const TrainConfig c = round_trip(parse_config(kCustom, "custom.toml"));
    REQUIRE(c.layers.size() == 7);
    CHECK(c.layers[1].eps == 1e-3);
    CHECK(c.layers[3].shortcut_from == "pre");
    CHECK(c.layers[3].body.size() == 3);
    CHECK(c.layers[3].pre.size() == 2);
    CHECK(c.layers[3].shortcut.size() == 1);
    CHECK(c.layers[6].name == "head");
  }
  SECTION("--set overrides and awkward values") {
    round_trip(parse_config(kFull, "full.toml",
                            {"formats.G={format=\"fp16\", rounding=\"sr\", sr_bits=8}", "optimizer.lr=1e-7",
                             "schedule.final_lr=3", "optimizer.weight_decay=0", "seed=9223372036854775807",
                             "name=\"quote \\\" and backslash \\\\ in it\"", "run.dir=/tmp/r u n"}));
  }
}

TEST_CASE("train config: to_toml() escapes control characters in strings", "[train]") {
  // to_toml() escapes control characters, so the resolved config always parses back.
  const TrainConfig c = parse_config("name = \"two\\nlines\"\n[data]\ndir = \"tab\\there\"\n", "a.toml");
  REQUIRE(c.name == "two\nlines");
  const std::string t1 = train::to_toml(c);
  std::string t2;
  try {
    t2 = train::to_toml(parse_config(t1, "resolved.toml"));
  } catch (const ConfigError& e) {
    t2 = e.what();
  }
  INFO(t1);
  CHECK(t1 == t2);
}

// ---- layer names and configure_layer -----------------------------------------------------------------

TEST_CASE("train config: name_matches globs", "[train]") {
  using train::name_matches;
  CHECK(name_matches("conv1", "conv1"));
  CHECK_FALSE(name_matches("conv1", "conv10"));
  CHECK_FALSE(name_matches("conv1", "conv"));
  CHECK_FALSE(name_matches("conv10", "conv1"));
  CHECK(name_matches("fc*", "fc1"));
  CHECK(name_matches("fc*", "fc"));  // '*' matches the empty run
  CHECK_FALSE(name_matches("fc*", "bn_fc"));
  CHECK(name_matches("*", ""));
  CHECK(name_matches("*", "block4.conv2"));
  CHECK(name_matches("", ""));
  CHECK_FALSE(name_matches("", "a"));
  CHECK_FALSE(name_matches("a", ""));
  CHECK(name_matches("block*.conv2", "block4.conv2"));
  CHECK(name_matches("block*", "block4.conv2"));  // '*' crosses dots
  CHECK_FALSE(name_matches("block*.conv2", "block4.conv1"));
  CHECK(name_matches("*.conv*", "block4.conv2"));
  CHECK_FALSE(name_matches("*.conv*", "conv2"));
  CHECK(name_matches("*conv1", "block1.conv1"));
  CHECK(name_matches("*a*b*c", "xxaxxbxxbxc"));  // needs backtracking
  CHECK_FALSE(name_matches("*a*b*c", "xxaxxbxxbxcx"));
  CHECK(name_matches("a**b", "ab"));
  CHECK(name_matches("**", "anything"));
  CHECK(name_matches("b*b", "bbb"));
  CHECK_FALSE(name_matches("b*b", "b"));
  CHECK_FALSE(name_matches("Conv1", "conv1"));  // case-sensitive
}

TEST_CASE("train config: an aligned order and the GEMM rounding reach the layers, and aligned needs an accumulator format",
          "[train]") {
  const TrainConfig c = parse_config(R"toml([formats]
acc = "float(e=8,m=13)"
order = "aligned( group = 32, width=14, lead=exponents )"
gemm_rounding = "rtz"

[[formats.override]]
layers = "fc*"
order = "pairwise"
)toml",
                                     "aligned.toml");
  REQUIRE(c.formats.order);
  CHECK(*c.formats.order == "aligned(group=32,width=14,beyond=truncate,lead=exponents,acc=aligned,groups=sequential)");
  const nn::Model m = nn::build_model(nn::builtin_model("cnn", 10, 4), Nchw{1, 1, 28, 28},
                                      [&](nn::Layer& l) { train::configure_layer(c, l); });
  const nn::Layer& conv1 = layer_named(m, "conv1");
  CHECK(conv1.gemm.order == AccOrder::aligned);
  CHECK(conv1.gemm.aligned.group == 32);
  CHECK(conv1.gemm.aligned.width == 14);
  CHECK(conv1.gemm.aligned.lead == AlignLead::exponents);
  CHECK(conv1.gemm.config().order == AccOrder::aligned);
  CHECK(conv1.gemm.config().aligned.group == 32);
  CHECK(conv1.gemm.config().rounding == Rounding::rtz);
  CHECK_FALSE(conv1.gemm.is_fast());
  CHECK_THAT(conv1.gemm.describe(), Catch::Contains("order=aligned(group=32,width=14"));
  CHECK(layer_named(m, "fc1").gemm.order == AccOrder::pairwise);

  // The aligned order rounds into an accumulator: with exact accumulation the layer cannot be built.
  const TrainConfig exact = parse_config("[formats]\nacc = \"exact\"\norder = \"aligned(group=4,width=20)\"\n", "exact.toml");
  try {
    (void)nn::build_model(nn::builtin_model("cnn", 10, 4), Nchw{1, 1, 28, 28},
                          [&](nn::Layer& l) { train::configure_layer(exact, l); });
    FAIL("no ConfigError for an aligned order with exact accumulation");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("exact.toml") && Catch::Contains("accumulator"));
  }
}

TEST_CASE("train config: configure_layer applies [formats], then matching overrides key by key", "[train]") {
  const TrainConfig c = parse_config(R"toml([formats]
W = "fp8_e4m3"
A = "fp16"
G = { format = "bf16", rounding = "sr", sr_bits = 8 }
acc = "fp16"

[[formats.override]]
layers = "conv1"
W = "fp16"
acc = "fp32"
order = "pairwise"

[[formats.override]]
layers = ["nothing", "fc*"]
A = "fp32"
E = { format = "fp8_e5m2", rounding = "rtz" }
product = "bf16"

[[formats.override]]
layers = "conv*"
W = "bf16"
)toml",
                                     "roles.toml");
  const nn::Model m = nn::build_model(nn::builtin_model("cnn", 10, 4), Nchw{1, 1, 28, 28},
                                      [&](nn::Layer& l) { train::configure_layer(c, l); });

  // conv1: [formats], override 1 (W, acc, order), then override 3 (W again: the later one wins).
  const nn::Layer& conv1 = layer_named(m, "conv1");
  CHECK(format_of(conv1, nn::Role::W) == "bf16");
  CHECK(format_of(conv1, nn::Role::A) == "fp16");
  CHECK(format_of(conv1, nn::Role::G) == "bf16");
  CHECK(role(conv1, nn::Role::G).rounding().mode == Rounding::sr);
  CHECK(role(conv1, nn::Role::G).rounding().sr_bits == 8);
  CHECK(format_of(conv1, nn::Role::E) == "fp32");
  CHECK(role(conv1, nn::Role::E).is_identity());
  CHECK(acc_name(conv1.gemm) == "fp32");
  CHECK(conv1.gemm.order == AccOrder::pairwise);
  CHECK(product_name(conv1.gemm) == "exact");

  // conv2: [formats] and override 3 only.
  const nn::Layer& conv2 = layer_named(m, "conv2");
  CHECK(format_of(conv2, nn::Role::W) == "bf16");
  CHECK(format_of(conv2, nn::Role::A) == "fp16");
  CHECK(acc_name(conv2.gemm) == "fp16");
  CHECK(conv2.gemm.order == AccOrder::sequential);

  // fc1: [formats] and override 2.
  const nn::Layer& fc1 = layer_named(m, "fc1");
  CHECK(format_of(fc1, nn::Role::W) == "fp8_e4m3");
  CHECK(format_of(fc1, nn::Role::A) == "fp32");
  CHECK(format_of(fc1, nn::Role::E) == "fp8_e5m2");
  CHECK(role(fc1, nn::Role::E).rounding().mode == Rounding::rtz);
  CHECK(format_of(fc1, nn::Role::G) == "bf16");
  CHECK(role(fc1, nn::Role::G).is_stochastic());
  CHECK(acc_name(fc1.gemm) == "fp16");
  CHECK(product_name(fc1.gemm) == "bf16");
  CHECK(fc1.gemm.order == AccOrder::sequential);

  // bn1: no override.
  const nn::Layer& bn1 = layer_named(m, "bn1");
  CHECK(format_of(bn1, nn::Role::W) == "fp8_e4m3");
  CHECK(format_of(bn1, nn::Role::A) == "fp16");
  CHECK(format_of(bn1, nn::Role::U) == "fp32");
  CHECK(format_of(bn1, nn::Role::BN_SCALE) == "fp32");

  // The loss gradient is rounded by the last layer's E.
  CHECK(m.nodes().back().layer->roles[nn::Role::E].format().name() == "fp8_e5m2");

  // Without [formats] everything is the fp32 identity with the default GEMM.
  const TrainConfig plain = parse_config("", "plain.toml");
  const nn::Model p = nn::build_model(nn::builtin_model("mlp", 10, 16), Nchw{1, 1, 28, 28},
                                      [&](nn::Layer& l) { train::configure_layer(plain, l); });
  for (const auto& n : p.nodes()) {
    for (const auto& r : n.layer->roles.by_role) CHECK(r.is_identity());
    CHECK(n.layer->gemm.is_fast());
  }
}

TEST_CASE("train config: configure_layer on a custom model, and blocked order needs a chunk", "[train]") {
  const TrainConfig c = parse_config(kCustom, "custom.toml");
  const nn::Model m = nn::build_model(nn::ModelSpec{"custom", c.layers}, Nchw{1, 1, 28, 28},
                                      [&](nn::Layer& l) { train::configure_layer(c, l); });
  CHECK(format_of(layer_named(m, "conv1"), nn::Role::W) == "fp16");
  CHECK(format_of(layer_named(m, "head"), nn::Role::W) == "fp16");
  const nn::Layer& inner = layer_named(m, "res.conv1");
  CHECK(format_of(inner, nn::Role::W) == "fp8_e5m2");
  CHECK(role(inner, nn::Role::W).rounding().sr_bits == 12);
  CHECK(format_of(layer_named(m, "res.conv3"), nn::Role::W) == "fp8_e5m2");  // the shortcut conv

  const TrainConfig blocked = parse_config("[formats]\norder = \"blocked\"\n", "blocked.toml");
  CHECK_THROWS_AS(nn::build_model(nn::builtin_model("mlp", 10, 8), Nchw{1, 1, 28, 28},
                                  [&](nn::Layer& l) { train::configure_layer(blocked, l); }),
                  ConfigError);
  const TrainConfig chunked = parse_config("[formats]\norder = \"blocked\"\nchunk = 8\n", "blocked.toml");
  const nn::Model b = nn::build_model(nn::builtin_model("mlp", 10, 8), Nchw{1, 1, 28, 28},
                                      [&](nn::Layer& l) { train::configure_layer(chunked, l); });
  CHECK(layer_named(b, "fc1").gemm.chunk == 8);
  CHECK(layer_named(b, "fc1").gemm.order == AccOrder::blocked);
}

TEST_CASE("train config: extends a base file, merges tables, and sets entries of its arrays by index", "[train]") {
  const fs::path dir = fs::temp_directory_path() / fmt::format("bitsim-extends-{}", ::getpid());
  fs::create_directories(dir / "sub");
  auto write = [&](const fs::path& p, const std::string& text) { std::ofstream(p) << text; };
  write(dir / "base.toml", R"toml(name = "base"
[optimizer]
lr = 0.1
momentum = 0.9
[formats]
W = "fp16"
[[formats.override]]
kinds = ["conv"]
DY = "fp8_e5m2"
[[formats.override]]
kinds = ["relu"]
A = "fp8_e4m3"
)toml");
  write(dir / "sub/variant.toml", R"toml(extends = "../base.toml"
name = "variant"
set = ['formats.override.1.A=bf16', "formats.override.0.E=fp16"]
[optimizer]
lr = 0.5
)toml");
  const TrainConfig c = train::load_config((dir / "sub/variant.toml").string(), {"formats.override.0.DY=fp16"});
  CHECK(c.name == "variant");
  CHECK(c.schedule.lr == 0.5);       // this file's key wins
  CHECK(c.sgd.momentum == 0.9);      // the base's key in the same table is kept
  REQUIRE(c.overrides.size() == 2);  // arrays come from the base unless replaced
  CHECK(c.overrides[1].level.roles[static_cast<std::size_t>(nn::Role::A)]->format().name() == "bf16");
  CHECK(c.overrides[0].level.roles[static_cast<std::size_t>(nn::Role::E)]->format().name() == "fp16");
  CHECK(c.overrides[0].level.roles[static_cast<std::size_t>(nn::Role::DY)]->format().name() == "fp16");  // --set, last
  CHECK(c.formats.roles[static_cast<std::size_t>(nn::Role::W)]->format().name() == "fp16");

  auto error_for = [&](const std::string& text, const std::vector<std::string>& sets = {}) {
    write(dir / "sub/bad.toml", text);
    try {
      (void)train::load_config((dir / "sub/bad.toml").string(), sets);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    FAIL("no ConfigError for:\n" << text);
    return std::string();
  };
  // An error in a key that came from the base names the base file and its line.
  write(dir / "base2.toml", "[optimizer]\nlr = -1\n");
  CHECK_THAT(error_for("extends = \"../base2.toml\"\n"), Catch::Contains("base2.toml:2: key 'optimizer.lr'"));
  CHECK_THAT(error_for("extends = \"../missing.toml\"\n"), Catch::Contains("bad.toml:1: key 'extends'") && Catch::Contains("missing.toml"));
  CHECK_THAT(error_for("extends = \"bad.toml\"\n"), Catch::Contains("more than 8 levels"));
  CHECK_THAT(error_for("set = ['seed=2']\n"), Catch::Contains("bad.toml:1: key 'set'") && Catch::Contains("extends"));
  CHECK_THAT(error_for("extends = \"../base.toml\"\nset = ['formats.override.5.A=fp16']\n"),
             Catch::Contains("bad.toml:2: key 'set'") && Catch::Contains("index 5 is out of range ('override' has 2 elements)"));
  CHECK_THAT(error_for("extends = \"../base.toml\"\nset = ['formats.override.A=fp16']\n"), Catch::Contains("give an element index"));
  CHECK_THAT(error_for("extends = \"../base.toml\"\nset = [3]\n"), Catch::Contains("array of \"key.path=value\" strings"));
  CHECK_THAT(error_for("extends = \"../base.toml\"\n", {"formats.override.2.A=fp16"}), Catch::Contains("index 2 is out of range"));
  fs::remove_all(dir);
}

// ---- the config schema -------------------------------------------------------------------------------

TEST_CASE("train config: docs/training.md's key table is the schema's", "[train][docs]") {
  std::ifstream f(BITSIM_SOURCE_DIR "/docs/training.md");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string doc = ss.str();
  const std::string table = train::config_key_table();
  const std::string header = table.substr(0, table.find('\n') + 1);
  const std::size_t at = doc.find(header);
  REQUIRE(at != std::string::npos);
  const std::size_t end = doc.find("\n\n", at);
  const std::string in_doc = doc.substr(at, end - at + 1);
  INFO("the table config_key_table() generates:\n" << table);
  CHECK(in_doc == table);
}

TEST_CASE("train config: every schema key is read, written back and refused out of range", "[train]") {
  std::size_t read_keys = 0;
  for (const train::ConfigKey& k : train::config_keys()) {
    INFO(k.path());
    CHECK(!k.meaning.empty());
    if (!k.read) {
      CHECK(k.written == train::Written::by_hand);
      continue;
    }
    ++read_keys;
    // A value of the wrong type names the key (a table fits no scalar or list key).
    const std::string table = k.section.empty() ? "" : "[" + k.section + "]\n";
    CHECK_THROWS_WITH(parse_config(table + k.name + " = { x = 1 }\n", "schema.toml"),
                      Catch::Contains("'" + k.path() + "'"));
  }
  CHECK(read_keys >= 45);
  // The resolved config of the defaults writes every key the schema writes always, once.
  const std::string text = train::to_toml(parse_config("", "empty.toml"));
  for (const train::ConfigKey& k : train::config_keys()) {
    if (k.written != train::Written::always || train::section_written_when_changed(k.section)) continue;
    INFO(k.path());
    std::size_t count = 0;
    for (std::size_t p = text.find("\n" + k.name + " = "); p != std::string::npos; p = text.find("\n" + k.name + " = ", p + 1))
      ++count;
    CHECK(count >= 1);
  }
}

TEST_CASE("train config: every format-level key is read, written back and merged, in [formats] and in an override", "[train]") {
  // One non-default value per key of level_keys(); a key added there without a value here fails.
  const std::map<std::string, std::string> values = {
      {"acc", "\"fp16\""},      {"product", "\"bf16\""},       {"order", "\"blocked\""},        {"chunk", "4"},
      {"bifurcate", "true"},    {"batchnorm", "\"range\""},    {"range_bn_chunks", "8"},        {"range_bn_new_weight", "0.5"},
      {"gemm_rounding", "\"rtz\""},
  };
  std::string formats, override_keys;
  for (const train::LevelKey& k : train::level_keys()) {
    INFO(k.name);
    REQUIRE(values.count(k.name) == 1);
    formats += k.name + " = " + values.at(k.name) + "\n";
  }
  CHECK(values.size() == train::level_keys().size());
  const TrainConfig c = parse_config("[formats]\n" + formats + "[[formats.override]]\nkinds = [\"conv\"]\n" + formats, "l.toml");
  const std::string written = train::to_toml(c);
  for (const train::LevelKey& k : train::level_keys()) {
    INFO(k.name);
    const std::string line = k.name + " = " + values.at(k.name) + "\n";
    const std::size_t first = written.find(line);
    REQUIRE(first != std::string::npos);
    CHECK(written.find(line, first + 1) != std::string::npos);  // in [formats] and in the override
  }
  CHECK(train::to_toml(parse_config(written, "written.toml")) == written);
  // Merging: an override's key wins over [formats], key by key; what it leaves out is kept.
  train::FormatLevel into = c.formats, from;
  from.chunk = 16;
  for (const train::LevelKey& k : train::level_keys()) k.merge(from, into);
  CHECK(into.chunk == 16);
  CHECK(into.range_bn_chunks == 8);
  CHECK_THROWS_WITH(parse_config("[formats]\nacc = \"graham_L4\"\n", "l.toml"), Catch::Contains("key 'formats.acc'"));
  CHECK_THROWS_WITH(parse_config("[[formats.override]]\nkinds = [\"conv\"]\nchunk = 0\n", "l.toml"),
                    Catch::Contains("formats.override") && Catch::Contains("chunk"));
}
