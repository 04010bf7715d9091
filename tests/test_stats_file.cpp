// The HDF5 statistics file: written rows read back bit for bit, the partial-file rule, resume
// truncation, clear errors for files that are not ours, and the logger inside a real training run
// (every logged row equals the statistics recomputed here from the raw values the file samples; the
// run's weights are bit-identical with and without logging).
#include "formats/format_limits.hpp"
#include "analysis/stats_logger.hpp"
#include "analysis/stats_reader.hpp"
#include "analysis/stats_report.hpp"
#include "analysis/stats_writer.hpp"
#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "sim/train/config.hpp"
#include "sim/train/trainer.hpp"

#include <H5Cpp.h>
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace bitsim;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::string temp_dir() {
  std::string t = (fs::temp_directory_path() / "bitsim-stats-XXXXXX").string();
  REQUIRE(::mkdtemp(t.data()));
  return t;
}

analysis::SiteInfo site(const std::string& layer, const std::string& role, const std::string& tensor = {}) {
  analysis::SiteInfo s;
  s.layer = layer;
  s.kind = "linear";
  s.node = 1;
  s.role = role;
  s.tensor = tensor;
  s.quantizer = "fp8_e4m3";
  s.format = "fp8_e4m3";
  s.format_bits = 8;
  s.limits = formats::finite_limits(formats::parse_format("fp8_e4m3"));
  return s;
}

struct Rounded {
  std::vector<float> before, after;
};

Rounded rounded(std::size_t n, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0, 3);
  Rounded r;
  r.before.resize(n);
  for (float& v : r.before) v = d(g);
  r.after.resize(n);
  formats::Quantizer(formats::parse_format("fp8_e4m3")).quantize(r.before, r.after);
  return r;
}

bool same_row(const analysis::StatsRow& a, const analysis::StatsRow& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Writes one step of a 4-element fp8 tensor at site fc1/E (all 4 values sampled) and commits it.
void write_small_step(analysis::StatsWriter& w, std::uint64_t step) {
  static const Rounded r4 = rounded(4, 1);
  static const std::vector<std::uint64_t> idx = {0, 1, 2, 3};
  analysis::TensorStats ts;
  std::vector<std::uint32_t> scratch;
  analysis::tensor_stats(r4.before, r4.after, {}, ts, scratch);
  w.write(w.site(site("fc1", "E")), analysis::make_row(step, ts, false, 0), ts, idx, r4.before, r4.after);
  w.commit(analysis::StepRow{step, 1, 0, 0});
}

}  // namespace

TEST_CASE("stats file: rows and histograms read back bit for bit - the file appears at the first commit",
          "[analysis][hdf5]") {
  const std::string dir = temp_dir(), path = dir + "/stats.h5";
  analysis::RunInfo run;
  run.name = "t";
  run.config = "name = \"t\"\n";
  run.every = 10;
  std::vector<analysis::StatsRow> written;
  std::vector<std::vector<std::uint64_t>> hists;
  {
    analysis::StatsWriter w = analysis::StatsWriter::create(path, run);
    const int a = w.site(site("fc1", "A")), g = w.site(site("fc1", "G", "weight"));
    CHECK(w.site(site("fc1", "A")) == a);  // the same site again
    std::vector<std::uint32_t> scratch;
    for (std::uint64_t step : {0, 10, 20}) {
      for (int s : {a, g}) {
        const Rounded r = rounded(1000 + static_cast<std::size_t>(s), static_cast<std::uint32_t>(step + 7 * s));
        analysis::TensorStats ts;
        analysis::tensor_stats(r.before, r.after, formats::finite_limits(formats::parse_format("fp8_e4m3")), ts, scratch);
        const analysis::StatsRow row = analysis::make_row(step, ts, false, 0);
        w.write(s, row, ts);
        written.push_back(row);
        hists.push_back(ts.after.hist);
      }
      if (step == 0) {
        CHECK_FALSE(fs::exists(path));  // nothing committed yet: only the partial file exists
        CHECK(fs::exists(path + ".partial"));
      }
      w.commit(analysis::StepRow{step, 2.5, 0.5, 0.1});
      CHECK(fs::exists(path));
      CHECK_FALSE(fs::exists(path + ".partial"));
    }
    CHECK(w.committed_steps() == 3);
  }
  const analysis::StatsReader r(path);
  CHECK(r.schema_version() == 1);
  CHECK(r.root_string("run_name") == "t");
  CHECK(r.root_string("config") == "name = \"t\"\n");
  CHECK(r.every() == 10);
  REQUIRE(r.steps().size() == 3);
  CHECK(r.steps()[2].step == 20);
  CHECK(r.steps()[2].loss == 2.5);
  REQUIRE(r.sites().size() == 2);
  const auto ia = r.find("/layers/fc1/A"), ig = r.find("/layers/fc1/G.weight");
  REQUIRE(ia);
  REQUIRE(ig);
  CHECK(r.sites()[*ig].tensor == "weight");
  CHECK(r.sites()[*ia].limits.max_finite == 448);
  const auto rows_a = r.rows(*ia), rows_g = r.rows(*ig);
  REQUIRE(rows_a.size() == 3);
  REQUIRE(rows_g.size() == 3);
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(same_row(rows_a[k], written[2 * k]));
    CHECK(same_row(rows_g[k], written[2 * k + 1]));
    CHECK(r.hist(*ia, k, true) == hists[2 * k]);
  }
  CHECK(r.row_at(*ia, 10)->step == 10);
  CHECK_FALSE(r.row_at(*ia, 5));
  fs::remove_all(dir);
}

TEST_CASE("stats file: resuming drops the rows of steps not yet reached", "[analysis][hdf5]") {
  const std::string dir = temp_dir(), path = dir + "/stats.h5";
  analysis::RunInfo run;
  run.sample = 4;
  {
    analysis::StatsWriter w = analysis::StatsWriter::create(path, run);
    for (std::uint64_t s : {0, 5, 10, 15}) write_small_step(w, s);
  }
  {
    analysis::StatsWriter w = analysis::StatsWriter::resume(path, run, 10);  // a checkpoint at step 10
    CHECK(w.committed_steps() == 2);
    write_small_step(w, 10);
  }
  const analysis::StatsReader rd(path);
  REQUIRE(rd.steps().size() == 3);
  CHECK(rd.steps()[2].step == 10);
  const auto rows = rd.rows(0);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].step == 0);
  CHECK(rows[1].step == 5);
  CHECK(rows[2].step == 10);
  fs::remove_all(dir);
}

TEST_CASE("stats file: a file another writer holds is not resumed (and not called damaged) until it lets go",
          "[analysis][hdf5]") {
  const std::string dir = temp_dir(), path = dir + "/stats.h5";
  analysis::RunInfo run;
  run.sample = 4;
  {
    std::optional<analysis::StatsWriter> first(analysis::StatsWriter::create(path, run));
    write_small_step(*first, 0);
    // flock locks belong to the open file, so a second writer in this same process conflicts too.
    CHECK_THROWS_AS(analysis::StatsWriter::resume(path, run, 1, 0.2), analysis::StatsFileBusy);
    CHECK_THROWS_WITH(analysis::StatsWriter::resume(path, run, 1, 0.2), Contains(path) && Contains("is being written by another process"));
    first.reset();
  }
  analysis::StatsWriter w = analysis::StatsWriter::resume(path, run, 1, 0.2);
  CHECK(w.committed_steps() == 1);
  fs::remove_all(dir);
}

TEST_CASE("stats file: a torn last row (a kill inside the flush) is not a step, for the reader and on resume",
          "[analysis][hdf5]") {
  const std::string dir = temp_dir(), path = dir + "/stats.h5";
  analysis::RunInfo run;
  run.sample = 4;
  {
    analysis::StatsWriter w = analysis::StatsWriter::create(path, run);
    for (std::uint64_t s : {0, 1, 2, 3}) write_small_step(w, s);
  }
  {
    // What a kill inside a flush can leave (tests/cli/stats.sh met it): /steps and the site's table
    // one row longer, the new rows never written, so they read as HDF5's fill value (zeros).
    const std::string site_stats = analysis::StatsReader(path).sites().at(0).group + "/stats";
    H5::H5File f(path, H5F_ACC_RDWR);
    for (const std::string& name : {std::string("steps"), site_stats}) {
      H5::DataSet ds = f.openDataSet(name);
      hsize_t dims[2] = {0, 0};
      ds.getSpace().getSimpleExtentDims(dims);
      dims[0] += 1;
      ds.extend(dims);
    }
  }
  {
    const analysis::StatsReader rd(path);
    CHECK(rd.steps().size() == 4);
    CHECK(rd.rows(0).size() == 4);
    CHECK(rd.rows(0).back().step == 3);
  }
  {
    // Resuming from a checkpoint at step 4 keeps steps 0..3 (before, the torn row, step 0, was kept
    // and the steps before it were lost).
    analysis::StatsWriter w = analysis::StatsWriter::resume(path, run, 4);
    CHECK(w.committed_steps() == 4);
    write_small_step(w, 4);
  }
  const analysis::StatsReader rd(path);
  REQUIRE(rd.steps().size() == 5);
  CHECK(rd.steps()[4].step == 4);
  fs::remove_all(dir);
}

TEST_CASE("stats file: files that are not statistics files are refused by name", "[analysis][hdf5]") {
  const std::string dir = temp_dir();
  CHECK_THROWS_WITH(analysis::StatsReader(dir + "/missing.h5"), Contains("missing.h5") && Contains("no such file"));
  {
    std::ofstream(dir + "/text.h5") << "not hdf5\n";
  }
  CHECK_THROWS_WITH(analysis::StatsReader(dir + "/text.h5"), Contains("text.h5") && Contains("not an HDF5 file"));
  {
    H5::H5File f(dir + "/other.h5", H5F_ACC_TRUNC);
    f.createGroup("/data");
  }
  CHECK_THROWS_WITH(analysis::StatsReader(dir + "/other.h5"), Contains("other.h5") && Contains("not a bitsim statistics file"));
  CHECK_THROWS_WITH(analysis::StatsWriter::resume(dir + "/other.h5", {}, 0), Contains("not a bitsim statistics file"));
  fs::remove_all(dir);
}

TEST_CASE("stats logger: every row equals the statistics of the raw values - logging changes no result",
          "[analysis][hdf5][train]") {
  const std::string dir = temp_dir();
  // A small MLP with non-identity roles everywhere; stats.sample is larger than every tensor but the
  // input, so the file holds each tensor whole and its row can be recomputed from it.
  const std::string cfg = R"(name = "stats-test"
seed = 3
[model]
name = "mlp"
width = 16
[data]
batch = 32
limit_train = 128
limit_test = 64
[train]
epochs = 1
[formats]
W = "fp8_e4m3"
A = "fp8_e5m2"
E = "fp8_e5m2"
G = "fp16"
U = { format = "fp16", rounding = "sr" }
)";
  const std::vector<std::string> sets = {"run.dir=\"" + dir + "/plain\""};
  const sim::train::TrainConfig plain = sim::train::parse_config(cfg, "stats-test.toml", sets);
  sim::train::TrainOptions o;
  o.progress = false;
  o.threads = 2;
  const sim::train::TrainResult r0 = sim::train::run_training(plain, o);

  const sim::train::TrainConfig logged = sim::train::parse_config(
      cfg, "stats-test.toml", {"run.dir=\"" + dir + "/logged\"", "stats.every=2", "stats.sample=20000"});
  analysis::StatsLogger logger;
  o.monitor = &logger;
  const sim::train::TrainResult r1 = sim::train::run_training(logged, o);
  CHECK(r1.weights_digest == r0.weights_digest);
  CHECK(logger.logged_steps() == 2);  // steps 0 and 2 of 4

  const analysis::StatsReader rd(dir + "/logged/stats.h5");
  REQUIRE(rd.steps().size() == 2);
  CHECK(rd.steps()[1].step == 2);
  CHECK(rd.sites().size() > 20);
  std::size_t checked = 0;
  H5::FileAccPropList fapl;  // as the reader opens it (a second open must match its locking flags)
  H5Pset_file_locking(fapl.getId(), false, true);
  H5::H5File f(dir + "/logged/stats.h5", H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
  for (std::size_t i = 0; i < rd.sites().size(); ++i) {
    const analysis::SiteMeta& m = rd.sites()[i];
    const auto rows = rd.rows(i);
    REQUIRE(rows.size() == 2);
    if (rows[0].count > 20000) continue;  // the input batch: sampled, not whole
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const auto n = static_cast<std::size_t>(rows[k].count);
      std::vector<float> before(20000), after(20000);
      std::vector<std::uint64_t> idx(20000);
      for (const char* name : {"sample_before", "sample_after", "sample_index"}) {
        H5::DataSet ds = f.openDataSet(m.group + "/" + name);
        H5::DataSpace fs_ = ds.getSpace();
        const hsize_t start[2] = {k, 0}, count[2] = {1, 20000};
        fs_.selectHyperslab(H5S_SELECT_SET, count, start);
        H5::DataSpace ms(2, count);
        if (name[7] == 'b') ds.read(before.data(), H5::PredType::NATIVE_FLOAT, ms, fs_);
        else if (name[7] == 'a') ds.read(after.data(), H5::PredType::NATIVE_FLOAT, ms, fs_);
        else ds.read(idx.data(), H5::PredType::NATIVE_UINT64, ms, fs_);
      }
      for (std::size_t j = 0; j < n; ++j) REQUIRE(idx[j] == j);  // the whole tensor, in order
      CHECK(idx[n] == ~std::uint64_t{0});                          // then padding
      before.resize(n);
      after.resize(n);
      analysis::TensorStats ts;
      std::vector<std::uint32_t> scratch;
      analysis::tensor_stats(before, after, m.limits, ts, scratch, 1);
      if (m.quantizer == "fp32") {  // identity: after is before
        CHECK(before == after);
        analysis::identity_stats(before, m.limits, ts, scratch, 1);
      } else if (m.quantizer.find(" sr") == std::string::npos) {
        // A nearest rounding: after is the quantizer applied to before.
        std::vector<float> again(n);
        formats::Quantizer(formats::parse_format(m.format)).quantize(before, again);
        CHECK(std::memcmp(again.data(), after.data(), n * sizeof(float)) == 0);
      }
      INFO(m.group << " step " << rows[k].step);
      CHECK(same_row(rows[k], analysis::make_row(rows[k].step, ts, false, 0)));
      CHECK(rd.hist(i, k, false) == ts.before.hist);
      ++checked;
    }
  }
  CHECK(checked > 40);
  // The summary table names every layer and the CSV has one line per site plus the header.
  const auto summary = analysis::summarize(rd, 2, analysis::SiteFilter{});
  CHECK(summary.size() == rd.sites().size());
  const std::string csv = analysis::summary_csv(summary);
  CHECK(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')) == summary.size() + 1);
  CHECK_THROWS_WITH(analysis::choose_step(rd, 1), Contains("step 1 was not logged") && Contains("0, 2"));
  fs::remove_all(dir);
}

TEST_CASE("histogram distance: total variation over log2 bins and zeros", "[analysis][stats]") {
  std::vector<std::uint64_t> a(analysis::kHistBins, 0), b(analysis::kHistBins, 0);
  a[1074] = 10;
  b[1074] = 10;
  CHECK(analysis::histogram_distance(a, 0, b, 0) == 0);
  CHECK(analysis::histogram_distance(a, 10, b, 0) == Approx(0.5));  // a: half zeros; b: none
  b[1074] = 0;
  b[1000] = 3;
  CHECK(analysis::histogram_distance(a, 0, b, 0) == 1);  // disjoint
}
