#include "analysis/tensor_stats.hpp"

#include "sim/runtime/task_split.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace bitsim::analysis {

int log2_bin(float x) {
  const std::uint32_t b = std::bit_cast<std::uint32_t>(x);
  const int field = static_cast<int>((b >> 23) & 0xffu);
  const std::uint32_t mant = b & 0x7fffffu;
  // Subnormal: |x| = mant * 2^-149, so floor(log2|x|) is the position of mant's top bit minus 149.
  const int e = field == 0 ? (31 - std::countl_zero(mant)) - 149 : field - 127;
  return e - kHistMinExponent;
}

int log2_bin(double x) {
  const std::uint64_t b = std::bit_cast<std::uint64_t>(x);
  const int field = static_cast<int>((b >> 52) & 0x7ffu);
  const std::uint64_t mant = b & ((std::uint64_t{1} << 52) - 1);
  const int e = field == 0 ? (63 - std::countl_zero(mant)) - 1074 : field - 1023;
  return e - kHistMinExponent;
}

namespace {

// Blocks of a fixed size: partial results are combined in block order, so the numbers never depend
// on the thread count. Within a block, sums run in kLanes interleaved accumulators (element i in lane
// i % kLanes), which the compiler can vectorize without reassociating anything.
constexpr std::size_t kBlock = std::size_t{1} << 15;
constexpr std::size_t kLanes = 8;

bool all_finite(const float* x, std::size_t n) {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) bad |= (std::bit_cast<std::uint32_t>(x[i]) & 0x7f800000u) == 0x7f800000u;
  return bad == 0;
}

struct FirstPass {
  std::uint64_t finite = 0, zeros = 0, pos_inf = 0, neg_inf = 0, nan = 0;
  double sum = 0;
  float mn = std::numeric_limits<float>::infinity(), mx = -std::numeric_limits<float>::infinity();
};

FirstPass first_pass(const float* x, std::size_t n) {
  FirstPass p;
  if (all_finite(x, n)) {
    double sum[kLanes] = {};
    float mn[kLanes], mx[kLanes];
    std::uint64_t z[kLanes] = {};
    std::fill(mn, mn + kLanes, p.mn);
    std::fill(mx, mx + kLanes, p.mx);
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (std::size_t j = 0; j < kLanes; ++j) {
        const float v = x[i + j];
        sum[j] += static_cast<double>(v);
        mn[j] = v < mn[j] ? v : mn[j];
        mx[j] = v > mx[j] ? v : mx[j];
        z[j] += v == 0.0f;
      }
    for (std::size_t j = 0; i + j < n; ++j) {
      const float v = x[i + j];
      sum[j] += static_cast<double>(v);
      mn[j] = v < mn[j] ? v : mn[j];
      mx[j] = v > mx[j] ? v : mx[j];
      z[j] += v == 0.0f;
    }
    for (std::size_t j = 0; j < kLanes; ++j) {
      p.sum += sum[j];
      p.mn = std::min(p.mn, mn[j]);
      p.mx = std::max(p.mx, mx[j]);
      p.zeros += z[j];
    }
    p.finite = n;
    return p;
  }
  for (std::size_t i = 0; i < n; ++i) {  // rare: a block holding infinities or NaNs
    const float v = x[i];
    if (std::isnan(v)) ++p.nan;
    else if (std::isinf(v)) ++(v > 0 ? p.pos_inf : p.neg_inf);
    else {
      ++p.finite;
      p.sum += static_cast<double>(v);
      p.mn = std::min(p.mn, v);
      p.mx = std::max(p.mx, v);
      p.zeros += v == 0.0f;
    }
  }
  return p;
}

struct SecondPass {
  double m2 = 0, m3 = 0, m4 = 0;
  std::array<std::uint64_t, 256> by_field{};  // counts per float exponent field (1..254: normals)
  std::array<std::uint64_t, 23> subnormal{};  // subnormals by the position of their top mantissa bit
};

void second_pass(const float* x, std::size_t n, double mean, std::uint64_t zeros, SecondPass& p) {
  double m2[kLanes] = {}, m3[kLanes] = {}, m4[kLanes] = {};
  // Four sub-histograms, so that runs of equal exponents do not serialize on one counter.
  std::uint32_t h[4][256] = {};
  const bool finite = all_finite(x, n);
  std::size_t i = 0;
  if (finite) {
    for (; i + kLanes <= n; i += kLanes)
      for (std::size_t j = 0; j < kLanes; ++j) {
        const double d = static_cast<double>(x[i + j]) - mean, d2 = d * d;
        m2[j] += d2;
        m3[j] += d2 * d;
        m4[j] += d2 * d2;
      }
    for (std::size_t j = 0; i + j < n; ++j) {
      const double d = static_cast<double>(x[i + j]) - mean, d2 = d * d;
      m2[j] += d2;
      m3[j] += d2 * d;
      m4[j] += d2 * d2;
    }
  } else {
    for (; i < n; ++i) {
      if (!std::isfinite(x[i])) continue;
      const double d = static_cast<double>(x[i]) - mean, d2 = d * d;
      m2[0] += d2;
      m3[0] += d2 * d;
      m4[0] += d2 * d2;
    }
  }
  for (std::size_t j = 0; j < kLanes; ++j) {
    p.m2 += m2[j];
    p.m3 += m3[j];
    p.m4 += m4[j];
  }
  std::size_t k = 0;
  for (; k + 4 <= n; k += 4)
    for (std::size_t j = 0; j < 4; ++j) ++h[j][(std::bit_cast<std::uint32_t>(x[k + j]) >> 23) & 0xffu];
  for (; k < n; ++k) ++h[0][(std::bit_cast<std::uint32_t>(x[k]) >> 23) & 0xffu];
  for (int f = 0; f < 256; ++f) p.by_field[static_cast<std::size_t>(f)] += std::uint64_t{h[0][f]} + h[1][f] + h[2][f] + h[3][f];
  // Field 0 holds zeros and subnormals: place the subnormals (if any) by their top mantissa bit.
  if (h[0][0] + h[1][0] + h[2][0] + h[3][0] > zeros)
    for (std::size_t e = 0; e < n; ++e) {
      const std::uint32_t b = std::bit_cast<std::uint32_t>(x[e]);
      if ((b & 0x7f800000u) == 0 && (b & 0x7fffffu) != 0) ++p.subnormal[static_cast<std::size_t>(31 - std::countl_zero(b & 0x7fffffu))];
    }
}

template <class Body> void for_blocks(std::size_t n, int threads, Body body) {
  const auto blocks = static_cast<std::int64_t>((n + kBlock - 1) / kBlock);
  sim::detail::run_tasks(blocks, threads, [&](std::int64_t b, int) {
    const std::size_t lo = static_cast<std::size_t>(b) * kBlock;
    body(static_cast<std::size_t>(b), lo, std::min(n, lo + kBlock));
  });
}

// One block of one side: both passes run while the block is in cache (the second about the block's
// own mean); blocks are then merged with the exact pairwise update of central moments (Pebay 2008).
struct BlockSide {
  FirstPass first;
  double mean = 0;
  SecondPass second;  // m2, m3, m4: sums of (x - mean)^k over the block's finite values
};

void block_side(const float* x, std::size_t n, BlockSide& b) {
  b.first = first_pass(x, n);
  b.mean = b.first.finite ? b.first.sum / static_cast<double>(b.first.finite) : 0.0;
  second_pass(x, n, b.mean, b.first.zeros, b.second);
}

void merge_blocks(const std::vector<BlockSide>& blocks, SideStats& out) {
  out.hist.assign(kHistBins, 0);
  FirstPass t;
  double mean = 0, m2 = 0, m3 = 0, m4 = 0, na = 0;
  for (const BlockSide& b : blocks) {
    const FirstPass& p = b.first;
    t.finite += p.finite;
    t.zeros += p.zeros;
    t.pos_inf += p.pos_inf;
    t.neg_inf += p.neg_inf;
    t.nan += p.nan;
    t.mn = std::min(t.mn, p.mn);
    t.mx = std::max(t.mx, p.mx);
    for (int f = 1; f < 255; ++f) out.hist[static_cast<std::size_t>(f - 127 - kHistMinExponent)] += b.second.by_field[static_cast<std::size_t>(f)];
    for (int q = 0; q < 23; ++q) out.hist[static_cast<std::size_t>(q - 149 - kHistMinExponent)] += b.second.subnormal[static_cast<std::size_t>(q)];
    if (p.finite == 0) continue;
    const double nb = static_cast<double>(p.finite), n = na + nb, d = b.mean - mean, d2 = d * d;
    const double a2 = m2, a3 = m3, b2 = b.second.m2, b3 = b.second.m3;
    m4 = m4 + b.second.m4 + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n) +
         6 * d2 * (na * na * b2 + nb * nb * a2) / (n * n) + 4 * d * (na * b3 - nb * a3) / n;
    m3 = a3 + b3 + d2 * d * na * nb * (na - nb) / (n * n) + 3 * d * (na * b2 - nb * a2) / n;
    m2 = a2 + b2 + d2 * na * nb / n;
    mean = mean + d * nb / n;
    na = n;
  }
  out.finite = t.finite;
  out.zeros = t.zeros;
  out.pos_inf = t.pos_inf;
  out.neg_inf = t.neg_inf;
  out.nan = t.nan;
  const double nan_v = std::numeric_limits<double>::quiet_NaN();
  if (t.finite == 0) {
    out.mean = out.std = out.min = out.max = out.absmax = out.skewness = out.kurtosis = nan_v;
    return;
  }
  m2 /= na;
  m3 /= na;
  m4 /= na;
  out.mean = mean;
  out.std = std::sqrt(m2);
  out.min = t.mn;
  out.max = t.mx;
  out.absmax = std::max(std::fabs(out.min), std::fabs(out.max));
  out.skewness = m2 > 0 ? m3 / (m2 * std::sqrt(m2)) : nan_v;
  out.kurtosis = m2 > 0 ? m4 / (m2 * m2) : nan_v;
}

}  // namespace

void side_stats(std::span<const float> x, SideStats& out, int threads) {
  std::vector<BlockSide> blocks((x.size() + kBlock - 1) / kBlock);
  for_blocks(x.size(), threads, [&](std::size_t b, std::size_t lo, std::size_t hi) { block_side(x.data() + lo, hi - lo, blocks[b]); });
  merge_blocks(blocks, out);
}

namespace {

// Adds the non-NaN bit patterns of x not yet in `table` to `table` (open addressing, doubled whenever
// half full; it starts small, so a format of 8 bits or fewer stays in L1) and to `found`, stopping
// once `found` holds kDistinctCap values.
void collect_distinct(std::span<const float> x, std::vector<std::uint32_t>& table, std::vector<float>& found,
                      std::size_t size = 1024) {
  constexpr std::uint32_t kEmpty = 0x7fffffffu;  // a NaN pattern: NaNs are never inserted
  table.assign(size, kEmpty);
  auto insert = [&](std::uint32_t b) {
    const std::size_t mask = size - 1;
    const int shift = 32 - std::countr_zero(size);
    std::size_t h = static_cast<std::size_t>((b * 0x9e3779b1u) >> shift);
    while (true) {
      if (table[h] == b) return false;
      if (table[h] == kEmpty) {
        table[h] = b;
        return true;
      }
      h = (h + 1) & mask;
    }
  };
  std::uint32_t last = kEmpty;  // runs of one value (zeros after ReLU) skip the lookup
  for (const float f : x) {
    const std::uint32_t b = std::bit_cast<std::uint32_t>(f);
    if (b == last || std::isnan(f)) continue;
    last = b;
    if (!insert(b)) continue;
    found.push_back(f);
    if (found.size() == kDistinctCap) return;
    if (2 * found.size() > size) {  // grow: reinsert every stored pattern
      std::vector<std::uint32_t> old;
      old.swap(table);
      size *= 2;
      table.assign(size, kEmpty);
      for (const std::uint32_t v : old)
        if (v != kEmpty) insert(v);
    }
  }
}

void distinct_values(std::span<const float> x, std::vector<std::uint32_t>& table, std::vector<float>& found) {
  found.clear();
  collect_distinct(x, table, found);
}

}  // namespace

std::uint64_t count_distinct(std::span<const float> x, std::vector<std::uint32_t>& table) {
  std::vector<float> found;
  collect_distinct(x, table, found);
  return found.size();
}

namespace {

struct PairPass {
  std::uint64_t under = 0, sat = 0, over = 0, pairs = 0;
  double err2 = 0, sig2 = 0;
};

PairPass pair_pass(const float* b, const float* a, std::size_t n, double m, double m_lo) {
  PairPass p;
  if (all_finite(b, n) && all_finite(a, n)) {
    double e2[kLanes] = {}, s2[kLanes] = {};
    std::uint64_t u[kLanes] = {}, sat[kLanes] = {};
    // The ends are format values (exact in float) or +-inf, which no finite before exceeds.
    const float hi = static_cast<float>(m), lo = static_cast<float>(m_lo);
    std::size_t i = 0;
    auto one = [&](std::size_t j, float bv, float av) {
      const double d = static_cast<double>(av) - static_cast<double>(bv);
      e2[j] += d * d;
      s2[j] += static_cast<double>(bv) * static_cast<double>(bv);
      u[j] += (bv != 0.0f) & (av == 0.0f);
      sat[j] += ((bv > hi) & (av == hi)) | ((bv < lo) & (av == lo));
    };
    for (; i + kLanes <= n; i += kLanes)
      for (std::size_t j = 0; j < kLanes; ++j) one(j, b[i + j], a[i + j]);
    for (std::size_t j = 0; i + j < n; ++j) one(j, b[i + j], a[i + j]);
    for (std::size_t j = 0; j < kLanes; ++j) {
      p.err2 += e2[j];
      p.sig2 += s2[j];
      p.under += u[j];
      p.sat += sat[j];
    }
    p.pairs = n;
    return p;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double bv = b[i], av = a[i];
    if (!std::isfinite(bv)) continue;
    if (!std::isfinite(av)) {
      ++p.over;
      continue;
    }
    p.under += bv != 0 && av == 0;
    p.sat += (bv > m && av == m) || (bv < m_lo && av == m_lo);
    const double d = av - bv;
    p.err2 += d * d;
    p.sig2 += bv * bv;
    ++p.pairs;
  }
  return p;
}

}  // namespace

void fill_distinct(std::span<const float> after, const RoundingLimits& limits, TensorStats& out,
                   std::vector<std::uint32_t>& scratch, int threads) {
  if (limits.codes == 0 || limits.codes > kDistinctMaxCodes) {
    out.distinct = 0;
    out.utilization = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  // Each block's distinct values, then their union (a count that no order of work can change).
  // Few codes: per-block tables stay in L1 and the union is small. Many codes (up to 2^16): one table,
  // since per-block sets would be nearly as large as the blocks.
  const std::size_t blocks = (after.size() + kBlock - 1) / kBlock;
  if (blocks <= 1 || limits.codes > 4096) {
    std::size_t size = 1024;
    while (size < 2 * std::min<std::uint64_t>(limits.codes, after.size())) size <<= 1;  // no regrowth
    std::vector<float> found;
    collect_distinct(after, scratch, found, size);
    out.distinct = found.size();
  } else {
    std::vector<std::vector<float>> found(blocks);
    for_blocks(after.size(), threads, [&](std::size_t b, std::size_t lo, std::size_t hi) {
      std::vector<std::uint32_t> table;
      distinct_values(after.subspan(lo, hi - lo), table, found[b]);
    });
    std::vector<float> all;
    for (const auto& f : found) all.insert(all.end(), f.begin(), f.end());
    out.distinct = count_distinct(all, scratch);
  }
  out.utilization = static_cast<double>(out.distinct) / static_cast<double>(limits.codes);
}

void identity_stats(std::span<const float> x, const RoundingLimits& limits, TensorStats& out,
                    std::vector<std::uint32_t>& scratch, int threads) {
  out.count = x.size();
  side_stats(x, out.before, threads);
  out.after = out.before;
  out.underflow = out.saturated = out.overflow = 0;
  // The same as tensor_stats(x, x): no error, so mse 0 and snr +inf (NaN when no value is non-zero).
  const double nan_v = std::numeric_limits<double>::quiet_NaN();
  out.mse = out.before.finite ? 0.0 : nan_v;
  out.snr_db = out.before.finite > out.before.zeros ? std::numeric_limits<double>::infinity() : nan_v;
  fill_distinct(x, limits, out, scratch, threads);
}

void tensor_stats(std::span<const float> before, std::span<const float> after, const RoundingLimits& limits,
                  TensorStats& out, std::vector<std::uint32_t>& scratch, int threads) {
  if (before.size() != after.size())
    throw std::invalid_argument("tensor_stats: before and after differ in size");
  out.count = before.size();
  // One sweep: each block's before, after and pair statistics while it is in cache.
  const std::size_t blocks = (before.size() + kBlock - 1) / kBlock;
  std::vector<BlockSide> bs(blocks), as(blocks);
  std::vector<PairPass> parts(blocks);
  for_blocks(before.size(), threads, [&](std::size_t b, std::size_t lo, std::size_t hi) {
    block_side(before.data() + lo, hi - lo, bs[b]);
    block_side(after.data() + lo, hi - lo, as[b]);
    parts[b] = pair_pass(before.data() + lo, after.data() + lo, hi - lo, limits.max_finite, limits.min_finite);
  });
  merge_blocks(bs, out.before);
  merge_blocks(as, out.after);
  PairPass t;
  for (const PairPass& p : parts) {
    t.under += p.under;
    t.sat += p.sat;
    t.over += p.over;
    t.pairs += p.pairs;
    t.err2 += p.err2;
    t.sig2 += p.sig2;
  }
  out.underflow = t.under;
  out.saturated = t.sat;
  out.overflow = t.over;
  const double nan_v = std::numeric_limits<double>::quiet_NaN();
  out.mse = t.pairs ? t.err2 / static_cast<double>(t.pairs) : nan_v;
  out.snr_db = t.err2 > 0 ? 10 * std::log10(t.sig2 / t.err2) : t.sig2 > 0 ? std::numeric_limits<double>::infinity() : nan_v;
  fill_distinct(after, limits, out, scratch, threads);
}

}  // namespace bitsim::analysis
