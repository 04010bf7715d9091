#include "sim/train/config.hpp"
#include "io/excerpt.hpp"
#include "sim/train/config_schema.hpp"
#include "sim/train/config_section.hpp"

#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "io/files.hpp"
#include "sim/data/dataset.hpp"
#include "sim/methods/batchnorm_methods.hpp"
#include "sim/methods/rounding_policies.hpp"
#include "sim/nn/layer_registry.hpp"
#include "sim/nn/model.hpp"
#include "sim/nn/model_zoo.hpp"
#include "sim/tensor/shape.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <variant>

namespace bitsim::sim::train {

namespace {

using detail::Section;
using detail::string_list;

// The rounding keys of a role table for a policy of `type` (nullptr: a plain format): rounding, from
// the modes the policy accepts, defaulting to its own; sr_bits where the policy takes it.
formats::RoundingSpec role_rounding(Section& t, const methods::RoundingPolicyType* type) {
  formats::RoundingSpec r;
  const formats::Rounding fallback = type ? type->default_mode : formats::Rounding::rne;
  r.mode = *formats::parse_rounding(t.string("rounding", formats::rounding_name(fallback), methods::rounding_mode_names(type)));
  if (!type || type->takes_sr_bits) r.sr_bits = static_cast<int>(t.integer("sr_bits", 32, 1, 32));
  return r;
}

// A role: a string ("fp8_e4m3", "mxfp8_e4m3", "range(bits=8)", "constant(bits=8)"), or a table that
// names its policy and gives the policy's arguments as keys ({ policy = "mx", format = "fp8_e4m3",
// block = 32 }, { policy = "range", bits = 8, range = "sample_mean" }; older configs write
// quantizer = "range"), or one that gives the string as `format`; plus rounding and sr_bits. The
// policies and their arguments are declared in sim/methods/rounding_policies.cpp.
nn::RoleRounding role_from(Section& s, const toml::node* n, const std::string& key) {
  if (!n->is_table()) {
    if (!n->is_string()) s.fail(n, key, "must be a format or policy string (e.g. \"fp8_e4m3\", \"range(bits=8)\") or a table");
    try {
      return methods::parse_role_rounding(*n->value<std::string>());
    } catch (const std::exception& e) {
      s.fail(n, key, e.what());
    }
  }
  Section t(n->as_table(), s.key_path(key), s.file());
  const toml::node* pn = t.get("policy");
  const toml::node* qn = t.get("quantizer");
  std::string name;
  if (qn) {
    if (!qn->is_string() || (*qn->value<std::string>() != "range" && *qn->value<std::string>() != "format"))
      t.fail(qn, "quantizer", "must be \"format\" or \"range\" (other policies are written policy = \"NAME\")");
    if (pn) t.fail(qn, "quantizer", "give `policy` or `quantizer`, not both");
    if (*qn->value<std::string>() == "range") name = "range";
  }
  if (pn) name = t.string("policy", "", methods::rounding_policy_names());
  if (!name.empty()) {
    // The table's other keys are the constructor's arguments (declared with the policy).
    std::map<std::string, std::string> arguments;
    for (auto&& [k, v] : *t.raw()) {
      const std::string arg(k.str());
      if (arg == "policy" || arg == "quantizer" || arg == "rounding" || arg == "sr_bits") continue;
      (void)t.get(arg);
      if (const auto* str = v.as_string()) arguments[arg] = str->get();
      else if (const auto* i = v.as_integer()) arguments[arg] = std::to_string(i->get());
      else if (const auto* b = v.as_boolean()) arguments[arg] = b->get() ? "yes" : "no";
      else if (const auto* d = v.as_floating_point()) arguments[arg] = fmt::format("{}", d->get());  // reads back exactly
      else t.fail(&v, arg, "must be a string, a number or true/false");
    }
    // The older spelling's bits defaulted to 8 (the text form and policy = "range" require it).
    if (!pn && name == "range") arguments.emplace("bits", "8");
    const formats::RoundingSpec rounding = role_rounding(t, methods::rounding_policy_type(name));
    t.finish();
    try {
      return methods::role_rounding_from_arguments(name, std::move(arguments), rounding);
    } catch (const sim::PolicyError& e) {
      if (e.site().key.empty()) s.fail(n, key, e.what());
      const std::string arg = t.raw()->get(e.site().key) ? e.site().key : sim::policy_table_key(name, e.site().key);
      t.fail(t.raw()->get(arg) ? t.raw()->get(arg) : (pn ? pn : qn), arg, e.what());
    } catch (const std::exception& e) {
      s.fail(n, key, e.what());
    }
  }
  const toml::node* fn = t.get("format");
  if (!fn) s.fail(n, key, "needs a `format` or a `policy`");
  if (!fn->is_string()) t.fail(fn, "format", "must be a format or policy string (e.g. \"fp8_e4m3\", \"range(bits=8)\")");
  const std::string text = *fn->value<std::string>();
  const formats::RoundingSpec rounding = role_rounding(t, methods::rounding_policy_type_of(text));
  t.finish();
  try {
    return methods::parse_role_rounding(text, rounding);
  } catch (const std::exception& e) {
    t.fail(fn, "format", e.what());
  }
}

void read_level(Section& s, FormatLevel& level) {
  // BN_STAT: both batch-norm statistics (the name of the two roles before they were split).
  if (const toml::node* n = s.get("BN_STAT")) {
    const nn::RoleRounding rr = role_from(s, n, "BN_STAT");
    level.roles[static_cast<std::size_t>(nn::Role::BN_MEAN)] = rr;
    level.roles[static_cast<std::size_t>(nn::Role::BN_SCALE)] = rr;
  }
  for (int r = 0; r < nn::kRoleCount; ++r) {
    const auto role = static_cast<nn::Role>(r);
    const std::string key = nn::role_name(role);
    if (const toml::node* n = s.get(key)) {
      level.roles[static_cast<std::size_t>(r)] = role_from(s, n, key);
      const bool batched = role == nn::Role::A || role == nn::Role::DY || role == nn::Role::DY_W || role == nn::Role::BN_NORM;
      if (level.roles[static_cast<std::size_t>(r)]->policy().needs_batch_axis() && !batched)
        s.fail(n, key, "a policy with running estimates (range = sample_mean) needs a tensor with a batch axis: A, DY, DY_W, BN_NORM");
    }
  }
  for (const LevelKey& k : level_keys())
    if (s.get(k.name)) k.read(s, level);
}

std::vector<nn::LayerSpec> read_layers(const toml::node* n, Section& owner, const std::string& key);

nn::LayerSpec read_layer(const toml::table& t, const std::string& path, const std::string& file) {
  Section s(&t, path, file);
  nn::LayerSpec l;
  l.type = s.string("type", "", nn::layer_type_names());
  if (l.type.empty()) s.fail(nullptr, "type", "every layer needs a `type`");
  const nn::LayerType& type = nn::layer_type(l.type);
  l.name = s.string("name", "");
  // Build errors (sim/nn/model.cpp) name the entry: "run.toml:12: key 'model.layers[3]'".
  const auto line = t.source().begin.line;
  l.origin = line == 0 ? fmt::format("{}: key '{}' (from --set)", file, path) : fmt::format("{}:{}: key '{}'", file, line, path);
  // A key of another layer type is an error, not ignored (a misspelt key is finish()'s).
  for (auto&& [k, v] : t) {
    const std::string_view key = k.str();
    if (nn::some_layer_reads(key) && std::find(type.keys.begin(), type.keys.end(), key) == type.keys.end()) {
      std::string keys;
      for (const std::string_view x : type.keys) keys += fmt::format("{}{}", keys.empty() ? "" : ", ", x);
      s.fail(&v, std::string(key),
             fmt::format("a {} layer has no `{}` (its keys: {})", l.type, key, keys.empty() ? "none besides type and name" : keys));
    }
  }
  for (const nn::LayerKey& key : nn::layer_keys()) {
    const std::string name(key.name);
    if (!s.get(name)) continue;
    std::visit(formats::overloaded{
                   [&](std::optional<std::int64_t> nn::LayerSpec::*f) {
                     l.*f = s.integer(name, 0, static_cast<std::int64_t>(key.lo), static_cast<std::int64_t>(key.hi));
                   },
                   [&](std::optional<bool> nn::LayerSpec::*f) { l.*f = s.boolean(name, false); },
                   [&](std::optional<double> nn::LayerSpec::*f) { l.*f = s.real(name, 0, key.lo, key.hi); }},
               key.field);
  }
  if (!type.make) {  // a residual block
    l.body = read_layers(s.get("body"), s, "body");
    l.shortcut = read_layers(s.get("shortcut"), s, "shortcut");
    l.pre = read_layers(s.get("pre"), s, "pre");
    l.shortcut_from = s.string("shortcut_from", "input", {"input", "pre"});
  }
  s.finish();
  return l;
}

std::vector<nn::LayerSpec> read_layers(const toml::node* n, Section& owner, const std::string& key) {
  std::vector<nn::LayerSpec> out;
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) owner.fail(n, key, "must be an array of tables ([[...]] or [{...}, ...])");
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    if (!e.is_table()) owner.fail(&e, key, fmt::format("element {} is not a table", i));
    out.push_back(read_layer(*e.as_table(), fmt::format("{}[{}]", owner.key_path(key), i), owner.file()));
  }
  return out;
}

// key.path=value into the table; value parsed as TOML, else taken as a string.
// `index` of an override: an integer n (position n only) or a string "a:b", "a:", ":b" or "n" with
// non-negative integers, a < b.
IndexRange parse_index_range(Section& o, const toml::node* n) {
  const char* what = "must be a position or a range \"first:last\" (\"1:\" = all but the first match, \"0:14\" = the first 14)";
  IndexRange r;
  if (n->is_integer()) {
    const std::int64_t v = *n->value<std::int64_t>();
    if (v < 0) o.fail(n, "index", what);
    r.first = v;
    r.last = v + 1;
    return r;
  }
  if (!n->is_string()) o.fail(n, "index", what);
  const std::string t = *n->value<std::string>();
  auto number = [&](const std::string& part, std::int64_t& out) {
    if (part.empty() || part.size() > 12 || part.find_first_not_of("0123456789") != std::string::npos) o.fail(n, "index", what);
    out = std::stoll(part);
  };
  const auto colon = t.find(':');
  if (colon == std::string::npos) {
    number(t, r.first);
    r.last = r.first + 1;
    return r;
  }
  const std::string a = t.substr(0, colon), b = t.substr(colon + 1);
  if (!a.empty()) number(a, r.first);
  if (!b.empty()) {
    std::int64_t last = 0;
    number(b, last);
    if (last <= r.first) o.fail(n, "index", fmt::format("the range \"{}\" is empty (last must exceed first)", t));
    r.last = last;
  }
  return r;
}

void apply_set(toml::table& root, const std::string& set) {
  ErrorSite site;
  site.option = "--set";
  site.key = set.substr(0, set.find('='));
  const auto eq = set.find('=');
  if (eq == std::string::npos || eq == 0) throw ConfigError("--set '" + set + "': expected key.path=value", site);
  const std::string path = set.substr(0, eq), value = set.substr(eq + 1);
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string k; std::getline(ss, k, '.');) {
    if (k.empty()) throw ConfigError("--set '" + set + "': empty key in '" + path + "'", site);
    keys.push_back(k);
  }
  toml::table* t = &root;
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
    toml::node* n = t->get(keys[i]);
    if (!n) {
      t->insert_or_assign(keys[i], toml::table{});
      n = t->get(keys[i]);
    }
    // An array of tables is entered by index: formats.override.0.DY = ... sets DY of the first override.
    if (n->is_array()) {
      toml::array& a = *n->as_array();
      std::size_t used = 0;
      std::size_t index = 0;
      try {
        index = std::stoul(keys[i + 1], &used);
      } catch (const std::logic_error&) {
        used = 0;
      }
      if (used != keys[i + 1].size() || i + 2 >= keys.size())
        throw ConfigError("--set '" + set + "': '" + keys[i] + "' is an array: give an element index, e.g. " + keys[i] + ".0.key", site);
      if (index >= a.size())
        throw ConfigError(fmt::format("--set '{}': index {} is out of range ('{}' has {} elements)", set, index, keys[i], a.size()), site);
      if (!a.get(index)->is_table()) throw ConfigError("--set '" + set + "': element " + keys[i + 1] + " of '" + keys[i] + "' is not a table", site);
      t = a.get(index)->as_table();
      ++i;
      continue;
    }
    if (!n->is_table()) throw ConfigError("--set '" + set + "': '" + keys[i] + "' is not a table", site);
    t = n->as_table();
  }
  try {
    toml::table parsed = toml::parse("v = " + value);
    t->insert_or_assign(keys.back(), *parsed.get("v"));
  } catch (const toml::parse_error&) {
    t->insert_or_assign(keys.back(), value);
  }
}

// Builds the model for the data set's samples (data::standard_geometry), so that a model that cannot
// train on them is an error now, naming the layer's entry or the key, not when training starts: shapes
// that do not fit, a last layer whose outputs are not the data set's classes, sizes above the limits of
// sim/nn/model.hpp, a batch whose activations would not fit in memory.
void check_model(const TrainConfig& c, Section& model, Section& data) {
  const data::SampleGeometry g = data::standard_geometry(c.dataset);
  const bool custom = c.model == "custom";
  // A built-in model has one size knob: its errors name model.width.
  auto fail = [&](const std::string& msg) {
    if (custom)
      throw ConfigError(msg.rfind(c.source, 0) == 0 ? msg : fmt::format("{}: key 'model.layers': {}", c.source, msg),
                        ErrorSite::in_file(c.source, 0, "model.layers"));
    model.fail(model.get("width"), "width", fmt::format("{} with width {}: {}", c.model, c.width, msg));
  };
  std::optional<nn::Model> m;
  try {
    m.emplace(nn::build_model(custom ? nn::ModelSpec{"custom", c.layers} : nn::builtin_model(c.model, g.classes, c.width),
                              Nchw{1, g.channels, g.height, g.width}, [](nn::Layer&) {}));
  } catch (const bitsim::Error& e) {
    fail(e.what());
  }
  const Nchw& out = m->nodes().back().out_shape;
  if (out.c * out.h * out.w != g.classes) {
    const std::string last = m->nodes().back().layer->name;
    const std::string what = fmt::format("the model ends with {} outputs per sample ({}: {}x{}x{}), but {} has {} classes",
                                         out.c * out.h * out.w, last, out.c, out.h, out.w, c.dataset, g.classes);
    const nn::LayerSpec* spec = custom && !c.layers.empty() ? &c.layers.back() : nullptr;
    if (spec)
      throw ConfigError(fmt::format("{}: {}; the last layer must produce {}", spec->origin, what, g.classes),
                        ErrorSite::in_file(c.source, 0, "model.layers"));
    fail(what);
  }
  std::int64_t largest = 0;  // one sample's largest layer output
  for (const auto& node : m->nodes()) largest = std::max(largest, node.out_shape.c * node.out_shape.h * node.out_shape.w);
  for (const char* key : {"batch", "test_batch"}) {
    const std::int64_t n = std::string(key) == "batch" ? c.batch : c.test_batch;
    if (!product_within({n, largest}, nn::kMaxBatchActivations))
      data.fail(data.get(key), key,
                fmt::format("{} samples of up to {} values per layer output are more than the limit of 2^32 values per tensor", n, largest));
  }
}

TrainConfig read(const toml::table& root, const std::string& file) {
  // The keys of config_schema.cpp are read through it; this function reads the structured ones and
  // checks what involves several keys.
  TrainConfig c;
  c.source = file;
  Section top(&root, "", file);
  read_schema_keys(top, "", c);

  Section model = top.table("model");
  read_schema_keys(model, "model", c);
  c.layers = read_layers(model.get("layers"), model, "layers");
  if (c.model == "custom" && c.layers.empty()) model.fail(nullptr, "layers", "model 'custom' needs [[model.layers]]");
  if (c.model != "custom" && !c.layers.empty())
    model.fail(model.get("layers"), "layers", "give either a built-in `name` or name = \"custom\" with layers");
  model.finish();

  Section data = top.table("data");
  read_schema_keys(data, "data", c);
  data.finish();

  Section tr = top.table("train");
  read_schema_keys(tr, "train", c);
  if (c.micro_batches > c.batch)
    tr.fail(tr.get("micro_batches"), "micro_batches", fmt::format("{} micro-batches do not fit a batch of {}", c.micro_batches, c.batch));
  {
    int e = 0;
    if (std::frexp(c.loss_scale.init, &e) != 0.5)  // S and 1/S must scale exactly
      tr.fail(tr.get("loss_scale_init"), "loss_scale_init", fmt::format("{} is not a power of two", c.loss_scale.init));
    if (c.loss_scale.mode == LossScaleMode::none)
      for (const char* key : {"loss_scale_init", "loss_scale_growth_interval"})
        if (tr.get(key)) tr.fail(tr.get(key), key, "needs train.loss_scale = \"static\" or \"dynamic\"");
    if (c.loss_scale.mode == LossScaleMode::fixed && tr.get("loss_scale_growth_interval"))
      tr.fail(tr.get("loss_scale_growth_interval"), "loss_scale_growth_interval", "is for train.loss_scale = \"dynamic\"");
  }
  tr.finish();

  Section opt = top.table("optimizer");
  read_schema_keys(opt, "optimizer", c);
  // One optimizer's own keys mean nothing to the other: refuse them rather than ignore them.
  for (const ConfigKey& k : config_keys())
    if (k.section == "optimizer" && k.applies && !k.applies(c) && opt.get(k.name))
      opt.fail(opt.get(k.name), k.name,
               c.optimizer == "sgd" ? std::string("is Adam's; set optimizer.name = \"adam\" or \"adamw\"")
                                    : fmt::format("is SGD's; optimizer.name = \"{}\" has none", c.optimizer));
  if (c.optimizer == "adamw" && c.sgd.decay_in_gradient)
    opt.fail(opt.get("weight_decay_point"), "weight_decay_point",
             "\"gradient\" adds L2 to the gradient; adamw decouples the decay (use adam for L2)");
  if (c.loss_scale.mode != LossScaleMode::none && c.sgd.decay_in_gradient)
    opt.fail(opt.get("weight_decay_point"), "weight_decay_point",
             "\"gradient\" adds wd * w to the scaled gradient, which train.loss_scale would then divide by S; use \"update\"");
  opt.finish();
  Section sched = top.table("schedule");
  read_schema_keys(sched, "schedule", c);
  sched.finish();

  Section fm = top.table("formats");
  read_level(fm, c.formats);
  if (const toml::node* n = fm.get("override")) {
    const toml::array* a = n->as_array();
    if (!a) fm.fail(n, "override", "must be an array of tables ([[formats.override]])");
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      if (!e.is_table()) fm.fail(&e, "override", fmt::format("element {} is not a table", i));
      Section o(e.as_table(), fmt::format("formats.override[{}]", i), file);
      FormatOverride fo;
      const toml::node* ln = o.get("layers");
      const toml::node* kn = o.get("kinds");
      if (!ln && !kn) o.fail(&e, "layers", "each override needs `layers` (name patterns) or `kinds` (layer kinds), or both");
      auto strings = [&](const toml::node* x, const char* key, std::vector<std::string>& into) {
        if (!x) return;
        if (x->is_string()) into.push_back(*x->value<std::string>());
        else if (const toml::array* la = x->as_array()) {
          for (const auto& y : *la) {
            if (!y.is_string()) o.fail(&y, key, "must hold strings");
            into.push_back(*y.value<std::string>());
          }
        } else o.fail(x, key, "must be a string or an array of strings");
      };
      strings(ln, "layers", fo.layers);
      strings(kn, "kinds", fo.kinds);
      for (const auto& k : fo.kinds) {
        const std::vector<std::string> known = nn::layer_kind_names();
        if (std::find(known.begin(), known.end(), k) == known.end()) {
          std::string list;
          for (const auto& x : known) list += (list.empty() ? "" : ", ") + x;
          o.fail(kn, "kinds", "unknown layer kind '" + k + "' (" + list + ")");
        }
      }
      if (const toml::node* in = o.get("index")) fo.index = parse_index_range(o, in);
      read_level(o, fo.level);
      o.finish();
      c.overrides.push_back(std::move(fo));
    }
  }
  fm.finish();

  for (const char* name : {"stats", "hazards"}) {
    Section sec = top.table(name);
    read_schema_keys(sec, name, c);
    sec.finish();
  }

  check_model(c, model, data);

  Section run = top.table("run");
  read_schema_keys(run, "run", c);
  run.finish();
  top.finish();
  if (c.run_dir.empty()) c.run_dir = "runs/" + c.name;
  return c;
}

void merge(FormatLevel& into, const FormatLevel& from) {
  for (std::size_t r = 0; r < into.roles.size(); ++r)
    if (from.roles[r]) into.roles[r] = from.roles[r];
  for (const LevelKey& k : level_keys()) k.merge(from, into);
}

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string quote(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      o += '\\';
      o += ch;
    } else if (ch == '\n') {
      o += "\\n";
    } else if (ch == '\t') {
      o += "\\t";
    } else if (ch == '\r') {
      o += "\\r";
    } else if (u < 0x20 || u == 0x7f) {
      o += fmt::format("\\u{:04X}", static_cast<unsigned>(u));
    } else {
      o += ch;
    }
  }
  return o + "\"";
}

std::string role_toml(const nn::RoleRounding& r) {
  // A policy with noise of its own (range, WAGEUBN) always writes its rounding, as older resolved
  // configs did; the others write a plain string when they round to nearest even.
  const formats::RoundingSpec rs = r.rounding();
  const bool own_noise = r.policy().noise_is_fixed();
  if (!own_noise && rs.mode == formats::Rounding::rne) return quote(r.text());
  std::string s = "{ format = " + quote(r.text()) + ", rounding = \"" + formats::rounding_name(rs.mode) + "\"";
  if (!own_noise && rs.mode == formats::Rounding::sr) s += ", sr_bits = " + std::to_string(rs.sr_bits);
  return s + " }";
}

std::string level_toml(const FormatLevel& l) {
  std::string s;
  for (int r = 0; r < nn::kRoleCount; ++r)
    if (l.roles[static_cast<std::size_t>(r)])
      s += fmt::format("{} = {}\n", nn::role_name(static_cast<nn::Role>(r)), role_toml(*l.roles[static_cast<std::size_t>(r)]));
  for (const LevelKey& k : level_keys()) s += k.write(l);
  return s;
}

std::string layers_toml(const std::vector<nn::LayerSpec>& layers) {
  std::string s = "[";
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const nn::LayerSpec& l = layers[i];
    s += i ? ", " : "";
    s += "{ type = " + quote(l.type);
    if (!l.name.empty()) s += ", name = " + quote(l.name);
    for (const nn::LayerKey& key : nn::layer_keys())
      std::visit([&](auto field) { if (l.*field) s += fmt::format(", {} = {}", key.name, *(l.*field)); }, key.field);
    if (!nn::layer_type(l.type).make) {  // a residual block
      s += ", body = " + layers_toml(l.body);
      if (!l.shortcut.empty()) s += ", shortcut = " + layers_toml(l.shortcut);
      if (!l.pre.empty()) s += ", pre = " + layers_toml(l.pre);
      s += ", shortcut_from = " + quote(l.shortcut_from);
    }
    s += " }";
  }
  return s + "]";
}

}  // namespace

namespace {

// Tables merge key by key (recursively); any other value of `over` replaces the base's.
void merge_tree(toml::table& base, const toml::table& over) {
  for (const auto& [k, v] : over) {
    toml::node* b = base.get(k);
    if (b && b->is_table() && v.is_table()) merge_tree(*b->as_table(), *v.as_table());
    else base.insert_or_assign(k, v);
  }
}

std::string read_file_text(const std::string& path, const std::string& what) {
  try {
    return io::read_file(path);
  } catch (const io::FileError& e) {
    throw ConfigError(fmt::format("{}: the config file {}", what, e.what()), ErrorSite::in_file(path));
  }
}

// Parses a config, resolving `extends = "base.toml"` (relative to the file's folder; the base's keys,
// then this file's merged over them) and `set = ["key.path=value", ...]` (applied after the merge, as
// --set would be: how a variant changes one entry of an array such as formats.override).
toml::table parse_tree(const std::string& text, const std::string& source_name, int depth) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}: {}", source_name, e.source().begin.line, e.description()),
                      ErrorSite::in_file(source_name, static_cast<std::int64_t>(e.source().begin.line)));
  }
  const toml::node* ext = root.get("extends");
  const toml::node* set = root.get("set");
  if (!ext && !set) return root;
  auto at = [&](const toml::node* n) { return fmt::format("{}:{}", source_name, n->source().begin.line); };
  auto site = [&](const toml::node* n, const char* key) {
    return ErrorSite::in_file(source_name, static_cast<std::int64_t>(n->source().begin.line), key);
  };
  if (!ext) throw ConfigError(at(set) + ": key 'set': only a config that `extends` another can `set` keys of it", site(set, "set"));
  if (!ext->is_string()) throw ConfigError(at(ext) + ": key 'extends': must be the path of the base config", site(ext, "extends"));
  if (depth >= 8) throw ConfigError(at(ext) + ": key 'extends': more than 8 levels of extends (a cycle?)", site(ext, "extends"));
  const std::filesystem::path base_path = std::filesystem::path(source_name).parent_path() / *ext->value<std::string>();
  toml::table base = parse_tree(read_file_text(base_path.string(), at(ext) + ": key 'extends'"), base_path.string(), depth + 1);
  std::vector<std::string> sets;
  if (set) {
    const toml::array* a = set->as_array();
    if (!a) throw ConfigError(at(set) + ": key 'set': must be an array of \"key.path=value\" strings", site(set, "set"));
    for (const auto& e : *a) {
      if (!e.is_string()) throw ConfigError(at(set) + ": key 'set': must be an array of \"key.path=value\" strings", site(set, "set"));
      sets.push_back(*e.value<std::string>());
    }
  }
  const std::string set_at = set ? at(set) : std::string();  // the nodes are erased next
  const ErrorSite set_site = set ? site(set, "set") : ErrorSite{};
  root.erase("extends");
  root.erase("set");
  merge_tree(base, root);
  for (const auto& s : sets) {
    try {
      apply_set(base, s);
    } catch (const ConfigError& e) {
      throw ConfigError(set_at + ": key 'set': " + e.what(), set_site);
    }
  }
  return base;
}

}  // namespace

TrainConfig parse_config(const std::string& text, const std::string& source_name, const std::vector<std::string>& sets) {
  toml::table root = parse_tree(text, source_name, 0);
  for (const auto& s : sets) apply_set(root, s);
  return read(root, source_name);
}

TrainConfig load_config(const std::string& path, const std::vector<std::string>& sets) {
  std::string text;
  try {
    text = io::read_file(path);
  } catch (const io::FileError& e) {
    throw ConfigError(fmt::format("{} (the config file)", e.what()), ErrorSite::in_file(path));
  }
  return parse_config(text, path, sets);
}

std::string stats_path(const TrainConfig& c) {
  return std::filesystem::path(c.stats.file).is_absolute() ? c.stats.file : c.run_dir + "/" + c.stats.file;
}

std::string to_toml(const TrainConfig& c) {
  // The keys of config_schema.cpp, section by section, and the structured ones by hand.
  std::string s = write_schema_keys("", c) + "\n";
  s += "[model]\n" + write_schema_keys("model", c);
  if (!c.layers.empty()) s += "layers = " + layers_toml(c.layers) + "\n";
  for (const char* name : {"data", "train", "optimizer", "schedule"})
    s += fmt::format("\n[{}]\n", name) + write_schema_keys(name, c);
  s += "\n[formats]\n" + level_toml(c.formats);
  for (const auto& o : c.overrides) {
    std::string ls, ks;
    for (const auto& p : o.layers) ls += (ls.empty() ? "" : ", ") + quote(p);
    for (const auto& k : o.kinds) ks += (ks.empty() ? "" : ", ") + quote(k);
    s += "\n[[formats.override]]\n";
    if (!o.layers.empty()) s += "layers = [" + ls + "]\n";
    if (!o.kinds.empty()) s += "kinds = [" + ks + "]\n";
    if (o.index) s += "index = " + quote(o.index->text()) + "\n";
    s += level_toml(o.level);
  }
  for (const char* name : {"stats", "hazards"})
    if (!section_written_when_changed(name) || section_changed(name, c))
      s += fmt::format("\n[{}]\n", name) + write_schema_keys(name, c);
  s += "\n[run]\n" + write_schema_keys("run", c);
  return s;
}

bool name_matches(const std::string& pattern, const std::string& name) {
  // Iterative glob with backtracking on the last '*'.
  std::size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

bool override_matches(const FormatOverride& o, const nn::Layer& layer) {
  bool name_ok = o.layers.empty(), kind_ok = o.kinds.empty();
  for (const auto& pat : o.layers) name_ok = name_ok || name_matches(pat, layer.name);
  for (const auto& k : o.kinds) kind_ok = kind_ok || k == layer.kind();
  return name_ok && kind_ok;
}

// `position[i]`: the layer's position among override i's matches (nullptr: outside a model).
void apply_levels(const TrainConfig& c, nn::Layer& layer, const std::vector<std::int64_t>* position) {
  FormatLevel l = c.formats;
  for (std::size_t i = 0; i < c.overrides.size(); ++i) {
    const FormatOverride& o = c.overrides[i];
    if (!override_matches(o, layer)) continue;
    if (o.index) {
      if (!position)
        throw ConfigError(fmt::format("{}: formats.override[{}] selects by `index`, which needs the model's layer order "
                                      "(configure the layers with LayerConfigurator)",
                                      c.source, i),
                          ErrorSite::in_file(c.source, 0, fmt::format("formats.override[{}].index", i)));
      if (!o.index->contains((*position)[i])) continue;
    }
    merge(l, o.level);
  }
  for (std::size_t r = 0; r < l.roles.size(); ++r)
    if (l.roles[r]) layer.roles.by_role[r] = *l.roles[r];
  if (l.acc) layer.gemm.acc = *l.acc;
  if (l.product) layer.gemm.product = *l.product;
  if (l.order) {
    GemmConfig order;
    parse_acc_order(*l.order, order);  // checked when the config was read
    layer.gemm.order = order.order;
    layer.gemm.aligned = order.aligned;
  }
  if (l.chunk) layer.gemm.chunk = *l.chunk;
  if (l.gemm_rounding) layer.gemm.rounding = *l.gemm_rounding;
  layer.bifurcate = l.bifurcate.value_or(false);
  layer.grad_decay = c.sgd.decay_in_gradient ? static_cast<float>(c.sgd.weight_decay) : 0.0f;
  layer.grad_decay_all = c.sgd.decay_bn_and_bias;
  try {
    methods::configure_batchnorm(
        layer, {l.batchnorm.value_or("standard"), l.range_bn_chunks.value_or(16), l.range_bn_new_weight.value_or(0.9)});
  } catch (const std::exception& e) {
    throw ConfigError(c.source + ": layer " + layer.name + ": " + e.what(), ErrorSite::in_file(c.source));
  }
  if (layer.gemm.order == AccOrder::blocked && layer.gemm.chunk < 1)
    throw ConfigError(c.source + ": layer " + layer.name + ": order = \"blocked\" needs `chunk`",
                      ErrorSite::in_file(c.source, 0, "formats.chunk"));
  if (layer.gemm.order == AccOrder::aligned) {
    try {
      validate(layer.gemm.config());
    } catch (const GemmError& e) {
      throw ConfigError(c.source + ": layer " + layer.name + ": formats.order: " + e.what(),
                        ErrorSite::in_file(c.source, 0, "formats.order"));
    }
  }
}

}  // namespace

void configure_layer(const TrainConfig& c, nn::Layer& layer) { apply_levels(c, layer, nullptr); }

void LayerConfigurator::operator()(nn::Layer& layer) {
  // Positions before this layer is counted: the first match is position 0.
  std::vector<std::int64_t> position = matched_;
  for (std::size_t i = 0; i < c_->overrides.size(); ++i)
    if (override_matches(c_->overrides[i], layer)) ++matched_[i];
  apply_levels(*c_, layer, &position);
}

std::string IndexRange::text() const {
  return last ? fmt::format("{}:{}", first, *last) : fmt::format("{}:", first);
}

std::string toml_quote(const std::string& s) { return quote(s); }

}  // namespace bitsim::sim::train
