// Fuzz target: the CIFAR-10 binary batch reader (sim::data::read_cifar10_batch), raw and gzip-compressed.
// Properties: it returns a consistent Dataset (3x32x32, one label 0..9 per record, pixels in [0, 1],
// as many records as the file holds) or throws DatasetError; never a crash or another exception.
#include "fuzz_input.hpp"

#include "sim/data/cifar.hpp"

using namespace bitsim::sim::data;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bitsim::fuzz::MemoryFile file(data, size);
  Dataset d;
  try {
    d = read_cifar10_batch(file.path(), "fuzz");
  } catch (const DatasetError&) {
    return 0;
  }
  if (d.channels != 3 || d.height != 32 || d.width != 32 || d.classes != 10 || d.count < 1)
    bitsim::fuzz::property_failed("bad shape or class count");
  if (d.images.size() != static_cast<std::size_t>(d.count) * 3072 || d.labels.size() != static_cast<std::size_t>(d.count))
    bitsim::fuzz::property_failed("sizes do not match the count");
  for (const auto l : d.labels)
    if (l > 9) bitsim::fuzz::property_failed("a label above 9");
  for (const float p : d.images)
    if (!(p >= 0.0f && p <= 1.0f)) bitsim::fuzz::property_failed("a pixel is outside [0, 1]");
  return 0;
}
