#include "sim/train/config_schema.hpp"

#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "sim/nn/model_zoo.hpp"
#include "sim/methods/batchnorm_methods.hpp"
#include "sim/train/config_section.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

namespace bitsim::sim::train {

namespace {

using detail::Section;

// The defaults: TrainConfig's initializers.
const TrainConfig& defaults() {
  static const TrainConfig d;
  return d;
}

std::string number_text(std::int64_t v) {
  if (v == std::numeric_limits<std::int64_t>::max()) return "2^63-1";
  if (v >= 65536 && std::has_single_bit(static_cast<std::uint64_t>(v)))
    return fmt::format("2^{}", std::countr_zero(static_cast<std::uint64_t>(v)));
  return std::to_string(v);
}

std::string number_text(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e7) return fmt::format("{}", static_cast<std::int64_t>(v));
  int e = 0;
  if (v > 0 && std::frexp(v, &e) == 0.5) return fmt::format("2^{}", e - 1);  // 2^-126, not 1.17549e-38
  return fmt::format("{:g}", v);
}

std::string list_text(const std::vector<std::string>& v, bool code) {
  std::string s;
  for (const auto& e : v) s += (s.empty() ? "" : ", ") + (code ? "`" + e + "`" : e);
  return s;
}

void split_path(ConfigKey& k, const std::string& path) {
  const auto dot = path.find('.');
  k.section = dot == std::string::npos ? "" : path.substr(0, dot);
  k.name = dot == std::string::npos ? path : path.substr(dot + 1);
}

// `ref` maps a config (const or not) to the field: [](auto& c) -> auto& { return c.batch; }.
template <class Ref>
ConfigKey integer_key(const std::string& path, Ref ref, std::int64_t lo, std::int64_t hi, std::string meaning,
                      Written written = Written::always) {
  ConfigKey k;
  split_path(k, path);
  k.default_text = fmt::format("{}", ref(defaults()));
  k.meaning = std::move(meaning) + fmt::format(" (integer, {}..{})", number_text(lo), number_text(hi));
  k.written = written;
  const std::string name = k.name;
  k.read = [=](Section& s, TrainConfig& c) {
    auto& field = ref(c);
    using T = std::decay_t<decltype(field)>;
    field = static_cast<T>(s.integer(name, static_cast<std::int64_t>(field), lo, hi));
  };
  k.value = [=](const TrainConfig& c) { return fmt::format("{}", ref(c)); };
  return k;
}

template <class Ref>
ConfigKey real_key(const std::string& path, Ref ref, double lo, double hi, std::string meaning,
                   Written written = Written::always) {
  ConfigKey k;
  split_path(k, path);
  k.default_text = fmt::format("{}", ref(defaults()));
  k.meaning = std::move(meaning) + fmt::format(" (number, {}..{})", number_text(lo), number_text(hi));
  k.written = written;
  const std::string name = k.name;
  k.read = [=](Section& s, TrainConfig& c) { ref(c) = s.real(name, ref(c), lo, hi); };
  k.value = [=](const TrainConfig& c) { return fmt::format("{}", ref(c)); };
  return k;
}

template <class Ref>
ConfigKey boolean_key(const std::string& path, Ref ref, std::string meaning) {
  ConfigKey k;
  split_path(k, path);
  k.default_text = fmt::format("{}", ref(defaults()));
  k.meaning = std::move(meaning);
  const std::string name = k.name;
  k.read = [=](Section& s, TrainConfig& c) { ref(c) = s.boolean(name, ref(c)); };
  k.value = [=](const TrainConfig& c) { return fmt::format("{}", ref(c)); };
  return k;
}

// A string; `choices` (when not empty) are the values it accepts; `check` (optional) refuses others
// through Section::fail.
template <class Ref>
ConfigKey string_key(const std::string& path, Ref ref, std::vector<std::string> choices, std::string meaning,
                     Written written = Written::always,
                     std::function<void(Section&, const std::string&)> check = nullptr) {
  ConfigKey k;
  split_path(k, path);
  const std::string& d = ref(defaults());
  k.default_text = d.empty() ? "" : "`" + toml_quote(d) + "`";
  k.meaning = std::move(meaning) + (choices.empty() ? "" : ": " + list_text(choices, true));
  k.written = written;
  const std::string name = k.name;
  k.read = [=](Section& s, TrainConfig& c) {
    std::string& field = ref(c);
    field = s.string(name, field, choices);
    if (check && s.get(name)) check(s, field);
  };
  k.value = [=](const TrainConfig& c) { return toml_quote(ref(c)); };
  return k;
}

// A string naming one of `values`, stored as the value it names.
template <class Ref, class T>
ConfigKey choice_key(const std::string& path, Ref ref, std::vector<std::pair<std::string, T>> values,
                     std::vector<std::string> accepted, std::string meaning, Written written = Written::always) {
  ConfigKey k;
  split_path(k, path);
  auto text_of = [values](const T& v) {
    for (const auto& [text, x] : values)
      if (x == v) return text;
    return std::string();
  };
  k.default_text = "`" + toml_quote(text_of(ref(defaults()))) + "`";
  k.meaning = std::move(meaning) + ": " + list_text(accepted, true);
  k.written = written;
  const std::string name = k.name;
  k.read = [=](Section& s, TrainConfig& c) {
    const std::string v = s.string(name, text_of(ref(c)), accepted);
    for (const auto& [text, x] : values)
      if (text == v) ref(c) = x;
  };
  k.value = [=](const TrainConfig& c) { return toml_quote(text_of(ref(c))); };
  return k;
}

template <class Ref>
ConfigKey string_list_key(const std::string& path, Ref ref, std::string default_text, std::string meaning,
                          std::function<void(Section&, const std::vector<std::string>&)> check = nullptr) {
  ConfigKey k;
  split_path(k, path);
  k.default_text = std::move(default_text);
  k.meaning = std::move(meaning);
  const std::string name = k.name;
  k.read = [=](Section& s, TrainConfig& c) {
    ref(c) = detail::string_list(s, name);
    if (check) check(s, ref(c));
  };
  k.value = [=](const TrainConfig& c) {
    std::string o;
    for (const auto& e : ref(c)) o += (o.empty() ? "" : ", ") + toml_quote(e);
    return "[" + o + "]";
  };
  return k;
}

template <class V>
std::string numbers_toml(const std::vector<V>& v) {
  std::string o;
  for (const V& e : v) o += (o.empty() ? "" : ", ") + fmt::format("{}", e);
  return "[" + o + "]";
}

// A key read and written by config.cpp (model.layers, the [formats] keys, extends, set).
ConfigKey by_hand(const std::string& path, std::string default_text, std::string meaning) {
  ConfigKey k;
  split_path(k, path);
  k.default_text = std::move(default_text);
  k.meaning = std::move(meaning);
  k.written = Written::by_hand;
  return k;
}

std::vector<ConfigKey> make_keys() {
  const std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::vector<ConfigKey> k;
  k.push_back(by_hand("extends", "",
                      "path of a base config (relative to this file): its keys are read first, this file's merged over "
                      "them (tables key by key; other values, arrays included, replaced)"));
  k.push_back(by_hand("set", "",
                      "with `extends`: `[\"key.path=value\", ...]` applied after the merge, as `--set` would; an array of "
                      "tables is entered by index, e.g. `'formats.override.0.DY=flag(bits=16)'`. How a variant config "
                      "changes one entry of its base"));
  k.push_back(string_key(
      "name", [](auto& c) -> auto& { return c.name; }, {}, "run name (default folder `runs/<name>`): one folder name, without `/`, not `.` or `..`",
      Written::always, [](Section& s, const std::string& v) {
        // The run folder is runs/<name> by default: a name is one path component, never a way out of runs/.
        if (v.empty() || v == "." || v == ".." || v.find_first_of(std::string("/\0", 2)) != std::string::npos)
          s.fail(s.get("name"), "name",
                 fmt::format("'{}' is not a run name (one folder name: no '/', not '.' or '..', not empty)", io::excerpt(v)));
      }));
  k.push_back(integer_key("seed", [](auto& c) -> auto& { return c.seed; }, 0, kMax,
                          "fixes initialization, data order, augmentation and stochastic rounding"));
  k.push_back(integer_key("threads", [](auto& c) -> auto& { return c.threads; }, 0, 1024,
                          "worker threads, 0 = all cores; never changes results"));

  std::vector<std::string> models = nn::builtin_model_names();
  models.push_back("custom");
  k.push_back(string_key("model.name", [](auto& c) -> auto& { return c.model; }, models,
                         "the model (`custom`: the layers of `model.layers`)"));
  k.push_back(integer_key("model.width", [](auto& c) -> auto& { return c.width; }, 0, 1 << 20,
                          "MLP hidden width (0: 1024); CNN first width (0: 32); ResNet base width (0: 16)"));
  k.push_back(by_hand("model.layers", "", "for `custom`: an array of layer tables (the table of layer types below)"));

  k.push_back(string_key("data.dataset", [](auto& c) -> auto& { return c.dataset; }, {"fashion-mnist", "cifar10"},
                         "the data set (CIFAR-10: the binary version, `data.dir` required)"));
  k.push_back(string_key("data.dir", [](auto& c) -> auto& { return c.data_dir; }, {},
                         "dataset folder (empty: `/usr/share/datasets/fashion-mnist`, package `dataset-fashion-mnist`)"));
  k.push_back(integer_key("data.batch", [](auto& c) -> auto& { return c.batch; }, 2, 1 << 20, "training batch size"));
  k.push_back(integer_key("data.test_batch", [](auto& c) -> auto& { return c.test_batch; }, 1, 1 << 20,
                          "evaluation batch size"));
  k.push_back(integer_key("data.crop_pad", [](auto& c) -> auto& { return c.crop_pad; }, 0, 64,
                          "random crop after zero padding by this many pixels"));
  k.push_back(boolean_key("data.flip", [](auto& c) -> auto& { return c.flip; }, "random horizontal flip"));
  k.push_back(boolean_key("data.normalize", [](auto& c) -> auto& { return c.normalize; },
                          "per-channel mean/std of the training set"));
  k.push_back(integer_key("data.limit_train", [](auto& c) -> auto& { return c.limit_train; }, 0, std::int64_t{1} << 40,
                          "use only the first N training samples (0 = all): smoke runs"));
  k.push_back(integer_key("data.limit_test", [](auto& c) -> auto& { return c.limit_test; }, 0, std::int64_t{1} << 40,
                          "use only the first N test samples (0 = all)"));
  k.push_back(integer_key("data.holdout", [](auto& c) -> auto& { return c.holdout; }, 0, std::int64_t{1} << 40,
                          "N > 0: the last N training samples are held out: never trained on, left out of the "
                          "normalization statistics, and evaluated instead of the test set (which is not used), "
                          "so that hyperparameters are chosen without the test set; `data.limit_train` and "
                          "`data.limit_test` then apply to the rest and to the held-out samples"));

  k.push_back(integer_key("train.epochs", [](auto& c) -> auto& { return c.epochs; }, 1, 100000, "epochs"));
  k.push_back(integer_key("train.stop_after_steps", [](auto& c) -> auto& { return c.stop_after_steps; }, 0,
                          std::int64_t{1} << 50, "stop after N steps with a checkpoint (then `--resume`); 0: never"));
  k.push_back(integer_key("train.checkpoint_every_steps", [](auto& c) -> auto& { return c.checkpoint_every_steps; }, 0,
                          std::int64_t{1} << 50, "also checkpoint every N steps (0: end of epochs only)"));
  k.push_back(boolean_key("train.drop_last", [](auto& c) -> auto& { return c.drop_last; },
                          "drop the last partial batch of an epoch"));
  k.push_back(integer_key("train.micro_batches", [](auto& c) -> auto& { return c.micro_batches; }, 1, 1024,
                          "each global batch in M micro-batches (gradient accumulation, below; what P ranks compute)",
                          Written::unless_default));
  k.push_back(string_key(
      "train.allreduce", [](auto& c) -> auto& { return c.allreduce; }, {},
      "with micro-batches or ranks: the format (round to nearest even) each micro-batch's gradient is communicated "
      "in and the mean is returned in, e.g. `\"bf16\"` (low-precision all-reduce); empty: exact fp32",
      Written::unless_default, [](Section& s, const std::string& v) {
        if (v.empty()) return;
        try {
          if (!formats::Quantizer(formats::parse_format(v)).supports_float_arrays())
            s.fail(s.get("allreduce"), "allreduce", "'" + v + "' has values that are not exact in float");
        } catch (const formats::FormatError& e) {
          s.fail(s.get("allreduce"), "allreduce", e.what());
        }
      }));

  k.push_back(choice_key(
      "train.loss_scale", [](auto& c) -> auto& { return c.loss_scale.mode; },
      std::vector<std::pair<std::string, LossScaleMode>>{
          {"none", LossScaleMode::none}, {"static", LossScaleMode::fixed}, {"dynamic", LossScaleMode::dynamic}},
      {"none", "static", "dynamic"},
      "loss scaling (below): dL/dlogits times S before its rounding to `E`, the gradients times 1/S before the optimizer; "
      "`dynamic` skips a step whose gradients hold a NaN or Inf and halves S, and doubles S after "
      "`loss_scale_growth_interval` clean steps",
      Written::unless_default));
  k.push_back(real_key("train.loss_scale_init", [](auto& c) -> auto& { return c.loss_scale.init; }, 0x1p-126, 0x1p127,
                       "loss scaling: S at the first step, a power of two", Written::unless_default));
  k.push_back(integer_key("train.loss_scale_growth_interval", [](auto& c) -> auto& { return c.loss_scale.growth_interval; }, 1,
                          std::int64_t{1} << 40, "dynamic loss scaling: clean steps before S doubles", Written::unless_default));

  k.push_back(string_key("optimizer.name", [](auto& c) -> auto& { return c.optimizer; }, {"sgd", "adam", "adamw"},
                         "`sgd` (with momentum), `adam` (weight decay as L2 in the gradient) or `adamw` (decoupled weight "
                         "decay); Adam's second moment is the role `V`",
                         Written::unless_default));
  k.push_back(real_key("optimizer.lr", [](auto& c) -> auto& { return c.schedule.lr; }, 0, 1e6, "base learning rate"));
  // Each optimizer's own keys (the reader refuses them under the other, the writer leaves them out).
  const auto sgd_only = [](const TrainConfig& c) { return c.optimizer == "sgd"; };
  const auto adam_only = [](const TrainConfig& c) { return c.optimizer != "sgd"; };
  k.push_back(real_key("optimizer.beta1", [](auto& c) -> auto& { return c.adam.beta1; }, 0, 0.999999,
                       "Adam: decay of the first moment (M)", Written::unless_default));
  k.back().applies = adam_only;
  k.push_back(real_key("optimizer.beta2", [](auto& c) -> auto& { return c.adam.beta2; }, 0, 0.999999,
                       "Adam: decay of the second moment (V)", Written::unless_default));
  k.back().applies = adam_only;
  k.push_back(real_key("optimizer.eps", [](auto& c) -> auto& { return c.adam.eps; }, 1e-30, 1,
                       "Adam: added to sqrt(v) / sqrt(1 - beta2^t) in the denominator", Written::unless_default));
  k.back().applies = adam_only;
  k.push_back(real_key("optimizer.momentum", [](auto& c) -> auto& { return c.sgd.momentum; }, 0, 1, "SGD momentum"));
  k.back().applies = sgd_only;
  k.push_back(boolean_key("optimizer.nesterov", [](auto& c) -> auto& { return c.sgd.nesterov; }, "Nesterov momentum"));
  k.back().applies = sgd_only;
  k.push_back(real_key("optimizer.weight_decay", [](auto& c) -> auto& { return c.sgd.weight_decay; }, 0, 1e3,
                       "L2 weight decay"));
  k.push_back(boolean_key("optimizer.decay_bn_and_bias", [](auto& c) -> auto& { return c.sgd.decay_bn_and_bias; },
                          "weight decay on batch-norm and bias parameters too"));
  k.push_back(boolean_key("optimizer.master_weights", [](auto& c) -> auto& { return c.sgd.master_weights; },
                          "false: the stored weights are rounded to W after each update (else to `W_MASTER`)"));
  k.push_back(choice_key(
      "optimizer.weight_decay_point", [](auto& c) -> auto& { return c.sgd.decay_in_gradient; },
      std::vector<std::pair<std::string, bool>>{{"update", false}, {"gradient", true}}, {"update", "gradient"},
      "`\"gradient\"`: the L2 term is part of the loss, so wd * w is added to each parameter's gradient before it is "
      "rounded to `G` (WAGEUBN's reference); `\"update\"`: added by the optimizer",
      Written::unless_default));
  k.push_back(integer_key("optimizer.lr_bits", [](auto& c) -> auto& { return c.sgd.lr_bits; }, 0, 32,
                          "k > 0: the learning rate is rounded as WAGEUBN's Q(lr, k), clipped to +-(1 - 2^(1-k)) (k = "
                          "10: multiples of 2^-9; 0.05 becomes 26/512); 0: used as is",
                          Written::unless_default));

  k.push_back(string_key("schedule.type", [](auto& c) -> auto& { return c.schedule.type; }, {"constant", "step", "cosine"},
                         "learning-rate schedule: `step` multiplies by `gamma` at each epoch in `milestones`, `cosine` "
                         "goes to `final_lr`"));
  k.push_back(real_key("schedule.warmup_epochs", [](auto& c) -> auto& { return c.schedule.warmup_epochs; }, 0, 1e6,
                       "linear warm-up from lr/warm-up-steps to lr"));
  {
    ConfigKey m;
    split_path(m, "schedule.milestones");
    m.default_text = "`[]`";
    m.meaning = "`step`: the epochs at which the learning rate is multiplied by `gamma` (numbers)";
    m.read = [](Section& s, TrainConfig& c) {
      if (const toml::node* n = s.get("milestones")) {
        const toml::array* a = n->as_array();
        if (!a) s.fail(n, "milestones", "must be an array of epochs");
        for (const auto& e : *a) {
          if (!e.is_number()) s.fail(&e, "milestones", "must hold numbers");
          c.schedule.milestones.push_back(*e.value<double>());
        }
      }
    };
    m.value = [](const TrainConfig& c) { return numbers_toml(c.schedule.milestones); };
    k.push_back(m);
  }
  k.push_back(real_key("schedule.gamma", [](auto& c) -> auto& { return c.schedule.gamma; }, 0, 1e6,
                       "`step`: the factor at each milestone"));
  k.push_back(real_key("schedule.final_lr", [](auto& c) -> auto& { return c.schedule.final_lr; }, 0, 1e6,
                       "`cosine`: the learning rate at the last step"));
  {
    ConfigKey g;
    split_path(g, "schedule.gscale");
    g.meaning =
        "WAGEUBN's schedule of the weight gradients' dynamic range: every `constant` G role uses `gscale[0]` from the "
        "start and `gscale[i]` from epoch `gscale_milestones[i-1]` (powers of two in 2..2^24; the reference: "
        "`[128, 128, 32, 8, 2]` at `[30, 60, 80, 90]`); empty: the roles keep their own";
    g.written = Written::unless_default;
    g.read = [](Section& s, TrainConfig& c) {
      const toml::node* n = s.get("gscale");
      if (!n) return;
      const toml::array* a = n->as_array();
      if (!a || a->empty()) s.fail(n, "gscale", "must be a non-empty array of powers of two (e.g. [128, 32, 8, 2])");
      for (const auto& e : *a) {
        const toml::value<std::int64_t>* v = e.as_integer();  // not value<int64_t>: see Section::integer
        if (!v || v->get() < 2 || v->get() > (std::int64_t{1} << 24) || (v->get() & (v->get() - 1)) != 0)
          s.fail(&e, "gscale", "must hold powers of two in 2..2^24");
        c.schedule.gscale.push_back(v->get());
      }
    };
    g.value = [](const TrainConfig& c) { return numbers_toml(c.schedule.gscale); };
    k.push_back(g);
  }
  {
    ConfigKey g;
    split_path(g, "schedule.gscale_milestones");
    g.meaning = "with `gscale`: the epochs (>= 0) at which it moves to its next value; one fewer than `gscale`";
    g.written = Written::unless_default;
    g.is_set = [](const TrainConfig& c) { return !c.schedule.gscale.empty(); };  // written with gscale
    g.read = [](Section& s, TrainConfig& c) {
      if (const toml::node* n = s.get("gscale_milestones")) {
        const toml::array* a = n->as_array();
        if (!a) s.fail(n, "gscale_milestones", "must be an array of epochs");
        for (const auto& e : *a) {
          if (!e.is_number() || *e.value<double>() < 0) s.fail(&e, "gscale_milestones", "must hold epochs >= 0");
          c.schedule.gscale_milestones.push_back(*e.value<double>());
        }
        if (c.schedule.gscale.size() != c.schedule.gscale_milestones.size() + 1)
          s.fail(n, "gscale_milestones", fmt::format("needs one entry fewer than gscale ({} values, {} milestones)",
                                                     c.schedule.gscale.size(), c.schedule.gscale_milestones.size()));
      } else if (c.schedule.gscale.size() > 1) {
        s.fail(s.get("gscale"), "gscale", "more than one value needs gscale_milestones");
      }
    };
    g.value = [](const TrainConfig& c) { return numbers_toml(c.schedule.gscale_milestones); };
    k.push_back(g);
  }

  k.push_back(by_hand(
      "formats.<ROLE>", "`\"fp32\"`",
      "the role's rounding policy (the table \"Rounding policies\" below): a format string (docs/formats.md), element-wise; "
      "or a policy's text form, e.g. `\"mxfp8_e4m3\"`, `\"range(bits=8)\"`, `\"constant(bits=8)\"`; or a table "
      "`{ policy = \"NAME\", <its keys>, rounding = \"...\", sr_bits = R }`, e.g. `{ policy = \"mx\", format = "
      "\"fp8_e4m3\", block = 32 }`, `{ policy = \"range\", bits = 8, range = \"sample_mean\" }`; or `{ format = "
      "\"<either string>\", rounding = \"rne\\|rna\\|rtz\\|rup\\|rdn\\|sr\", sr_bits = R }`. `rounding` takes the "
      "modes the policy accepts, `sr_bits` only where the policy takes it; `{ quantizer = \"range\", ... }` is the older "
      "spelling of `policy = \"range\"` (bits 8 by default). `BN_STAT` sets `BN_MEAN` and `BN_SCALE` together"));
  for (const LevelKey& l : level_keys()) k.push_back(by_hand("formats." + l.name, l.default_text, l.meaning));
  k.push_back(by_hand(
      "[[formats.override]]", "",
      "`layers = [\"conv1\", \"fc*\"]` (name patterns, `*` = any characters) and/or `kinds = [\"conv\", \"batchnorm\"]` "
      "(layer kinds: the registry's, below), plus any of the `formats` keys: applied to the layers that match both "
      "lists given, later overrides winning key by key. `index = \"1:\"` restricts an override to positions among the "
      "layers its lists match, counted from 0 in model order: `\"1:\"` all but the first, `\"0:14\"` the first 14, "
      "`\"3\"` (or `3`) the fourth only (Graham 2017's \"all but the first BN\")"));

  k.push_back(integer_key("stats.every", [](auto& c) -> auto& { return c.stats.every; }, 0, std::int64_t{1} << 40,
                          "log tensor statistics at steps 0, N, 2N, ... to `stats.file` (0: off); never changes results, "
                          "and may differ on `--resume`"));
  k.push_back(string_key("stats.file", [](auto& c) -> auto& { return c.stats.file; }, {},
                         "statistics file, relative to the run folder (or absolute)", Written::always,
                         [](Section& s, const std::string& v) {
                           if (v.empty()) s.fail(s.get("file"), "file", "must not be empty");
                         }));
  k.push_back(integer_key("stats.sample", [](auto& c) -> auto& { return c.stats.sample; }, 0, 1 << 20,
                          "also keep this many raw values per tensor and logged step (a reproducible random sample; the "
                          "whole tensor when smaller)"));
  k.push_back(string_list_key("stats.roles", [](auto& c) -> auto& { return c.stats.roles; }, "all",
                              "only these roles, e.g. `[\"E\", \"G\"]`",
                              [](Section& s, const std::vector<std::string>& roles) {
                                for (const std::string& r : roles)
                                  if (!nn::parse_role(r))
                                    s.fail(s.get("roles"), "roles",
                                           "unknown role '" + r + "' (" + nn::role_names_text() + ")");
                              }));
  k.push_back(string_list_key("stats.layers", [](auto& c) -> auto& { return c.stats.layers; }, "all",
                              "only layers matching these name patterns"));
  k.push_back(integer_key("stats.compression", [](auto& c) -> auto& { return c.stats.compression; }, 0, 9,
                          "deflate level of the statistics datasets"));

  k.push_back(choice_key(
      "hazards.on_nonfinite", [](auto& c) -> auto& { return c.hazards.on_nonfinite; },
      std::vector<std::pair<std::string, HazardAction>>{{"stop", HazardAction::stop}, {"warn", HazardAction::warn}},
      {"stop", "warn"},
      "a NaN or Inf in any tensor at a rounding site, or in the loss: stop (exit 3, naming step, layer, role, "
      "tensor) or warn"));
  k.push_back(choice_key(
      "hazards.on_saturation", [](auto& c) -> auto& { return c.hazards.on_saturation; },
      std::vector<std::pair<std::string, HazardAction>>{
          {"stop", HazardAction::stop}, {"warn", HazardAction::warn}, {"ignore", HazardAction::ignore}},
      {"stop", "warn", "ignore"},
      "a tensor with more than `hazards.saturation` of its values clamped to the ends of its format's range"));
  k.push_back(real_key("hazards.saturation", [](auto& c) -> auto& { return c.hazards.saturation; }, 0, 1,
                       "the saturated fraction a tensor may have before it counts as a hazard"));
  k.push_back(integer_key("hazards.check_every", [](auto& c) -> auto& { return c.hazards.check_every; }, 0,
                          std::int64_t{1} << 40,
                          "check the tensors of steps 0, N, 2N, ... (the loss is checked at every step); hazard checks "
                          "never change results and may differ on `--resume`"));

  k.push_back(string_key("run.dir", [](auto& c) -> auto& { return c.run_dir; }, {}, "run folder (empty: `runs/<name>`)"));
  return k;
}

}  // namespace

// ---- the keys of a format level ([formats] and each override) -----------------------------------

namespace {

// A level key whose field is std::optional<T> `field` of FormatLevel; `get` reads it from a section
// that has it, `text` prints a value as TOML.
template <class T, class Get, class Text>
LevelKey level_key(std::string name, std::string default_text, std::string meaning, std::optional<T> FormatLevel::*field, Get get,
                   Text text) {
  LevelKey k;
  k.name = name;
  k.default_text = std::move(default_text);
  k.meaning = std::move(meaning);
  k.read = [=](Section& s, FormatLevel& l) { l.*field = get(s, name); };
  k.write = [=](const FormatLevel& l) { return l.*field ? name + " = " + text(*(l.*field)) + "\n" : std::string(); };
  k.merge = [=](const FormatLevel& from, FormatLevel& into) {
    if (from.*field) into.*field = from.*field;
  };
  return k;
}

// A GEMM format key (acc, product): a binary format, or "exact" (inner empty).
std::optional<formats::Format> gemm_format(Section& s, const std::string& key) {
  const toml::node* n = s.get(key);
  if (n->is_string() && *n->value<std::string>() == "exact") return std::nullopt;
  if (!n->is_string()) s.fail(n, key, "must be a format string (e.g. \"fp32\") or \"exact\"");
  formats::Format f;
  try {
    f = formats::parse_format(*n->value<std::string>());
  } catch (const std::exception& e) {
    s.fail(n, key, e.what());
  }
  if (!f.is_binary()) s.fail(n, key, "Graham formats have no arithmetic, so they cannot be accumulators or products");
  if (!f.has_arithmetic()) s.fail(n, key, "unsigned floats are storage formats, so they cannot be accumulators or products");
  return f;
}

std::string gemm_format_text(const std::optional<formats::Format>& f) { return toml_quote(f ? f->name() : "exact"); }

// The accumulation order key, in canonical form (an aligned order with every parameter spelled out).
std::string gemm_order(Section& s, const std::string& key) {
  const std::string text = s.string(key, "sequential");
  GemmConfig c;
  try {
    parse_acc_order(text, c);
  } catch (const std::exception& e) {
    s.fail(s.get(key), key, e.what());
  }
  return acc_order_text(c);
}

std::vector<LevelKey> make_level_keys() {
  std::vector<LevelKey> k;
  k.push_back(level_key("acc", "`\"fp32\"`", "accumulator format of every matrix product (docs/gemm.md); `\"exact\"`: exact accumulation",
                        &FormatLevel::acc, gemm_format, gemm_format_text));
  k.push_back(level_key("product", "`\"exact\"`", "product format of every matrix product; `\"exact\"` allowed", &FormatLevel::product,
                        gemm_format, gemm_format_text));
  k.push_back(level_key(
      "order", "`\"sequential\"`",
      "accumulation order (docs/spec/gemm.md): `sequential`, `pairwise`, `blocked`, or a fused multi-term adder "
      "`aligned(group=G,width=W[,beyond=...,lead=...,acc=...,groups=...])` (rule 11)",
      &FormatLevel::order, gemm_order, [](const std::string& o) { return toml_quote(o); }));
  k.push_back(level_key(
      "chunk", "", "`blocked`: the chunk length (integer >= 1)", &FormatLevel::chunk,
      [](Section& s, const std::string& key) { return s.integer(key, 1, 1, std::int64_t{1} << 40); },
      [](std::int64_t v) { return std::to_string(v); }));
  k.push_back(level_key(
      "gemm_rounding", "`\"rne\"`",
      "the rounding mode of every rounding inside the matrix products (product format, accumulator, fp32 output; "
      "docs/spec/gemm.md): `rne`, `rna`, `rtz`, `rup`, `rdn` (the published tensor-core models accumulate with `rtz`)",
      &FormatLevel::gemm_rounding,
      [](Section& s, const std::string& key) {
        return *formats::parse_rounding(s.string(key, "rne", {"rne", "rna", "rtz", "rup", "rdn"}));
      },
      [](formats::Rounding r) { return toml_quote(formats::rounding_name(r)); }));
  k.push_back(level_key(
      "bifurcate", "false",
      "gradients bifurcation (Banner et al. 2018): conv and linear layers compute dW and db from a second copy of dL/dy "
      "rounded to `DY_W` (from the unrounded dL/dy), dx from the `DY` one",
      &FormatLevel::bifurcate, [](Section& s, const std::string& key) { return s.boolean(key, false); },
      [](bool v) { return std::string(v ? "true" : "false"); }));
  k.push_back(level_key(
      "batchnorm", "`\"standard\"`",
      "the batch-norm method (sim/methods/batchnorm_methods.hpp): `\"range\"`: Range BN (Banner et al. 2018); "
      "`\"wageubn\"`: WAGEUBN's batch norm, x_hat = (x - mu) / (round_BN_SCALE(sigma) + 2^-15)",
      &FormatLevel::batchnorm,
      [](Section& s, const std::string& key) { return s.string(key, "standard", methods::batchnorm_method_names()); },
      [](const std::string& v) { return toml_quote(v); }));
  k.push_back(level_key(
      "range_bn_chunks", "16", "Range BN: chunks per channel (batch x H x W must divide by it in training; 1..2^20)",
      &FormatLevel::range_bn_chunks, [](Section& s, const std::string& key) { return s.integer(key, 16, 1, 1 << 20); },
      [](std::int64_t v) { return std::to_string(v); }));
  k.push_back(level_key(
      "range_bn_new_weight", "0.9", "Range BN: weight of the batch value in the running mean and scale (0..1)",
      &FormatLevel::range_bn_new_weight, [](Section& s, const std::string& key) { return s.real(key, 0.9, 0, 1); },
      [](double v) { return fmt::format("{}", v); }));
  return k;
}

}  // namespace

const std::vector<LevelKey>& level_keys() {
  static const std::vector<LevelKey> keys = make_level_keys();
  return keys;
}

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = make_keys();
  return keys;
}

bool section_written_when_changed(const std::string& section) { return section == "stats" || section == "hazards"; }

void read_schema_keys(Section& s, const std::string& section, TrainConfig& c) {
  for (const ConfigKey& k : config_keys())
    if (k.section == section && k.read) k.read(s, c);
}

std::string write_schema_keys(const std::string& section, const TrainConfig& c) {
  std::string out;
  for (const ConfigKey& k : config_keys()) {
    if (k.section != section || !k.value || k.written == Written::by_hand || (k.applies && !k.applies(c))) continue;
    const bool set = k.is_set ? k.is_set(c) : k.value(c) != k.value(defaults());
    if (k.written == Written::unless_default && !set) continue;
    out += k.name + " = " + k.value(c) + "\n";
  }
  return out;
}

bool section_changed(const std::string& section, const TrainConfig& c) {
  for (const ConfigKey& k : config_keys())
    if (k.section == section && k.value && k.value(c) != k.value(defaults())) return true;
  return false;
}

std::string config_key_table() {
  std::string t = "| key | default | meaning |\n|---|---|---|\n";
  for (const ConfigKey& k : config_keys()) {
    t += "| `" + k.path() + "` | " + k.default_text + " | " + k.meaning + " |\n";
  }
  return t;
}

}  // namespace bitsim::sim::train
