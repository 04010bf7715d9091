// Fast path of the Graham 2017 formats: the exact decision thresholds and the exact output values,
// both precomputed per format as values of the input type T, so that quantizing is a search over a
// sorted table. The thresholds are the smallest T at or above each exact (often irrational or
// non-dyadic) boundary, so comparing an input of type T against them is exact. Internal to formats/.
#pragma once

#include "formats/format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace bitsim::formats::detail {

// Tables are built only for formats with at most this many indices (hi - lo + 1); larger Graham
// formats use the golden path per element.
inline constexpr std::int64_t kMaxGrahamTable = 4096;

template <class T> struct GrahamTable {
  bool on_magnitude = true;       // log and O4 act on |x| and carry a sign bit; midrise acts on x
  std::int64_t lo = 0, hi = 0;    // index range
  int width = 0;
  std::uint64_t sign_code = 0;    // sign bit of log/O4 codes
  // th[i] = smallest T at or above the boundary where the unclamped index reaches lo + i,
  // i = 0 .. hi-lo+1 (th[0]: reaches lo; th[hi-lo+1]: exceeds hi).
  std::vector<T> th;
  std::vector<T> value;           // value[n - lo]: magnitude (log/O4) or signed value (midrise)
  std::vector<bool> value_exact;  // value[n - lo] is exactly the format's value (not rounded)
  // Midrise only: about s, for a first guess floor(s x) of the index that the exact thresholds then
  // correct (0 for log and O4, which search).
  T guess_scale = 0;
};

// Builds the table of a Graham format (throws if the format has more than kMaxGrahamTable indices).
template <class T> GrahamTable<T> build_graham_table(const Format& f);

struct GrahamLookup {
  std::int64_t n;      // clamped index
  bool overflow;       // unclamped index above hi
  bool underflow_raw;  // unclamped index below lo
};

// Index of a finite, non-zero (log/O4) or finite (midrise) input.
template <class T> inline GrahamLookup graham_index(const GrahamTable<T>& t, T x) {
  const T key = t.on_magnitude ? (x < 0 ? -x : x) : x;
  const std::size_t count = t.th.size();  // hi-lo+2 entries
  if (t.guess_scale > 0) {
    // Midrise: guess from floor(s x), clamped, then step to the cell the exact thresholds give (the
    // guess is off by at most one for any input; the loops make that irrelevant to correctness).
    const std::int64_t span = t.hi - t.lo;
    T g = std::floor(key * t.guess_scale);
    g = g < static_cast<T>(t.lo) ? static_cast<T>(t.lo) : (g > static_cast<T>(t.hi) ? static_cast<T>(t.hi) : g);
    std::int64_t above = static_cast<std::int64_t>(g) - t.lo;
    while (above > 0 && key < t.th[static_cast<std::size_t>(above)]) --above;
    while (above < span && key >= t.th[static_cast<std::size_t>(above + 1)]) ++above;
    return GrahamLookup{t.lo + above, key >= t.th[count - 1], key < t.th[0]};
  }
  // number of interior thresholds th[1..hi-lo] at or below key
  const auto first = t.th.begin() + 1, last = t.th.begin() + static_cast<std::ptrdiff_t>(count - 1);
  const std::int64_t above = std::upper_bound(first, last, key) - first;
  return GrahamLookup{t.lo + above, key >= t.th[count - 1], key < t.th[0]};
}

}  // namespace bitsim::formats::detail
