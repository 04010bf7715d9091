#include "sim/data/idx.hpp"

#include "sim/data/gz_file.hpp"

#include <fmt/format.h>

#include <array>
#include <filesystem>
#include <stdexcept>

namespace bitsim::sim::data {

namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803u;
constexpr std::uint32_t kLabelsMagic = 0x00000801u;

std::uint32_t big_endian32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

std::string magic_hint(std::uint32_t found, std::uint32_t expected) {
  if (expected == kImagesMagic && found == kLabelsMagic)
    return " (this is an IDX label file; images and labels swapped?)";
  if (expected == kLabelsMagic && found == kImagesMagic)
    return " (this is an IDX image file; images and labels swapped?)";
  if ((found >> 16) != 0) return " (not an IDX file)";
  return "";
}

// Reads the magic and the `dims` dimension words of an IDX header.
template <std::size_t Dims>
std::array<std::uint32_t, Dims> read_header(GzFile& f, std::uint32_t magic, const char* what) {
  constexpr std::size_t bytes = 4 * (Dims + 1);
  std::array<std::uint8_t, bytes> raw{};
  const std::size_t got = f.read(raw.data(), bytes);
  if (got >= 4) {
    const std::uint32_t found = big_endian32(raw.data());
    if (found != magic)
      throw DatasetError(fmt::format("{}: bad magic 0x{:08x}, expected 0x{:08x} ({}){}", f.path(), found, magic, what,
                                     magic_hint(found, magic)));
  }
  if (got < bytes)
    throw DatasetError(fmt::format("{}: truncated header: the file holds {} bytes, the header of {} has {}", f.path(),
                                   got, what, bytes));
  std::array<std::uint32_t, Dims> dims{};
  for (std::size_t i = 0; i < Dims; ++i) dims[i] = big_endian32(raw.data() + 4 * (i + 1));
  return dims;
}

// Reads exactly `n` data bytes after the header and checks nothing follows them.
std::vector<std::uint8_t> read_payload(GzFile& f, std::uint64_t n, const std::string& promise) {
  std::vector<std::uint8_t> data;
  const std::size_t got = f.read_into(data, static_cast<std::size_t>(n));
  if (got < n)
    throw DatasetError(fmt::format("{}: truncated data: the header promises {} ({} bytes) but only {} bytes follow{}",
                                   f.path(), promise, n, got,
                                   f.truncated_stream() ? " (the gzip stream ends prematurely)" : ""));
  const std::uint64_t extra = f.count_rest();
  if (extra > 0)
    throw DatasetError(
        fmt::format("{}: trailing garbage: {} bytes after the {} the header promises", f.path(), extra, promise));
  return data;
}

struct RawImages {
  std::uint32_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;
};

RawImages read_images(const std::string& path) {
  GzFile f(path);
  const auto dims = read_header<3>(f, kImagesMagic, "IDX unsigned-byte images, 3 dimensions");
  RawImages r{dims[0], dims[1], dims[2], {}};
  if (r.rows == 0 || r.cols == 0)
    throw DatasetError(fmt::format("{}: absurd dimensions: images of {}x{} pixels", path, r.rows, r.cols));
  const std::uint64_t per_image = std::uint64_t{r.rows} * r.cols;  // < 2^64: both factors < 2^32
  if (per_image > kMaxDecodedBytes / sizeof(float) ||
      std::uint64_t{r.count} > kMaxDecodedBytes / (per_image * sizeof(float)))
    throw DatasetError(
        fmt::format("{}: absurd dimensions: {} images of {}x{} pixels would take more than 2^31 bytes as floats", path,
                    r.count, r.rows, r.cols));
  r.pixels = read_payload(f, std::uint64_t{r.count} * per_image,
                          fmt::format("{} images of {}x{} pixels", r.count, r.rows, r.cols));
  return r;
}

std::vector<std::uint8_t> read_labels(const std::string& path) {
  GzFile f(path);
  const auto dims = read_header<1>(f, kLabelsMagic, "IDX unsigned-byte labels, 1 dimension");
  const std::uint32_t count = dims[0];
  if (std::uint64_t{count} > kMaxDecodedBytes / sizeof(std::int32_t))
    throw DatasetError(fmt::format("{}: absurd dimensions: {} labels", path, count));
  return read_payload(f, count, fmt::format("{} labels", count));
}

std::string fashion_mnist_install_hint(const std::string& dir) {
  return fmt::format(
      "Install Fashion-MNIST with: sudo apt-get install dataset-fashion-mnist (it installs to {}), or point "
      "--set data.dir=DIR to a directory holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
      "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (gzip or raw); now data.dir is {}",
      kFashionMnistDir, dir);
}

// dir/name.gz if it exists, else dir/name if it exists, else a DatasetError with the install hint.
std::string find_fashion_file(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path gz = fs::path(dir) / (name + ".gz"), raw = fs::path(dir) / name;
  if (fs::is_regular_file(gz, ec)) return gz.string();
  if (fs::is_regular_file(raw, ec)) return raw.string();
  throw DatasetError(fmt::format("Fashion-MNIST file {} (or {}) not found. {}", gz.string(), raw.string(),
                                 fashion_mnist_install_hint(dir)));
}

}  // namespace

Dataset read_idx(const std::string& images_path, const std::string& labels_path, const std::string& name, int classes) {
  if (classes < 0 || classes > 256)
    throw std::invalid_argument(
        fmt::format("read_idx({}): classes = {} must be in [0, 256] (0: infer)", name, classes));
  RawImages raw = read_images(images_path);
  const std::vector<std::uint8_t> labels = read_labels(labels_path);
  if (labels.size() != raw.count)
    throw DatasetError(
        fmt::format("{} holds {} images but {} holds {} labels", images_path, raw.count, labels_path, labels.size()));

  Dataset d;
  d.name = name;
  d.count = raw.count;
  d.channels = 1;
  d.height = raw.rows;
  d.width = raw.cols;
  int max_label = -1;
  d.labels.resize(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (classes > 0 && labels[i] >= classes)
      throw DatasetError(fmt::format("{}: label {} of sample {} is out of range: there are {} classes", labels_path,
                                     labels[i], i, classes));
    max_label = std::max<int>(max_label, labels[i]);
    d.labels[i] = labels[i];
  }
  d.classes = classes > 0 ? classes : max_label + 1;

  // float(b) / 255.0f for each byte value, computed once.
  std::array<float, 256> scale{};
  for (int b = 0; b < 256; ++b) scale[static_cast<std::size_t>(b)] = static_cast<float>(b) / 255.0f;
  d.images.resize(raw.pixels.size());
  for (std::size_t i = 0; i < raw.pixels.size(); ++i) d.images[i] = scale[raw.pixels[i]];
  return d;
}

DatasetSplit load_fashion_mnist(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw DatasetError(fmt::format("Fashion-MNIST directory {} not found. {}", dir, fashion_mnist_install_hint(dir)));
  DatasetSplit s;
  s.train = read_idx(find_fashion_file(dir, "train-images-idx3-ubyte"),
                     find_fashion_file(dir, "train-labels-idx1-ubyte"), "fashion-mnist-train", 10);
  s.test = read_idx(find_fashion_file(dir, "t10k-images-idx3-ubyte"), find_fashion_file(dir, "t10k-labels-idx1-ubyte"),
                    "fashion-mnist-test", 10);
  // The model is built for the training images; test images of another size would be misread.
  if (s.test.height != s.train.height || s.test.width != s.train.width)
    throw DatasetError(fmt::format("{}: test images are {}x{} but the training images ({}) are {}x{}",
                                   find_fashion_file(dir, "t10k-images-idx3-ubyte"), s.test.height, s.test.width,
                                   find_fashion_file(dir, "train-images-idx3-ubyte"), s.train.height, s.train.width));
  return s;
}

}  // namespace bitsim::sim::data
