#include "apps/sweep/sweep_table.hpp"

#include "apps/sweep/sweep_runner.hpp"
#include "formats/format_text.hpp"
#include "io/json.hpp"
#include "io/version.hpp"
#include "sim/train/config.hpp"

#include <fmt/format.h>

#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>

namespace bitsim::sweep {

namespace {

std::string f2(const std::optional<double>& v, bool sign = false) {
  if (!v) return "";
  return sign ? fmt::format("{:+.2f}", *v) : fmt::format("{:.2f}", *v);
}

std::string md_cell(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '|' ? std::string("\\|") : c == '\n' ? std::string(" ") : std::string(1, c);
  return o;
}

}  // namespace

std::vector<RowStats> aggregate(const SweepPlan& plan) {
  std::vector<RowStats> out;
  const std::vector<SweepRun> runs = expand(plan);
  for (const SweepRow& row : plan.rows) {
    RowStats s;
    s.row = &row;
    double sum = 0, secs = 0;
    for (const SweepRun& run : runs) {
      if (plan.rows[run.row].id != row.id) continue;
      const auto r = read_result(run.dir);
      if (!r) continue;
      const double err = 100.0 * (1.0 - r->test_accuracy);
      s.per_seed.emplace_back(run.seed, err);
      s.held_out = s.held_out || r->held_out;
      sum += err;
      secs += r->train_seconds;
      s.min = s.min ? std::min(*s.min, err) : err;
      s.max = s.max ? std::max(*s.max, err) : err;
    }
    s.n = s.per_seed.size();
    if (s.n) {
      s.mean = sum / static_cast<double>(s.n);
      s.seconds = secs / static_cast<double>(s.n);
    }
    if (s.n >= 2) {
      double ss = 0;
      for (const auto& [seed, e] : s.per_seed) ss += (e - *s.mean) * (e - *s.mean);
      s.sd = std::sqrt(ss / static_cast<double>(s.n - 1));
    }
    out.push_back(std::move(s));
  }
  std::optional<double> ref;
  for (const RowStats& s : out)
    if (plan.reference_row && s.row->id == *plan.reference_row) ref = s.mean;
  const RowStats* ref_row = nullptr;
  for (const RowStats& s : out)
    if (plan.reference_row && s.row->id == *plan.reference_row) ref_row = &s;
  for (RowStats& s : out) {
    if (ref && s.mean) s.delta = *s.mean - *ref;
    if (ref_row && &s != ref_row && s.sd && ref_row->sd) {
      const double n = static_cast<double>(s.n), m = static_cast<double>(ref_row->n), df = n + m - 2;
      const double pooled = std::sqrt(((n - 1) * *s.sd * *s.sd + (m - 1) * *ref_row->sd * *ref_row->sd) / df);
      const double t = boost::math::quantile(boost::math::students_t(df), 0.975);
      s.resolvable = t * pooled * std::sqrt(1 / n + 1 / m);
    }
  }
  return out;
}

namespace {

// Whether any run of the table was evaluated on held-out training samples rather than the test set.
bool any_held_out(const std::vector<RowStats>& stats) {
  return std::any_of(stats.begin(), stats.end(), [](const RowStats& s) { return s.held_out; });
}

}  // namespace

std::string markdown_table(const SweepPlan& plan, const std::vector<RowStats>& stats) {
  const bool has_ref = plan.reference_row.has_value();
  std::vector<std::string> head = {"configuration", "runs",
                                   any_held_out(stats) ? "held-out error % (mean ± sd)" : "test error % (mean ± sd)", "min–max"};
  if (has_ref)
    for (const RowStats& s : stats)
      if (s.row->id == *plan.reference_row) head.insert(head.end(), {"Δ vs " + md_cell(s.row->label) + " (pp)", "Δ resolvable at 5% (pp)"});
  head.insert(head.end(), {"train s/run", "paper's claim"});
  std::string t = "|";
  for (const auto& h : head) t += " " + h + " |";
  t += "\n|";
  for (std::size_t i = 0; i < head.size(); ++i) t += "---|";
  t += "\n";
  for (const RowStats& s : stats) {
    std::vector<std::string> c = {md_cell(s.row->label)};
    if (s.n == 0) {
      c.insert(c.end(), {"0", "not run", "not run"});
      if (has_ref) c.insert(c.end(), {"not run", ""});
      c.insert(c.end(), {"", md_cell(s.row->paper)});
    } else {
      c.push_back(s.n == plan.seeds.size() ? std::to_string(s.n) : fmt::format("{} of {}", s.n, plan.seeds.size()));
      c.push_back(f2(s.mean) + (s.sd ? " ± " + f2(s.sd) : ""));
      c.push_back(f2(s.min) + "–" + f2(s.max));
      if (has_ref) {
        c.push_back(s.row->id == *plan.reference_row ? "reference" : s.delta ? f2(s.delta, true) : "n/a");
        c.push_back(s.row->id == *plan.reference_row ? "" : s.resolvable ? f2(s.resolvable) : "n/a");
      }
      c.insert(c.end(), {f2(s.seconds), md_cell(s.row->paper)});
    }
    t += "|";
    for (const auto& x : c) t += " " + x + " |";
    t += "\n";
  }
  return t;
}

std::string csv_table(const std::vector<RowStats>& stats) {
  std::string t = "id,label,n,err_mean,err_std,err_min,err_max,delta_vs_ref,delta_resolvable,train_seconds_mean,per_seed,paper\n";
  for (const RowStats& s : stats) {
    std::string per;
    for (const auto& [seed, e] : s.per_seed) per += fmt::format("{}s{}={:.2f}", per.empty() ? "" : " ", seed, e);
    t += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", s.row->id, formats::csv_field(s.row->label), s.n, f2(s.mean),
                     f2(s.sd), f2(s.min), f2(s.max), f2(s.delta, true), f2(s.resolvable), f2(s.seconds), per,
                     formats::csv_field(s.row->paper));
  }
  return t;
}

std::string markdown_document(const SweepPlan& plan, const std::vector<RowStats>& stats, const std::string& command,
                              const std::string& provenance) {
  std::string seeds;
  for (auto s : plan.seeds) seeds += (seeds.empty() ? "" : ", ") + std::to_string(s);
  // Runs that chose hyperparameters were evaluated on held-out training samples, not the test set.
  const char* what = any_held_out(stats) ? "Error on the held-out training samples (`data.holdout`; the test set unused) in percent "
                                "(100 × (1 − held-out accuracy))"
                              : "Test error in percent (100 × (1 − test accuracy))";
  std::string doc = fmt::format("# {}\n\n{} over seeds {}; generated by `{}` with {}.\n", plan.title, what, seeds, command,
                                io::version_line());
  doc += provenance;
  if (!plan.sets.empty()) {
    std::string s;
    for (const auto& x : plan.sets) s += fmt::format("{}--set {}", s.empty() ? "" : " ", x);
    doc += "Every run also had `" + s + "`.\n";
  }
  return doc + "\n" + markdown_table(plan, stats);
}

std::string sweep_json(const SweepPlan& plan) {
  const std::vector<SweepRun> runs = expand(plan);
  io::Json rows = io::Json::array();
  for (std::size_t i = 0; i < plan.rows.size(); ++i) {
    const SweepRow& r = plan.rows[i];
    io::Json row_runs = io::Json::array();
    for (const SweepRun& run : runs)
      if (run.row == i) row_runs.push_back(io::Json{{"seed", run.seed}, {"dir", run.dir}});
    rows.push_back(io::Json{{"id", r.id}, {"label", r.label}, {"config", r.config}, {"paper", r.paper}, {"runs", row_runs}});
  }
  return io::json_text(io::Json{{"title", plan.title},
                                {"source", plan.source},
                                {"seeds", plan.seeds},
                                {"reference_row", plan.reference_row ? io::Json(*plan.reference_row) : io::Json(nullptr)},
                                {"rows", rows}});
}

}  // namespace bitsim::sweep
