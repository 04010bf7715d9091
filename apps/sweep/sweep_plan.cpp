#include "apps/sweep/sweep_plan.hpp"

#include "io/files.hpp"
#include "sim/train/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <string_view>

namespace bitsim::sweep {

namespace {

const std::regex kIdRe("^[A-Za-z0-9._=-]+$");

struct Ctx {
  const std::string& source;
  [[noreturn]] void fail(const toml::node* n, const std::string& key, const std::string& msg) const {
    const auto line = n ? n->source().begin.line : 0;
    if (line) throw SweepError(fmt::format("{}:{}: {}: {}", source, line, key, msg));
    throw SweepError(fmt::format("{}: {}: {}", source, key, msg));
  }
};

std::string req_string(const Ctx& c, const toml::table& t, const std::string& key, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) c.fail(&t, where + key, "missing (a string)");
  if (!n->is_string()) c.fail(n, where + key, "must be a string");
  return *n->value<std::string>();
}

std::optional<std::string> opt_string(const Ctx& c, const toml::table& t, const std::string& key, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (!n->is_string()) c.fail(n, where + key, "must be a string");
  return *n->value<std::string>();
}

std::vector<std::string> sets_of(const Ctx& c, const toml::table& t, const std::string& where) {
  std::vector<std::string> out;
  const toml::node* n = t.get("set");
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) c.fail(n, where + "set", "must be an array of \"key=value\" strings");
  for (const auto& e : *a) {
    if (!e.is_string()) c.fail(&e, where + "set", "must hold \"key=value\" strings");
    const std::string s = *e.value<std::string>();
    if (s.find('=') == std::string::npos || s.front() == '=') c.fail(&e, where + "set", "'" + s + "' is not key=value");
    out.push_back(s);
  }
  return out;
}

std::int64_t positive(const Ctx& c, const toml::table& t, const std::string& key, std::int64_t def) {
  const toml::node* n = t.get(key);
  if (!n) return def;
  // as_integer, not value<int64_t>: toml++ converts an out-of-range float to int64 first (undefined).
  const toml::value<std::int64_t>* v = n->as_integer();
  if (!v || v->get() < 1 || v->get() > 1024) c.fail(n, key, "must be an integer in 1..1024");
  return v->get();
}

// A grid value as bitsim's --set reads it (TOML syntax), and as it appears in ids and labels.
std::pair<std::string, std::string> grid_value(const Ctx& c, const toml::node& v, const std::string& key) {
  if (v.is_string()) {
    const std::string s = *v.value<std::string>();
    return {sim::train::toml_quote(s), s};
  }
  if (v.is_integer()) {
    const std::string s = std::to_string(*v.value<std::int64_t>());
    return {s, s};
  }
  if (v.is_floating_point()) {
    const std::string s = fmt::format("{}", *v.value<double>());
    return {s, s};
  }
  if (v.is_boolean()) {
    const std::string s = *v.value<bool>() ? "true" : "false";
    return {s, s};
  }
  c.fail(&v, "grid." + key, "values must be strings, numbers or booleans");
}

// The value part of an id: characters outside [A-Za-z0-9._-] become '_'.
std::string id_part(const std::string& s) {
  std::string o;
  for (char ch : s) o += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-' || ch == '=') ? ch : '_';
  return o;
}

}  // namespace

SweepPlan parse_plan(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw SweepError(fmt::format("{}:{}: TOML syntax error: {}", source, e.source().begin.line, e.description()));
  }
  const Ctx c{source};
  static const std::set<std::string> known = {"title",   "seeds",   "out",     "runs_root",        "base",       "set",
                                              "reference_row", "workers", "threads", "keep_checkpoints", "reuse_from", "row",
                                              "grid"};
  for (auto&& [k, v] : root)
    if (!known.count(std::string(k.str())))
      c.fail(&v, std::string(k.str()),
             "unknown key (title, seeds, out, runs_root, base, set, reference_row, workers, threads, keep_checkpoints, "
             "reuse_from, [[row]], [grid])");
  SweepPlan p;
  p.source = source;
  p.title = opt_string(c, root, "title", "").value_or(source);
  p.out = req_string(c, root, "out", "");
  p.runs_root = req_string(c, root, "runs_root", "");
  const std::optional<std::string> base = opt_string(c, root, "base", "");
  p.sets = sets_of(c, root, "");
  p.workers = positive(c, root, "workers", 1);
  p.threads = positive(c, root, "threads", 1);
  if (const toml::node* n = root.get("reuse_from")) {
    const toml::array* a = n->as_array();
    if (!a) c.fail(n, "reuse_from", "must be an array of sweep file paths");
    for (const auto& e : *a) {
      if (!e.is_string()) c.fail(&e, "reuse_from", "must hold sweep file paths (strings)");
      p.reuse_from.push_back(*e.value<std::string>());
    }
  }
  if (const toml::node* n = root.get("keep_checkpoints")) {
    if (!n->is_boolean()) c.fail(n, "keep_checkpoints", "must be true or false");
    p.keep_checkpoints = *n->value<bool>();
  }
  {
    const toml::node* n = root.get("seeds");
    const toml::array* a = n ? n->as_array() : nullptr;
    if (!a || a->empty()) c.fail(n ? n : &root, "seeds", "must be a non-empty array of non-negative integers");
    for (const auto& e : *a) {
      const toml::value<std::int64_t>* v = e.as_integer();  // not value<int64_t>: see positive()
      if (!v || v->get() < 0) c.fail(&e, "seeds", "must hold non-negative integers");
      if (std::find(p.seeds.begin(), p.seeds.end(), static_cast<std::uint64_t>(v->get())) != p.seeds.end())
        c.fail(&e, "seeds", fmt::format("seed {} repeats", v->get()));
      p.seeds.push_back(static_cast<std::uint64_t>(v->get()));
    }
  }
  // Rows.
  std::vector<SweepRow> rows;
  if (const toml::node* n = root.get("row")) {
    const toml::array* a = n->as_array();
    if (!a || a->empty()) c.fail(n, "row", "must be one or more [[row]] tables");
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::table* t = a->get(i)->as_table();
      if (!t) c.fail(a->get(i), "row", "must be one or more [[row]] tables");
      const std::string where = fmt::format("row[{}].", i + 1);
      for (auto&& [k, v] : *t)
        if (!std::set<std::string>{"id", "label", "config", "set", "paper"}.count(std::string(k.str())))
          c.fail(&v, where + std::string(k.str()), "unknown key (id, label, config, set, paper)");
      SweepRow r;
      r.id = req_string(c, *t, "id", where);
      if (!std::regex_match(r.id, kIdRe) || r.id == "." || r.id == "..")
        c.fail(t->get("id"), where + "id", "'" + r.id + "' may hold only letters, digits, '.', '_', '=' and '-'");
      r.label = opt_string(c, *t, "label", where).value_or(r.id);
      const auto cfg = opt_string(c, *t, "config", where);
      if (!cfg && !base) c.fail(t, where + "config", "missing, and the sweep has no `base` config");
      r.config = cfg ? *cfg : *base;
      r.config_line = (cfg ? t->get("config") : root.get("base"))->source().begin.line;
      r.sets = sets_of(c, *t, where);
      r.paper = opt_string(c, *t, "paper", where).value_or("");
      rows.push_back(std::move(r));
    }
  } else {
    if (!base) c.fail(&root, "row", "no [[row]] tables and no `base` config: nothing to run");
    rows.push_back(SweepRow{"base", "base", *base, {}, "", root.get("base")->source().begin.line});
  }
  // With no [[row]], a grid's rows are named by their values alone ("W=fp8_e4m3-lr=0.05").
  const bool implicit_base = root.get("row") == nullptr;
  bool first_axis = true;
  // The grid multiplies the rows.
  if (const toml::node* n = root.get("grid")) {
    const toml::table* g = n->as_table();
    if (!g || g->empty()) c.fail(n, "grid", "must be a table of key = [values]");
    for (auto&& [k, v] : *g) {
      const std::string key(k.str());
      const toml::array* vals = v.as_array();
      if (!vals || vals->empty()) c.fail(&v, "grid." + key, "must be a non-empty array of values");
      const std::string short_key = key.substr(key.rfind('.') == std::string::npos ? 0 : key.rfind('.') + 1);
      std::vector<SweepRow> grown;
      for (const SweepRow& r : rows)
        for (const auto& val : *vals) {
          const auto [as_set, as_text] = grid_value(c, val, key);
          SweepRow x = r;
          const bool fresh = implicit_base && first_axis;  // the implicit row "base" is not part of the name
          x.id = (fresh ? std::string() : r.id + "-") + id_part(short_key + "=" + as_text);
          x.label = (fresh ? std::string() : r.label + ", ") + short_key + "=" + as_text;
          x.sets.push_back(key + "=" + as_set);
          grown.push_back(std::move(x));
        }
      rows = std::move(grown);
      first_axis = false;
    }
  }
  std::set<std::string> ids;
  for (const SweepRow& r : rows)
    if (!ids.insert(r.id).second) c.fail(root.get("row"), "row", "duplicate row id '" + r.id + "'");
  p.rows = std::move(rows);
  if (const auto ref = opt_string(c, root, "reference_row", "")) {
    if (!ids.count(*ref)) {
      std::string list;
      for (const SweepRow& r : p.rows) list += (list.empty() ? "" : ", ") + r.id;
      c.fail(root.get("reference_row"), "reference_row", "'" + *ref + "' is not a row id (rows: " + list + ")");
    }
    p.reference_row = *ref;
  }
  return p;
}

SweepPlan load_plan(const std::string& path) {
  std::string text;
  try {
    text = io::read_file(path);
  } catch (const io::FileError& e) {
    throw SweepError(fmt::format("{} (the sweep file)", e.what()));
  }
  return parse_plan(text, path);
}

std::vector<SweepRun> expand(const SweepPlan& plan) {
  std::vector<SweepRun> runs;
  for (std::size_t i = 0; i < plan.rows.size(); ++i)
    for (std::uint64_t seed : plan.seeds) {
      const SweepRow& r = plan.rows[i];
      SweepRun run;
      run.row = i;
      run.seed = seed;
      run.dir = plan.runs_root + "/" + r.id + "/seed" + std::to_string(seed);
      run.identity = r.sets;
      run.identity.insert(run.identity.end(), plan.sets.begin(), plan.sets.end());
      run.args = {r.config, "--set", "seed=" + std::to_string(seed), "--set", "run.dir=" + sim::train::toml_quote(run.dir)};
      for (const std::string& s : run.identity) {
        run.args.push_back("--set");
        run.args.push_back(s);
      }
      for (const char* a : {"--no-progress", "--quiet", "--threads"}) run.args.emplace_back(a);
      run.args.push_back(std::to_string(plan.threads));
      runs.push_back(std::move(run));
    }
  return runs;
}

std::string shell_words(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) {
    const bool plain = !w.empty() && std::all_of(w.begin(), w.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || std::string_view("_-.,/=:+@%").find(ch) != std::string_view::npos;
    });
    std::string q = plain ? w : "'";
    if (!plain) {
      for (char ch : w) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
      q += "'";
    }
    out += (out.empty() ? "" : " ") + q;
  }
  return out;
}

std::string train_command(const SweepRun& run) {
  std::vector<std::string> words = {"bitsim", "train"};
  words.insert(words.end(), run.args.begin(), run.args.end());
  return shell_words(words);
}

}  // namespace bitsim::sweep
