// Fuzz target: the IDX readers of (Fashion-)MNIST (sim::data::read_idx), raw and gzip-compressed.
// Input layout: byte 0 the number of classes asked for (0: inferred), bytes 1..2 the length L of the
// image file (little endian, capped at what is there), then L bytes of image file, then the label file.
// Properties: read_idx returns a consistent Dataset (sizes that match its header, labels below its
// classes, pixels in [0, 1]) or throws DatasetError; never a crash, another exception, or an
// allocation the files cannot back (a lying header is refused before it allocates).
#include "fuzz_input.hpp"

#include "sim/data/idx.hpp"

#include <algorithm>

using namespace bitsim::sim::data;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const int classes = data[0] % 12;  // 0 (inferred) .. 11, around the 10 of the real sets
  const std::size_t image_bytes = std::min<std::size_t>(data[1] | (std::size_t{data[2]} << 8), size - 3);
  const bitsim::fuzz::MemoryFile images(data + 3, image_bytes);
  const bitsim::fuzz::MemoryFile labels(data + 3 + image_bytes, size - 3 - image_bytes);
  Dataset d;
  try {
    d = read_idx(images.path(), labels.path(), "fuzz", classes);
  } catch (const DatasetError&) {
    return 0;
  }
  const std::size_t per_image = static_cast<std::size_t>(d.channels * d.height * d.width);
  if (d.channels != 1 || d.height < 1 || d.width < 1) bitsim::fuzz::property_failed("bad image shape");
  if (d.images.size() != static_cast<std::size_t>(d.count) * per_image || d.labels.size() != static_cast<std::size_t>(d.count))
    bitsim::fuzz::property_failed("sizes do not match the count");
  if (classes > 0 && d.classes != classes) bitsim::fuzz::property_failed("classes differ from the request");
  for (const auto l : d.labels)
    if (l < 0 || static_cast<int>(l) >= d.classes) bitsim::fuzz::property_failed("a label is not below classes");
  for (const float p : d.images)
    if (!(p >= 0.0f && p <= 1.0f)) bitsim::fuzz::property_failed("a pixel is outside [0, 1]");
  return 0;
}
