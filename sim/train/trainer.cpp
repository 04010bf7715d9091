#include "sim/train/trainer.hpp"
#include "io/files.hpp"
#include "io/json.hpp"
#include "io/version.hpp"
#include "sim/runtime/thread_pool.hpp"

#include "sim/data/batches.hpp"
#include "sim/methods/wageubn2019/gradient_range.hpp"
#include "sim/methods/wageubn2019/wage_rounding.hpp"
#include "sim/data/cifar.hpp"
#include "sim/data/idx.hpp"
#include "sim/data/normalize.hpp"
#include "sim/nn/loss.hpp"
#include "sim/nn/model.hpp"
#include "sim/nn/model_zoo.hpp"
#include "sim/nn/optimizer.hpp"
#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "formats/simd_target.hpp"
#include "sim/train/checkpoint.hpp"
#include "sim/train/collective.hpp"
#include "sim/train/hazards.hpp"
#include "sim/train/loss_scaling.hpp"
#include "sim/train/step_csv.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <ostream>
#include <thread>
#include <unistd.h>

namespace bitsim::sim::train {

namespace {

// Two observers of one step (the statistics monitor and the hazard watch) behind the one slot.
class BothObservers final : public nn::RoundingObserver {
 public:
  BothObservers(nn::RoundingObserver* a, nn::RoundingObserver* b) : a_(a), b_(b) {}
  void on_rounding(const nn::RoundingEvent& e) override {
    a_->on_rounding(e);
    b_->on_rounding(e);
  }

 private:
  nn::RoundingObserver *a_, *b_;
};

using Clock = std::chrono::steady_clock;

data::DatasetSplit load_data(const TrainConfig& c) {
  data::DatasetSplit d;
  if (c.dataset == "fashion-mnist") d = data::load_fashion_mnist(c.data_dir.empty() ? data::kFashionMnistDir : c.data_dir);
  else {
    if (c.data_dir.empty())
      throw ConfigError(c.source + ": data.dataset = \"cifar10\" needs data.dir (the folder holding data_batch_1.bin ... "
                                   "test_batch.bin)",
                        ErrorSite::in_file(c.source, 0, "data.dir"));
    d = data::load_cifar10(c.data_dir);
  }
  auto limit = [](data::Dataset& s, std::int64_t n) {
    if (n <= 0 || n >= s.count) return;
    const std::int64_t per = s.channels * s.height * s.width;
    s.count = n;
    s.images.resize(static_cast<std::size_t>(n * per));
    s.labels.resize(static_cast<std::size_t>(n));
  };
  if (c.holdout > 0) {  // the last N training samples replace the test set (hyperparameter selection)
    if (c.holdout >= d.train.count)
      throw ConfigError(fmt::format("{}: data.holdout = {} leaves no training sample (the training set has {})", c.source,
                                    c.holdout, d.train.count),
                        ErrorSite::in_file(c.source, 0, "data.holdout"));
    const std::int64_t per = d.train.channels * d.train.height * d.train.width, keep = d.train.count - c.holdout;
    d.test = data::Dataset{d.train.name + "-holdout",
                           c.holdout,
                           d.train.channels,
                           d.train.height,
                           d.train.width,
                           d.train.classes,
                           {d.train.images.begin() + keep * per, d.train.images.end()},
                           {d.train.labels.begin() + keep, d.train.labels.end()}};
    limit(d.train, keep);
  }
  limit(d.train, c.limit_train);
  limit(d.test, c.limit_test);
  if (c.normalize) {
    const data::Normalization stats = data::channel_stats(d.train);
    data::normalize(d.train, stats);
    data::normalize(d.test, stats);
  }
  if (d.train.count < c.batch && c.drop_last)
    throw ConfigError(fmt::format("{}: data.batch = {} is larger than the {} training samples (with train.drop_last)",
                                  c.source, c.batch, d.train.count),
                      ErrorSite::in_file(c.source, 0, "data.batch"));
  return d;
}

std::string digest(nn::Model& m) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](const std::vector<float>& v) {
    const auto* p = reinterpret_cast<const unsigned char*>(v.data());
    for (std::size_t i = 0; i < v.size() * sizeof(float); ++i) {
      h ^= p[i];
      h *= 0x100000001b3ull;
    }
  };
  for (auto& [n, p] : m.parameters()) {
    mix(p->value.data);
    mix(p->momentum.data);
    mix(p->second_moment.data);  // Adam's; empty (nothing mixed) for SGD, whose digests stay as they were
  }
  for (auto& [n, b] : m.buffers()) mix(b->data);
  return fmt::format("{:016x}", h);
}

struct EvalResult {
  double loss = 0, accuracy = 0;
};

EvalResult evaluate(nn::Model& model, const data::Dataset& test, const TrainConfig& c, int threads, std::uint64_t step) {
  data::BatchStream stream(test, c.test_batch, c.seed, false, data::Augment{}, false);
  data::Batch b;
  nn::FTensor x;
  double loss_sum = 0;
  std::int64_t correct = 0, count = 0, index = 0;
  while (stream.next(b)) {
    nn::StepContext ctx;
    ctx.training = false;
    ctx.seed = c.seed;
    ctx.threads = threads;
    // Keys of evaluation rounding sites: disjoint from training steps (top bit set).
    ctx.step = (std::uint64_t{1} << 63) | (step << 20) | static_cast<std::uint64_t>(index++);
    x.shape = Nchw{b.size, b.channels, b.height, b.width};
    x.data.swap(b.images);
    const nn::FTensor& logits = model.forward(ctx, x);
    const nn::LossResult r = nn::softmax_cross_entropy(logits, b.labels, nullptr);
    x.data.swap(b.images);
    loss_sum += r.loss * static_cast<double>(b.size);
    correct += r.correct;
    count += b.size;
  }
  return {loss_sum / static_cast<double>(count), static_cast<double>(correct) / static_cast<double>(count)};
}

class Progress {
 public:
  Progress(bool enabled, std::int64_t steps_per_epoch, std::int64_t epochs)
      : enabled_(enabled), tty_(isatty(2) != 0), spe_(steps_per_epoch), epochs_(epochs) {}
  void update(std::int64_t epoch, std::int64_t in_epoch, double loss, double acc, double img_per_s, bool force = false) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (tty_) {
      if (!force && now - last_ < std::chrono::milliseconds(200)) return;
      last_ = now;
      const int width = 24, fill = static_cast<int>(width * in_epoch / std::max<std::int64_t>(1, spe_));
      std::fprintf(stderr, "\repoch %lld/%lld [%s%s] %lld/%lld  loss %.4f  acc %5.2f%%  %.0f img/s   ",
                   static_cast<long long>(epoch + 1), static_cast<long long>(epochs_), std::string(fill, '#').c_str(),
                   std::string(width - fill, '.').c_str(), static_cast<long long>(in_epoch), static_cast<long long>(spe_),
                   loss, 100 * acc, img_per_s);
      std::fflush(stderr);
    } else {
      const std::int64_t tenth = std::max<std::int64_t>(1, spe_ / 10);
      if (!force && in_epoch % tenth != 0) return;
      std::fprintf(stderr, "epoch %lld/%lld step %lld/%lld loss %.4f acc %.2f%% %.0f img/s\n",
                   static_cast<long long>(epoch + 1), static_cast<long long>(epochs_), static_cast<long long>(in_epoch),
                   static_cast<long long>(spe_), loss, 100 * acc, img_per_s);
    }
  }
  void end_line() {
    if (enabled_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool enabled_, tty_;
  std::int64_t spe_, epochs_;
  Clock::time_point last_{};
};

// One training step in M micro-batches (train.micro_batches), on one process or one per rank. Each
// micro-batch m of the global batch (samples [size*m/M, size*(m+1)/M)) runs forward and backward with
// stochastic-rounding keys step*M + m and its own batch statistics; only m = 0 updates the running
// estimates. The parameter gradients (each already rounded to G) are summed in the order m = 0..M-1,
// in fp32, and divided by M. Over P = M ranks, rank r computes micro-batch r, the gradients are
// gathered on every rank and summed in the same order, and rank 0's running estimates are broadcast:
// the same arithmetic, so the same bits.
class MicroBatches {
 public:
  MicroBatches(nn::Model& model, std::int64_t m, Collective* coll, const std::string& allreduce)
      : model_(model), M_(m), coll_(coll) {
    for (auto& [name, p] : model_.parameters()) params_.push_back(p);
    if (!allreduce.empty()) comm_.emplace(formats::parse_format(allreduce));
  }

  // Leaves the mean gradient in every parameter's grad; returns the batch loss and correct count.
  nn::LossResult step(const nn::StepContext& ctx, const data::Batch& batch) {
    const int P = coll_ ? coll_->size() : 1;
    double figures[3] = {0, 0, 0};  // loss * samples, correct, samples
    if (P == 1) {
      for (std::int64_t m = 0; m < M_; ++m) {
        run(ctx, batch, m, figures);
        add_grads(m == 0);
      }
    } else {
      run(ctx, batch, coll_->rank(), figures);
      const std::size_t n = grad_count();  // the gradients exist once a backward has run
      sum_.resize(n);
      mine_.resize(n);
      std::size_t k = 0;
      for (nn::Param* p : params_)
        for (float g : p->grad.data) mine_[k++] = g;
      if (comm_) comm_->quantize(mine_, mine_);  // what is sent
      all_.resize(n * static_cast<std::size_t>(P));
      coll_->allgather(mine_, all_);
      std::vector<double> figs(3 * static_cast<std::size_t>(P));
      coll_->allgather(std::span<const double>(figures, 3), figs);
      figures[0] = figures[1] = figures[2] = 0;
      for (int r = 0; r < P; ++r) {
        for (std::size_t i = 0; i < n; ++i) sum_[i] = r == 0 ? all_[static_cast<std::size_t>(r) * n + i] : sum_[i] + all_[static_cast<std::size_t>(r) * n + i];
        for (int f = 0; f < 3; ++f) figures[f] += figs[static_cast<std::size_t>(3 * r + f)];
      }
      for (auto& [name, b] : model_.buffers()) coll_->broadcast(b->span(), 0);
    }
    const float inv = static_cast<float>(M_);
    for (float& s : sum_) s = s / inv;
    if (comm_) comm_->quantize(sum_, sum_);  // what the all-reduce returns
    std::size_t k = 0;
    for (nn::Param* p : params_)
      for (float& g : p->grad.data) g = sum_[k++];
    nn::LossResult r;
    r.loss = figures[0] / figures[2];
    r.correct = static_cast<std::int64_t>(figures[1]);
    return r;
  }

 private:
  void run(const nn::StepContext& ctx, const data::Batch& batch, std::int64_t m, double* figures) {
    const std::int64_t per = batch.channels * batch.height * batch.width;
    const std::int64_t s0 = batch.size * m / M_, s1 = batch.size * (m + 1) / M_;
    nn::StepContext cm = ctx;
    cm.step = ctx.step + static_cast<std::uint64_t>(m);
    cm.update_running = m == 0;
    if (m != 0) cm.observer = nullptr;  // statistics describe the first micro-batch
    x_.shape = Nchw{s1 - s0, batch.channels, batch.height, batch.width};
    x_.data.assign(batch.images.begin() + s0 * per, batch.images.begin() + s1 * per);
    const nn::FTensor& logits = model_.forward(cm, x_);
    const nn::LossResult l = nn::softmax_cross_entropy(logits, std::span(batch.labels).subspan(static_cast<std::size_t>(s0), static_cast<std::size_t>(s1 - s0)),
                                                       &dlogits_);
    model_.round_loss_gradient(cm, dlogits_);
    model_.backward(cm, dlogits_);
    figures[0] += l.loss * static_cast<double>(s1 - s0);
    figures[1] += static_cast<double>(l.correct);
    figures[2] += static_cast<double>(s1 - s0);
  }

  // sum_ = (first) or += this micro-batch's gradients, in parameter order (a copy first, so that -0 stays
  // -0 exactly as in the gathered sum).
  void add_grads(bool first) {
    sum_.resize(grad_count());
    if (comm_)  // what this micro-batch would send
      for (nn::Param* p : params_) comm_->quantize(p->grad.data, p->grad.data);
    std::size_t k = 0;
    for (nn::Param* p : params_)
      for (float g : p->grad.data) {
        sum_[k] = first ? g : sum_[k] + g;
        ++k;
      }
  }

  std::size_t grad_count() const {
    std::size_t n = 0;
    for (const nn::Param* p : params_) n += p->grad.data.size();
    return n;
  }

  nn::Model& model_;
  std::int64_t M_;
  Collective* coll_;
  std::optional<formats::Quantizer> comm_;  // train.allreduce
  std::vector<nn::Param*> params_;
  std::vector<float> sum_, mine_, all_;
  nn::FTensor x_, dlogits_;
};

}  // namespace

std::string identity_config(const TrainConfig& c) {
  TrainConfig k = c;
  k.threads = 0;
  k.stop_after_steps = 0;
  k.checkpoint_every_steps = 0;
  k.stats = StatsConfig{};  // statistics never change results
  k.hazards = HazardConfig{};  // neither do hazard checks (a stopped run has no checkpoint of its last step)
  k.run_dir.clear();  // a run folder may be moved and resumed from its new place
  return to_toml(k);
}

TrainResult run_training(const TrainConfig& config, const TrainOptions& o) {
  namespace fs = std::filesystem;
  // Data-parallel over P ranks: one micro-batch per rank, so the run is the single-process run with
  // train.micro_batches = P (docs/training.md). Only rank 0 writes files and evaluates.
  const int ranks = o.collective ? o.collective->size() : 1, rank = o.collective ? o.collective->rank() : 0;
  const bool writer = rank == 0;
  TrainConfig c = config;
  if (ranks > 1) {
    if (c.micro_batches == 1) c.micro_batches = ranks;
    if (c.micro_batches != ranks)
      throw ConfigError(fmt::format("{}: train.micro_batches = {} but {} ranks: data-parallel training runs one micro-batch per "
                                    "rank (leave micro_batches at 1, or set it to {})",
                                    c.source, c.micro_batches, ranks, ranks),
                        ErrorSite::in_file(c.source, 0, "train.micro_batches"));
    if (c.micro_batches > c.batch)
      throw ConfigError(fmt::format("{}: {} ranks do not fit a batch of {}", c.source, ranks, c.batch),
                        ErrorSite::in_file(c.source, 0, "data.batch"));
  }
  const std::int64_t M = c.micro_batches;
  const int threads = o.threads > 0 ? o.threads : c.threads > 0 ? c.threads : all_cores();
  const std::string dir = c.run_dir;
  const std::string ckpt = dir + "/checkpoint.bin";
  if (!o.resume && !o.overwrite && fs::exists(ckpt))
    throw RunFolderTaken(fmt::format("{} already holds a checkpoint: resume the run, overwrite it, or give the new run "
                                     "another folder (run.dir)",
                                     dir),
                         ErrorSite::in_file(dir, 0, "run.dir"));
  if (o.resume && !fs::exists(ckpt))
    throw NothingToResume(ckpt + ": no checkpoint to resume from (start the run without resuming)", ErrorSite::in_file(ckpt));
  // Every output of the run must be a regular file, a link to one, or absent (io/files.hpp): checked
  // before the data are read and before a fresh start removes the files of an earlier run.
  const std::vector<std::string> outputs = {ckpt,           dir + "/metrics.csv", dir + "/result.json", dir + "/config.toml",
                                            dir + "/model.txt", dir + "/hazards.csv", dir + "/loss_scale.csv"};
  if (writer) {
    io::output_directory_target(dir);
    for (const std::string& p : outputs) io::check_output_path(p);
    if (c.stats.every > 0) io::check_output_path(stats_path(c));
  }
  data::DatasetSplit d = load_data(c);
  nn::Model model = build_model(
      c.model == "custom" ? nn::ModelSpec{"custom", c.layers} : nn::builtin_model(c.model, d.train.classes, c.width),
      Nchw{1, d.train.channels, d.train.height, d.train.width}, LayerConfigurator(c));
  // The config reader checked the model against the data set's standard images; a data folder may
  // hold images of another size.
  if (const Nchw& out = model.nodes().back().out_shape; out.c * out.h * out.w != d.train.classes)
    throw ConfigError(fmt::format("{}: the model ends with {} outputs per sample for the {}x{} images of {}, but the data "
                                  "set has {} classes",
                                  c.source, out.c * out.h * out.w, d.train.height, d.train.width, c.dataset, d.train.classes),
                      ErrorSite::in_file(c.source, 0, "data.dir"));
  nn::initialize(model, c.seed);

  const std::string resolved = to_toml(c), identity = identity_config(c);
  RunState st;
  st.metrics_csv = "epoch,step,lr,train_loss,train_accuracy,test_loss,test_accuracy,epoch_seconds,train_images_per_s\n";
  // A refused resume (other config, damaged file) leaves the run folder untouched.
  if (o.resume) st = load_checkpoint(ckpt, identity, model);
  std::error_code ec;
  if (writer) {
    io::make_directories(dir);
    if (!o.resume)  // a fresh start leaves nothing of an earlier run in the folder (links stay links)
      for (const char* f : {"checkpoint.bin", "metrics.csv", "result.json", "stats.h5", "stats.h5.partial", "hazards.csv",
                            "loss_scale.csv"})
        fs::remove(io::output_target((fs::path(dir) / f).string()), ec);
    io::write_file_atomically(dir + "/config.toml", resolved);
    io::write_file_atomically(dir + "/model.txt", model.summary());
  }

  data::Augment aug;
  aug.crop_pad = static_cast<int>(c.crop_pad);
  aug.flip = c.flip;
  data::BatchStream stream(d.train, c.batch, c.seed, true, aug, c.drop_last);
  stream.restore({st.data_epoch, st.data_position});
  const std::int64_t spe = stream.batches_per_epoch();
  const std::int64_t total = spe * c.epochs;
  std::ostream* log = writer ? o.log : nullptr;
  TrainingMonitor* monitor = writer ? o.monitor : nullptr;
  if (log)
    *log << fmt::format("{}: {} on {} ({} train / {} {} samples), {} parameters, {} steps of batch {}{}, {} threads{}\n",
                        c.name, c.model, c.dataset, d.train.count, d.test.count, eval_set_name(c), model.parameter_count(), total, c.batch,
                        M > 1 ? fmt::format(" in {} micro-batches", M) : std::string(), threads,
                        ranks > 1 ? fmt::format(" on each of {} ranks", ranks) : std::string());

  if (monitor) monitor->start(model, c, st.step, o.resume, threads);
  HazardWatch watch(c.hazards);
  HazardLog hazard_log(writer ? dir + "/hazards.csv" : std::string(), o.resume, st.step, o.warnings);
  LossScaler scaler(c.loss_scale, st.loss_scale);
  StepCsv scale_log(writer && scaler.enabled() ? dir + "/loss_scale.csv" : std::string(), "step,loss_scale,grad_finite,skipped\n",
                    o.resume, st.step);
  std::vector<float> flags_mine(2), flags_all(2 * static_cast<std::size_t>(ranks));
  TrainResult result;
  // A value reached a format that cannot hold it (NaN into int8): the step cannot complete. What the
  // step's checks saw first is reported too: usually where the NaN was born.
  auto cannot_hold = [&](const char* where, const formats::QuantizeError& e) {
    const std::vector<Hazard> found = watch.end_step(0.0);
    hazard_log.report(found, watch);
    if (monitor) monitor->finish();
    return HazardError(fmt::format("step {}: {}{} (a format that cannot hold the value stops the run whatever "
                                   "hazards.on_nonfinite says){}",
                                   st.step, where, e.what(),
                                   found.empty() ? std::string() : "; the step's first hazard: " + found.front().message()));
  };
  Progress progress(o.progress && writer, spe, c.epochs);
  MicroBatches micro(model, M, o.collective, c.allreduce);
  data::Batch batch;
  nn::FTensor x, dlogits;
  double epoch_seconds = 0;
  auto checkpoint = [&]() {
    const data::BatchStream::State s = stream.state();
    st.data_epoch = s.epoch;
    st.data_position = s.position;
    if (writer) save_checkpoint(ckpt, identity, model, st);
  };
  while (static_cast<std::int64_t>(st.step) < total) {
    if (!stream.next(batch) && !stream.next(batch)) throw std::runtime_error("data stream returned no batch");
    const auto t0 = Clock::now();
    nn::StepContext ctx;
    ctx.training = true;
    // Keys of the step's stochastic roundings: micro-batch m of step s uses s * M + m (M = 1: s).
    ctx.step = st.step * static_cast<std::uint64_t>(M);
    ctx.seed = c.seed;
    ctx.threads = threads;
    ctx.loss_scale = scaler.scale();
    nn::RoundingObserver* const stats_observer = monitor ? monitor->observer_for(st.step) : nullptr;
    nn::RoundingObserver* const hazard_observer = watch.begin_step(st.step);
    BothObservers both(stats_observer, hazard_observer);
    ctx.observer = stats_observer && hazard_observer ? &both : stats_observer ? stats_observer : hazard_observer;
    // WAGEUBN's schedule of the gradients' dynamic range (a no-op without one, or when unchanged).
    if (const std::int64_t gs = methods::gscale_at(c.schedule, static_cast<std::int64_t>(st.step), spe))
      methods::set_gradient_range(model, gs);
    nn::LossResult lr_loss;
    try {
      model.round_weights(ctx);
      if (M == 1) {
        x.shape = Nchw{batch.size, batch.channels, batch.height, batch.width};
        x.data.swap(batch.images);
        const nn::FTensor& logits = model.forward(ctx, x);
        lr_loss = nn::softmax_cross_entropy(logits, batch.labels, &dlogits);
        model.round_loss_gradient(ctx, dlogits);
        model.backward(ctx, dlogits);
        x.data.swap(batch.images);
      } else {
        lr_loss = micro.step(ctx, batch);
      }
      ctx.node = 0;
    } catch (const formats::QuantizeError& e) {
      throw cannot_hold("", e);
    }
    // Loss scaling: the gradients back to their own scale; a dynamic scaler skips the update of a step
    // whose gradients overflowed (with ranks, the gradients are the all-reduced ones: every rank decides alike).
    bool skipped = false;
    if (scaler.enabled()) {
      const float used = scaler.scale();
      const bool finite = scaler.unscale(model);
      skipped = scaler.end_step(finite);
      scale_log.append(fmt::format("{},{},{},{}\n", st.step, used, finite ? 1 : 0, skipped ? 1 : 0));
      st.loss_scale = scaler.state();
    }
    const double lr = nn::learning_rate(c.schedule, static_cast<std::int64_t>(st.step), spe, total);
    try {
      const double rate = methods::wageubn_learning_rate(lr, c.sgd.lr_bits);
      if (!skipped) {
        if (c.optimizer == "sgd") nn::sgd_step(model, c.sgd, rate, ctx);
        else nn::adam_step(model, c.sgd, c.adam, c.optimizer == "adamw", rate, st.optimizer_steps + 1, ctx);  // t counts the updates made
        ++st.optimizer_steps;
      }
    } catch (const formats::QuantizeError& e) {
      throw cannot_hold("optimizer: ", e);
    }
    if (monitor)
      monitor->end_step(StepRecord{st.step, lr_loss.loss, static_cast<double>(lr_loss.correct) / static_cast<double>(batch.size), lr});
    std::string stop_message = hazard_log.report(watch.end_step(lr_loss.loss), watch, skipped);
    // With ranks, every rank must stop at the same step: each one's hazard verdict and rank 0's stop
    // request are shared.
    bool hazard_stop = !stop_message.empty();
    bool interrupt = o.stop_requested && o.stop_requested->load();
    if (o.collective && ranks > 1) {
      flags_mine[0] = hazard_stop ? 1.0f : 0.0f;
      flags_mine[1] = interrupt ? 1.0f : 0.0f;
      o.collective->allgather(flags_mine, flags_all);
      for (int r = 0; r < ranks; ++r) hazard_stop = hazard_stop || flags_all[2 * static_cast<std::size_t>(r)] != 0;
      interrupt = flags_all[1] != 0;
      if (hazard_stop && stop_message.empty()) stop_message = fmt::format("step {}: another rank found a hazard", st.step);
    }
    if (hazard_stop) {
      progress.end_line();
      if (monitor) monitor->finish();
      throw HazardError(fmt::format("{}; the run stopped (hazards in {}/hazards.csv; the last checkpoint, if any, is "
                                    "before this step)",
                                    stop_message, dir));
    }
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    epoch_seconds += dt;
    st.elapsed_seconds += dt;
    ++st.step;
    ++st.epoch_steps;
    st.epoch_loss_sum += lr_loss.loss * static_cast<double>(batch.size);
    st.epoch_correct += lr_loss.correct;
    st.epoch_samples += batch.size;
    const std::int64_t epoch = (static_cast<std::int64_t>(st.step) - 1) / spe;
    const double ips = epoch_seconds > 0 ? static_cast<double>(st.epoch_samples) / epoch_seconds : 0;
    progress.update(epoch, st.epoch_steps, st.epoch_loss_sum / static_cast<double>(st.epoch_samples),
                    static_cast<double>(st.epoch_correct) / static_cast<double>(st.epoch_samples), ips);
    if (st.epoch_steps == spe) {
      progress.update(epoch, st.epoch_steps, st.epoch_loss_sum / static_cast<double>(st.epoch_samples),
                      static_cast<double>(st.epoch_correct) / static_cast<double>(st.epoch_samples), ips, true);
      progress.end_line();
      const EvalResult ev = writer ? evaluate(model, d.test, c, threads, st.step) : EvalResult{};
      const double train_loss = st.epoch_loss_sum / static_cast<double>(st.epoch_samples);
      const double train_acc = static_cast<double>(st.epoch_correct) / static_cast<double>(st.epoch_samples);
      st.metrics_csv += fmt::format("{},{},{:.6g},{:.6f},{:.6f},{:.6f},{:.6f},{:.3f},{:.1f}\n", epoch + 1, st.step, lr,
                                    train_loss, train_acc, ev.loss, ev.accuracy, epoch_seconds, ips);
      if (log)
        *log << fmt::format("epoch {}/{}: train loss {:.4f} acc {:.2f}% | {} loss {:.4f} acc {:.2f}% | {:.1f} s, {:.0f} img/s\n",
                              epoch + 1, c.epochs, train_loss, 100 * train_acc, eval_set_name(c), ev.loss, 100 * ev.accuracy,
                              epoch_seconds, ips)
               << std::flush;
      result.test_accuracy = ev.accuracy;
      result.test_loss = ev.loss;
      st.epoch_loss_sum = 0;
      st.epoch_correct = st.epoch_samples = st.epoch_steps = 0;
      epoch_seconds = 0;
      if (writer) io::write_file_atomically(dir + "/metrics.csv", st.metrics_csv);
      checkpoint();
    } else if (c.checkpoint_every_steps > 0 && st.step % static_cast<std::uint64_t>(c.checkpoint_every_steps) == 0) {
      checkpoint();
    }
    if (((c.stop_after_steps > 0 && static_cast<std::int64_t>(st.step) >= c.stop_after_steps) || interrupt) &&
        static_cast<std::int64_t>(st.step) < total) {
      result.interrupted = interrupt;
      progress.end_line();
      if (monitor) monitor->finish();
      checkpoint();
      result.steps = static_cast<std::int64_t>(st.step);
      result.train_seconds = st.elapsed_seconds;
      result.weights_digest = digest(model);
      result.hazards = hazard_log.warnings();
      return result;
    }
  }
  if (monitor) monitor->finish();
  // A resumed run that was already complete re-evaluates, so result.json always has the figures.
  if (result.test_accuracy == 0 && writer) {
    const EvalResult ev = evaluate(model, d.test, c, threads, st.step);
    result.test_accuracy = ev.accuracy;
    result.test_loss = ev.loss;
  }
  result.hazards = hazard_log.warnings();
  result.finished = true;
  result.steps = static_cast<std::int64_t>(st.step);
  result.train_seconds = st.elapsed_seconds;
  result.weights_digest = digest(model);
  if (writer)
    io::write_file_atomically(dir + "/result.json", io::json_text(io::Json{{"name", c.name},
                                                                           {"model", c.model},
                                                                           {"dataset", c.dataset},
                                                                           {"epochs", c.epochs},
                                                                           {"steps", result.steps},
                                                                           {"seed", c.seed},
                                                                           {"threads", threads},
                                                                           {"evaluated_on", eval_set_name(c)},
                                                                           {"test_accuracy", io::json_number(result.test_accuracy)},
                                                                           {"test_loss", io::json_number(result.test_loss)},
                                                                           {"train_seconds", result.train_seconds},
                                                                           {"weights_digest", result.weights_digest},
                                                                           {"bitsim", io::version_number()},
                                                                           {"commit", io::source_commit()},
                                                                           {"simd", formats::simd_target()},
                                                                           {"cpu", io::cpu_name()}}));
  return result;
}

}  // namespace bitsim::sim::train
