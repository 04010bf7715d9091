// `bitsim analyze quantizer`: how a format distorts batch-normalized data (docs/analyze.md).
#include "analysis/quantizer_stats.hpp"
#include "apps/bitsim/cli_numbers.hpp"
#include "apps/bitsim/commands.hpp"
#include "formats/format.hpp"
#include "io/json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bitsim::cli {

namespace {

using analysis::QuantizerStats;

struct AnalyzeOptions {
  std::string format;
  std::string dist = "normal";
  std::string df_text;
  std::string samples_text;
  std::string seed_text;
  std::string repeats_text;
  bool exact = false;
  bool json = false;
};

int fail(const std::string& message) {
  std::cerr << "bitsim analyze quantizer: " << message << "\n";
  return kExitBadInput;
}

// The whole text as a finite double (strtod rules), or nullopt.
std::optional<double> parse_real(const std::string& t) {
  if (t.empty() || std::isspace(static_cast<unsigned char>(t.front()))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || errno == ERANGE || !std::isfinite(v)) return std::nullopt;
  return v;
}

// An integer count: decimal digits, or a number like 1e6 with an integral value.
std::optional<double> parse_count(const std::string& t) {
  auto v = parse_real(t);
  if (!v || *v != std::floor(*v)) return std::nullopt;
  return v;
}

// ---- output ------------------------------------------------------------------------------------

struct Row {
  const char* label;     // text output
  const char* key;       // JSON key
  double QuantizerStats::*field;
};
const Row kRows[] = {
    {"correlation(X,Q)", "correlation", &QuantizerStats::correlation},
    {"sd(Q)", "sd", &QuantizerStats::sd},
    {"mean(Q)", "mean", &QuantizerStats::mean},
    {"snr_db", "snr_db", &QuantizerStats::snr_db},
    {"clamped_low", "clamped_low", &QuantizerStats::clamped_low},
    {"clamped_high", "clamped_high", &QuantizerStats::clamped_high},
};

// Every statistic (non-finite values as the strings "inf", "-inf", "nan": io::json_number) and the
// sample count.
io::Json json_stats(const QuantizerStats& s) {
  io::Json out;
  for (const Row& r : kRows) out[r.key] = io::json_number(s.*r.field);
  out["samples"] = s.samples;
  return out;
}

// Six significant digits (two for a spread).
std::string text_number(double v, int digits = 6) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.{}g}", v, digits);
}

struct Setup {
  formats::Format format;
  analysis::Distribution dist;
  std::int64_t samples = 0;  // 0: no sampling (--exact alone)
  std::uint64_t seed = 0;
  std::int64_t repeats = 1;
};

void print_json(const Setup& s, const std::vector<QuantizerStats>& runs, const std::optional<QuantizerStats>& exact) {
  const bool normal = s.dist.kind == analysis::DistributionKind::normal;
  io::Json j{{"format", s.format.name()},
             {"format_spec", s.format.to_string()},
             {"width", s.format.width()},
             {"distribution", normal ? "normal" : "student-t"},
             {"df", normal ? io::Json(nullptr) : io::json_number(s.dist.df)}};
  if (runs.empty()) {
    for (const char* k : {"samples", "seed", "repeats", "sample_mean", "sample_sd", "per_repeat"}) j[k] = nullptr;
  } else {
    const analysis::StatsSummary sum = analysis::summarize(runs);
    j["samples"] = s.samples;
    j["seed"] = s.seed;
    j["repeats"] = s.repeats;
    j["sample_mean"] = json_stats(sum.mean);
    j["sample_sd"] = runs.size() > 1 ? json_stats(sum.sd) : io::Json(nullptr);
    io::Json per = io::Json::array();
    for (const QuantizerStats& r : runs) per.push_back(json_stats(r));
    j["per_repeat"] = per;
  }
  j["exact"] = exact ? json_stats(*exact) : io::Json(nullptr);
  std::cout << io::json_line(j) << "\n";
}

void print_text(const Setup& s, const std::vector<QuantizerStats>& runs, const std::optional<QuantizerStats>& exact) {
  std::string out;
  const std::string spec = s.format.to_string();
  out += fmt::format("format        {}{}, {} bits, rne\n", s.format.name(),
                     spec == s.format.name() ? "" : " = " + spec, s.format.width());
  out += fmt::format("distribution  {}\n", analysis::distribution_name(s.dist));
  if (!runs.empty())
    out += fmt::format("sampling      {} samples per repeat, {} repeat{}, seed {}{}\n", s.samples, s.repeats,
                       s.repeats == 1 ? "" : "s", s.seed,
                       s.repeats == 1 ? "" : fmt::format(" (repeat r uses seed {} + r)", s.seed));
  out += "Q = L(N(X)), N(X) = (X - mean) / sd with the biased sd; sd(Q) is biased (divides by N)\n\n";

  std::vector<std::vector<std::string>> table;
  std::vector<std::string> head = {"statistic"};
  std::optional<analysis::StatsSummary> sum;
  if (!runs.empty()) {
    sum = analysis::summarize(runs);
    head.push_back(runs.size() == 1 ? "sample" : fmt::format("sample mean ± sd ({} repeats)", runs.size()));
  }
  if (exact) head.push_back("exact N(0,1)");
  table.push_back(head);
  for (const Row& r : kRows) {
    std::vector<std::string> line = {r.label};
    if (sum) {
      if (runs.size() == 1) line.push_back(text_number(sum->mean.*r.field));
      else line.push_back(text_number(sum->mean.*r.field) + " ± " + text_number(sum->sd.*r.field, 2));
    }
    if (exact) line.push_back(text_number((*exact).*r.field));
    table.push_back(line);
  }
  // Pad columns by code points (the ± sign is two bytes in UTF-8).
  auto width = [](const std::string& t) {
    return static_cast<std::size_t>(std::count_if(t.begin(), t.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  };
  std::vector<std::size_t> w(head.size(), 0);
  for (const auto& line : table)
    for (std::size_t c = 0; c < line.size(); ++c) w[c] = std::max(w[c], width(line[c]));
  for (const auto& line : table) {
    std::string l;
    for (std::size_t c = 0; c < line.size(); ++c) {
      l += line[c];
      if (c + 1 < line.size()) l += std::string(w[c] - width(line[c]) + 3, ' ');
    }
    out += l + "\n";
  }
  std::cout << out;
}

int run_analyze_quantizer(const AnalyzeOptions& o, const CLI::App& cmd) {
  Setup s;
  try {
    s.format = formats::parse_format(o.format);
  } catch (const formats::FormatError& e) {
    return fail(fmt::format("--format: {}", e.what()));
  }
  if (o.dist == "normal") s.dist.kind = analysis::DistributionKind::normal;
  else if (o.dist == "student-t") s.dist.kind = analysis::DistributionKind::student_t;
  else return fail(fmt::format("--dist '{}': expected normal or student-t", o.dist));
  if (cmd.count("--df")) {
    if (s.dist.kind != analysis::DistributionKind::student_t) return fail("--df: applies only to --dist student-t");
    auto df = parse_real(o.df_text);
    if (!df || !(*df > 0)) return fail(fmt::format("--df '{}': expected a real number > 0", o.df_text));
    s.dist.df = *df;
  }
  if (cmd.count("--samples")) {
    auto n = parse_count(o.samples_text);
    if (!n) return fail(fmt::format("--samples '{}': expected an integer", o.samples_text));
    if (*n < 2) return fail(fmt::format("--samples {}: at least 2 samples are needed to normalize", o.samples_text));
    if (*n > static_cast<double>(analysis::kMaxSamples))
      return fail(fmt::format("--samples {}: at most {} samples are allowed", o.samples_text, analysis::kMaxSamples));
    s.samples = static_cast<std::int64_t>(*n);
  } else if (!o.exact) {
    return fail("--samples is required (unless --exact is given, which then prints only the exact values)");
  }
  if (cmd.count("--seed")) {
    const auto v = parse_u64_decimal(o.seed_text);
    if (!v) return fail(fmt::format("--seed '{}': expected an unsigned 64-bit decimal", o.seed_text));
    s.seed = *v;
  }
  if (cmd.count("--repeats")) {
    auto r = parse_count(o.repeats_text);
    if (!r) return fail(fmt::format("--repeats '{}': expected an integer", o.repeats_text));
    if (*r < 1) return fail(fmt::format("--repeats {}: at least 1 repeat is needed", o.repeats_text));
    if (*r > 1e6) return fail(fmt::format("--repeats {}: at most 1000000 repeats are allowed", o.repeats_text));
    s.repeats = static_cast<std::int64_t>(*r);
  }
  if (o.exact) {
    if (s.dist.kind != analysis::DistributionKind::normal)
      return fail("--exact: exact values exist only for --dist normal (the population N(0,1)); omit --exact for student-t");
    if (s.format.width() > analysis::kMaxExactWidth)
      return fail(fmt::format("--exact: format {} is {} bits wide; exact values are computed for formats of at most {} bits",
                              s.format.name(), s.format.width(), analysis::kMaxExactWidth));
  }

  std::optional<QuantizerStats> exact;
  if (o.exact) {
    try {
      exact = analysis::exact_normal_stats(s.format);
    } catch (const std::exception& e) {
      return fail(fmt::format("--exact: {}", e.what()));
    }
  }
  std::vector<QuantizerStats> runs;
  if (s.samples > 0) {
    try {
      runs = analysis::repeated_sample_stats(s.format, s.dist, s.samples, s.seed, s.repeats);
    } catch (const std::exception& e) {
      return fail(fmt::format("sampling {}: {}", analysis::distribution_name(s.dist), e.what()));
    }
  }
  if (o.json) print_json(s, runs, exact);
  else print_text(s, runs, exact);
  std::cout.flush();
  if (!std::cout) return fail("error writing standard output");
  return 0;
}

}  // namespace

Runner add_analyze_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("analyze", "Analyses of number formats (docs/analyze.md)");
  cmd->require_subcommand(1);
  cmd->footer("Exit status: 0 success; 2 bad options (a message naming the option).\n"
              "Example: bitsim analyze quantizer --format graham_L4 --exact");
  CLI::App* q = cmd->add_subcommand(
      "quantizer", "How a format distorts batch-normalized data: corr(X, L(N(X))), sd, SNR, clamping (Graham 2017, Table 2)");
  auto o = std::make_shared<AnalyzeOptions>();
  q->add_option("--format", o->format, "format name or constructor, e.g. graham_L4, fp8_e4m3")->required();
  q->add_option("--dist", o->dist, "normal (default) or student-t");
  q->add_option("--df", o->df_text, "degrees of freedom of student-t, a real number > 0 (default 3)");
  q->add_option("--samples", o->samples_text, "samples N per repeat, 2..1e9 (required unless --exact)");
  q->add_option("--seed", o->seed_text, "Philox4x32-10 seed, unsigned 64-bit (default 0)");
  q->add_option("--repeats", o->repeats_text, "independent sample sets R (default 1); repeat r uses seed S + r");
  q->add_flag("--exact", o->exact, "add the exact population values for X ~ N(0,1) (--dist normal; formats up to 16 bits)");
  q->add_flag("--json", o->json, "print one JSON object instead of the table");
  q->footer(
      "Statistics: Pearson correlation of X and Q = L(N(X)), sd(Q) (biased), mean(Q), SNR in dB\n"
      "10 log10(sum N(X)^2 / sum (Q - N(X))^2), and the fractions clamped low (underflow flag) and high\n"
      "(overflow flag). With --repeats R > 1: mean ± sample sd over the repeats.\n"
      "Exit status: 0 success; 2 bad options (a message naming the option on stderr, nothing on stdout).\n"
      "Example: bitsim analyze quantizer --format graham_L4 --dist student-t --df 3 --samples 10000 --repeats 100");
  return [o, q] { return run_analyze_quantizer(*o, *q); };
}

}  // namespace bitsim::cli
