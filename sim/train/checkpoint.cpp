#include "sim/train/checkpoint.hpp"

#include "io/files.hpp"

#include <fmt/format.h>

#include <cstring>

namespace bitsim::sim::train {

namespace {

constexpr char kMagic[8] = {'B', 'I', 'T', 'S', 'I', 'M', 'C', 'K'};
// Version 2 added each parameter's second moment (Adam; empty for SGD) after its momentum. Version 1
// checkpoints (SGD only) are still read.
constexpr std::uint32_t kVersion = 3;  // 2: Adam's second moments; 3: the loss scaler and the optimizer's step count

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

class Writer {
 public:
  void u64(std::uint64_t v) { raw(&v, 8); }
  void f64(double v) { raw(&v, 8); }
  void str(const std::string& s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void floats(const std::vector<float>& v) {
    u64(v.size());
    raw(v.data(), v.size() * sizeof(float));
  }
  void raw(const void* p, std::size_t n) { buf.append(static_cast<const char*>(p), n); }
  std::string buf;
};

class Reader {
 public:
  Reader(const std::string& b, const std::string& path) : buf_(b), path_(path) {}
  std::uint64_t u64() {
    std::uint64_t v;
    raw(&v, 8);
    return v;
  }
  double f64() {
    double v;
    raw(&v, 8);
    return v;
  }
  std::string str() {
    const std::uint64_t n = u64();
    need(n);
    std::string s = buf_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  void floats(std::vector<float>& v, const std::string& what) {
    const std::uint64_t n = u64();
    if (n != v.size())
      throw CheckpointError(fmt::format("{}: {} has {} values in the checkpoint, the model has {}", path_, what, n, v.size()));
    raw(v.data(), n * sizeof(float));
  }
  void raw(void* p, std::size_t n) {
    need(n);
    std::memcpy(p, buf_.data() + pos_, n);
    pos_ += n;
  }

 private:
  void need(std::uint64_t n) const {
    if (n > buf_.size() - pos_) throw CheckpointError(path_ + ": truncated checkpoint");
  }
  const std::string& buf_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

}  // namespace

void save_checkpoint(const std::string& path, const std::string& resolved_config, nn::Model& model, const RunState& s) {
  Writer w;
  w.raw(kMagic, 8);
  const std::uint32_t version = kVersion;
  w.raw(&version, 4);
  w.str(resolved_config);
  w.u64(s.step);
  w.u64(s.data_epoch);
  w.u64(static_cast<std::uint64_t>(s.data_position));
  w.f64(s.epoch_loss_sum);
  w.u64(static_cast<std::uint64_t>(s.epoch_correct));
  w.u64(static_cast<std::uint64_t>(s.epoch_samples));
  w.u64(static_cast<std::uint64_t>(s.epoch_steps));
  w.f64(s.elapsed_seconds);
  w.str(s.metrics_csv);
  const auto params = model.parameters();
  w.u64(params.size());
  for (const auto& [name, p] : params) {
    w.str(name);
    w.floats(p->value.data);
    w.floats(p->momentum.data);
    w.floats(p->second_moment.data);
  }
  const auto bufs = model.buffers();
  w.u64(bufs.size());
  for (const auto& [name, b] : bufs) {
    w.str(name);
    w.floats(b->data);
  }
  w.f64(s.loss_scale.scale);
  w.u64(static_cast<std::uint64_t>(s.loss_scale.clean_steps));
  w.u64(s.optimizer_steps);
  const std::uint64_t sum = fnv1a(w.buf);
  w.u64(sum);
  io::write_file_atomically(path, w.buf);
}

RunState load_checkpoint(const std::string& path, const std::string& resolved_config, nn::Model& model) {
  std::string buf;
  try {
    buf = io::read_file(path);
  } catch (const io::FileError& e) {
    throw CheckpointError(fmt::format("{}: no checkpoint to resume from ({})", path, e.cause()));
  }
  if (buf.size() < 20 || std::memcmp(buf.data(), kMagic, 8) != 0) throw CheckpointError(path + ": not a bitsim checkpoint");
  std::uint64_t stored;
  std::memcpy(&stored, buf.data() + buf.size() - 8, 8);
  if (fnv1a(buf.substr(0, buf.size() - 8)) != stored) throw CheckpointError(path + ": checksum mismatch (corrupt checkpoint)");
  const std::string body = buf.substr(0, buf.size() - 8);
  Reader r(body, path);
  char magic[8];
  r.raw(magic, 8);
  std::uint32_t version;
  r.raw(&version, 4);
  if (version < 1 || version > kVersion)
    throw CheckpointError(fmt::format("{}: checkpoint version {}, this bitsim reads 1 to {}", path, version, kVersion));
  if (r.str() != resolved_config)
    throw CheckpointError(path + ": the checkpoint was made with a different configuration; resume with the same "
                                 "config and --set options, or start a new run directory");
  RunState s;
  s.step = r.u64();
  s.data_epoch = r.u64();
  s.data_position = static_cast<std::int64_t>(r.u64());
  s.epoch_loss_sum = r.f64();
  s.epoch_correct = static_cast<std::int64_t>(r.u64());
  s.epoch_samples = static_cast<std::int64_t>(r.u64());
  s.epoch_steps = static_cast<std::int64_t>(r.u64());
  s.elapsed_seconds = r.f64();
  s.metrics_csv = r.str();
  const auto params = model.parameters();
  if (r.u64() != params.size()) throw CheckpointError(path + ": parameter count differs from the model's");
  for (const auto& [name, p] : params) {
    const std::string n = r.str();
    if (n != name) throw CheckpointError(fmt::format("{}: parameter '{}' where the model has '{}'", path, n, name));
    r.floats(p->value.data, name);
    p->momentum = nn::FTensor(p->value.shape);
    r.floats(p->momentum.data, name + " momentum");
    p->second_moment = nn::FTensor();
    if (version >= 2) {
      const std::uint64_t n = r.u64();
      if (n != 0) {
        p->second_moment = nn::FTensor(p->value.shape);
        if (n != p->second_moment.data.size())
          throw CheckpointError(fmt::format("{}: {} second moment has {} values in the checkpoint, the model has {}", path,
                                            name, n, p->second_moment.data.size()));
        r.raw(p->second_moment.data.data(), n * sizeof(float));
      }
    }
  }
  const auto bufs = model.buffers();
  if (r.u64() != bufs.size()) throw CheckpointError(path + ": buffer count differs from the model's");
  for (const auto& [name, b] : bufs) {
    const std::string n = r.str();
    if (n != name) throw CheckpointError(fmt::format("{}: buffer '{}' where the model has '{}'", path, n, name));
    r.floats(b->data, name);
  }
  s.optimizer_steps = s.step;  // before version 3 no step was ever skipped
  if (version >= 3) {
    s.loss_scale.scale = r.f64();
    s.loss_scale.clean_steps = static_cast<std::int64_t>(r.u64());
    s.optimizer_steps = r.u64();
  }
  return s;
}

}  // namespace bitsim::sim::train
