#include "sim/train/config.hpp"
#include "io/excerpt.hpp"

#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "io/files.hpp"
#include "sim/data/dataset.hpp"
#include "sim/methods/batchnorm_methods.hpp"
#include "sim/nn/layer_registry.hpp"
#include "sim/nn/model.hpp"
#include "sim/nn/model_zoo.hpp"
#include "sim/tensor/shape.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <variant>

namespace bitsim::sim::train {

namespace {

// One TOML table being read: remembers which keys were read, so the rest can be reported as unknown.
class Section {
 public:
  Section(const toml::table* t, std::string path, const std::string& file) : t_(t), path_(std::move(path)), file_(file) {}

  const toml::node* get(const std::string& key) {
    used_.insert(key);
    return t_ ? t_->get(key) : nullptr;
  }
  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  [[noreturn]] void fail(const toml::node* n, const std::string& key, const std::string& msg) const {
    const toml::node* where = n ? n : t_;
    const auto line = where ? where->source().begin.line : 0;
    // Values from --set have no line in the file; values from an `extends` base name their own file.
    const std::string& file = where && where->source().path ? *where->source().path : file_;
    if (line == 0)
      throw ConfigError(fmt::format("{}: key '{}' (from --set): {}", file_, key_path(key), msg), ErrorSite::in_file(file_, 0, key_path(key)));
    throw ConfigError(fmt::format("{}:{}: key '{}': {}", file, line, key_path(key), msg),
                      ErrorSite::in_file(file, static_cast<std::int64_t>(line), key_path(key)));
  }

  std::int64_t integer(const std::string& key, std::int64_t def, std::int64_t lo, std::int64_t hi) {
    const toml::node* n = get(key);
    if (!n) return def;
    // as_integer, not value<int64_t>: toml++ converts a float such as 1e29 to int64 before checking
    // its range, which is undefined behaviour (UBSan, found by fuzz_config).
    const toml::value<std::int64_t>* v = n->as_integer();
    if (!v) fail(n, key, "must be an integer");
    if (v->get() < lo || v->get() > hi) fail(n, key, fmt::format("{} is out of range [{}, {}]", v->get(), lo, hi));
    return v->get();
  }
  double real(const std::string& key, double def, double lo, double hi) {
    const toml::node* n = get(key);
    if (!n) return def;
    if (!n->is_number()) fail(n, key, "must be a number");
    const double v = *n->value<double>();
    if (!std::isfinite(v) || v < lo || v > hi) fail(n, key, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
    return v;
  }
  bool boolean(const std::string& key, bool def) {
    const toml::node* n = get(key);
    if (!n) return def;
    if (!n->is_boolean()) fail(n, key, "must be true or false");
    return *n->value<bool>();
  }
  std::string string(const std::string& key, const std::string& def, const std::vector<std::string>& allowed = {}) {
    const toml::node* n = get(key);
    if (!n) return def;
    if (!n->is_string()) fail(n, key, "must be a string");
    std::string v = *n->value<std::string>();
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(n, key, fmt::format("'{}' is not one of: {}", io::excerpt(v), list));
    }
    return v;
  }
  Section table(const std::string& key) {
    const toml::node* n = get(key);
    if (n && !n->is_table()) fail(n, key, "must be a table");
    return Section(n ? n->as_table() : nullptr, key_path(key), file_);
  }
  // Reports the first key that was not read.
  void finish() const {
    if (!t_) return;
    for (auto&& [k, v] : *t_) {
      const std::string key = key_path(std::string(k.str()));
      const auto line = static_cast<std::int64_t>(v.source().begin.line);
      if (!used_.count(std::string(k.str())))
        throw ConfigError(line == 0 ? fmt::format("{}: unknown key '{}' (from --set)", file_, key)
                                    : fmt::format("{}:{}: unknown key '{}'", file_, line, key),
                          ErrorSite::in_file(file_, line, key));
    }
  }
  const toml::table* raw() const { return t_; }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }

 private:
  const toml::table* t_;
  std::string path_;
  const std::string& file_;
  std::set<std::string> used_;
};

// An array of strings (absent: empty).
std::vector<std::string> string_list(Section& s, const std::string& key) {
  std::vector<std::string> out;
  const toml::node* n = s.get(key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) s.fail(n, key, "must be an array of strings");
  for (const auto& e : *a) {
    if (!e.is_string()) s.fail(&e, key, "must hold strings");
    out.push_back(*e.value<std::string>());
  }
  return out;
}

formats::Format format_from(Section& s, const toml::node* n, const std::string& key) {
  if (!n->is_string()) s.fail(n, key, "must be a format string (e.g. \"fp8_e4m3\")");
  try {
    return formats::parse_format(*n->value<std::string>());
  } catch (const std::exception& e) {
    s.fail(n, key, e.what());
  }
}

// "range(bits=8)" or "range(bits=8,range=sample_mean,new_weight=0.9)" (spaces ignored). Returns false
// when `text` is not a range quantizer at all; fails on a malformed one.
bool parse_range_text(Section& s, const toml::node* n, const std::string& key, std::string text, nn::RangeRole& out) {
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  if (text.rfind("range(", 0) != 0) return false;
  if (text.back() != ')')
    s.fail(n, key, "a range quantizer is written range(bits=B[,range=tensor|sample_mean][,new_weight=W][,true_zero=yes|no])");
  std::stringstream ss(text.substr(6, text.size() - 7));
  bool have_bits = false;
  for (std::string kv; std::getline(ss, kv, ',');) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) s.fail(n, key, "range(...): expected key=value, got '" + kv + "'");
    const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    try {
      std::size_t used = 0;
      if (k == "bits") {
        out.bits = std::stoi(v, &used);
        have_bits = true;
      } else if (k == "new_weight") {
        out.running_new_weight = std::stod(v, &used);
      } else if (k == "true_zero") {
        if (v != "yes" && v != "no") s.fail(n, key, "range(...): true_zero must be yes or no, got '" + v + "'");
        out.true_zero = v == "yes";
        used = v.size();
      } else if (k == "range") {
        if (v != "tensor" && v != "sample_mean") s.fail(n, key, "range(...): range must be tensor or sample_mean, got '" + v + "'");
        out.sample_mean = v == "sample_mean";
        used = v.size();
      } else {
        s.fail(n, key, "range(...): unknown key '" + k + "' (bits, range, new_weight, true_zero)");
      }
      if (used != v.size()) throw std::invalid_argument(v);
    } catch (const std::logic_error&) {
      s.fail(n, key, "range(...): bad value '" + v + "' for " + k);
    }
  }
  if (!have_bits) s.fail(n, key, "range(...) needs bits");
  return true;
}

// WAGEUBN's quantizers: "direct(bits=8)", "direct(bits=8,clip=unit)", "shift(bits=8[,clip=pm1])",
// "flag(bits=8)", "constant(bits=8[,const_bits=15][,gscale=128])" (spaces ignored). Returns false when
// `text` is none of them; fails on a malformed one.
bool parse_wage_text(Section& s, const toml::node* n, const std::string& key, std::string text, nn::WageSpec& out) {
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  const auto open = text.find('(');
  if (open == std::string::npos) return false;
  const std::string kind = text.substr(0, open);
  if (kind == "direct") out = nn::WageSpec::of(nn::WageKind::direct, 8);
  else if (kind == "shift") out = nn::WageSpec::of(nn::WageKind::shift, 8);
  else if (kind == "flag") out = nn::WageSpec::of(nn::WageKind::flag, 8);
  else if (kind == "constant") out = nn::WageSpec::of(nn::WageKind::constant, 8);
  else return false;
  const std::string usage = kind + "(bits=B" + (kind == "direct" || kind == "shift" ? "[,clip=none|unit|pm1]" : "") +
                            (kind == "constant" ? "[,const_bits=C][,gscale=G]" : "") + ")";
  if (text.back() != ')') s.fail(n, key, "a " + kind + " quantizer is written " + usage);
  std::stringstream ss(text.substr(open + 1, text.size() - open - 2));
  bool have_bits = false;
  for (std::string kv; std::getline(ss, kv, ',');) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) s.fail(n, key, kind + "(...): expected key=value, got '" + kv + "' (" + usage + ")");
    const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    try {
      std::size_t used = v.size();
      if (k == "bits") {
        out.bits = std::stoi(v, &used);
        have_bits = true;
      } else if (k == "clip" && (kind == "direct" || kind == "shift")) {
        if (v == "none") out.clip = nn::WageClip::none;
        else if (v == "unit") out.clip = nn::WageClip::unit;
        else if (v == "pm1") out.clip = nn::WageClip::pm1;
        else s.fail(n, key, kind + "(...): clip must be none, unit or pm1, got '" + v + "'");
      } else if (k == "const_bits" && kind == "constant") {
        out.const_bits = std::stoi(v, &used);
      } else if (k == "gscale" && kind == "constant") {
        out.gscale = std::stoll(v, &used);
      } else {
        s.fail(n, key, kind + "(...): unknown key '" + k + "' (" + usage + ")");
      }
      if (used != v.size()) throw std::invalid_argument(v);
    } catch (const std::logic_error&) {
      s.fail(n, key, kind + "(...): bad value '" + v + "' for " + k);
    }
  }
  if (!have_bits) s.fail(n, key, kind + "(...) needs bits (" + usage + ")");
  try {
    out.validate();
  } catch (const std::exception& e) {
    s.fail(n, key, e.what());
  }
  return true;
}

nn::RoleRounding wage_role(Section& s, const toml::node* n, const std::string& key, const nn::WageSpec& w,
                           const std::string& mode) {
  try {
    return nn::RoleRounding::wage(w, mode == "sr");
  } catch (const std::exception& e) {
    s.fail(n, key, e.what());
  }
}

// A scaled, affine or MX policy of sim::Tensor written as one string: "mxfp8_e4m3",
// "mx(element=fp8_e4m3,block=32)", "scaled(format=int8,scale=pow2,axis=1)", "affine(bits=8)". Returns
// false when `text` is not spelled as one (then it is a format: sim::names_policy); fails on a
// malformed one.
bool parse_policy_text(Section& s, const toml::node* n, const std::string& key, const std::string& text, TensorPolicy& out) {
  if (!names_policy(text)) return false;
  try {
    out = parse_policy(text);
  } catch (const std::exception& e) {
    s.fail(n, key, e.what());
  }
  return true;
}

// The rounding keys of a role table: rounding (rne by default) and sr_bits.
formats::RoundingSpec role_rounding(Section& t) {
  formats::RoundingSpec r;
  r.mode = *formats::parse_rounding(t.string("rounding", "rne", {"rne", "rna", "rtz", "rup", "rdn", "sr"}));
  r.sr_bits = static_cast<int>(t.integer("sr_bits", 32, 1, 32));
  return r;
}

nn::RoleRounding policy_role(Section& s, const toml::node* n, const std::string& key, const TensorPolicy& policy,
                             formats::RoundingSpec rounding) {
  try {
    return nn::RoleRounding::tensor_policy(policy, rounding);
  } catch (const std::exception& e) {
    s.fail(n, key, e.what());
  }
}

// The table form of a tensor policy: { policy = "mx", format = "fp8_e4m3", block = 32 },
// { policy = "scaled", format = "int8", scale = "pow2"|"real", axis = N },
// { policy = "affine", bits = 8, signed = false, axis = N }; plus rounding and sr_bits.
nn::RoleRounding policy_table_role(Section& s, const toml::node* n, const std::string& key, Section& t, const toml::node* pn) {
  if (!pn->is_string()) t.fail(pn, "policy", "must be \"mx\", \"scaled\" or \"affine\"");
  const std::string kind = *pn->value<std::string>();
  // The element format (mx, scaled), required; `example` is what the message suggests.
  auto element = [&](const char* example) {
    const toml::node* fn = t.get("format");
    if (!fn) t.fail(pn, "format", fmt::format("a{} {} policy needs its element format (e.g. format = \"{}\")", kind == "mx" ? "n" : "", kind, example));
    return format_from(t, fn, "format");
  };
  // One scale per index of this axis of the NCHW shape (scaled, affine); none: one per tensor.
  auto axis = [&]() -> std::optional<int> {
    if (!t.get("axis")) return std::nullopt;
    return static_cast<int>(t.integer("axis", 0, 0, 3));
  };
  TensorPolicy policy;
  try {
    if (kind == "mx") {
      const formats::Format f = element("fp8_e4m3");
      policy = TensorPolicy::mx(f, static_cast<int>(t.integer("block", 32, 1, 65536)));
    } else if (kind == "scaled") {
      const formats::Format f = element("int8");
      const ScaleRule rule = t.string("scale", "pow2", {"pow2", "real"}) == "pow2" ? ScaleRule::pow2 : ScaleRule::real;
      policy = TensorPolicy::scaled(f, rule, axis());
    } else if (kind == "affine") {
      const int bits = static_cast<int>(t.integer("bits", 8, 1, 32));
      const bool is_signed = t.boolean("signed", false);
      policy = TensorPolicy::affine(bits, is_signed, axis());
    } else {
      t.fail(pn, "policy", "must be \"mx\", \"scaled\" or \"affine\", got \"" + kind + "\"");
    }
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    s.fail(n, key, e.what());
  }
  const formats::RoundingSpec rounding = role_rounding(t);
  t.finish();
  return policy_role(s, n, key, policy, rounding);
}

nn::RoleRounding role_from(Section& s, const toml::node* n, const std::string& key) {
  formats::Format f;
  formats::RoundingSpec r;
  nn::RangeRole range;
  nn::WageSpec wage;
  bool is_range = false;
  if (n->is_table()) {
    Section t(n->as_table(), s.key_path(key), s.file());
    if (const toml::node* pn = t.get("policy")) return policy_table_role(s, n, key, t, pn);
    const toml::node* fn = t.get("format");
    const toml::node* qn = t.get("quantizer");
    if (qn) {
      if (!qn->is_string() || (*qn->value<std::string>() != "range" && *qn->value<std::string>() != "format"))
        t.fail(qn, "quantizer", "must be \"format\" or \"range\" (WAGEUBN's quantizers are written format = \"direct(bits=8)\")");
      is_range = *qn->value<std::string>() == "range";
    }
    if (is_range) {
      if (fn) t.fail(fn, "format", "a range quantizer has no format (it keeps floats on its grid)");
      range.bits = static_cast<int>(t.integer("bits", 8, 1, 24));
      range.sample_mean = t.string("range", "tensor", {"tensor", "sample_mean"}) == "sample_mean";
      range.running_new_weight = t.real("new_weight", 0.9, 0, 1);
      range.true_zero = t.boolean("true_zero", false);
      const std::string mode = t.string("rounding", "rne", {"rne", "sr"});
      t.finish();
      return nn::RoleRounding::range(range, mode == "sr");
    }
    if (!fn) s.fail(n, key, "needs a `format` (or quantizer = \"range\")");
    if (fn->is_string() && parse_wage_text(t, fn, "format", *fn->value<std::string>(), wage)) {
      // The constant quantizer (weight gradients) rounds stochastically unless told otherwise.
      const std::string mode = t.string("rounding", wage.kind == nn::WageKind::constant ? "sr" : "rne", {"rne", "sr"});
      t.finish();
      return wage_role(s, n, key, wage, mode);
    }
    if (fn->is_string() && parse_range_text(t, fn, "format", *fn->value<std::string>(), range)) {
      const std::string mode = t.string("rounding", "rne", {"rne", "sr"});
      t.finish();
      try {
        return nn::RoleRounding::range(range, mode == "sr");
      } catch (const std::exception& e) {
        s.fail(n, key, e.what());
      }
    }
    TensorPolicy policy;
    if (fn->is_string() && parse_policy_text(t, fn, "format", *fn->value<std::string>(), policy)) {
      const formats::RoundingSpec rounding = role_rounding(t);
      t.finish();
      return policy_role(s, n, key, policy, rounding);
    }
    f = format_from(t, fn, "format");
    r = role_rounding(t);
    t.finish();
  } else {
    if (n->is_string() && parse_wage_text(s, n, key, *n->value<std::string>(), wage))
      return wage_role(s, n, key, wage, wage.kind == nn::WageKind::constant ? "sr" : "rne");
    if (n->is_string() && parse_range_text(s, n, key, *n->value<std::string>(), range)) {
      try {
        return nn::RoleRounding::range(range, false);
      } catch (const std::exception& e) {
        s.fail(n, key, e.what());
      }
    }
    TensorPolicy policy;
    if (n->is_string() && parse_policy_text(s, n, key, *n->value<std::string>(), policy))
      return policy_role(s, n, key, policy, {});
    f = format_from(s, n, key);
  }
  try {
    return nn::RoleRounding(f, r);
  } catch (const std::exception& e) {
    s.fail(n, key, e.what());
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
      if (level.roles[static_cast<std::size_t>(r)]->has_running_range() && !batched)
        s.fail(n, key, "range = sample_mean (running estimates) is for tensors with a batch axis: A, DY, DY_W, BN_NORM");
    }
  }
  if (s.get("bifurcate")) level.bifurcate = s.boolean("bifurcate", false);
  if (s.get("batchnorm")) {
    level.batchnorm = s.string("batchnorm", "standard", methods::batchnorm_method_names());
  }
  if (s.get("range_bn_chunks")) level.range_bn_chunks = s.integer("range_bn_chunks", 16, 1, 1 << 20);
  if (s.get("range_bn_new_weight")) level.range_bn_new_weight = s.real("range_bn_new_weight", 0.9, 0, 1);
  for (const char* key : {"acc", "product"}) {
    if (const toml::node* n = s.get(key)) {
      std::optional<formats::Format> f;
      if (!(n->is_string() && *n->value<std::string>() == "exact")) f = format_from(s, n, key);
      if (f && !f->is_binary()) s.fail(n, key, "Graham formats have no arithmetic, so they cannot be accumulators or products");
      (std::string(key) == "acc" ? level.acc : level.product) = f;
    }
  }
  if (s.get("order")) {
    const std::string o = s.string("order", "sequential", {"sequential", "pairwise", "blocked"});
    level.order = o == "sequential" ? AccOrder::sequential : o == "pairwise" ? AccOrder::pairwise : AccOrder::blocked;
  }
  if (s.get("chunk")) level.chunk = s.integer("chunk", 1, 1, std::int64_t{1} << 40);
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
    const bool known = nn::find_layer_key(key) || key == "body" || key == "shortcut" || key == "pre" || key == "shortcut_from";
    if (known && std::find(type.keys.begin(), type.keys.end(), key) == type.keys.end()) {
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
  const auto eq = set.find('=');
  if (eq == std::string::npos || eq == 0) throw ConfigError("--set '" + set + "': expected key.path=value");
  const std::string path = set.substr(0, eq), value = set.substr(eq + 1);
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string k; std::getline(ss, k, '.');) {
    if (k.empty()) throw ConfigError("--set '" + set + "': empty key in '" + path + "'");
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
        throw ConfigError("--set '" + set + "': '" + keys[i] + "' is an array: give an element index, e.g. " + keys[i] + ".0.key");
      if (index >= a.size())
        throw ConfigError(fmt::format("--set '{}': index {} is out of range ('{}' has {} elements)", set, index, keys[i], a.size()));
      if (!a.get(index)->is_table()) throw ConfigError("--set '" + set + "': element " + keys[i + 1] + " of '" + keys[i] + "' is not a table");
      t = a.get(index)->as_table();
      ++i;
      continue;
    }
    if (!n->is_table()) throw ConfigError("--set '" + set + "': '" + keys[i] + "' is not a table");
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
    if (custom) throw ConfigError(msg.rfind(c.source, 0) == 0 ? msg : fmt::format("{}: key 'model.layers': {}", c.source, msg));
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
    if (spec) throw ConfigError(fmt::format("{}: {}; the last layer must produce {}", spec->origin, what, g.classes));
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
  TrainConfig c;
  c.source = file;
  Section top(&root, "", file);
  c.name = top.string("name", "run");
  // The run folder is runs/<name> by default: a name is one path component, never a way out of runs/.
  if (c.name.empty() || c.name == "." || c.name == ".." || c.name.find_first_of(std::string("/\0", 2)) != std::string::npos)
    top.fail(top.get("name"), "name", fmt::format("'{}' is not a run name (one folder name: no '/', not '.' or '..', not empty)", io::excerpt(c.name)));
  c.seed = static_cast<std::uint64_t>(top.integer("seed", 1, 0, std::numeric_limits<std::int64_t>::max()));
  c.threads = static_cast<int>(top.integer("threads", 0, 0, 1024));

  Section model = top.table("model");
  std::vector<std::string> models = nn::builtin_model_names();
  models.push_back("custom");
  c.model = model.string("name", "cnn", models);
  c.width = model.integer("width", 0, 0, 1 << 20);
  c.layers = read_layers(model.get("layers"), model, "layers");
  if (c.model == "custom" && c.layers.empty()) model.fail(nullptr, "layers", "model 'custom' needs [[model.layers]]");
  if (c.model != "custom" && !c.layers.empty())
    model.fail(model.get("layers"), "layers", "give either a built-in `name` or name = \"custom\" with layers");
  model.finish();

  Section data = top.table("data");
  c.dataset = data.string("dataset", "fashion-mnist", {"fashion-mnist", "cifar10"});
  c.data_dir = data.string("dir", "");
  c.batch = data.integer("batch", 128, 2, 1 << 20);
  c.test_batch = data.integer("test_batch", 1000, 1, 1 << 20);
  c.crop_pad = data.integer("crop_pad", 0, 0, 64);
  c.flip = data.boolean("flip", false);
  c.normalize = data.boolean("normalize", true);
  c.limit_train = data.integer("limit_train", 0, 0, std::int64_t{1} << 40);
  c.limit_test = data.integer("limit_test", 0, 0, std::int64_t{1} << 40);
  data.finish();

  Section tr = top.table("train");
  c.epochs = tr.integer("epochs", 10, 1, 100000);
  c.stop_after_steps = tr.integer("stop_after_steps", 0, 0, std::int64_t{1} << 50);
  c.checkpoint_every_steps = tr.integer("checkpoint_every_steps", 0, 0, std::int64_t{1} << 50);
  c.micro_batches = tr.integer("micro_batches", 1, 1, 1024);
  c.allreduce = tr.string("allreduce", "");
  if (!c.allreduce.empty()) {
    try {
      const formats::Format f = formats::parse_format(c.allreduce);
      if (!formats::Quantizer(f).supports_float_arrays())
        tr.fail(tr.get("allreduce"), "allreduce", "'" + c.allreduce + "' has values that are not exact in float");
    } catch (const formats::FormatError& e) {
      tr.fail(tr.get("allreduce"), "allreduce", e.what());
    }
  }
  if (c.micro_batches > c.batch)
    tr.fail(tr.get("micro_batches"), "micro_batches", fmt::format("{} micro-batches do not fit a batch of {}", c.micro_batches, c.batch));
  c.drop_last = tr.boolean("drop_last", true);
  tr.finish();

  Section opt = top.table("optimizer");
  c.schedule.lr = opt.real("lr", 0.1, 0, 1e6);
  c.sgd.momentum = opt.real("momentum", 0.9, 0, 1);
  c.sgd.nesterov = opt.boolean("nesterov", false);
  c.sgd.weight_decay = opt.real("weight_decay", 5e-4, 0, 1e3);
  c.sgd.decay_bn_and_bias = opt.boolean("decay_bn_and_bias", true);
  c.sgd.master_weights = opt.boolean("master_weights", true);
  c.sgd.decay_in_gradient = opt.string("weight_decay_point", "update", {"update", "gradient"}) == "gradient";
  c.sgd.lr_bits = static_cast<int>(opt.integer("lr_bits", 0, 0, 32));
  opt.finish();

  Section sch = top.table("schedule");
  c.schedule.type = sch.string("type", "cosine", {"constant", "step", "cosine"});
  c.schedule.warmup_epochs = sch.real("warmup_epochs", 0, 0, 1e6);
  c.schedule.gamma = sch.real("gamma", 0.1, 0, 1e6);
  c.schedule.final_lr = sch.real("final_lr", 0, 0, 1e6);
  if (const toml::node* n = sch.get("gscale")) {
    const toml::array* a = n->as_array();
    if (!a || a->empty()) sch.fail(n, "gscale", "must be a non-empty array of powers of two (e.g. [128, 32, 8, 2])");
    for (const auto& e : *a) {
      const toml::value<std::int64_t>* v = e.as_integer();  // not value<int64_t>: see Section::integer
      if (!v || v->get() < 2 || v->get() > (std::int64_t{1} << 24) || (v->get() & (v->get() - 1)) != 0)
        sch.fail(&e, "gscale", "must hold powers of two in 2..2^24");
      c.schedule.gscale.push_back(v->get());
    }
  }
  if (const toml::node* n = sch.get("gscale_milestones")) {
    const toml::array* a = n->as_array();
    if (!a) sch.fail(n, "gscale_milestones", "must be an array of epochs");
    for (const auto& e : *a) {
      if (!e.is_number() || *e.value<double>() < 0) sch.fail(&e, "gscale_milestones", "must hold epochs >= 0");
      c.schedule.gscale_milestones.push_back(*e.value<double>());
    }
    if (c.schedule.gscale.size() != c.schedule.gscale_milestones.size() + 1)
      sch.fail(n, "gscale_milestones", fmt::format("needs one entry fewer than gscale ({} values, {} milestones)",
                                                   c.schedule.gscale.size(), c.schedule.gscale_milestones.size()));
  } else if (c.schedule.gscale.size() > 1) {
    sch.fail(sch.get("gscale"), "gscale", "more than one value needs gscale_milestones");
  }
  if (const toml::node* n = sch.get("milestones")) {
    const toml::array* a = n->as_array();
    if (!a) sch.fail(n, "milestones", "must be an array of epochs");
    for (const auto& e : *a) {
      if (!e.is_number()) sch.fail(&e, "milestones", "must hold numbers");
      c.schedule.milestones.push_back(*e.value<double>());
    }
  }
  sch.finish();

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

  Section st = top.table("stats");
  c.stats.every = st.integer("every", 0, 0, std::int64_t{1} << 40);
  c.stats.file = st.string("file", "stats.h5");
  if (c.stats.file.empty()) st.fail(st.get("file"), "file", "must not be empty");
  c.stats.sample = st.integer("sample", 0, 0, 1 << 20);
  c.stats.compression = st.integer("compression", 4, 0, 9);
  c.stats.roles = string_list(st, "roles");
  for (const std::string& r : c.stats.roles)
    if (!nn::parse_role(r))
      st.fail(st.get("roles"), "roles", "unknown role '" + r + "' (W, A, G, E, U, M, BN_MEAN, BN_NORM, BN_SCALE, DY, DY_W, W_MASTER)");
  c.stats.layers = string_list(st, "layers");
  st.finish();

  Section hz = top.table("hazards");
  auto action = [&](const char* key, HazardAction def, std::vector<std::string> allowed) {
    const std::string v = hz.string(key, hazard_action_name(def), allowed);
    return v == "stop" ? HazardAction::stop : v == "warn" ? HazardAction::warn : HazardAction::ignore;
  };
  c.hazards.on_nonfinite = action("on_nonfinite", HazardAction::stop, {"stop", "warn"});
  c.hazards.on_saturation = action("on_saturation", HazardAction::warn, {"stop", "warn", "ignore"});
  c.hazards.saturation = hz.real("saturation", 0.01, 0, 1);
  c.hazards.check_every = hz.integer("check_every", 1, 0, std::int64_t{1} << 40);
  hz.finish();

  check_model(c, model, data);

  Section run = top.table("run");
  c.run_dir = run.string("dir", "");
  run.finish();
  top.finish();
  if (c.run_dir.empty()) c.run_dir = "runs/" + c.name;
  return c;
}

void merge(FormatLevel& into, const FormatLevel& from) {
  for (std::size_t r = 0; r < into.roles.size(); ++r)
    if (from.roles[r]) into.roles[r] = from.roles[r];
  if (from.acc) into.acc = from.acc;
  if (from.product) into.product = from.product;
  if (from.order) into.order = from.order;
  if (from.chunk) into.chunk = from.chunk;
  if (from.bifurcate) into.bifurcate = from.bifurcate;
  if (from.batchnorm) into.batchnorm = from.batchnorm;
  if (from.range_bn_chunks) into.range_bn_chunks = from.range_bn_chunks;
  if (from.range_bn_new_weight) into.range_bn_new_weight = from.range_bn_new_weight;
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
  if (r.is_range())
    return "{ format = " + quote(r.range_text()) + ", rounding = \"" + formats::rounding_name(r.rounding().mode) + "\" }";
  if (r.is_wage())
    return "{ format = " + quote(r.wage_spec().text()) + ", rounding = \"" + formats::rounding_name(r.rounding().mode) + "\" }";
  const std::string name = r.is_policy() ? r.policy().name() : r.format().name();
  if (r.rounding().mode == formats::Rounding::rne) return quote(name);
  std::string s = "{ format = " + quote(name) + ", rounding = \"" + formats::rounding_name(r.rounding().mode) + "\"";
  if (r.rounding().mode == formats::Rounding::sr) s += ", sr_bits = " + std::to_string(r.rounding().sr_bits);
  return s + " }";
}

std::string level_toml(const FormatLevel& l) {
  std::string s;
  for (int r = 0; r < nn::kRoleCount; ++r)
    if (l.roles[static_cast<std::size_t>(r)])
      s += fmt::format("{} = {}\n", nn::role_name(static_cast<nn::Role>(r)), role_toml(*l.roles[static_cast<std::size_t>(r)]));
  if (l.acc) s += fmt::format("acc = {}\n", quote(*l.acc ? (*l.acc)->name() : "exact"));
  if (l.product) s += fmt::format("product = {}\n", quote(*l.product ? (*l.product)->name() : "exact"));
  if (l.order)
    s += fmt::format("order = \"{}\"\n", *l.order == AccOrder::sequential ? "sequential" : *l.order == AccOrder::pairwise ? "pairwise" : "blocked");
  if (l.chunk) s += fmt::format("chunk = {}\n", *l.chunk);
  if (l.bifurcate) s += fmt::format("bifurcate = {}\n", *l.bifurcate);
  if (l.batchnorm) s += fmt::format("batchnorm = {}\n", quote(*l.batchnorm));
  if (l.range_bn_chunks) s += fmt::format("range_bn_chunks = {}\n", *l.range_bn_chunks);
  if (l.range_bn_new_weight) s += fmt::format("range_bn_new_weight = {}\n", *l.range_bn_new_weight);
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
    throw ConfigError(fmt::format("{}: the config file {}", what, e.what()));
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
    throw ConfigError(fmt::format("{}:{}: {}", source_name, e.source().begin.line, e.description()));
  }
  const toml::node* ext = root.get("extends");
  const toml::node* set = root.get("set");
  if (!ext && !set) return root;
  auto at = [&](const toml::node* n) { return fmt::format("{}:{}", source_name, n->source().begin.line); };
  if (!ext) throw ConfigError(at(set) + ": key 'set': only a config that `extends` another can `set` keys of it");
  if (!ext->is_string()) throw ConfigError(at(ext) + ": key 'extends': must be the path of the base config");
  if (depth >= 8) throw ConfigError(at(ext) + ": key 'extends': more than 8 levels of extends (a cycle?)");
  const std::filesystem::path base_path = std::filesystem::path(source_name).parent_path() / *ext->value<std::string>();
  toml::table base = parse_tree(read_file_text(base_path.string(), at(ext) + ": key 'extends'"), base_path.string(), depth + 1);
  std::vector<std::string> sets;
  if (set) {
    const toml::array* a = set->as_array();
    if (!a) throw ConfigError(at(set) + ": key 'set': must be an array of \"key.path=value\" strings");
    for (const auto& e : *a) {
      if (!e.is_string()) throw ConfigError(at(set) + ": key 'set': must be an array of \"key.path=value\" strings");
      sets.push_back(*e.value<std::string>());
    }
  }
  const std::string set_at = set ? at(set) : std::string();  // the nodes are erased next
  root.erase("extends");
  root.erase("set");
  merge_tree(base, root);
  for (const auto& s : sets) {
    try {
      apply_set(base, s);
    } catch (const ConfigError& e) {
      throw ConfigError(set_at + ": key 'set': " + e.what());
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
    throw ConfigError(fmt::format("{} (the config file)", e.what()));
  }
  return parse_config(text, path, sets);
}

std::string stats_path(const TrainConfig& c) {
  return std::filesystem::path(c.stats.file).is_absolute() ? c.stats.file : c.run_dir + "/" + c.stats.file;
}

std::string to_toml(const TrainConfig& c) {
  std::string s;
  s += fmt::format("name = {}\nseed = {}\nthreads = {}\n\n", quote(c.name), c.seed, c.threads);
  s += fmt::format("[model]\nname = {}\nwidth = {}\n", quote(c.model), c.width);
  if (!c.layers.empty()) s += "layers = " + layers_toml(c.layers) + "\n";
  s += fmt::format("\n[data]\ndataset = {}\ndir = {}\nbatch = {}\ntest_batch = {}\ncrop_pad = {}\nflip = {}\nnormalize = {}\n"
                   "limit_train = {}\nlimit_test = {}\n",
                   quote(c.dataset), quote(c.data_dir), c.batch, c.test_batch, c.crop_pad, c.flip, c.normalize,
                   c.limit_train, c.limit_test);
  s += fmt::format("\n[train]\nepochs = {}\nstop_after_steps = {}\ncheckpoint_every_steps = {}\ndrop_last = {}\n", c.epochs,
                   c.stop_after_steps, c.checkpoint_every_steps, c.drop_last);
  if (c.micro_batches != 1) s += fmt::format("micro_batches = {}\n", c.micro_batches);  // only when set: older runs resume
  if (!c.allreduce.empty()) s += "allreduce = " + quote(c.allreduce) + "\n";
  s += fmt::format("\n[optimizer]\nlr = {}\nmomentum = {}\nnesterov = {}\nweight_decay = {}\ndecay_bn_and_bias = {}\n"
                   "master_weights = {}\n",
                   c.schedule.lr, c.sgd.momentum, c.sgd.nesterov, c.sgd.weight_decay, c.sgd.decay_bn_and_bias,
                   c.sgd.master_weights);
  // Written only when not the default, so resolved configs of earlier runs still match on resume.
  if (c.sgd.decay_in_gradient) s += "weight_decay_point = \"gradient\"\n";
  if (c.sgd.lr_bits > 0) s += fmt::format("lr_bits = {}\n", c.sgd.lr_bits);
  std::string ms;
  for (double m : c.schedule.milestones) ms += (ms.empty() ? "" : ", ") + fmt::format("{}", m);
  s += fmt::format("\n[schedule]\ntype = {}\nwarmup_epochs = {}\nmilestones = [{}]\ngamma = {}\nfinal_lr = {}\n",
                   quote(c.schedule.type), c.schedule.warmup_epochs, ms, c.schedule.gamma, c.schedule.final_lr);
  if (!c.schedule.gscale.empty()) {  // written only when set, as the optimizer's newer keys
    std::string g, gm;
    for (auto v : c.schedule.gscale) g += (g.empty() ? "" : ", ") + fmt::format("{}", v);
    for (double m : c.schedule.gscale_milestones) gm += (gm.empty() ? "" : ", ") + fmt::format("{}", m);
    s += fmt::format("gscale = [{}]\ngscale_milestones = [{}]\n", g, gm);
  }
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
  if (c.stats != StatsConfig{}) {  // written only when set, so resolved configs of earlier runs still match
    auto list = [](const std::vector<std::string>& v) {
      std::string o;
      for (const auto& e : v) o += (o.empty() ? "" : ", ") + quote(e);
      return "[" + o + "]";
    };
    s += fmt::format("\n[stats]\nevery = {}\nfile = {}\nsample = {}\nroles = {}\nlayers = {}\ncompression = {}\n", c.stats.every,
                     quote(c.stats.file), c.stats.sample, list(c.stats.roles), list(c.stats.layers), c.stats.compression);
  }
  if (c.hazards != HazardConfig{})  // written only when set, like [stats]
    s += fmt::format("\n[hazards]\non_nonfinite = {}\non_saturation = {}\nsaturation = {}\ncheck_every = {}\n",
                     quote(hazard_action_name(c.hazards.on_nonfinite)), quote(hazard_action_name(c.hazards.on_saturation)),
                     c.hazards.saturation, c.hazards.check_every);
  s += fmt::format("\n[run]\ndir = {}\n", quote(c.run_dir));
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
                                      c.source, i));
      if (!o.index->contains((*position)[i])) continue;
    }
    merge(l, o.level);
  }
  for (std::size_t r = 0; r < l.roles.size(); ++r)
    if (l.roles[r]) layer.roles.by_role[r] = *l.roles[r];
  if (l.acc) layer.gemm.acc = *l.acc;
  if (l.product) layer.gemm.product = *l.product;
  if (l.order) layer.gemm.order = *l.order;
  if (l.chunk) layer.gemm.chunk = *l.chunk;
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
    throw ConfigError(c.source + ": layer " + layer.name + ": order = \"blocked\" needs `chunk`");
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
