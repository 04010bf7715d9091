#include "sim/train/hazards.hpp"
#include "io/files.hpp"

#include "formats/format_text.hpp"
#include "sim/train/checkpoint.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

namespace bitsim::sim::train {

namespace {

// Non-finite floats have an all-ones exponent field; counted on the bits so the loop vectorizes.
std::uint64_t count_nonfinite(std::span<const float> x) {
  std::uint64_t n = 0;
  for (const float v : x) {
    std::uint32_t b;
    std::memcpy(&b, &v, sizeof b);
    n += (b & 0x7f800000u) == 0x7f800000u;
  }
  return n;
}

// Pairs clamped to an end of [lo, hi]: before beyond it, after exactly on it.
std::uint64_t count_saturated(std::span<const float> before, std::span<const float> after, float lo, float hi) {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < before.size(); ++i)
    n += static_cast<std::uint64_t>((before[i] > hi && after[i] == hi) || (before[i] < lo && after[i] == lo));
  return n;
}

std::string site_text(const Hazard& h) {
  return fmt::format("layer {} ({}), role {}{}", h.layer, h.layer_kind, h.role, h.tensor.empty() ? "" : " (" + h.tensor + ")");
}

std::string percent(std::uint64_t count, std::uint64_t of) {
  return fmt::format("{:.3g}%", of ? 100.0 * static_cast<double>(count) / static_cast<double>(of) : 0.0);
}

}  // namespace

const char* hazard_action_name(HazardAction a) {
  switch (a) {
    case HazardAction::ignore: return "ignore";
    case HazardAction::warn: return "warn";
    case HazardAction::stop: return "stop";
  }
  return "?";
}

const char* Hazard::kind_name(Kind k) {
  switch (k) {
    case Kind::nonfinite_input: return "nonfinite_input";
    case Kind::overflow: return "overflow";
    case Kind::saturation: return "saturation";
    case Kind::nonfinite_loss: return "nonfinite_loss";
  }
  return "?";
}

std::string Hazard::message() const {
  switch (kind) {
    case Kind::nonfinite_input:
      return fmt::format("step {}: {}: {} of {} values are NaN or Inf before rounding to {} (the layer's fp32 arithmetic "
                         "produced them or they came from upstream)",
                         step, site_text(*this), count, elements, quantizer);
    case Kind::overflow:
      return fmt::format("step {}: {}: {} of {} finite values became NaN or Inf when rounded to {} (the format overflowed)",
                         step, site_text(*this), count, elements, quantizer);
    case Kind::saturation:
      return fmt::format("step {}: {}: {} of {} values ({}) saturated at the ends of {}'s range, more than hazards.saturation "
                         "allows",
                         step, site_text(*this), count, elements, percent(count, elements), quantizer);
    case Kind::nonfinite_loss:
      return fmt::format("step {}: the loss is {}{}", step, loss,
                         elements ? " (no rounding site of the step held NaN or Inf: the loss itself overflowed)"
                                  : " (the step was not checked; set hazards.check_every = 1 to locate the first NaN)");
  }
  return {};
}

nn::RoundingObserver* HazardWatch::begin_step(std::uint64_t step) {
  step_ = step;
  nonfinite_seen_ = false;
  found_.clear();
  active_ = cfg_.check_every > 0 && step % static_cast<std::uint64_t>(cfg_.check_every) == 0;
  return active_ ? this : nullptr;
}

void HazardWatch::on_rounding(const nn::RoundingEvent& e) {
  if (!active_ || e.after.empty()) return;
  const nn::RoleRounding& rr = e.layer->roles[e.role];
  const std::uint64_t n = e.after.size();
  auto hazard = [&](Hazard::Kind kind, std::uint64_t count) {
    Hazard h;
    h.kind = kind;
    h.step = step_;
    h.layer = e.layer->name;
    h.layer_kind = e.layer->kind();
    h.role = nn::role_name(e.role);
    h.tensor = std::string(e.tensor);
    h.quantizer = rr.describe();
    h.count = count;
    h.elements = n;
    found_.push_back(std::move(h));
  };
  if (!nonfinite_seen_) {
    const std::uint64_t in = count_nonfinite(e.before);
    const std::uint64_t out = e.after.data() == e.before.data() ? in : count_nonfinite(e.after);
    if (in > 0 || out > 0) {
      nonfinite_seen_ = true;
      hazard(in > 0 ? Hazard::Kind::nonfinite_input : Hazard::Kind::overflow, in > 0 ? in : out);
    }
  }
  const formats::FiniteLimits& lim = rr.finite_limits();
  if (cfg_.on_saturation != HazardAction::ignore && !rr.is_identity() && std::isfinite(lim.max_finite) &&
      std::isfinite(lim.min_finite)) {
    // The limits are values of a format that fits float (every role's does), so these casts are exact.
    const std::uint64_t sat = count_saturated(e.before, e.after, static_cast<float>(lim.min_finite), static_cast<float>(lim.max_finite));
    if (static_cast<double>(sat) > cfg_.saturation * static_cast<double>(n)) hazard(Hazard::Kind::saturation, sat);
  }
}

std::vector<Hazard> HazardWatch::end_step(double loss) {
  std::vector<Hazard> out = std::move(found_);
  found_.clear();
  if (!std::isfinite(loss) && !nonfinite_seen_) {
    Hazard h;
    h.kind = Hazard::Kind::nonfinite_loss;
    h.step = step_;
    h.loss = loss;
    h.elements = active_ ? 1 : 0;  // whether the step's sites were checked (see message())
    out.push_back(h);
  }
  active_ = false;
  return out;
}

HazardAction HazardWatch::action(const Hazard& h) const {
  return h.kind == Hazard::Kind::saturation ? cfg_.on_saturation : cfg_.on_nonfinite;
}

HazardLog::HazardLog(std::string csv_path, bool resume, std::uint64_t first_step, std::ostream* warnings)
    : csv_(std::move(csv_path), hazards_csv_header(), resume, first_step), out_(warnings) {}

std::string HazardLog::report(const std::vector<Hazard>& found, const HazardWatch& watch, bool nonfinite_handled) {
  std::string stop_message;
  for (const Hazard& h : found) {
    HazardAction a = watch.action(h);
    const bool in_step = h.kind == Hazard::Kind::nonfinite_input || h.kind == Hazard::Kind::overflow;
    if (nonfinite_handled && in_step && a == HazardAction::stop) a = HazardAction::warn;
    if (a == HazardAction::ignore) continue;
    csv_.append(hazards_csv_row(h));
    if (a == HazardAction::stop) {
      if (stop_message.empty()) stop_message = h.message();
      continue;
    }
    ++warnings_;
    if (out_ && warned_.emplace(h.layer, h.role, h.tensor, static_cast<int>(h.kind)).second)
      *out_ << "warning: " << h.message() << (h.layer.empty() ? "" : " (further ones at this site: hazards.csv only)") << "\n"
            << std::flush;
  }
  return stop_message;
}

std::string hazards_csv_header() { return "step,kind,layer,layer_kind,role,tensor,quantizer,count,elements,loss\n"; }

std::string hazards_csv_row(const Hazard& h) {
  auto q = [](const std::string& s) { return formats::csv_field(s); };
  return fmt::format("{},{},{},{},{},{},{},{},{},{}\n", h.step, Hazard::kind_name(h.kind), q(h.layer), q(h.layer_kind), q(h.role),
                     q(h.tensor), q(h.quantizer), h.count, h.elements, h.loss);
}

}  // namespace bitsim::sim::train
