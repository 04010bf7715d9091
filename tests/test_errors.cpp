// One error root (io/error.hpp): every library's error class derives from bitsim::Error, and the
// structured site says where an error is (file, line, key; element index; field), so no caller
// parses a message.
#include "analysis/quantizer_stats.hpp"
#include "analysis/stats_schema.hpp"
#include "apps/sweep/sweep_plan.hpp"
#include "hw/arith.hpp"
#include "formats/format.hpp"
#include "formats/rounding.hpp"
#include "hw/vectors.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "io/npy.hpp"
#include "sim/data/dataset.hpp"
#include "sim/kernels/elementwise.hpp"
#include "sim/kernels/gemm.hpp"
#include "sim/kernels/nchw.hpp"
#include "sim/nn/model_spec.hpp"
#include "sim/nn/role.hpp"
#include "sim/tensor/packing.hpp"
#include "sim/tensor/shape.hpp"
#include "sim/tensor/tensor.hpp"
#include "sim/tensor/tensor_policy.hpp"
#include "sim/train/checkpoint.hpp"
#include "sim/train/config.hpp"
#include "sim/train/hazards.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

using namespace bitsim;

template <class... E> constexpr bool all_rooted = (std::is_base_of_v<bitsim::Error, E> && ...);
static_assert(all_rooted<formats::ArithError, formats::FormatError, formats::QuantizeError, io::FileError, io::NpyError,
                         sim::OpError, sim::ShapeError, sim::TensorError, sim::PolicyError, sim::PackingError, sim::GemmError,
                         sim::KernelShapeError, sim::nn::ModelError, sim::data::DatasetError, sim::train::ConfigError,
                         sim::train::HazardError, sim::train::CheckpointError, sim::train::RunFolderTaken,
                         sim::train::NothingToResume, hw::VectorError, analysis::StatsFileError, analysis::AnalysisError, sweep::SweepError>,
              "every error class of the libraries derives from bitsim::Error");

TEST_CASE("errors: a config error carries the file, line and key path", "[errors]") {
  try {
    (void)sim::train::parse_config("seed = 1\n\n[formats]\nA = { policy = \"mx\", format = \"fp8_e4m3\", block = 0 }\n", "cfg.toml");
    FAIL("no ConfigError");
  } catch (const bitsim::Error& e) {
    CHECK(e.site().file == "cfg.toml");
    CHECK(e.site().line == 4);
    CHECK(e.site().key == "formats.A.block");
    CHECK_FALSE(e.site().element.has_value());
  }
  try {
    (void)sim::train::parse_config("", "cfg.toml", {"optimizer.lr=-1"});
    FAIL("no ConfigError");
  } catch (const bitsim::Error& e) {
    CHECK(e.site().file == "cfg.toml");
    CHECK(e.site().line == 0);  // from an override, not a line of the file
    CHECK(e.site().key == "optimizer.lr");
  }
}

TEST_CASE("errors: an element error carries the index into the whole array, whatever the thread split", "[errors]") {
  const sim::nn::RoleRounding int8(formats::parse_format("int8"), {});
  std::vector<float> x(300000, 1.0f);
  const std::int64_t bad = 250001;
  x[static_cast<std::size_t>(bad)] = std::numeric_limits<float>::quiet_NaN();
  for (const int threads : {1, 2, 3}) {
    INFO(threads << " threads");
    std::vector<float> y = x;
    try {
      int8.apply(y, 1, "conv1 A", threads);
      FAIL("no QuantizeError");
    } catch (const formats::QuantizeError& e) {
      REQUIRE(e.site().element.has_value());
      CHECK(*e.site().element == bad);
      CHECK_THAT(e.what(), Catch::StartsWith("conv1 A: element 250001: "));
    }
  }
  const formats::QuantizeError e = formats::QuantizeError::at_element(3, "NaN into int8");
  CHECK(std::string(e.what()) == "element 3: NaN into int8");
  CHECK(std::string(e.shifted(10).what()) == "element 13: NaN into int8");
  CHECK(e.shifted(10).cause() == "NaN into int8");
  const formats::QuantizeError plain("no element");
  CHECK(std::string(plain.shifted(10).what()) == "no element");
}

TEST_CASE("errors: a file error carries the path", "[errors]") {
  try {
    (void)io::read_file("/nonexistent/bitsim/file.toml");
    FAIL("no FileError");
  } catch (const bitsim::Error& e) {
    CHECK(e.site().file == "/nonexistent/bitsim/file.toml");
  }
}
