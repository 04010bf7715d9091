// A training experiment as data: the TOML file read by `bitsim train` (docs/training.md lists every
// key). Loading checks every key: an unknown key, a value of the wrong type or out of range is an error
// naming the file, the line and the key. `--set key=value` overrides are applied to the parsed TOML
// before it is read (value parsed as TOML, or taken as a string when it is not TOML).
#pragma once

#include "io/error.hpp"
#include "sim/kernels/gemm_setup.hpp"
#include "sim/nn/layer.hpp"
#include "sim/nn/model_spec.hpp"
#include "sim/nn/optimizer.hpp"
#include "sim/nn/role.hpp"
#include "sim/train/hazards.hpp"
#include "sim/train/loss_scaling.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitsim::sim::train {

// A bad configuration: the message names the file, line and key.
class ConfigError : public bitsim::Error {
 public:
  using Error::Error;
};

// Role formats and GEMM setup given at one level ([formats] or one [[formats.override]]); unset
// entries inherit from the level below (override -> [formats] -> fp32).
struct FormatLevel {
  std::array<std::optional<nn::RoleRounding>, nn::kRoleCount> roles;
  std::optional<std::optional<formats::Format>> acc;      // inner empty: exact accumulation
  std::optional<std::optional<formats::Format>> product;  // inner empty: exact products
  std::optional<std::string> order;  // as parse_acc_order reads it, in acc_order_text's canonical form
  std::optional<std::int64_t> chunk;
  std::optional<formats::Rounding> gemm_rounding;  // every rounding of the matrix products (rne)
  std::optional<bool> bifurcate;                // weight-gradient products read DY_W (Banner et al.)
  std::optional<std::string> batchnorm;         // batch-norm layers' method (sim/methods/batchnorm_methods.hpp)
  std::optional<std::int64_t> range_bn_chunks;  // Range BN chunks (16)
  std::optional<double> range_bn_new_weight;    // Range BN running-estimate weight of the batch (0.9)
};

// Positions [first, last) among the layers an override's `layers` and `kinds` match, counted from 0
// in model order (`index = "1:"` is every match but the first; "0:14" the first 14; "3" the fourth).
struct IndexRange {
  std::int64_t first = 0;
  std::optional<std::int64_t> last;  // empty: to the end
  bool contains(std::int64_t i) const { return i >= first && (!last || i < *last); }
  std::string text() const;  // "1:", "0:14", "3:4"
};

struct FormatOverride {
  std::vector<std::string> layers;  // layer-name patterns ('*' matches any run of characters)
  std::vector<std::string> kinds;   // layer kinds ("conv", "batchnorm", ...); empty: any
  std::optional<IndexRange> index;  // only these positions among the matching layers; empty: all
  FormatLevel level;
};

// [stats]: per-layer, per-role tensor statistics written to HDF5 while training (analysis/stats_logger.hpp,
// docs/hdf5-schema.md). Statistics never change results, so these keys may differ on a resume.
struct StatsConfig {
  std::int64_t every = 0;            // log steps 0, every, 2*every, ... (0: no statistics file)
  std::string file = "stats.h5";     // relative to the run folder (or absolute)
  std::int64_t sample = 0;           // raw values kept per tensor and logged step (0: none)
  std::vector<std::string> roles;    // only these roles ("W", "E", ...; empty: every role)
  std::vector<std::string> layers;   // only layers matching these name patterns (empty: every layer)
  std::int64_t compression = 4;      // deflate level of every dataset (0: none, 9: smallest)
  bool operator==(const StatsConfig&) const = default;
};

struct TrainConfig {
  std::string source;  // the file it was read from
  std::string name = "run";
  std::uint64_t seed = 1;
  int threads = 0;  // 0: all hardware threads

  // [model]
  std::string model = "cnn";  // a built-in name, or "custom" with `layers`
  std::int64_t width = 0;
  std::vector<nn::LayerSpec> layers;

  // [data]
  std::string dataset = "fashion-mnist";  // fashion-mnist | cifar10
  std::string data_dir;                   // empty: the dataset's default directory
  std::int64_t batch = 128, test_batch = 1000;
  std::int64_t crop_pad = 0;
  bool flip = false;
  bool normalize = true;
  std::int64_t limit_train = 0, limit_test = 0;  // 0: all samples (smaller for smoke runs)
  std::int64_t holdout = 0;  // > 0: the last N training samples are the evaluation set, never trained on

  // [train]
  std::int64_t epochs = 10;
  std::int64_t stop_after_steps = 0;       // > 0: stop (with a checkpoint) after this many steps
  std::int64_t checkpoint_every_steps = 0; // 0: at the end of every epoch only
  // Each global batch in M micro-batches (gradient accumulation): each has its own batch statistics
  // and stochastic-rounding keys (step * M + m), their parameter gradients are summed in order and
  // divided by M, and only the first updates the running estimates. Data-parallel training over P
  // ranks computes exactly this with M = P (one micro-batch per rank).
  std::int64_t micro_batches = 1;
  // With micro-batches (or ranks): the format in which each micro-batch's gradient is communicated and
  // the mean returned (round to nearest even), to study low-precision gradient all-reduce; empty:
  // exact fp32.
  std::string allreduce;
  bool drop_last = true;
  LossScaleConfig loss_scale;  // train.loss_scale*: none, static or dynamic (sim/train/loss_scaling.hpp)

  std::string optimizer = "sgd";  // optimizer.name: sgd, adam, adamw
  nn::SgdConfig sgd;            // [optimizer]: SGD's keys, and weight decay and master weights for all
  nn::AdamConfig adam;          // [optimizer]: Adam's betas and eps (AdamW's decay: optimizer.name = "adamw")
  nn::ScheduleConfig schedule;  // [schedule] (+ optimizer.lr)

  FormatLevel formats;                  // [formats]
  std::vector<FormatOverride> overrides;  // [[formats.override]]

  StatsConfig stats;  // [stats]
  HazardConfig hazards;  // [hazards]

  std::string run_dir;  // [run] dir; empty: runs/<name>
};

// What a run's "test" figures are measured on: "test" (the test set) or "held-out" (data.holdout).
inline const char* eval_set_name(const TrainConfig& c) { return c.holdout > 0 ? "held-out" : "test"; }

// Reads a config file with `sets` ("key.path=value") applied. Throws ConfigError.
TrainConfig load_config(const std::string& path, const std::vector<std::string>& sets = {});
// Parses TOML text as if read from `source_name` (tests).
TrainConfig parse_config(const std::string& text, const std::string& source_name, const std::vector<std::string>& sets = {});

// The fully resolved configuration as TOML (every key, defaults filled in): written to the run folder
// and loadable again. Resuming requires the checkpoint's resolved config to equal this text.
std::string to_toml(const TrainConfig& c);

// The statistics file of a run: stats.file, relative to the run folder unless absolute.
std::string stats_path(const TrainConfig& c);

// Assigns roles, the GEMM setup, bifurcation and the batch-norm kind to `layer` from [formats] and the
// overrides matching it (name pattern and kind; in file order, later ones winning key by key). For one
// layer outside a model: an override with an `index` throws ConfigError (positions need the model).
void configure_layer(const TrainConfig& c, nn::Layer& layer);

// Configures the layers of one model, called on each layer in model order (build_model's `configure`):
// counts, per override, the layers its `layers` and `kinds` match, so that `index` can select by
// position. One configurator per model build.
class LayerConfigurator {
 public:
  explicit LayerConfigurator(const TrainConfig& c) : c_(&c), matched_(c.overrides.size(), 0) {}
  void operator()(nn::Layer& layer);

 private:
  const TrainConfig* c_;
  std::vector<std::int64_t> matched_;
};

// `s` as a quoted TOML basic string (quotes, backslashes and control characters escaped), which is
// also a valid JSON string.
std::string toml_quote(const std::string& s);

// Whether `name` matches `pattern` ('*' = any run of characters, including dots).
bool name_matches(const std::string& pattern, const std::string& name);

}  // namespace bitsim::sim::train
