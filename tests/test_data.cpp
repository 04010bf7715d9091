// The dataset module (sim/data/): IDX and CIFAR-10 readers on small synthetic files (gzip and raw),
// every reader error, per-channel normalization against hand-computed values, and BatchStream's
// determinism contract (permutation, augmentation words, restore) checked against an independent
// re-implementation written from the headers' documentation. Also loads the installed Fashion-MNIST.
#include "sim/data/batches.hpp"
#include "sim/data/cifar.hpp"
#include "sim/data/dataset.hpp"
#include "sim/data/idx.hpp"
#include "sim/data/normalize.hpp"

#include "formats/random_words.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace bitsim::sim::data;

namespace {

using Bytes = std::vector<std::uint8_t>;

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("bitsim_test_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

void write_raw(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(f.good());
}

void write_gz(const std::string& path, const Bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  if (!b.empty()) REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

Bytes read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void put32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

Bytes idx_images(std::uint32_t n, std::uint32_t rows, std::uint32_t cols, const Bytes& pixels) {
  Bytes b;
  put32(b, 0x00000803u);
  put32(b, n);
  put32(b, rows);
  put32(b, cols);
  b.insert(b.end(), pixels.begin(), pixels.end());
  return b;
}

Bytes idx_labels(const Bytes& labels, std::uint32_t n_in_header) {
  Bytes b;
  put32(b, 0x00000801u);
  put32(b, n_in_header);
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}
Bytes idx_labels(const Bytes& labels) { return idx_labels(labels, static_cast<std::uint32_t>(labels.size())); }

// Runs f, requires a DatasetError whose message contains every one of `parts`.
void require_dataset_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const DatasetError& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    for (const auto& p : parts) CHECK(msg.find(p) != std::string::npos);
    return;
  }
  FAIL("no DatasetError thrown; expected one mentioning " << parts.front());
}

// 3 images of 2x3 pixels covering 0 and 255.
const Bytes kPixels = {0, 1, 2, 3, 4, 255, 128, 127, 17, 200, 99, 5, 10, 20, 30, 40, 50, 60};
const Bytes kLabels = {2, 0, 9};

void check_small_idx(const Dataset& d, int classes) {
  CHECK(d.name == "small");
  CHECK(d.count == 3);
  CHECK(d.channels == 1);
  CHECK(d.height == 2);
  CHECK(d.width == 3);
  CHECK(d.classes == classes);
  REQUIRE(d.images.size() == kPixels.size());
  for (std::size_t i = 0; i < kPixels.size(); ++i) CHECK(d.images[i] == static_cast<float>(kPixels[i]) / 255.0f);
  CHECK(d.images[0] == 0.0f);
  CHECK(d.images[5] == 1.0f);
  CHECK(d.labels == std::vector<std::int32_t>{2, 0, 9});
}

}  // namespace

// ---- IDX ------------------------------------------------------------------------------------------

TEST_CASE("IDX reader reads gzip and raw files exactly", "[data]") {
  TempDir dir;
  write_gz(dir.file("img.gz"), idx_images(3, 2, 3, kPixels));
  write_gz(dir.file("lab.gz"), idx_labels(kLabels));
  write_raw(dir.file("img"), idx_images(3, 2, 3, kPixels));
  write_raw(dir.file("lab"), idx_labels(kLabels));
  // The gzip files really are compressed (magic 1f 8b), so the gzip path is exercised.
  const Bytes gz = read_file_bytes(dir.file("img.gz"));
  REQUIRE(gz.size() >= 2);
  CHECK((gz[0] == 0x1f && gz[1] == 0x8b));

  check_small_idx(read_idx(dir.file("img.gz"), dir.file("lab.gz"), "small", 10), 10);
  check_small_idx(read_idx(dir.file("img"), dir.file("lab"), "small", 10), 10);
  check_small_idx(read_idx(dir.file("img"), dir.file("lab.gz"), "small"), 10);  // inferred: max label + 1
  check_small_idx(read_idx(dir.file("img"), dir.file("lab"), "small", 256), 256);
  CHECK_THROWS_AS(read_idx(dir.file("img"), dir.file("lab"), "small", 257), std::invalid_argument);

  // An empty data set is valid.
  write_raw(dir.file("img0"), idx_images(0, 28, 28, {}));
  write_raw(dir.file("lab0"), idx_labels({}));
  const Dataset e = read_idx(dir.file("img0"), dir.file("lab0"), "empty");
  CHECK(e.count == 0);
  CHECK(e.classes == 0);
  CHECK(e.images.empty());
}

TEST_CASE("IDX reader errors name the file and the problem", "[data]") {
  TempDir dir;
  const std::string img = dir.file("img.gz"), lab = dir.file("lab.gz");
  write_gz(img, idx_images(3, 2, 3, kPixels));
  write_gz(lab, idx_labels(kLabels));

  SECTION("missing file") {
    require_dataset_error([&] { read_idx(dir.file("nope.gz"), lab, "x"); }, {"nope.gz", "no such file"});
    require_dataset_error([&] { read_idx(img, dir.file("nolab"), "x"); }, {"nolab", "no such file"});
  }
  SECTION("bad magic") {
    require_dataset_error([&] { read_idx(lab, img, "x"); }, {"lab.gz", "bad magic", "0x00000801", "swapped"});
    write_raw(dir.file("text"), Bytes{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!', '!', '!', '!', '!'});
    require_dataset_error([&] { read_idx(dir.file("text"), lab, "x"); }, {"text", "bad magic", "not an IDX file"});
    Bytes wrong_labels = idx_labels(kLabels);
    wrong_labels[3] = 0x02;  // 2 dimensions
    write_raw(dir.file("lab2"), wrong_labels);
    require_dataset_error([&] { read_idx(img, dir.file("lab2"), "x"); }, {"lab2", "bad magic", "0x00000802"});
  }
  SECTION("truncated header") {
    Bytes h = idx_images(3, 2, 3, {});
    h.resize(10);
    write_gz(dir.file("short.gz"), h);
    require_dataset_error([&] { read_idx(dir.file("short.gz"), lab, "x"); }, {"short.gz", "truncated header"});
  }
  SECTION("truncated data, raw and gzip") {
    Bytes cut(kPixels.begin(), kPixels.end() - 1);
    write_raw(dir.file("cut"), idx_images(3, 2, 3, cut));
    require_dataset_error([&] { read_idx(dir.file("cut"), lab, "x"); }, {"cut", "truncated data", "17 bytes"});
    write_gz(dir.file("cut.gz"), idx_images(3, 2, 3, cut));
    require_dataset_error([&] { read_idx(dir.file("cut.gz"), lab, "x"); }, {"cut.gz", "truncated"});
    write_raw(dir.file("cutlab"), idx_labels({1, 2}, 3));
    require_dataset_error([&] { read_idx(img, dir.file("cutlab"), "x"); }, {"cutlab", "truncated data", "3 labels"});
    // A gzip file cut in the middle of its stream.
    Bytes big_pixels(60000);
    for (std::size_t i = 0; i < big_pixels.size(); ++i)
      big_pixels[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 13);
    write_gz(dir.file("whole.gz"), idx_images(60, 20, 50, big_pixels));
    Bytes gz = read_file_bytes(dir.file("whole.gz"));
    gz.resize(gz.size() / 2);
    write_raw(dir.file("half.gz"), gz);
    require_dataset_error([&] { read_idx(dir.file("half.gz"), lab, "x"); }, {"half.gz", "truncated"});
  }
  SECTION("corrupt gzip data") {
    write_gz(dir.file("good.gz"), idx_images(3, 2, 3, kPixels));
    Bytes gz = read_file_bytes(dir.file("good.gz"));
    REQUIRE(gz.size() > 20);
    gz[gz.size() - 6] ^= 0xFF;  // inside the CRC-32 of the gzip trailer
    write_raw(dir.file("bad.gz"), gz);
    require_dataset_error([&] { read_idx(dir.file("bad.gz"), lab, "x"); }, {"bad.gz", "corrupt gzip"});
  }
  SECTION("trailing garbage") {
    Bytes more = kPixels;
    more.push_back(1);
    more.push_back(2);
    write_gz(dir.file("long.gz"), idx_images(3, 2, 3, more));
    require_dataset_error([&] { read_idx(dir.file("long.gz"), lab, "x"); }, {"long.gz", "trailing garbage", "2 bytes"});
    write_raw(dir.file("longlab"), idx_labels({1, 2, 3, 4}, 3));
    require_dataset_error([&] { read_idx(img, dir.file("longlab"), "x"); }, {"longlab", "trailing garbage"});
  }
  SECTION("image and label counts differ") {
    write_raw(dir.file("lab4"), idx_labels({1, 2, 3, 4}));
    require_dataset_error([&] { read_idx(img, dir.file("lab4"), "x"); }, {"img.gz", "lab4", "3 images", "4 labels"});
  }
  SECTION("label out of range") {
    write_raw(dir.file("lab10"), idx_labels({1, 10, 3}));
    require_dataset_error([&] { read_idx(img, dir.file("lab10"), "x", 10); },
                          {"lab10", "label 10", "sample 1", "10 classes"});
  }
  SECTION("absurd dimensions are refused before allocating") {
    write_raw(dir.file("huge"), idx_images(0xFFFFFFFFu, 0xFFFFu, 0xFFFFu, {}));
    require_dataset_error([&] { read_idx(dir.file("huge"), lab, "x"); }, {"huge", "absurd dimensions", "2^31"});
    write_raw(dir.file("huge2"), idx_images(2, 0xFFFFFFFFu, 0xFFFFFFFFu, {}));
    require_dataset_error([&] { read_idx(dir.file("huge2"), lab, "x"); }, {"huge2", "absurd dimensions"});
    // 2^29 floats = 2^31 bytes is the limit itself: accepted by the guard, then found truncated.
    write_raw(dir.file("limit"), idx_images(1u << 19, 1024, 1, {}));
    require_dataset_error([&] { read_idx(dir.file("limit"), lab, "x"); }, {"limit", "truncated data"});
    write_raw(dir.file("over"), idx_images((1u << 19) + 1, 1024, 1, {}));
    require_dataset_error([&] { read_idx(dir.file("over"), lab, "x"); }, {"over", "absurd dimensions"});
    write_raw(dir.file("zero"), idx_images(3, 0, 3, {}));
    require_dataset_error([&] { read_idx(dir.file("zero"), lab, "x"); }, {"zero", "absurd dimensions", "0x3"});
    write_raw(dir.file("hugelab"), idx_labels({}, 0xFFFFFFFFu));
    require_dataset_error([&] { read_idx(img, dir.file("hugelab"), "x"); }, {"hugelab", "absurd dimensions"});
  }
  SECTION("a directory instead of a file") {
    require_dataset_error([&] { read_idx(dir.str(), lab, "x"); }, {dir.str(), "directory"});
  }
}

TEST_CASE("load_fashion_mnist: missing data says how to install - raw and gzip names", "[data]") {
  TempDir dir;
  const std::string absent = dir.file("no-such-dir");
  require_dataset_error([&] { load_fashion_mnist(absent); },
                        {absent, "not found", "sudo apt-get install dataset-fashion-mnist", "--set data.dir="});

  // Train files present (one raw, one gzip), test labels missing.
  write_raw(dir.file("train-images-idx3-ubyte"), idx_images(3, 2, 3, kPixels));
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_labels(kLabels));
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_images(1, 2, 3, Bytes(6, 7)));
  require_dataset_error(
      [&] { load_fashion_mnist(dir.str()); },
      {"t10k-labels-idx1-ubyte.gz", "not found", "sudo apt-get install dataset-fashion-mnist", "data.dir"});

  write_raw(dir.file("t10k-labels-idx1-ubyte"), idx_labels({4}));
  const DatasetSplit s = load_fashion_mnist(dir.str());
  CHECK(s.train.name == "fashion-mnist-train");
  CHECK(s.test.name == "fashion-mnist-test");
  CHECK(s.train.count == 3);
  CHECK(s.test.count == 1);
  CHECK(s.train.classes == 10);
  CHECK(s.test.classes == 10);
  CHECK(s.test.labels == std::vector<std::int32_t>{4});
  CHECK(s.test.images == std::vector<float>(6, 7.0f / 255.0f));
  // Fashion-MNIST has 10 classes: a label of 10 is an error.
  write_raw(dir.file("t10k-labels-idx1-ubyte"), idx_labels({10}));
  require_dataset_error([&] { load_fashion_mnist(dir.str()); }, {"t10k-labels-idx1-ubyte", "label 10"});
}

TEST_CASE("installed Fashion-MNIST loads with the expected shape and class balance", "[data]") {
  if (!fs::is_directory(kFashionMnistDir)) {
    WARN(std::string(kFashionMnistDir) + " not found (sudo apt-get install dataset-fashion-mnist); skipped");
    return;
  }
  const DatasetSplit s = load_fashion_mnist();
  for (const Dataset* d : {&s.train, &s.test}) {
    CHECK(d->channels == 1);
    CHECK(d->height == 28);
    CHECK(d->width == 28);
    CHECK(d->classes == 10);
    CHECK(d->images.size() == static_cast<std::size_t>(d->count * 28 * 28));
    std::vector<std::int64_t> per_class(10, 0);
    for (std::int32_t l : d->labels) {
      REQUIRE((l >= 0 && l < 10));
      ++per_class[static_cast<std::size_t>(l)];
    }
    for (std::int64_t n : per_class) CHECK(n == d->count / 10);
    float lo = 1.0f, hi = 0.0f;
    for (float x : d->images) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    CHECK(lo == 0.0f);
    CHECK(hi == 1.0f);
  }
  CHECK(s.train.count == 60000);
  CHECK(s.test.count == 10000);

  // A full shuffled, augmented epoch at batch 128 visits every sample once.
  Dataset train = s.train;
  normalize(train, channel_stats(train));
  BatchStream stream(train, 128, 1, true, Augment{2, true}, false);
  CHECK(stream.batches_per_epoch() == 469);
  Batch b;
  std::vector<int> label_count(10, 0);
  std::int64_t batches = 0;
  while (stream.next(b)) {
    ++batches;
    for (std::int32_t l : b.labels) ++label_count[static_cast<std::size_t>(l)];
  }
  CHECK(batches == 469);
  for (int n : label_count) CHECK(n == 6000);
}

// ---- CIFAR-10 -------------------------------------------------------------------------------------

namespace {

Bytes cifar_record(std::uint8_t label, int salt) {
  Bytes r{label};
  for (int i = 0; i < 3072; ++i) r.push_back(static_cast<std::uint8_t>((i * 7 + salt * 31) % 256));
  return r;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("CIFAR-10 reader reads a synthetic 2-record batch", "[data]") {
  TempDir dir;
  write_raw(dir.file("b.bin"), concat({cifar_record(3, 1), cifar_record(9, 2)}));
  const Dataset d = read_cifar10_batch(dir.file("b.bin"), "cifar-mini");
  CHECK(d.name == "cifar-mini");
  CHECK(d.count == 2);
  CHECK(d.channels == 3);
  CHECK(d.height == 32);
  CHECK(d.width == 32);
  CHECK(d.classes == 10);
  CHECK(d.labels == std::vector<std::int32_t>{3, 9});
  REQUIRE(d.images.size() == 2u * 3072u);
  // Planar: record byte 1 + i is channel i / 1024, row (i % 1024) / 32, column i % 32.
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          const int i = c * 1024 + y * 32 + x;
          const auto byte = static_cast<std::uint8_t>((i * 7 + (n + 1) * 31) % 256);
          REQUIRE(d.images[static_cast<std::size_t>(((n * 3 + c) * 32 + y) * 32 + x)] ==
                  static_cast<float>(byte) / 255.0f);
        }
}

TEST_CASE("CIFAR-10 reader errors and load_cifar10", "[data]") {
  TempDir dir;
  SECTION("missing directory or file says where to download") {
    require_dataset_error([&] { load_cifar10(dir.file("none")); },
                          {"none", "not found", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "extract"});
    require_dataset_error([&] { load_cifar10(dir.str()); },
                          {"data_batch_1.bin", "not found", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"});
  }
  SECTION("size not a multiple of 3073") {
    Bytes r = concat({cifar_record(1, 0), cifar_record(2, 0)});
    r.pop_back();
    write_raw(dir.file("short.bin"), r);
    require_dataset_error([&] { read_cifar10_batch(dir.file("short.bin"), "x"); },
                          {"short.bin", "6145 bytes", "not a positive multiple", "3073"});
    write_raw(dir.file("empty.bin"), {});
    require_dataset_error([&] { read_cifar10_batch(dir.file("empty.bin"), "x"); }, {"empty.bin", "0 bytes"});
  }
  SECTION("label > 9") {
    write_raw(dir.file("lab.bin"), concat({cifar_record(1, 0), cifar_record(10, 0)}));
    require_dataset_error([&] { read_cifar10_batch(dir.file("lab.bin"), "x"); }, {"lab.bin", "label 10", "record 1"});
  }
  SECTION("load_cifar10 concatenates the five training batches in order") {
    const fs::path sub = fs::path(dir.str()) / "cifar-10-batches-bin";
    fs::create_directories(sub);
    for (int i = 1; i <= 5; ++i)
      write_raw((sub / ("data_batch_" + std::to_string(i) + ".bin")).string(),
                concat({cifar_record(static_cast<std::uint8_t>(i), i), cifar_record(0, 10 + i)}));
    write_raw((sub / "test_batch.bin").string(), cifar_record(7, 99));
    for (const std::string& where : {sub.string(), dir.str()}) {  // the folder itself or its parent
      const DatasetSplit s = load_cifar10(where);
      CHECK(s.train.name == "cifar10-train");
      CHECK(s.test.name == "cifar10-test");
      CHECK(s.train.count == 10);
      CHECK(s.test.count == 1);
      CHECK(s.train.labels == std::vector<std::int32_t>{1, 0, 2, 0, 3, 0, 4, 0, 5, 0});
      CHECK(s.test.labels == std::vector<std::int32_t>{7});
      CHECK(s.train.images.size() == 10u * 3072u);
      CHECK(s.train.images[3072 * 9 + 1] == static_cast<float>((7 + 15 * 31) % 256) / 255.0f);
    }
  }
}

// ---- normalization --------------------------------------------------------------------------------

TEST_CASE("channel_stats and normalize against hand-computed values", "[data]") {
  // 2 samples, 2 channels, 1x2 pixels. Channel 0 holds {0, 0.5, 0.25, 0.75}: mean 0.375, population
  // variance (0.375^2 + 0.125^2 + 0.125^2 + 0.375^2) / 4 = 0.078125. Channel 1 holds {1, 1, 1, 3}:
  // mean 1.5, variance (3 * 0.25 + 2.25) / 4 = 0.75.
  Dataset d;
  d.name = "tiny";
  d.count = 2;
  d.channels = 2;
  d.height = 1;
  d.width = 2;
  d.classes = 2;
  d.images = {0.0f, 0.5f, 1.0f, 1.0f, 0.25f, 0.75f, 1.0f, 3.0f};
  d.labels = {0, 1};
  const Normalization n = channel_stats(d);
  REQUIRE(n.mean.size() == 2);
  REQUIRE(n.std.size() == 2);
  CHECK(n.mean[0] == 0.375f);
  CHECK(n.mean[1] == 1.5f);
  CHECK(n.std[0] == static_cast<float>(std::sqrt(0.078125)));
  CHECK(n.std[1] == static_cast<float>(std::sqrt(0.75)));

  const std::vector<float> before = d.images;
  normalize(d, n);
  for (std::size_t i = 0; i < before.size(); ++i) {
    const std::size_t c = (i / 2) % 2;
    CHECK(d.images[i] == (before[i] - n.mean[c]) / n.std[c]);
  }
  const Normalization after = channel_stats(d);
  for (int c = 0; c < 2; ++c) {
    CHECK(std::abs(after.mean[static_cast<std::size_t>(c)]) < 1e-6f);
    CHECK(std::abs(after.std[static_cast<std::size_t>(c)] - 1.0f) < 1e-6f);
  }

  // Deterministic: the same input gives the same bits.
  const Normalization again = channel_stats(d);
  CHECK(again.mean == after.mean);
  CHECK(again.std == after.std);

  // Errors: a constant channel, a channel count mismatch, an empty set.
  Dataset flat = d;
  flat.images.assign(8, 0.5f);
  require_dataset_error([&] { normalize(flat, channel_stats(flat)); }, {"tiny", "channel 0", "std must be positive"});
  require_dataset_error([&] { normalize(d, Normalization{{0.0f}, {1.0f}}); }, {"tiny", "2 channels", "1 means"});
  Dataset empty = d;
  empty.count = 0;
  empty.images.clear();
  empty.labels.clear();
  require_dataset_error([&] { channel_stats(empty); }, {"tiny", "no samples"});
}

// ---- BatchStream ----------------------------------------------------------------------------------

namespace {

// Independent re-implementation of the documented words (stream_words.hpp, augment.hpp).
std::uint64_t ref_splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::uint64_t ref_key(std::uint64_t seed, std::uint64_t epoch, std::uint64_t stream) {
  return ref_splitmix(ref_splitmix(seed) ^ (2 * epoch + stream));
}

// Lemire's bounded integer with rejection, from the words of `w` starting at `index` (advanced).
std::uint64_t ref_below(const bitsim::formats::PhiloxWords& w, std::uint64_t& index, std::uint64_t s) {
  const std::uint64_t threshold = ((std::uint64_t{1} << 32) - s) % s;
  for (;;) {
    const std::uint64_t m = std::uint64_t{w.word(index++)} * s;
    if ((m & 0xFFFFFFFFull) >= threshold) return m >> 32;
  }
}

std::vector<std::int64_t> ref_permutation(std::int64_t n, std::uint64_t seed, std::uint64_t epoch) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  const bitsim::formats::PhiloxWords w(ref_key(seed, epoch, 0));
  std::uint64_t index = 0;
  for (std::int64_t i = n - 1; i >= 1; --i)
    std::swap(p[static_cast<std::size_t>(i)], p[ref_below(w, index, static_cast<std::uint64_t>(i + 1))]);
  return p;
}

// The augmented sample at `position` of `epoch`, computed pixel by pixel from an explicitly padded image.
std::vector<float> ref_augmented(const Dataset& d, std::int64_t sample, std::uint64_t seed, std::uint64_t epoch,
                                 std::int64_t position, Augment aug, int* dy_out = nullptr, int* dx_out = nullptr,
                                 bool* flip_out = nullptr) {
  const bitsim::formats::PhiloxWords w(ref_key(seed, epoch, 1));
  std::uint64_t index = static_cast<std::uint64_t>(position) << 32;
  int dy = aug.crop_pad, dx = aug.crop_pad;
  bool flip = false;
  if (aug.crop_pad > 0) {
    dy = static_cast<int>(ref_below(w, index, static_cast<std::uint64_t>(2 * aug.crop_pad + 1)));
    dx = static_cast<int>(ref_below(w, index, static_cast<std::uint64_t>(2 * aug.crop_pad + 1)));
  }
  if (aug.flip) flip = (w.word(index++) >> 31) == 1u;
  if (dy_out) *dy_out = dy;
  if (dx_out) *dx_out = dx;
  if (flip_out) *flip_out = flip;
  const std::int64_t C = d.channels, H = d.height, W = d.width, pad = aug.crop_pad;
  const std::int64_t PH = H + 2 * pad, PW = W + 2 * pad;
  std::vector<float> padded(static_cast<std::size_t>(C * PH * PW), 0.0f);
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t y = 0; y < H; ++y)
      for (std::int64_t x = 0; x < W; ++x)
        padded[static_cast<std::size_t>((c * PH + y + pad) * PW + x + pad)] =
            d.images[static_cast<std::size_t>(((sample * C + c) * H + y) * W + x)];
  std::vector<float> out(static_cast<std::size_t>(C * H * W));
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t y = 0; y < H; ++y)
      for (std::int64_t x = 0; x < W; ++x) {
        const std::int64_t xs = flip ? W - 1 - x : x;
        out[static_cast<std::size_t>((c * H + y) * W + x)] =
            padded[static_cast<std::size_t>((c * PH + y + dy) * PW + xs + dx)];
      }
  return out;
}

// n samples of C x H x W; pixel values encode (sample, channel, y, x) uniquely; label = sample index.
Dataset indexed_dataset(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  Dataset d;
  d.name = "indexed";
  d.count = n;
  d.channels = c;
  d.height = h;
  d.width = w;
  d.classes = static_cast<int>(n);
  for (std::int64_t i = 0; i < n * c * h * w; ++i) d.images.push_back(static_cast<float>(i + 1));
  for (std::int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<std::int32_t>(i));
  return d;
}

std::vector<Batch> one_epoch(BatchStream& s) {
  std::vector<Batch> out;
  Batch b;
  while (s.next(b)) out.push_back(b);
  return out;
}

bool same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].size != b[i].size || a[i].labels != b[i].labels || a[i].images.size() != b[i].images.size()) return false;
    if (std::memcmp(a[i].images.data(), b[i].images.data(), a[i].images.size() * sizeof(float)) != 0) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("BatchStream visits every sample exactly once per epoch, in the documented order", "[data]") {
  const Dataset d = indexed_dataset(10, 1, 1, 2);
  BatchStream s(d, 3, 42, true, Augment{}, false);
  CHECK(s.batches_per_epoch() == 4);
  std::vector<std::vector<std::int64_t>> orders;
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    CHECK(s.state() == BatchStream::State{epoch, 0});
    const std::vector<Batch> batches = one_epoch(s);
    REQUIRE(batches.size() == 4);
    CHECK(s.state() == BatchStream::State{epoch + 1, 0});
    std::vector<std::int64_t> order;
    for (std::size_t k = 0; k < batches.size(); ++k) {
      const Batch& b = batches[k];
      CHECK(b.size == (k < 3 ? 3 : 1));
      CHECK(b.channels == 1);
      CHECK(b.height == 1);
      CHECK(b.width == 2);
      for (std::int64_t j = 0; j < b.size; ++j) {
        const std::int32_t i = b.labels[static_cast<std::size_t>(j)];
        order.push_back(i);
        // The image travels with its label.
        CHECK(b.images[static_cast<std::size_t>(2 * j)] == static_cast<float>(2 * i + 1));
        CHECK(b.images[static_cast<std::size_t>(2 * j + 1)] == static_cast<float>(2 * i + 2));
      }
    }
    CHECK(std::set<std::int64_t>(order.begin(), order.end()).size() == 10);
    CHECK(order == ref_permutation(10, 42, epoch));
    orders.push_back(order);
  }
  CHECK(orders[0] != orders[1]);
  CHECK(orders[1] != orders[2]);

  // A larger set: every sample once, order equals the reference (exercises rejection-free and bulk paths).
  const Dataset big = indexed_dataset(1000, 1, 1, 1);
  BatchStream sb(big, 64, 7, true, Augment{}, false);
  std::vector<std::int64_t> order;
  for (const Batch& b : one_epoch(sb))
    for (std::int32_t l : b.labels) order.push_back(l);
  CHECK(order == ref_permutation(1000, 7, 0));
  CHECK(std::set<std::int64_t>(order.begin(), order.end()).size() == 1000);
}

TEST_CASE("BatchStream without shuffle or augmentation returns the data set in order", "[data]") {
  const Dataset d = indexed_dataset(7, 2, 3, 2);
  BatchStream s(d, 4, 99, false, Augment{}, false);
  for (int epoch = 0; epoch < 2; ++epoch) {
    const std::vector<Batch> batches = one_epoch(s);
    REQUIRE(batches.size() == 2);
    std::vector<float> images;
    std::vector<std::int32_t> labels;
    for (const Batch& b : batches) {
      images.insert(images.end(), b.images.begin(), b.images.end());
      labels.insert(labels.end(), b.labels.begin(), b.labels.end());
    }
    CHECK(images == d.images);
    CHECK(labels == d.labels);
  }
}

TEST_CASE("BatchStream: same seed same batches, different seeds differ", "[data]") {
  const Dataset d = indexed_dataset(50, 2, 5, 6);
  const Augment aug{2, true};
  BatchStream a(d, 8, 123, true, aug, false), b(d, 8, 123, true, aug, false), c(d, 8, 124, true, aug, false);
  for (int epoch = 0; epoch < 3; ++epoch) {
    const auto ea = one_epoch(a), eb = one_epoch(b), ec = one_epoch(c);
    CHECK(same_batches(ea, eb));
    CHECK_FALSE(same_batches(ea, ec));
  }
  // Without shuffle, the seed still changes the augmentation, and only that.
  BatchStream u(d, 8, 1, false, aug, false), v(d, 8, 2, false, aug, false);
  const auto eu = one_epoch(u), ev = one_epoch(v);
  CHECK_FALSE(same_batches(eu, ev));
  for (std::size_t k = 0; k < eu.size(); ++k) CHECK(eu[k].labels == ev[k].labels);
}

TEST_CASE("BatchStream::restore reproduces the remaining batches bit for bit", "[data]") {
  const Dataset d = indexed_dataset(23, 3, 4, 5);
  const Augment aug{1, true};
  // The uninterrupted stream: 3 epochs, with the state before every call.
  BatchStream ref(d, 5, 2024, true, aug, false);
  std::vector<BatchStream::State> states;
  std::vector<bool> got;
  std::vector<Batch> outs;
  for (int call = 0; call < 3 * 6; ++call) {
    states.push_back(ref.state());
    Batch b;
    got.push_back(ref.next(b));
    outs.push_back(b);
  }
  // Restore a fresh stream at every point and compare everything that follows.
  for (std::size_t start = 0; start < states.size(); ++start) {
    BatchStream s(d, 5, 2024, true, aug, false);
    s.restore(states[start]);
    for (std::size_t call = start; call < states.size(); ++call) {
      CHECK(s.state() == states[call]);
      Batch b;
      REQUIRE(s.next(b) == got[call]);
      if (got[call]) REQUIRE(same_batches({b}, {outs[call]}));
    }
  }
  // A restore at a position that is not a batch boundary continues from there.
  BatchStream s(d, 5, 2024, true, aug, false);
  s.restore({1, 3});
  Batch b;
  REQUIRE(s.next(b));
  const std::vector<std::int64_t> perm = ref_permutation(23, 2024, 1);
  for (std::int64_t j = 0; j < 5; ++j)
    CHECK(b.labels[static_cast<std::size_t>(j)] == perm[static_cast<std::size_t>(3 + j)]);
  CHECK(s.state() == BatchStream::State{1, 8});
  CHECK_THROWS_AS(s.restore({0, 24}), std::invalid_argument);
  CHECK_THROWS_AS(s.restore({0, -1}), std::invalid_argument);
}

TEST_CASE("BatchStream crop and flip produce the documented pixels", "[data]") {
  const Dataset d = indexed_dataset(6, 2, 3, 4);
  for (const Augment aug :
       {Augment{1, false}, Augment{0, true}, Augment{1, true}, Augment{2, true}, Augment{5, true}}) {
    for (const bool shuffle : {false, true}) {
      BatchStream s(d, 4, 77, shuffle, aug, false);
      std::set<int> dys, dxs;
      std::set<bool> flips;
      for (std::uint64_t epoch = 0; epoch < 40; ++epoch) {
        const std::vector<std::int64_t> perm = ref_permutation(6, 77, epoch);
        std::int64_t position = 0;
        for (const Batch& b : one_epoch(s))
          for (std::int64_t j = 0; j < b.size; ++j, ++position) {
            const std::int64_t sample = shuffle ? perm[static_cast<std::size_t>(position)] : position;
            REQUIRE(b.labels[static_cast<std::size_t>(j)] == sample);
            int dy = 0, dx = 0;
            bool flip = false;
            const std::vector<float> want = ref_augmented(d, sample, 77, epoch, position, aug, &dy, &dx, &flip);
            dys.insert(dy);
            dxs.insert(dx);
            flips.insert(flip);
            const std::vector<float> have(b.images.begin() + j * 24, b.images.begin() + (j + 1) * 24);
            INFO("crop_pad " << aug.crop_pad << " flip " << aug.flip << " epoch " << epoch << " position " << position
                             << " dy " << dy << " dx " << dx << " flip " << flip);
            REQUIRE(have == want);
          }
      }
      // Not vacuous: every offset and both flips occurred.
      CHECK(dys.size() == static_cast<std::size_t>(2 * aug.crop_pad + 1));
      CHECK(dxs.size() == static_cast<std::size_t>(2 * aug.crop_pad + 1));
      CHECK(flips.size() == (aug.flip ? 2u : 1u));
    }
  }

  // A hand-checked case: pad 1, window offset (0, 2), flipped, on the 1x2x3 image [[1 2 3] [4 5 6]]:
  // padded rows [0 0 0 0 0], [0 1 2 3 0], [0 4 5 6 0], [0 0 0 0 0]; window rows 0-1, columns 2-4:
  // [0 0 0], [2 3 0]; flipped: [0 0 0], [0 3 2].
  const float img[6] = {1, 2, 3, 4, 5, 6};
  float out[6];
  augment_sample(img, out, 1, 2, 3, 1, SampleAugment{0, 2, true});
  CHECK(std::vector<float>(out, out + 6) == std::vector<float>{0, 0, 0, 0, 3, 2});
  augment_sample(img, out, 1, 2, 3, 1, SampleAugment{1, 1, true});
  CHECK(std::vector<float>(out, out + 6) == std::vector<float>{3, 2, 1, 6, 5, 4});
  augment_sample(img, out, 1, 2, 3, 1, SampleAugment{2, 0, false});
  CHECK(std::vector<float>(out, out + 6) == std::vector<float>{0, 4, 5, 0, 0, 0});
}

TEST_CASE("BatchStream drop_last and edge cases", "[data]") {
  const Dataset d = indexed_dataset(10, 1, 1, 1);
  BatchStream keep(d, 4, 5, true, Augment{}, false), drop(d, 4, 5, true, Augment{}, true);
  CHECK(keep.batches_per_epoch() == 3);
  CHECK(drop.batches_per_epoch() == 2);
  for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
    const auto k = one_epoch(keep), dr = one_epoch(drop);
    REQUIRE(k.size() == 3);
    REQUIRE(dr.size() == 2);
    CHECK(k[2].size == 2);
    CHECK(k[2].labels.size() == 2);
    CHECK(k[2].images.size() == 2);
    CHECK(same_batches({k[0], k[1]}, dr));  // same order; only the tail is dropped
    CHECK(drop.state() == BatchStream::State{epoch + 1, 0});
  }
  // Exact multiple: drop_last changes nothing.
  BatchStream exact(d, 5, 5, true, Augment{}, true);
  CHECK(exact.batches_per_epoch() == 2);
  CHECK(one_epoch(exact).size() == 2);
  // Batch larger than the data set.
  BatchStream large(d, 64, 5, false, Augment{}, false), none(d, 64, 5, false, Augment{}, true);
  CHECK(one_epoch(large).size() == 1);
  CHECK(none.batches_per_epoch() == 0);
  CHECK(one_epoch(none).empty());
  CHECK(none.state() == BatchStream::State{1, 0});

  CHECK_THROWS_AS(BatchStream(d, 0, 1, true, Augment{}, false), std::invalid_argument);
  CHECK_THROWS_AS(BatchStream(d, 4, 1, true, Augment{-1, false}, false), std::invalid_argument);
  Dataset broken = d;
  broken.labels.pop_back();
  CHECK_THROWS_AS(BatchStream(broken, 4, 1, true, Augment{}, false), std::invalid_argument);
}
