// Packed code storage (sim/tensor/packing.hpp): every width 1..8 exhaustively over start/length on random
// codes against an independent bit-by-bit model of the documented stream layout; the wider word
// layouts; errors.
#include "sim/tensor/packing.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

using bitsim::sim::PackedCodes;
using bitsim::sim::PackingError;

namespace {

std::uint64_t mask_of(int w) { return w == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << w) - 1; }

std::vector<std::uint64_t> random_codes(int w, std::size_t n, std::mt19937_64& rng) {
  std::vector<std::uint64_t> v(n);
  for (auto& c : v) c = rng() & mask_of(w);
  return v;
}

// The documented layout, bit by bit: code i's bit b is stream bit i*w + b, stream bit s is bit s%8 of
// byte s/8.
std::vector<std::uint8_t> model_stream(int w, const std::vector<std::uint64_t>& codes) {
  std::vector<std::uint8_t> bytes((codes.size() * static_cast<std::size_t>(w) + 7) / 8, 0);
  for (std::size_t i = 0; i < codes.size(); ++i)
    for (int b = 0; b < w; ++b)
      if ((codes[i] >> b) & 1) {
        const std::size_t s = i * static_cast<std::size_t>(w) + static_cast<std::size_t>(b);
        bytes[s / 8] = static_cast<std::uint8_t>(bytes[s / 8] | (1u << (s % 8)));
      }
  return bytes;
}

}  // namespace

TEST_CASE("packing: documented byte layouts", "[tensor][packing]") {
  PackedCodes p4(4, 3);
  p4.pack(0, std::vector<std::uint64_t>{0x1, 0x2, 0xF});
  REQUIRE(p4.bytes().size() == 2);
  CHECK(p4.bytes()[0] == 0x21);  // code 0 in the low nibble
  CHECK(p4.bytes()[1] == 0x0F);  // unused high nibble stays 0

  // Four 6-bit codes in three bytes: b0 = c0 | c1<<6, b1 = c1>>2 | c2<<4, b2 = c2>>4 | c3<<2.
  PackedCodes p6(6, 4);
  p6.pack(0, std::vector<std::uint64_t>{0x3F, 0x15, 0x2A, 0x01});
  REQUIRE(p6.bytes().size() == 3);
  CHECK(p6.bytes()[0] == 0x7F);  // 0x3F | (0x15 & 3) << 6 = 0x3F | 0x40
  CHECK(p6.bytes()[1] == 0xA5);  // 0x15 >> 2 = 0x05, | (0x2A & 0xF) << 4 = 0xA0
  CHECK(p6.bytes()[2] == 0x06);  // 0x2A >> 4 = 0x2, | 0x01 << 2 = 0x4

  PackedCodes p1(1, 10);
  p1.set(0, 1);
  p1.set(9, 1);
  CHECK(p1.bytes().size() == 2);
  CHECK(p1.bytes()[0] == 0x01);
  CHECK(p1.bytes()[1] == 0x02);

  CHECK(PackedCodes(9, 5).words16().size() == 5);
  CHECK(PackedCodes(17, 5).words32().size() == 5);
  CHECK(PackedCodes(33, 5).words64().size() == 5);
  CHECK(PackedCodes(3, 16).storage_bytes() == 6);
  CHECK(PackedCodes(12, 16).storage_bytes() == 32);
}

TEST_CASE("packing: every width 1..8, every start and length, against the bit model", "[tensor][packing]") {
  std::mt19937_64 rng(2024);
  for (int w = 1; w <= 8; ++w) {
    const std::size_t n = 53;  // not a multiple of 8: partial groups at both ends
    const auto codes = random_codes(w, n, rng);
    PackedCodes p(w, static_cast<std::int64_t>(n));
    p.pack(0, codes);
    REQUIRE(std::vector<std::uint8_t>(p.bytes().begin(), p.bytes().end()) == model_stream(w, codes));
    for (std::size_t i = 0; i < n; ++i) REQUIRE(p.get(static_cast<std::int64_t>(i)) == codes[i]);
    for (std::size_t first = 0; first <= n; ++first)
      for (std::size_t len = 0; first + len <= n; ++len) {
        // unpack any range
        std::vector<std::uint64_t> out(len, ~std::uint64_t{0});
        p.unpack(static_cast<std::int64_t>(first), out);
        for (std::size_t j = 0; j < len; ++j) REQUIRE(out[j] == codes[first + j]);
        // pack any range into a stream of other codes: the range changes, its neighbours do not
        PackedCodes q(w, static_cast<std::int64_t>(n));
        const auto background = random_codes(w, n, rng);
        q.pack(0, background);
        const auto fresh = random_codes(w, len, rng);
        q.pack(static_cast<std::int64_t>(first), fresh);
        auto expect = background;
        for (std::size_t j = 0; j < len; ++j) expect[first + j] = fresh[j];
        REQUIRE(std::vector<std::uint8_t>(q.bytes().begin(), q.bytes().end()) == model_stream(w, expect));
      }
    // set() one code at a time
    PackedCodes s(w, static_cast<std::int64_t>(n));
    for (std::size_t i = n; i-- > 0;) s.set(static_cast<std::int64_t>(i), codes[i]);
    REQUIRE(s == p);
  }
}

TEST_CASE("packing: wider codes in 16/32/64-bit words", "[tensor][packing]") {
  std::mt19937_64 rng(7);
  for (int w : {9, 12, 16, 17, 24, 32, 33, 53, 63, 64}) {
    const std::size_t n = 37;
    const auto codes = random_codes(w, n, rng);
    PackedCodes p(w, static_cast<std::int64_t>(n));
    p.pack(0, codes);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(p.get(static_cast<std::int64_t>(i)) == codes[i]);
    std::vector<std::uint64_t> out(n - 5);
    p.unpack(3, out);
    for (std::size_t j = 0; j < out.size(); ++j) REQUIRE(out[j] == codes[3 + j]);
    if (w <= 16) CHECK(p.words16()[4] == codes[4]);
    else if (w <= 32) CHECK(p.words32()[4] == codes[4]);
    else CHECK(p.words64()[4] == codes[4]);
  }
}

TEST_CASE("packing: errors", "[tensor][packing]") {
  PackedCodes p(5, 10);
  CHECK_THROWS_AS(p.set(0, 32), PackingError);  // 6 bits into 5
  CHECK_THROWS_AS(p.set(10, 1), PackingError);
  CHECK_THROWS_AS(p.get(-1), PackingError);
  std::vector<std::uint64_t> big(4, 1);
  big[2] = 0x20;
  CHECK_THROWS_AS(p.pack(0, big), PackingError);
  CHECK(p.get(0) == 0);  // nothing was written
  std::vector<std::uint64_t> out(3);
  CHECK_THROWS_AS(p.unpack(8, out), PackingError);
  CHECK_THROWS_AS(PackedCodes(0, 1), PackingError);
  CHECK_THROWS_AS(PackedCodes(65, 1), PackingError);
}
