// Storage of fixed-width codes (bit patterns of one number format), as a hardware memory holds them.
//
// Layout, by code width w (1..64):
//   * w <= 8: a packed little-endian bit stream of ceil(n*w/8) bytes. Code i occupies stream bits
//     [i*w, i*w + w); stream bit b is bit (b mod 8) of byte floor(b/8); the code's least significant
//     bit sits at the lowest stream bit. So two 4-bit codes share a byte (code 0 in the low nibble),
//     four 6-bit codes fill three bytes (byte 0 = c0 | c1<<6, byte 1 = c1>>2 | c2<<4,
//     byte 2 = c2>>4 | c3<<2), eight 1-bit codes fill a byte (code 0 in bit 0). Codes may straddle
//     bytes. Unused high bits of the last byte are always 0.
//   * 9 <= w <= 16: one std::uint16_t per code; 17..32: std::uint32_t; 33..64: std::uint64_t (host
//     byte order); unused high bits are 0.
//
// Every code must fit the width: writing a wider code throws PackingError (nothing is truncated).
#pragma once

#include "io/error.hpp"

#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

namespace bitsim::sim {

class PackingError : public bitsim::Error {
 public:
  using Error::Error;
};

class PackedCodes {
 public:
  PackedCodes() = default;
  // n codes of `width` bits (1..64), all 0.
  PackedCodes(int width, std::int64_t n);

  int width() const { return width_; }
  std::int64_t size() const { return size_; }
  // Bytes of storage (the packed stream for w <= 8, else size() times the word size).
  std::size_t storage_bytes() const;

  // Code i; an index outside [0, size()) throws PackingError.
  std::uint64_t get(std::int64_t i) const;
  void set(std::int64_t i, std::uint64_t code);

  // unpack: out[j] = code(first + j); pack: code(first + j) = in[j]; for a contiguous range (neighbouring
  // codes in shared bytes are preserved). Fast for any width and any start: groups of 8 codes
  // (w whole bytes of the stream) move as one 64-bit word.
  void unpack(std::int64_t first, std::span<std::uint64_t> out) const;
  void pack(std::int64_t first, std::span<const std::uint64_t> in);

  // The raw storage; only the one matching the width is non-empty.
  std::span<const std::uint8_t> bytes() const { return b8_; }      // w <= 8
  std::span<const std::uint16_t> words16() const { return b16_; }  // 9..16
  std::span<const std::uint32_t> words32() const { return b32_; }  // 17..32
  std::span<const std::uint64_t> words64() const { return b64_; }  // 33..64

  bool operator==(const PackedCodes&) const = default;

 private:
  void check_range(std::int64_t first, std::size_t count) const;
  std::uint64_t mask() const { return width_ == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << width_) - 1; }

  int width_ = 8;
  std::int64_t size_ = 0;
  std::vector<std::uint8_t> b8_;
  std::vector<std::uint16_t> b16_;
  std::vector<std::uint32_t> b32_;
  std::vector<std::uint64_t> b64_;
};

}  // namespace bitsim::sim
