#include "analysis/stats_logger.hpp"

#include "formats/random_words.hpp"
#include "io/files.hpp"
#include "io/version.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <ostream>
#include <unordered_set>

namespace bitsim::analysis {

namespace {

using Clock = std::chrono::steady_clock;

// The next word of a SplitMix64 generator with state s (formats::splitmix64 of the state, which then
// advances by the golden-ratio step).
std::uint64_t next_word(std::uint64_t& s) {
  const std::uint64_t r = formats::splitmix64(s);
  s += 0x9E3779B97F4A7C15ull;
  return r;
}

// Uniform in [0, m) without modulo bias (rejection).
std::uint64_t below(std::uint64_t m, std::uint64_t& s) {
  const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % m);
  std::uint64_t r;
  do r = next_word(s);
  while (r >= limit);
  return r % m;
}

RoundingLimits limits_of_role(const sim::nn::RoleRounding& r, std::string& format, std::int64_t& bits) {
  format = r.policy().code_format();
  bits = r.policy().code_bits();
  return r.finite_limits();
}

}  // namespace

std::vector<std::uint64_t> sample_indices(std::uint64_t n, std::uint64_t k, std::uint64_t seed) {
  std::vector<std::uint64_t> out;
  if (n <= k) {
    out.resize(n);
    for (std::uint64_t i = 0; i < n; ++i) out[i] = i;
    return out;
  }
  // Floyd's algorithm: k distinct indices, each k-subset equally likely.
  std::unordered_set<std::uint64_t> chosen;
  std::uint64_t s = seed;
  for (std::uint64_t j = n - k; j < n; ++j) {
    const std::uint64_t t = below(j + 1, s);
    if (!chosen.insert(t).second) chosen.insert(j);
  }
  out.assign(chosen.begin(), chosen.end());
  std::sort(out.begin(), out.end());
  return out;
}

void StatsLogger::start(sim::nn::Model& model, const sim::train::TrainConfig& c, std::uint64_t first_step, bool resumed,
                        int threads) {
  threads_ = std::max(1, threads);
  cfg_ = c.stats;
  filter_ = SiteFilter{cfg_.roles, cfg_.layers};
  seed_ = c.seed;
  // A link to the statistics file stays a link: the file it points to is written (io/files.hpp); a
  // device or any other non-file is refused before anything is removed or created.
  path_ = io::output_target(sim::train::stats_path(c));
  node_of_.clear();
  for (std::size_t j = 0; j < model.nodes().size(); ++j) node_of_[model.nodes()[j].layer.get()] = static_cast<std::int64_t>(j);
  RunInfo run;
  run.name = c.name;
  run.config = sim::train::to_toml(c);
  run.model = model.summary();
  run.version = io::version_line();
  run.seed = c.seed;
  run.every = cfg_.every;
  run.sample = cfg_.sample;
  run.compression = cfg_.compression;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (resumed && fs::exists(path_)) {
    try {
      writer_.emplace(StatsWriter::resume(path_, run, first_step));
      return;
    } catch (const StatsFileBusy&) {
      throw;  // another run writes it: not damaged, leave it alone
    } catch (const StatsFileError& e) {
      // A file damaged by a crash during a flush: keep it for inspection, start a new one.
      const std::string aside = path_ + ".damaged";
      fs::rename(path_, aside, ec);
      if (ec) throw;
      if (warnings_) *warnings_ << "warning: " << e.what() << "; moved to " << aside << ", statistics restart at step " << first_step << "\n";
    }
  } else {
    fs::remove(path_, ec);  // a fresh run leaves nothing of an earlier run's statistics
  }
  fs::remove(path_ + ".partial", ec);
  writer_.emplace(StatsWriter::create(path_, run));
}

sim::nn::RoundingObserver* StatsLogger::observer_for(std::uint64_t step) {
  active_ = writer_ && cfg_.every > 0 && step % static_cast<std::uint64_t>(cfg_.every) == 0;
  step_ = step;
  seen_this_step_.clear();
  return active_ ? this : nullptr;
}

bool StatsLogger::wanted(const sim::nn::RoundingEvent& e) const {
  return filter_.matches(sim::nn::role_name(e.role), e.layer->name);
}

void StatsLogger::on_rounding(const sim::nn::RoundingEvent& e) {
  if (!active_ || !wanted(e)) return;
  const auto t0 = Clock::now();
  const sim::nn::RoleRounding& rr = e.layer->roles[e.role];
  SiteInfo info;
  info.layer = e.layer->name;
  info.kind = e.layer->kind();
  const auto it = node_of_.find(e.layer);
  info.node = it == node_of_.end() ? -1 : it->second;
  info.role = sim::nn::role_name(e.role);
  info.tensor = std::string(e.tensor);
  info.slot = e.slot;
  info.occurrence = seen_this_step_[info.path()]++;
  info.quantizer = rr.describe();
  info.limits = limits_of_role(rr, info.format, info.format_bits);
  const int site = writer_->site(info);
  if (rr.is_identity()) identity_stats(e.after, info.limits, stats_, scratch_, threads_);
  else tensor_stats(e.before, e.after, info.limits, stats_, scratch_, threads_);
  const StatsRow row = make_row(step_, stats_, e.scale.scaled, e.scale.exponent);
  if (cfg_.sample > 0) {
    const auto k = static_cast<std::size_t>(cfg_.sample);
    // Keyed like a stochastic-rounding site, so the same run samples the same elements.
    const std::uint64_t key = sim::nn::site_seed(seed_ ^ 0x5a4d504c45ull, step_,
                                                 sim::nn::site_id(info.node, e.role, e.slot) + (static_cast<std::uint64_t>(info.occurrence) << 40));
    const std::vector<std::uint64_t> idx = sample_indices(e.before.size(), k, key);
    sample_index_.assign(k, ~std::uint64_t{0});
    sample_before_.assign(k, std::numeric_limits<float>::quiet_NaN());
    sample_after_.assign(k, std::numeric_limits<float>::quiet_NaN());
    for (std::size_t j = 0; j < idx.size(); ++j) {
      sample_index_[j] = idx[j];
      sample_before_[j] = e.before[idx[j]];
      sample_after_[j] = e.after[idx[j]];
    }
    writer_->write(site, row, stats_, sample_index_, sample_before_, sample_after_);
  } else {
    writer_->write(site, row, stats_);
  }
  seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
}

void StatsLogger::end_step(const sim::train::StepRecord& r) {
  if (!active_) return;
  const auto t0 = Clock::now();
  writer_->commit(StepRow{r.step, r.loss, r.accuracy, r.lr});
  active_ = false;
  ++logged_;
  seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
}

void StatsLogger::finish() { writer_.reset(); }

}  // namespace bitsim::analysis
