// bitsim sweep: plan files (rows, grids, validation with file:line:key errors), their expansion into
// runs and shell commands, the table aggregated from run folders (statistics checked against values
// by hand) and its provenance lines (commits, CPUs, run times, sessions).
#include "apps/sweep/sweep_plan.hpp"
#include "apps/sweep/sweep_provenance.hpp"
#include "io/files.hpp"
#include "apps/sweep/sweep_table.hpp"
#include "sim/train/checkpoint.hpp"

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <string>

using namespace bitsim::sweep;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {
const std::string kHead = "seeds = [1, 2]\nout = \"o\"\nruns_root = \"r\"\n";
}

TEST_CASE("sweep plan: rows times grid values, ids, labels and overrides", "[sweep]") {
  const SweepPlan p = parse_plan(kHead + R"(base = "b.toml"
set = ["train.epochs=1"]
[[row]]
id = "fp32"
[[row]]
id = "q8"
label = "8-bit"
config = "q8.toml"
set = ["formats.A=fp8_e4m3"]
paper = "+0.1"
[grid]
"optimizer.lr" = [0.05, 0.1]
"formats.W" = ["fp8_e5m2"]
)",
                                 "s.toml");
  // Grid keys in sorted order: formats.W, then optimizer.lr.
  REQUIRE(p.rows.size() == 4);
  CHECK(p.rows[0].id == "fp32-W=fp8_e5m2-lr=0.05");
  CHECK(p.rows[1].id == "fp32-W=fp8_e5m2-lr=0.1");
  CHECK(p.rows[2].id == "q8-W=fp8_e5m2-lr=0.05");
  CHECK(p.rows[2].label == "8-bit, W=fp8_e5m2, lr=0.05");
  CHECK(p.rows[2].config == "q8.toml");
  CHECK(p.rows[0].config == "b.toml");
  CHECK(p.rows[2].paper == "+0.1");
  CHECK(p.rows[2].sets == std::vector<std::string>{"formats.A=fp8_e4m3", "formats.W=\"fp8_e5m2\"", "optimizer.lr=0.05"});
  const auto runs = expand(p);
  REQUIRE(runs.size() == 8);  // 4 rows x 2 seeds
  CHECK(runs[3].row == 1);
  CHECK(runs[3].seed == 2);
  CHECK(runs[3].dir == "r/fp32-W=fp8_e5m2-lr=0.1/seed2");
  CHECK(runs[3].args[0] == "b.toml");
  CHECK(runs[3].args[2] == "seed=2");
  CHECK(runs[3].args[4] == "run.dir=\"r/fp32-W=fp8_e5m2-lr=0.1/seed2\"");
  CHECK(runs[3].identity == std::vector<std::string>{"formats.W=\"fp8_e5m2\"", "optimizer.lr=0.1", "train.epochs=1"});
  CHECK(runs[3].args.back() == "1");  // --threads 1
}

TEST_CASE("sweep plan: a grid alone names rows by their values", "[sweep]") {
  const SweepPlan p = parse_plan(kHead + "base = \"b.toml\"\n[grid]\n\"formats.W\" = [\"fp32\", \"fp8_e4m3\"]\n"
                                         "\"data.flip\" = [true]\n",
                                 "s.toml");
  REQUIRE(p.rows.size() == 2);
  CHECK(p.rows[0].id == "flip=true-W=fp32");
  CHECK(p.rows[1].label == "flip=true, W=fp8_e4m3");
}

TEST_CASE("sweep plan: errors name the file, line and key", "[sweep]") {
  auto err = [](const std::string& text) {
    try {
      (void)parse_plan(text, "bad.toml");
    } catch (const SweepError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(err(kHead + "base = \"b\"\nworkrs = 2\n"), Contains("bad.toml:5: workrs: unknown key"));
  CHECK_THAT(err("out = \"o\"\nruns_root = \"r\"\nbase = \"b\"\n"), Contains("seeds: must be a non-empty array"));
  CHECK_THAT(err(kHead + "base = \"b\"\nseeds = [1]\n"), Contains("TOML syntax error"));
  CHECK_THAT(err("seeds = [1, 1]\nout = \"o\"\nruns_root = \"r\"\nbase = \"b\"\n"), Contains("bad.toml:1: seeds: seed 1 repeats"));
  CHECK_THAT(err(kHead + "[[row]]\nid = \"a\"\n"), Contains("row[1].config: missing, and the sweep has no `base` config"));
  CHECK_THAT(err(kHead + "base = \"b\"\n[[row]]\nid = \"a/b\"\n"), Contains("row[1].id: 'a/b' may hold only"));
  CHECK_THAT(err(kHead + "base = \"b\"\n[[row]]\nid = \"a\"\n[[row]]\nid = \"a\"\n"), Contains("duplicate row id 'a'"));
  CHECK_THAT(err(kHead + "base = \"b\"\nreference_row = \"x\"\n[[row]]\nid = \"a\"\n"),
             Contains("reference_row: 'x' is not a row id (rows: a)"));
  CHECK_THAT(err(kHead + "base = \"b\"\n[[row]]\nid = \"a\"\nset = [\"noequals\"]\n"), Contains("row[1].set: 'noequals' is not key=value"));
  CHECK_THAT(err(kHead + "base = \"b\"\n[grid]\n\"formats.W\" = []\n"), Contains("grid.formats.W: must be a non-empty array"));
  CHECK_THAT(err(kHead + "base = \"b\"\nworkers = 0\n"), Contains("workers: must be an integer in 1..1024"));
  CHECK_THAT(err(kHead), Contains("no [[row]] tables and no `base` config"));
  CHECK_THAT(err(kHead + "base = \"b\"\nkeep_checkpoints = 1\n"), Contains("bad.toml:5: keep_checkpoints: must be true or false"));
  CHECK_THAT(err(kHead + "base = \"b\"\nreuse_from = \"x.toml\"\n"), Contains("bad.toml:5: reuse_from: must be an array of sweep file paths"));
  CHECK_THAT(err(kHead + "base = \"b\"\nreuse_from = [1]\n"), Contains("reuse_from: must hold sweep file paths (strings)"));
  CHECK_THROWS_WITH(load_plan("/nonexistent/s.toml"), Contains("/nonexistent/s.toml: cannot open"));
}

TEST_CASE("sweep table: mean, sample sd, min-max and deltas from the run folders", "[sweep]") {
  std::string root = (fs::temp_directory_path() / "bitsim-sweep-XXXXXX").string();
  REQUIRE(::mkdtemp(root.data()));
  SweepPlan p = parse_plan("seeds = [1, 2, 3]\nout = \"o\"\nruns_root = \"" + root +
                               "\"\nbase = \"b\"\nreference_row = \"a\"\n[[row]]\nid = \"a\"\n[[row]]\nid = \"b\"\npaper = \"x, y\"\n",
                           "s.toml");
  auto result = [&](const std::string& row, int seed, double acc, double secs) {
    const std::string d = root + "/" + row + "/seed" + std::to_string(seed);
    fs::create_directories(d);
    bitsim::io::write_file_atomically(
        d + "/result.json", "{\n  \"test_accuracy\": " + std::to_string(acc) + ",\n  \"train_seconds\": " + std::to_string(secs) + "\n}\n");
  };
  // Row a: errors 10, 12, 14 % -> mean 12, sd 2 (deviations -2, 0, 2: sum of squares 8 over n-1 = 2).
  result("a", 1, 0.90, 10);
  result("a", 2, 0.88, 20);
  result("a", 3, 0.86, 30);
  // Row b: one seed only, error 15 %.
  result("b", 2, 0.85, 5);
  const auto s = aggregate(p);
  REQUIRE(s.size() == 2);
  CHECK(s[0].n == 3);
  CHECK(*s[0].mean == Approx(12));
  CHECK(*s[0].sd == Approx(2));
  CHECK(*s[0].min == Approx(10));
  CHECK(*s[0].max == Approx(14));
  CHECK(*s[0].seconds == Approx(20));
  CHECK(*s[0].delta == Approx(0));
  CHECK(s[1].n == 1);
  CHECK_FALSE(s[1].sd);
  CHECK(*s[1].delta == Approx(3));
  const std::string md = markdown_table(p, s);
  CHECK_THAT(md, Contains("| a | 3 | 12.00 ± 2.00 | 10.00–14.00 | reference |  | 20.00 |  |"));
  CHECK_THAT(md, Contains("| b | 1 of 3 | 15.00 | 15.00–15.00 | +3.00 | n/a | 5.00 | x, y |"));  // one seed: no spread
  const std::string csv = csv_table(s);
  CHECK_THAT(csv, Contains("a,a,3,12.00,2.00,10.00,14.00,+0.00,,20.00,s1=10.00 s2=12.00 s3=14.00,\n"));
  CHECK_THAT(csv, Contains("b,b,1,15.00,,15.00,15.00,+3.00,,5.00,s2=15.00,\"x, y\"\n"));
  fs::remove_all(root);
}

TEST_CASE("sweep table: the smallest difference the seeds can resolve against the reference row", "[sweep]") {
  std::string root = (fs::temp_directory_path() / "bitsim-sweep-XXXXXX").string();
  REQUIRE(::mkdtemp(root.data()));
  const SweepPlan p = parse_plan("seeds = [1, 2, 3]\nout = \"o\"\nruns_root = \"" + root +
                                     "\"\nbase = \"b\"\nreference_row = \"a\"\n[[row]]\nid = \"a\"\n[[row]]\nid = \"c\"\n",
                                 "s.toml");
  auto result = [&](const std::string& row, int seed, double acc) {
    const std::string d = root + "/" + row + "/seed" + std::to_string(seed);
    fs::create_directories(d);
    bitsim::io::write_file_atomically(d + "/result.json", "{\"test_accuracy\": " + std::to_string(acc) + "}\n");
  };
  // a: errors 10, 12, 14 %; c: 11, 13, 15 %. Both sd 2, so the pooled sd is 2 with 4 degrees of
  // freedom; t(0.975, 4) = 2.776445 (tables); 2.776445 * 2 * sqrt(1/3 + 1/3) = 4.5339.
  for (int i = 0; i < 3; ++i) {
    result("a", i + 1, 0.90 - 0.02 * i);
    result("c", i + 1, 0.89 - 0.02 * i);
  }
  const auto s = aggregate(p);
  CHECK_FALSE(s[0].resolvable);  // the reference itself
  REQUIRE(s[1].resolvable);
  CHECK(*s[1].resolvable == Approx(4.5339).margin(1e-4));
  CHECK_THAT(markdown_table(p, s), Contains("| Δ vs a (pp) | Δ resolvable at 5% (pp) |"));
  CHECK_THAT(markdown_table(p, s), Contains("| c | 3 | 13.00 ± 2.00 | 11.00–15.00 | +1.00 | 4.53 |"));
  fs::remove_all(root);
}

TEST_CASE("sweep plan: keep_checkpoints, and commands that a shell gives back word for word", "[sweep]") {
  CHECK(parse_plan(kHead + "base = \"b\"\n", "s.toml").keep_checkpoints);
  CHECK_FALSE(parse_plan(kHead + "base = \"b\"\nkeep_checkpoints = false\n", "s.toml").keep_checkpoints);
  // Plain words stay bare; others are single-quoted, a quote inside as '\''.
  CHECK(shell_words({"bitsim", "--set", "seed=1", "a b", "it's", "run.dir=\"r/x\"", ""}) ==
        "bitsim --set seed=1 'a b' 'it'\\''s' 'run.dir=\"r/x\"' ''");
  const SweepPlan p = parse_plan("seeds = [7]\nout = \"o\"\nruns_root = \"r s\"\nbase = \"b.toml\"\nthreads = 2\n"
                                 "[[row]]\nid = \"a\"\nset = [\"formats.W=\\\"fp8_e4m3\\\"\"]\n",
                                 "s.toml");
  CHECK(train_command(expand(p).at(0)) ==
        "bitsim train b.toml --set seed=7 --set 'run.dir=\"r s/a/seed7\"' --set 'formats.W=\"fp8_e4m3\"' --no-progress --quiet "
        "--threads 2");
}

TEST_CASE("sweep table provenance: commits, CPUs and run time of the results, sessions' elapsed time", "[sweep]") {
  std::string root = (fs::temp_directory_path() / "bitsim-sweep-XXXXXX").string();
  REQUIRE(::mkdtemp(root.data()));
  const SweepPlan p = parse_plan("seeds = [1, 2]\nout = \"" + root + "/out\"\nruns_root = \"" + root +
                                     "\"\nbase = \"b\"\n[[row]]\nid = \"a\"\n[[row]]\nid = \"b\"\n",
                                 "s.toml");
  CHECK(provenance_text(p, {}).empty());  // no result yet
  auto result = [&](const std::string& row, int seed, double secs, const std::string& extra) {
    const std::string d = root + "/" + row + "/seed" + std::to_string(seed);
    fs::create_directories(d);
    bitsim::io::write_file_atomically(d + "/result.json",
                                      "{\"test_accuracy\": 0.9, \"train_seconds\": " + std::to_string(secs) + extra + "}\n");
  };
  result("a", 1, 600, R"(, "commit": "abc", "cpu": "CPU X")");
  result("a", 2, 1200, R"(, "commit": "def", "cpu": "CPU X")");
  result("b", 1, 1800, R"(, "commit": "abc", "cpu": "CPU Y")");
  result("b", 2, 3600, "");  // written before results recorded their commit
  // 600 + 1200 + 1800 + 3600 s = 2.00 h.
  CHECK(provenance_text(p, {}) ==
        "Runs finished by bitsim at commit abc (2 runs), commit def (1 run), an unrecorded commit (1 run); on CPU X (2 runs), "
        "CPU Y (1 run), an unrecorded CPU (1 run).\n"
        "Time: the 4 runs trained for 2.00 h in all (the sum of their `train_seconds`).\n");
  // The table says what its errors were measured on: the test set, unless a run held out training samples.
  CHECK_THAT(markdown_document(p, aggregate(p), "bitsim sweep s.toml", ""), Contains("\n\nTest error in percent"));
  CHECK_THAT(markdown_table(p, aggregate(p)), Contains("| test error % (mean ± sd) |"));
  result("b", 2, 3600, R"(, "evaluated_on": "held-out")");
  CHECK_THAT(markdown_document(p, aggregate(p), "bitsim sweep s.toml", ""),
             Contains("\n\nError on the held-out training samples (`data.holdout`; the test set unused) in percent"));
  CHECK_THAT(markdown_table(p, aggregate(p)), Contains("| held-out error % (mean ± sd) |"));
  // Sessions: recorded one by one, read back; 1800 + 2700 s elapsed = 1.25 h.
  CHECK(read_sessions(p.out).empty());
  SweepSession s1{"2026-12-06T10:00:00Z", 1800, 2, 1, 3, 2, 0, true, "abc", "CPU X", "avx2"};
  SweepSession s2{"2026-12-07T10:00:00Z", 2700, 1, 2, 2, 2, 0, false, "def", "CPU Y", "avx512"};
  record_session(p.out, s1);
  record_session(p.out, s2);
  const auto back = read_sessions(p.out);
  REQUIRE(back.size() == 2);
  CHECK(back[0].started_utc == s1.started_utc);
  CHECK(back[0].interrupted);
  CHECK(back[1].elapsed_seconds == 2700);
  CHECK(back[1].workers == 1);
  CHECK(back[1].threads == 2);
  CHECK(back[1].commit == "def");
  CHECK_THAT(provenance_text(p, back),
             Contains("Time: the 4 runs trained for 2.00 h in all (the sum of their `train_seconds`); the sweep sessions that ran "
                      "them took 1.25 h elapsed: 2 workers × 1 thread (1 session), 1 worker × 2 threads (1 session) "
                      "(`sessions.json`).\n"));
  // A damaged record is an error naming the file, not silently replaced.
  bitsim::io::write_file_atomically(p.out + "/sessions.json", "{\"not\": \"a list\"}");
  CHECK_THROWS_WITH(read_sessions(p.out), Contains(p.out + "/sessions.json: not a list of sweep sessions"));
  CHECK_THROWS_WITH(record_session(p.out, s1), Contains("not a list of sweep sessions"));
  fs::remove_all(root);
}
