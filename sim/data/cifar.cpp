#include "sim/data/cifar.hpp"

#include "sim/data/gz_file.hpp"

#include <fmt/format.h>

#include <array>
#include <filesystem>

namespace bitsim::sim::data {

namespace {

constexpr std::int64_t kPixels = kCifarRecordBytes - 1;
constexpr int kClasses = 10;

std::string download_hint() {
  return "Download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and extract it "
         "(tar xzf cifar-10-binary.tar.gz), then point data.dir (--set data.dir=DIR) to the extracted "
         "cifar-10-batches-bin directory";
}

// Appends the records of one batch file to d (d.count, labels, images).
void append_batch(Dataset& d, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw DatasetError(fmt::format("CIFAR-10 file {} not found. {}", path, download_hint()));
  GzFile f(path);
  const std::uint64_t room = kMaxDecodedBytes / sizeof(float) - static_cast<std::uint64_t>(d.images.size());
  const std::uint64_t max_bytes = room / kPixels * kCifarRecordBytes;
  std::vector<std::uint8_t> raw;
  f.read_into(raw, static_cast<std::size_t>(max_bytes));
  if (raw.size() == max_bytes && f.count_rest(1) > 0)
    throw DatasetError(fmt::format("{}: too large: the decoded images would take more than 2^31 bytes", path));
  if (f.truncated_stream()) throw DatasetError(fmt::format("{}: truncated gzip stream", path));
  if (raw.empty() || raw.size() % kCifarRecordBytes != 0)
    throw DatasetError(
        fmt::format("{}: size {} bytes is not a positive multiple of the {}-byte CIFAR-10 record "
                    "(1 label byte + 3072 pixel bytes); the file is truncated or not CIFAR-10 binary",
                    path, raw.size(), kCifarRecordBytes));
  const std::int64_t records = static_cast<std::int64_t>(raw.size()) / kCifarRecordBytes;

  std::array<float, 256> scale{};
  for (int b = 0; b < 256; ++b) scale[static_cast<std::size_t>(b)] = static_cast<float>(b) / 255.0f;
  const std::size_t first = d.images.size();
  d.images.resize(first + static_cast<std::size_t>(records * kPixels));
  d.labels.reserve(d.labels.size() + static_cast<std::size_t>(records));
  for (std::int64_t r = 0; r < records; ++r) {
    const std::uint8_t* rec = raw.data() + r * kCifarRecordBytes;
    if (rec[0] >= kClasses)
      throw DatasetError(
          fmt::format("{}: label {} of record {} is out of range: CIFAR-10 labels are 0..9", path, rec[0], r));
    d.labels.push_back(rec[0]);
    float* dst = d.images.data() + first + static_cast<std::size_t>(r * kPixels);
    for (std::int64_t i = 0; i < kPixels; ++i) dst[i] = scale[rec[1 + i]];
  }
  d.count += records;
}

Dataset empty_cifar(const std::string& name) {
  Dataset d;
  d.name = name;
  d.channels = 3;
  d.height = 32;
  d.width = 32;
  d.classes = kClasses;
  return d;
}

}  // namespace

Dataset read_cifar10_batch(const std::string& path, const std::string& name) {
  Dataset d = empty_cifar(name);
  append_batch(d, path);
  return d;
}

DatasetSplit load_cifar10(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw DatasetError(fmt::format("CIFAR-10 directory {} not found. {}", dir, download_hint()));
  fs::path base(dir);
  if (!fs::exists(base / "data_batch_1.bin", ec) && fs::is_directory(base / "cifar-10-batches-bin", ec))
    base /= "cifar-10-batches-bin";
  DatasetSplit s{empty_cifar("cifar10-train"), empty_cifar("cifar10-test")};
  for (int i = 1; i <= 5; ++i) append_batch(s.train, (base / fmt::format("data_batch_{}.bin", i)).string());
  append_batch(s.test, (base / "test_batch.bin").string());
  return s;
}

}  // namespace bitsim::sim::data
