// train.micro_batches and train.allreduce: config checks, and the in-process semantics data-parallel
// training reproduces (tests/cli/mpi_train.sh compares them with mpirun): deterministic whatever the
// thread count, M = 1 unchanged, running estimates updated by the first micro-batch only.
#include "sim/methods/banner2018/range_rounding.hpp"
#include "sim/nn/role.hpp"
#include "sim/train/config.hpp"
#include "sim/train/trainer.hpp"

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace bitsim::sim;
using Catch::Matchers::Contains;

TEST_CASE("micro_batches and allreduce: config keys and their errors", "[train][micro]") {
  const train::TrainConfig c = train::parse_config("[data]\nbatch = 64\n[train]\nmicro_batches = 4\nallreduce = \"bf16\"\n", "m.toml");
  CHECK(c.micro_batches == 4);
  CHECK(c.allreduce == "bf16");
  CHECK_THAT(train::to_toml(c), Contains("micro_batches = 4\n") && Contains("allreduce = \"bf16\"\n"));
  CHECK_THAT(train::to_toml(train::parse_config("", "d.toml")), !Contains("micro_batches"));  // older runs still resume
  CHECK_THROWS_WITH(train::parse_config("[data]\nbatch = 8\n[train]\nmicro_batches = 9\n", "m.toml"),
                    Contains("m.toml:4: key 'train.micro_batches': 9 micro-batches do not fit a batch of 8"));
  CHECK_THROWS_WITH(train::parse_config("[train]\nmicro_batches = 0\n", "m.toml"), Contains("train.micro_batches"));
  CHECK_THROWS_WITH(train::parse_config("[train]\nallreduce = \"fp99\"\n", "m.toml"), Contains("key 'train.allreduce'"));
  CHECK_THROWS_WITH(train::parse_config("[train]\nallreduce = \"fp64\"\n", "m.toml"), Contains("not exact in float"));
}

TEST_CASE("a range role's running estimates move only when the context says so", "[train][micro]") {
  methods::RangeRole spec;
  spec.sample_mean = true;
  const nn::RoleRounding r = methods::range_rounding(spec, false);
  std::vector<float> x = {-1, 2, -3, 4};
  float running[2] = {0.5f, 0.5f};
  nn::PolicyState rc{2, true, running, false};
  r.apply(x, 1, "t", 1, &rc);
  CHECK(running[0] == 0.5f);
  CHECK(running[1] == 0.5f);
  rc.update = true;
  x = {-1, 2, -3, 4};
  r.apply(x, 1, "t", 1, &rc);
  CHECK(running[0] != 0.5f);
}

TEST_CASE("micro-batches: deterministic at any thread count - M = 2 is a different run than M = 1", "[train][micro]") {
  std::string dir = (std::filesystem::temp_directory_path() / "bitsim-micro-XXXXXX").string();
  REQUIRE(::mkdtemp(dir.data()));
  auto run = [&](const std::string& name, std::int64_t m, int threads, const std::string& allreduce = "") {
    std::vector<std::string> sets = {"run.dir=\"" + dir + "/" + name + "\"", "train.micro_batches=" + std::to_string(m)};
    if (!allreduce.empty()) sets.push_back("train.allreduce=\"" + allreduce + "\"");
    const train::TrainConfig c = train::parse_config(
        "seed = 5\n[model]\nname = \"cnn\"\nwidth = 4\n[data]\nbatch = 32\nlimit_train = 128\nlimit_test = 64\n[train]\nepochs = 1\n"
        "[formats]\nbatchnorm = \"range\"\nA = { quantizer = \"range\", bits = 8, range = \"sample_mean\" }\n"
        "DY = { quantizer = \"range\", bits = 8, rounding = \"sr\" }\n",
        "micro.toml", sets);
    train::TrainOptions o;
    o.progress = false;
    o.threads = threads;
    return train::run_training(c, o).weights_digest;
  };
  const std::string m2 = run("m2t1", 2, 1);
  CHECK(run("m2t2", 2, 2) == m2);
  CHECK(run("m1", 1, 1) != m2);
  CHECK(run("m2bf16", 2, 1, "bf16") != m2);
  std::filesystem::remove_all(dir);
}
