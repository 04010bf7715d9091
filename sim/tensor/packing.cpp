#include "sim/tensor/packing.hpp"

#include <fmt/format.h>

namespace bitsim::sim {

PackedCodes::PackedCodes(int width, std::int64_t n) : width_(width), size_(n) {
  if (width < 1 || width > 64) throw PackingError(fmt::format("code width {} is not 1..64", width));
  if (n < 0) throw PackingError(fmt::format("negative code count {}", n));
  const auto un = static_cast<std::size_t>(n);
  if (width <= 8) b8_.assign((un * static_cast<std::size_t>(width) + 7) / 8, 0);
  else if (width <= 16) b16_.assign(un, 0);
  else if (width <= 32) b32_.assign(un, 0);
  else b64_.assign(un, 0);
}

std::size_t PackedCodes::storage_bytes() const {
  return b8_.size() + 2 * b16_.size() + 4 * b32_.size() + 8 * b64_.size();
}

void PackedCodes::check_range(std::int64_t first, std::size_t count) const {
  if (first < 0 || first > size_ || count > static_cast<std::size_t>(size_ - first))
    throw PackingError(fmt::format("codes [{}, {}) out of range of {} codes", first, first + static_cast<std::int64_t>(count), size_));
}

std::uint64_t PackedCodes::get(std::int64_t i) const {
  check_range(i, 1);
  const auto u = static_cast<std::size_t>(i);
  if (width_ > 8) {
    if (width_ <= 16) return b16_[u];
    if (width_ <= 32) return b32_[u];
    return b64_[u];
  }
  const std::size_t bit = u * static_cast<std::size_t>(width_), byte = bit >> 3;
  const unsigned shift = bit & 7;
  std::uint32_t window = b8_[byte];
  if (shift + static_cast<unsigned>(width_) > 8) window |= std::uint32_t{b8_[byte + 1]} << 8;
  return (window >> shift) & mask();
}

void PackedCodes::set(std::int64_t i, std::uint64_t code) {
  check_range(i, 1);
  if (code & ~mask()) throw PackingError(fmt::format("code 0x{:x} does not fit {} bits", code, width_));
  const auto u = static_cast<std::size_t>(i);
  if (width_ > 8) {
    if (width_ <= 16) b16_[u] = static_cast<std::uint16_t>(code);
    else if (width_ <= 32) b32_[u] = static_cast<std::uint32_t>(code);
    else b64_[u] = code;
    return;
  }
  const std::size_t bit = u * static_cast<std::size_t>(width_), byte = bit >> 3;
  const unsigned shift = bit & 7;
  const bool two = shift + static_cast<unsigned>(width_) > 8;
  std::uint32_t window = b8_[byte];
  if (two) window |= std::uint32_t{b8_[byte + 1]} << 8;
  const std::uint32_t m = static_cast<std::uint32_t>(mask()) << shift;
  window = (window & ~m) | (static_cast<std::uint32_t>(code) << shift);
  b8_[byte] = static_cast<std::uint8_t>(window);
  if (two) b8_[byte + 1] = static_cast<std::uint8_t>(window >> 8);
}

// Eight consecutive codes starting at an index that is a multiple of 8 occupy exactly `width` whole
// bytes of the stream (8*w bits), starting at byte (index/8)*w: they move as one 64-bit word.
void PackedCodes::unpack(std::int64_t first, std::span<std::uint64_t> out) const {
  check_range(first, out.size());
  const std::size_t n = out.size();
  const auto f = static_cast<std::size_t>(first);
  if (width_ > 8) {
    if (width_ <= 16) for (std::size_t j = 0; j < n; ++j) out[j] = b16_[f + j];
    else if (width_ <= 32) for (std::size_t j = 0; j < n; ++j) out[j] = b32_[f + j];
    else for (std::size_t j = 0; j < n; ++j) out[j] = b64_[f + j];
    return;
  }
  const auto w = static_cast<unsigned>(width_);
  const std::uint64_t m = mask();
  std::size_t j = 0;
  for (; j < n && (f + j) % 8 != 0; ++j) out[j] = get(static_cast<std::int64_t>(f + j));
  if (w == 4) {  // two codes per byte: a loop the compiler vectorizes
    const std::uint8_t* src = b8_.data() + (f + j) / 2;
    const std::size_t pairs = (n - j) / 2;
    for (std::size_t p = 0; p < pairs; ++p) {
      out[j + 2 * p] = src[p] & 0xFu;
      out[j + 2 * p + 1] = src[p] >> 4;
    }
    j += 2 * pairs;
  }
  for (; j + 8 <= n; j += 8) {
    const std::uint8_t* src = b8_.data() + (f + j) / 8 * w;
    std::uint64_t v = 0;
    for (unsigned b = 0; b < w; ++b) v |= std::uint64_t{src[b]} << (8 * b);
    for (unsigned k = 0; k < 8; ++k) out[j + k] = (v >> (k * w)) & m;
  }
  for (; j < n; ++j) out[j] = get(static_cast<std::int64_t>(f + j));
}

void PackedCodes::pack(std::int64_t first, std::span<const std::uint64_t> in) {
  check_range(first, in.size());
  const std::size_t n = in.size();
  const std::uint64_t m = mask();
  std::uint64_t wide = 0;
  for (std::size_t j = 0; j < n; ++j) wide |= in[j] & ~m;
  if (wide)
    for (std::size_t j = 0; j < n; ++j)
      if (in[j] & ~m) throw PackingError(fmt::format("code 0x{:x} (element {}) does not fit {} bits", in[j], first + static_cast<std::int64_t>(j), width_));
  const auto f = static_cast<std::size_t>(first);
  if (width_ > 8) {
    if (width_ <= 16) for (std::size_t j = 0; j < n; ++j) b16_[f + j] = static_cast<std::uint16_t>(in[j]);
    else if (width_ <= 32) for (std::size_t j = 0; j < n; ++j) b32_[f + j] = static_cast<std::uint32_t>(in[j]);
    else for (std::size_t j = 0; j < n; ++j) b64_[f + j] = in[j];
    return;
  }
  const auto w = static_cast<unsigned>(width_);
  std::size_t j = 0;
  for (; j < n && (f + j) % 8 != 0; ++j) set(static_cast<std::int64_t>(f + j), in[j]);
  if (w == 4) {  // two codes per byte (checked to fit above)
    std::uint8_t* dst = b8_.data() + (f + j) / 2;
    const std::size_t pairs = (n - j) / 2;
    for (std::size_t p = 0; p < pairs; ++p)
      dst[p] = static_cast<std::uint8_t>(in[j + 2 * p] | (in[j + 2 * p + 1] << 4));
    j += 2 * pairs;
  }
  for (; j + 8 <= n; j += 8) {
    std::uint64_t v = 0;
    for (unsigned k = 0; k < 8; ++k) v |= in[j + k] << (k * w);
    std::uint8_t* dst = b8_.data() + (f + j) / 8 * w;
    for (unsigned b = 0; b < w; ++b) dst[b] = static_cast<std::uint8_t>(v >> (8 * b));
  }
  for (; j < n; ++j) set(static_cast<std::int64_t>(f + j), in[j]);
}

}  // namespace bitsim::sim
