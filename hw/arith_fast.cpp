// The integer fast path of the golden arithmetic (arith_fast.hpp). Each rule below is the golden path's
// (hw/arith.cpp, formats/golden.cpp) restated on integers; the comments name the step of
// docs/spec/formats.md section 2 they implement.
#include "hw/arith_fast.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace bitsim::formats {

namespace {

__extension__ typedef unsigned __int128 u128;  // GCC and Clang on 64-bit targets
using u64 = std::uint64_t;

int bit_length(u128 x) {
  const u64 hi = static_cast<u64>(x >> 64);
  return hi ? 128 - std::countl_zero(hi) : 64 - std::countl_zero(static_cast<u64>(x));
}

u128 low_mask(int bits) { return bits >= 128 ? ~u128(0) : (u128(1) << bits) - 1; }

// ---- operands ----------------------------------------------------------------------------------------

enum class Kind : std::uint8_t { zero, finite, inf, nan };

// A decoded operand: value = (-1)^neg x sig x 2^exp for finite ones (sig != 0).
struct Value {
  Kind kind = Kind::zero;
  bool neg = false;
  bool snan = false;
  u64 code = 0;  // the code as the operation sees it (a DAZ-flushed subnormal reads as a zero's code)
  std::int64_t exp = 0;
  u64 sig = 0;
};

Value decode(const FastLayout& L, u64 code, bool daz) {
  Value v;
  v.code = code;
  if (!L.is_float) {
    std::int64_t c = static_cast<std::int64_t>(code);
    if (L.is_signed && L.width < 64 && (code >> (L.width - 1)) & 1) c = static_cast<std::int64_t>(code | ~((u64(1) << L.width) - 1));
    if (!L.is_signed || c >= 0) {
      v.sig = code;
    } else {
      v.neg = true;
      v.sig = u64(0) - static_cast<u64>(c);
    }
    v.kind = v.sig ? Kind::finite : Kind::zero;
    v.exp = -L.f;
    return v;
  }
  const u64 idx = code & (L.sign_bit - 1);
  const u64 field = idx >> L.m, frac = idx & L.frac_mask;
  v.neg = (code & L.sign_bit) != 0;
  switch (L.special) {
    case Special::ieee:
      if (field == L.top_field) {
        if (frac == 0 || L.m == 0) v.kind = Kind::inf;
        else {
          v.kind = Kind::nan;
          v.snan = ((frac >> (L.m - 1)) & 1) == 0;
        }
        return v;
      }
      break;
    case Special::fn:
      if (L.m == 0 ? field == L.top_field : idx == L.sign_bit - 1) {
        v.kind = Kind::nan;
        return v;
      }
      break;
    case Special::fnuz:
      if (code == L.sign_bit) {
        v.kind = Kind::nan;
        return v;
      }
      break;
    case Special::inuz:
      if (code == L.sign_bit) {
        v.kind = Kind::nan;
        return v;
      }
      if (idx == L.inf_index) {
        v.kind = Kind::inf;
        return v;
      }
      break;
    case Special::none: break;
  }
  if (idx == 0) return v;  // zero
  if (field == 0) {
    if (daz) {
      v.code = (v.neg && L.negative_zero) ? L.sign_bit : 0;
      return v;  // a zero of its sign
    }
    v.kind = Kind::finite;
    v.sig = frac;
    v.exp = L.emin - L.m;
    return v;
  }
  v.kind = Kind::finite;
  v.sig = (u64(1) << L.m) | frac;
  v.exp = static_cast<std::int64_t>(field) - L.bias - L.m;
  return v;
}

// ---- the exact result before rounding ----------------------------------------------------------------

// v in [sig, sig + 1) x 2^exp, strictly inside when sticky; sig has its top bit at the word's top (127
// in the 128-bit lane, 63 in the narrow lane) once normalised.
template <class Word>
struct Unrounded {
  bool neg = false;
  std::int64_t exp = 0;
  Word sig = 0;
  bool sticky = false;
};
using Wide = Unrounded<u128>;

template <class Word>
constexpr int kWordBits = static_cast<int>(sizeof(Word) * 8);

Wide normalized(bool neg, u128 sig, std::int64_t exp, bool sticky) {
  const int shift = 128 - bit_length(sig);
  return Wide{neg, exp - shift, sig << shift, sticky};
}

// The split of v = (S + sticky) x 2^E at 2^(E + shift): n = floor(v / 2^shift), the fraction's place
// against one half (cmp), whether it is zero, and for sr f = floor(fraction x 2^R) and whether the
// fraction x 2^R is not an integer.
struct Split {
  u128 n = 0;
  int cmp = 0;
  bool exact = false;
  u64 f = 0;
  bool f_rest = false;
};

// Requires shift >= 1; with sticky, shift >= R + 3 (a sticky widened by normalisation stays below
// the half and sr's R bits).
template <class Word>
Split split(const Unrounded<Word>& x, std::int64_t shift, int R) {
  constexpr int B = kWordBits<Word>;
  Split s;
  if constexpr (B == 128) {
    if (shift >= 65 && shift <= 127) {
      // The common case (every normal float result): n, the half and the sr bits lie in the high word;
      // the low word only adds to sticky, or to sr's bits when they reach below bit 64.
      const int hs = static_cast<int>(shift) - 64;  // 1..63
      const u64 hi = static_cast<u64>(x.sig >> 64), lo = static_cast<u64>(x.sig);
      const u64 rem = hi & ((u64(1) << hs) - 1), half = u64(1) << (hs - 1);
      const bool low = lo != 0 || x.sticky;
      s.n = hi >> hs;
      s.exact = rem == 0 && !low;
      s.cmp = rem > half ? 1 : (rem < half ? -1 : (low ? 1 : 0));
      if (R) {
        const int fs = static_cast<int>(shift) - R;  // >= 33
        if (fs >= 64) {
          s.f = rem >> (fs - 64);
          s.f_rest = (rem & ((u64(1) << (fs - 64)) - 1)) != 0 || low;
        } else {
          s.f = (rem << (64 - fs)) | (lo >> fs);
          s.f_rest = (lo & ((u64(1) << fs) - 1)) != 0 || x.sticky;
        }
      }
      return s;
    }
  }
  const auto mask = [](std::int64_t bits) { return static_cast<Word>(low_mask(static_cast<int>(bits))); };
  if (shift >= B) {
    s.n = 0;
    s.exact = false;  // S is normalised, so non-zero
    s.cmp = shift > B ? -1 : ((x.sig == Word(1) << (B - 1) && !x.sticky) ? 0 : 1);
    const std::int64_t fs = shift - R;
    if (fs >= B) {
      s.f = 0;
      s.f_rest = true;
    } else {
      s.f = static_cast<u64>(x.sig >> fs);
      s.f_rest = (x.sig & mask(fs)) != 0 || x.sticky;
    }
    return s;
  }
  const int sh = static_cast<int>(shift);
  s.n = x.sig >> sh;
  const Word rem = x.sig & mask(sh);
  const Word half = Word(1) << (sh - 1);
  s.exact = rem == 0 && !x.sticky;
  s.cmp = rem > half ? 1 : (rem < half ? -1 : (x.sticky ? 1 : 0));
  const int fs = sh - R;
  if (fs >= 0) {
    s.f = static_cast<u64>(rem >> fs);
    s.f_rest = (rem & mask(fs)) != 0 || x.sticky;
  } else {  // only without sticky (round_fixed): the fraction has fewer bits than R
    s.f = static_cast<u64>(rem << -fs);
    s.f_rest = false;
  }
  return s;
}

// Whether the magnitude rounds up (formats.md 2.2 step 5, 2.5), given the parity of the lower
// neighbour's index. signed_sr: sr on the signed value (fixed point) for a negative value.
bool rounds_up(const RoundingSpec& rs, const Split& s, bool lower_odd, bool neg, std::uint32_t word, bool signed_sr) {
  if (s.exact) return false;
  switch (rs.mode) {
    case Rounding::rne: return s.cmp > 0 || (s.cmp == 0 && lower_odd);
    case Rounding::rna: return s.cmp >= 0;
    case Rounding::rtz: return false;
    case Rounding::rup: return !neg;
    case Rounding::rdn: return neg;
    case Rounding::sr: {
      const int R = rs.sr_bits;
      const u64 r = word >> (32 - R);
      // The signed value's floor is the magnitude's ceiling: it rounds (toward +inf) with probability
      // floor((1 - t) 2^R) / 2^R, so the magnitude rounds up when r < ceil(t 2^R).
      if (signed_sr && neg) return r < s.f + (s.f_rest ? 1 : 0);
      return s.f + r >= (u64(1) << R);
    }
  }
  return false;
}

int sr_bits_of(const RoundingSpec& rs) { return rs.mode == Rounding::sr ? rs.sr_bits : 0; }

// ---- results -----------------------------------------------------------------------------------------

FastResult zero_of(const FastLayout& L, bool neg, std::uint8_t flags = 0) {
  if (!L.is_float) return {0, flags};
  return {(neg && L.negative_zero) ? L.sign_bit : 0, flags};
}

// Fixed point: the code for signed code value c (two's complement in width bits).
u64 fixed_code(const FastLayout& L, u128 magnitude, bool neg) {
  const u64 mask = L.width >= 64 ? ~u64(0) : (u64(1) << L.width) - 1;
  const u64 low = static_cast<u64>(magnitude);
  return (neg ? u64(0) - low : low) & mask;
}

// The ends of a fixed format's range, as codes.
u64 fixed_max_code(const FastLayout& L) {
  const int bits = L.is_signed ? L.width - 1 : L.width;
  return bits >= 64 ? ~u64(0) : (u64(1) << bits) - 1;
}
u64 fixed_min_code(const FastLayout& L) { return L.is_signed ? u64(1) << (L.width - 1) : 0; }

// An infinite exact value (formats.md 2.2 step 2; fixed: the end of the range of its sign). `op_flags`
// (divide-by-zero) replace the rounding's own flags.
FastResult infinite_of(const FastLayout& L, bool neg, std::uint8_t op_flags) {
  FastResult r;
  std::uint8_t own = 0;
  if (!L.is_float) {
    r.code = neg ? fixed_min_code(L) : fixed_max_code(L);
    own = flag::invalid;
  } else {
    switch (L.float_overflow) {
      case FloatOverflow::inf:
      case FloatOverflow::satpropagate: r.code = L.inf_index | (neg ? L.sign_bit : 0); break;
      case FloatOverflow::saturate:
        r.code = L.max_index | (neg ? L.sign_bit : 0);
        own = flag::invalid;
        break;
      case FloatOverflow::nan:
        r.code = L.nan_code;
        own = flag::invalid;
        break;
    }
  }
  r.flags = (op_flags & flag::divide_by_zero) ? op_flags : std::uint8_t(op_flags | own);
  return r;
}

u64 quieted(const FastLayout& L, u64 code) { return L.special == Special::ieee ? code | (u64(1) << (L.m - 1)) : code; }

u64 default_nan(const FastLayout& L, NanPolicy p) {
  u64 code = L.nan_code;
  if (p == NanPolicy::x86 && L.negative_zero) code |= L.sign_bit;  // fnuz, inuz: the one NaN is already 1 0...0
  return code;
}

// The result of an operation whose result is NaN (arith.cpp nan_result): x86 reads the operands in
// order a, b, c, Arm in its own order.
FastResult nan_of(const FastLayout& L, NanPolicy policy, std::initializer_list<const Value*> x86_order,
                  std::initializer_list<const Value*> arm_order, bool invalid_op) {
  bool snan = false;
  for (const Value* x : x86_order) snan = snan || (x->kind == Kind::nan && x->snan);
  if (!L.is_float || !L.has_nan) return {0, flag::invalid};
  const std::uint8_t flags = (invalid_op || snan) ? flag::invalid : 0;
  const Value* pick = nullptr;
  if (policy == NanPolicy::x86) {
    for (const Value* x : x86_order)
      if (!pick && x->kind == Kind::nan) pick = x;
  } else if (policy == NanPolicy::arm) {
    for (const Value* x : arm_order)
      if (!pick && x->kind == Kind::nan && x->snan) pick = x;
    for (const Value* x : arm_order)
      if (!pick && x->kind == Kind::nan) pick = x;
  }
  return {pick ? quieted(L, pick->code) : default_nan(L, policy), flags};
}

// A float result beyond the largest finite value (formats.md 2.2 step 6).
FastResult overflowed(const FastLayout& L, bool neg, bool tiny_before, const ArithOptions& o) {
  const Rounding mode = o.rounding.mode;
  const bool toward_zero = mode == Rounding::rtz || (mode == Rounding::rup && neg) || (mode == Rounding::rdn && !neg);
  const std::uint8_t flags = flag::overflow | flag::inexact;
  if (!toward_zero && L.float_overflow == FloatOverflow::nan) return {L.nan_code, flags};
  if (!toward_zero && L.float_overflow == FloatOverflow::inf) return {L.inf_index | (neg ? L.sign_bit : 0), flags};
  // The largest finite value. In a format whose values all lie below 2^emin (e = 1) it is tiny too.
  const TininessOutcome t = apply_tininess(flags, tiny_before, true, o);
  if (t.flush) return zero_of(L, neg, t.flags);
  return {L.max_index | (neg ? L.sign_bit : 0), t.flags};
}

// Float rounding (formats.md 2.2 steps 4-8), then the operation's tininess and flush-to-zero options.
template <class Word>
FastResult round_float(const FastLayout& L, const Unrounded<Word>& x, std::uint32_t word, const ArithOptions& o) {
  constexpr int B = kWordBits<Word>;
  const RoundingSpec& rs = o.rounding;
  const int R = sr_bits_of(rs);
  const std::int64_t lead = x.exp + B - 1;  // floor(log2 |v|)
  const bool tiny_before = lead < L.emin;
  const std::int64_t q = std::max(lead, L.emin) - L.m;  // exponent of the grid's step at v
  const Split s = split(x, q - x.exp, R);
  // Index of the lower neighbour: (q + m - emin) 2^m + n, n including the leading bit for normals.
  const std::int64_t binade = q + L.m - L.emin;  // 0 in the subnormal range
  const bool lower_odd = L.m >= 1 ? (static_cast<u64>(s.n) & 1) != 0 : ((binade + static_cast<std::int64_t>(s.n)) & 1) != 0;
  const bool up = rounds_up(rs, s, lower_odd, x.neg, word, false);

  // Step 6, overflow: index beyond the largest finite one.
  const u128 max_binade = (u128(L.max_index) >> L.m) + 1;
  bool over = static_cast<u128>(binade) > max_binade;
  u64 index = 0;
  if (!over) {
    const u128 idx = (static_cast<u128>(binade) << L.m) + s.n + (up ? 1 : 0);
    over = idx > L.max_index;
    index = static_cast<u64>(idx);
  }
  if (over) return overflowed(L, x.neg, tiny_before, o);

  std::uint8_t flags = s.exact ? 0 : flag::inexact;
  // Tininess after rounding: the same rounding at m + 1 significant bits and an unbounded exponent.
  if (!s.exact && tiny_before) {
    bool tiny = true;
    if (lead == L.emin - 1) {  // only a carry into 2^emin makes it not tiny
      const Split s2 = split(x, B - 1 - L.m, R);
      const bool odd2 = L.m >= 1 ? (static_cast<u64>(s2.n) & 1) != 0 : ((lead - L.emin) & 1) == 0;
      const bool up2 = rounds_up(rs, s2, odd2, x.neg, word, false);
      tiny = !(up2 && s2.n == (u128(2) << L.m) - 1);
    }
    if (tiny) flags |= flag::underflow;
  }
  // Step 7: no subnormal results.
  if (!L.subnormals && index != 0 && index <= L.frac_mask) {
    index = 0;
    flags |= flag::underflow | flag::inexact;
  }
  const TininessOutcome t = apply_tininess(flags, tiny_before, index != 0, o);
  if (t.flush) index = 0;
  const bool neg = x.neg && !(!L.negative_zero && index == 0);
  return {index | (neg ? L.sign_bit : 0), t.flags};
}

// Fixed-point rounding (formats.md 2.3) of a non-zero value.
FastResult round_fixed(const FastLayout& L, const Wide& x, std::uint32_t word, const RoundingSpec& rs) {
  const int R = sr_bits_of(rs);
  const std::int64_t shift = -L.f - x.exp;  // the code's unit is 2^-f
  if (shift <= 0) {
    // v x 2^f >= S >= 2^127: out of any range. Wrapping keeps the low bits, unknown under sticky.
    if (x.sticky && L.fixed_overflow == FixedOverflow::wrap) return {0, 0, true};
    FastResult r;
    r.flags = flag::overflow | flag::inexact;
    if (L.fixed_overflow == FixedOverflow::saturate) r.code = x.neg ? fixed_min_code(L) : fixed_max_code(L);
    else r.code = fixed_code(L, -shift >= 128 ? 0 : x.sig << static_cast<int>(-shift), x.neg);
    return r;
  }
  // A sticky widened by normalisation (at most 2 bits) must stay below the half and sr's R bits; a
  // value that close to its quantum is beyond 2^90 units, out of range.
  if (x.sticky && shift < R + 3) {
    if (L.fixed_overflow == FixedOverflow::wrap) return {0, 0, true};
    return {x.neg ? fixed_min_code(L) : fixed_max_code(L), flag::overflow | flag::inexact};
  }
  const Split s = split(x, shift, R);
  const u128 n = s.n + (rounds_up(rs, s, (static_cast<u64>(s.n) & 1) != 0, x.neg, word, true) ? 1 : 0);
  std::uint8_t flags = s.exact ? 0 : flag::inexact;
  // The range: signed codes -2^(w-1) .. 2^(w-1) - 1, unsigned 0 .. 2^w - 1.
  const u128 limit = x.neg ? (L.is_signed ? u128(1) << (L.width - 1) : 0) : u128(fixed_max_code(L));
  if (n > limit) {
    flags |= flag::overflow | flag::inexact;
    if (L.fixed_overflow == FixedOverflow::saturate) return {x.neg ? fixed_min_code(L) : fixed_max_code(L), flags};
  }
  return {fixed_code(L, n, x.neg), flags};
}

FastResult round_to(const FastLayout& L, const Wide& x, std::uint32_t word, const ArithOptions& o) {
  return L.is_float ? round_float(L, x, word, o) : round_fixed(L, x, word, o.rounding);
}

// ---- exact results of the operations -----------------------------------------------------------------

// A non-zero term of a sum: (-1)^neg x sig x 2^exp with sig < 2^126.
struct Term {
  bool neg;
  std::int64_t exp;
  u128 sig;
};

// The sum of two non-zero terms; nullopt for an exact zero. Both are aligned with their top bit at 126:
// the smaller is shifted right by the exponents' distance d, what it loses jammed into sticky. An exact
// operand (at most 126 significant bits) keeps a free bit 0, so d <= 1 loses nothing; for d >= 2 the
// larger term is at least 2^126 and the smaller below 2^125, so a difference loses at most one leading
// bit and sticky stays far below every rounding decision.
std::optional<Wide> add_terms(Term a, Term b) {
  auto align = [](Term& t) {
    const int shift = 127 - bit_length(t.sig);
    t.sig <<= shift;
    t.exp -= shift;
  };
  align(a);
  align(b);
  if (b.exp > a.exp || (b.exp == a.exp && b.sig > a.sig)) std::swap(a, b);
  const std::int64_t d = a.exp - b.exp;
  u128 small;
  bool sticky;
  if (d >= 127) {
    small = 0;
    sticky = true;
  } else {
    small = b.sig >> d;
    sticky = (b.sig & low_mask(static_cast<int>(d))) != 0;
  }
  u128 sum;
  if (a.neg == b.neg) sum = a.sig + small;
  else sum = a.sig - small - (sticky ? 1 : 0);  // v = a - (small + frac) = (a - small - 1) + (1 - frac)
  if (sum == 0 && !sticky) return std::nullopt;
  return normalized(a.neg, sum, a.exp, sticky);
}

Term term_of(const Value& v) { return Term{v.neg, v.exp, v.sig}; }

// Quotient of two non-zero finite values, developed to 127 bits (two 64-bit long divisions).
Wide divide(const Value& a, const Value& b) {
  const int sa = std::countl_zero(a.sig), sb = std::countl_zero(b.sig);
  const u64 A = a.sig << sa, B = b.sig << sb;  // both in [2^63, 2^64)
  const u128 n1 = u128(A) << 63;
  const u128 q1 = n1 / B, r1 = n1 % B;  // q1 < 2^64
  const u128 n2 = r1 << 63;
  const u128 q2 = n2 / B, r2 = n2 % B;  // q2 < 2^63
  const u128 q = (q1 << 63) | q2;       // floor(A 2^126 / B)
  // value = A 2^(ea - sa) / (B 2^(eb - sb)) = q 2^(ea - sa - eb + sb - 126) (+ remainder)
  return normalized(a.neg != b.neg, q, a.exp - sa - b.exp + sb - 126, r2 != 0);
}

// floor(sqrt(N)) for N = base x 4^j (base < 2^66, j >= 0) and whether the remainder is non-zero: one
// result bit per step from the top pair of bits of N. The root has at most 33 + j bits.
std::pair<u128, bool> isqrt_scaled(u128 base, int j) {
  u128 root = 0, rem = 0;
  for (int i = 32 + j; i >= 0; --i) {
    const int k = i - j;  // bits 2i+1 and 2i of N are base's bits 2k+1 and 2k, zeros below
    const u128 two = k >= 0 ? (base >> (2 * k)) & 3 : 0;
    rem = (rem << 2) | two;
    const u128 trial = (root << 2) | 1;
    if (rem >= trial) {
      rem -= trial;
      root = (root << 1) | 1;
    } else {
      root <<= 1;
    }
  }
  return {root, rem != 0};
}

// floor(sqrt(n)) and whether the remainder is non-zero, for n < 2^128: a double estimate, made exact by
// one Newton step (an estimate off by e gives an error below e^2 / 2r + 1) and a final check of r^2.
std::pair<u128, bool> isqrt_u128(u128 n) {
  constexpr u128 kMaxRoot = (u128(1) << 64) - 1;  // floor(sqrt(2^128 - 1)); its successor's square wraps
  u128 r = std::min(static_cast<u128>(std::sqrt(static_cast<double>(n))), kMaxRoot);
  if (r >> 50) r = std::min((r + n / r) >> 1, kMaxRoot);  // the estimate's error (up to 2^-52 r) exceeds one
  while (r * r > n) --r;
  while (r < kMaxRoot && (r + 1) * (r + 1) <= n) ++r;
  return {r, r * r != n};
}

// Square root of a positive finite value with at least `bits` + 1 significant bits (bits <= 120).
Wide square_root(const Value& a, int bits) {
  const int s = std::countl_zero(a.sig);
  u128 base = u128(a.sig) << s;  // in [2^63, 2^64)
  std::int64_t exp = a.exp - s;
  if (exp & 1) {  // an even exponent: base in [2^64, 2^65)
    base <<= 1;
    exp -= 1;
  }
  // sqrt(base) lies in [2^31.5, 2^32.5); j more pairs of bits give 32 + j or 33 + j root bits.
  const int j = std::max(0, bits - 31);
  const auto [root, inexact] = 66 + 2 * j <= 128 ? isqrt_u128(base << (2 * j)) : isqrt_scaled(base, j);
  return normalized(false, root, exp / 2 - j, inexact);
}

// ---- comparisons -------------------------------------------------------------------------------------

// -1, 0, 1 for ordered non-NaN values (-0 == +0).
int compare_values(const Value& a, const Value& b) {
  auto rank = [](const Value& x) { return x.kind == Kind::inf ? (x.neg ? -1 : 1) : 0; };
  if (rank(a) != rank(b)) return rank(a) < rank(b) ? -1 : 1;
  if (rank(a) != 0) return 0;
  auto sign = [](const Value& x) { return x.kind == Kind::zero ? 0 : (x.neg ? -1 : 1); };
  if (sign(a) != sign(b)) return sign(a) < sign(b) ? -1 : 1;
  if (sign(a) == 0) return 0;
  // Same sign, both non-zero: compare magnitudes by leading exponent, then significand.
  const int la = 64 - std::countl_zero(a.sig), lb = 64 - std::countl_zero(b.sig);
  const std::int64_t ea = a.exp + la, eb = b.exp + lb;
  int mag;
  if (ea != eb) mag = ea < eb ? -1 : 1;
  else {
    const u64 ma = a.sig << (64 - la), mb = b.sig << (64 - lb);
    mag = ma == mb ? 0 : (ma < mb ? -1 : 1);
  }
  return a.neg ? -mag : mag;
}

bool below_with_signed_zero(const Value& a, const Value& b) {
  const int c = compare_values(a, b);
  if (c != 0) return c < 0;
  return a.kind == Kind::zero && b.kind == Kind::zero && a.neg && !b.neg;
}

bool zero_sum_negative(bool p_zero, bool p_neg, bool q_zero, bool q_neg, Rounding mode) {
  if (p_zero && q_zero && p_neg == q_neg) return p_neg;
  return mode == Rounding::rdn;
}

// ---- layouts -----------------------------------------------------------------------------------------

FastLayout layout_of(const Format& format) {
  FastLayout L;
  L.width = format.width();
  if (format.is<FixedFormat>()) {
    const FixedFormat& x = format.as<FixedFormat>();
    L.is_float = false;
    L.f = x.f;
    L.is_signed = x.is_signed;
    L.fixed_overflow = x.overflow;
    return L;
  }
  const FloatFormat& x = format.as<FloatFormat>();
  L.e = x.e;
  L.m = x.m;
  L.bias = x.bias;
  L.emin = x.emin();
  L.sign_bit = u64(1) << (x.e + x.m);
  L.frac_mask = (u64(1) << x.m) - 1;
  L.top_field = (u64(1) << x.e) - 1;
  L.max_index = x.max_finite_index();
  L.special = x.special;
  L.float_overflow = x.overflow;
  L.subnormals = x.subnormals;
  L.has_nan = x.has_nan();
  L.negative_zero = x.has_negative_zero();
  L.nan_code = x.nan_code();
  L.inf_index = x.inf_index();
  // ieee: the top field holds infinities and NaNs; fn: the top index is NaN, inuz: the top index is
  // +Inf (with m = 0 either takes the whole top field); fnuz and none: every field >= 1 is finite
  // (the NaN of fnuz and inuz has field 0).
  const bool top_index_special = x.special == Special::fn || x.special == Special::inuz;
  const bool top_field_special = x.special == Special::ieee || (top_index_special && x.m == 0);
  L.plain_fields = top_field_special ? L.top_field - 1 : L.top_field;
  L.plain_index_end = top_index_special && x.m >= 1 ? L.sign_bit - 1 : L.sign_bit;
  return L;
}

bool layout_supported(const Format& f) {
  if (f.is<FixedFormat>()) return f.width() <= 64;
  if (!f.has_arithmetic()) return false;
  // Exponents (bias up to 2^40, products and quotients of two operands) stay far inside int64.
  return f.width() <= 64;
}

// The code an integer (fixed-point) destination gives for a NaN or out-of-range input (arith.cpp).
u64 integer_invalid_code(const FastLayout& L, NanPolicy p, bool nan_input, bool neg) {
  const u64 all_ones = L.width >= 64 ? ~u64(0) : (u64(1) << L.width) - 1;
  switch (p) {
    case NanPolicy::x86: return L.is_signed ? fixed_min_code(L) : all_ones;
    case NanPolicy::arm: return nan_input ? 0 : (neg ? fixed_min_code(L) : fixed_max_code(L));
    case NanPolicy::canonical: return nan_input ? fixed_max_code(L) : (neg ? fixed_min_code(L) : fixed_max_code(L));
  }
  return 0;
}

// Bits of the significand a quotient or square root needs: up to the quantum and sr's bits below it,
// plus guard bits, from the result's leading exponent `lead` (within one).
int needed_bits(const FastLayout& L, std::int64_t lead, const RoundingSpec& rs) {
  const std::int64_t quantum = L.is_float ? std::max(lead, L.emin) - L.m : -L.f;
  const std::int64_t bits = lead - quantum + sr_bits_of(rs) + 4;
  return static_cast<int>(std::clamp<std::int64_t>(bits, 4, 1000));
}

// ---- the narrow lane ---------------------------------------------------------------------------------

// Float formats of at most 26 fraction bits (fp4 to fp32, bf16, tf32) in the common case: the operands
// are finite non-zero numbers. Their significands fit one 64-bit word, as in SoftFloat's functions for
// fp16 and fp32, and the result is rounded there with masks when it is a normal number, by round_float
// on the word otherwise (tiny and overflowing results). Every other operand set (zeros, infinities,
// NaNs, subnormals under DAZ) goes to the 128-bit lane from the start.
//
// Why a word is enough: a result is exact in the word, or the bits it loses are jammed into its bit 0
// (SoftFloat's shiftRightJam): the exact value then lies strictly between the word's two even
// neighbours, on the same side of every multiple of 2 as the word. After normalisation the jammed bit
// sits at bit J (J <= 3 for a sum, 34 for a square root; a quotient is developed just far enough),
// and every rounding decision (the half at bit 62 - m, sr's threshold bits from 63 - m - R) must lie
// above it; viable() says for which options each operation meets that.
constexpr int kNarrowMaxM = 26;

// A finite non-zero operand: (-1)^neg x sig x 2^exp with sig's top bit at m (1.frac for a normal number,
// a subnormal's fraction shifted up).
struct NarrowValue {
  bool neg;
  std::int64_t exp;
  u64 sig;
};

// Whether `code` is a finite non-zero number of L (a subnormal one only without DAZ), and then its value.
bool narrow_decode(const FastLayout& L, u64 code, bool daz, NarrowValue& v) {
  const u64 idx = code & (L.sign_bit - 1);
  const u64 field = idx >> L.m;
  v.neg = (code & L.sign_bit) != 0;
  if (field - 1 < L.plain_fields && idx < L.plain_index_end) {  // field 0 wraps around
    v.sig = (idx & L.frac_mask) | (L.frac_mask + 1);
    v.exp = static_cast<std::int64_t>(field) - L.bias - L.m;
    return true;
  }
  if (field != 0 || idx == 0 || daz) return false;  // specials, zeros, and what DAZ reads as zero
  const int up = std::countl_zero(idx) - (63 - L.m);
  v.sig = idx << up;
  v.exp = L.emin - L.m - up;
  return true;
}

// Rounds (-1)^neg x sig x 2^exp (sig non-zero, any bits jammed as the comment above says) into L: here
// when the result is a normal number, else by round_float.
FastResult narrow_round(const FastLayout& L, bool neg, u64 sig, std::int64_t exp, std::uint32_t word, const ArithOptions& o) {
  const int z = std::countl_zero(sig);
  sig <<= z;
  exp -= z;
  const std::int64_t binade = exp + 63 - L.emin;  // floor(log2 |v|) - emin
  if (binade < 0) {
    // Below 2^emin. Unless an option (FTZ, no subnormals) or tininess after rounding at the edge
    // (binade -1) asks more, the value is tiny before and after rounding: underflow iff inexact.
    if (o.ftz || !L.subnormals || (binade == -1 && o.tininess == Tininess::after_rounding))
      return round_float(L, Unrounded<u64>{neg, exp, sig, false}, word, o);
    const Split s = split(Unrounded<u64>{neg, exp, sig, false}, 63 - L.m - binade, sr_bits_of(o.rounding));
    const u64 index = static_cast<u64>(s.n) + (rounds_up(o.rounding, s, (s.n & 1) != 0, neg, word, false) ? 1 : 0);
    if (index > L.max_index) return overflowed(L, neg, true, o);  // e = 1: every finite value is subnormal
    const bool signed_zero = !(index == 0 && !L.negative_zero);  // fnuz and inuz have no -0
    return {index | (neg && signed_zero ? L.sign_bit : 0), s.exact ? std::uint8_t(0) : std::uint8_t(flag::inexact | flag::underflow)};
  }
  // Field binade + 1 lies beyond the largest finite value's field (max_index >> m).
  if (static_cast<u64>(binade) >= (L.max_index >> L.m)) return overflowed(L, neg, false, o);
  const int shift = 63 - L.m;
  const u64 rem = sig & ((u64(1) << shift) - 1), half = u64(1) << (shift - 1);
  // The lower neighbour's index; its parity is n's for m >= 1, and the binade's + 1 for m = 0 alike.
  const u64 index = (static_cast<u64>(binade) << L.m) + (sig >> shift);
  bool up = false;
  switch (o.rounding.mode) {
    case Rounding::rne: up = rem > half || (rem == half && (index & 1)); break;
    case Rounding::rna: up = rem >= half; break;
    case Rounding::rtz: break;
    case Rounding::rup: up = rem != 0 && !neg; break;
    case Rounding::rdn: up = rem != 0 && neg; break;
    case Rounding::sr: {
      const int R = o.rounding.sr_bits;
      up = (rem >> (shift - R)) + (word >> (32 - R)) >= (u64(1) << R);
      break;
    }
  }
  const u64 rounded = index + (up ? 1 : 0);
  if (rounded > L.max_index) return round_float(L, Unrounded<u64>{neg, exp, sig, false}, word, o);
  return {rounded | (neg ? L.sign_bit : 0), rem != 0 ? flag::inexact : std::uint8_t(0)};
}

// (-1)^neg_a x a x 2^exp_a + (-1)^neg_b x b x 2^exp_b, both significands with their top bit at 61 and at
// least one free bit 0 (so a distance of 0 or 1 loses nothing): the smaller term is shifted right and
// jammed; for a distance d >= 2 the sum keeps its top bit at 60 or above, so J <= 3.
struct NarrowSum {
  bool zero;  // an exact zero
  bool neg;
  std::int64_t exp;
  u64 sig;
};

NarrowSum narrow_add(bool neg_a, u64 a, std::int64_t exp_a, bool neg_b, u64 b, std::int64_t exp_b) {
  if (exp_b > exp_a || (exp_b == exp_a && b > a)) {
    std::swap(neg_a, neg_b);
    std::swap(a, b);
    std::swap(exp_a, exp_b);
  }
  const std::int64_t d = exp_a - exp_b;
  const u64 small = d >= 63 ? 1 : (b >> d) | ((b & ((u64(1) << d) - 1)) != 0 ? 1 : 0);
  const u64 sum = neg_a == neg_b ? a + small : a - small;
  return {sum == 0, neg_a, exp_a, sum};
}

}  // namespace

struct NarrowLane {
  // The number of bits below the rounding point a decision reads: sr's R, else the half.
  static int decision_bits(const ArithOptions& o) { return o.rounding.mode == Rounding::sr ? o.rounding.sr_bits : 1; }

  // The bit the jammed bits reach after normalisation (the comment above the lane), per operation.
  static int jam_bit(Op op, int m, int decision) {
    switch (op) {
      case Op::div: return 62 - 2 * m - decision;  // 64 - up, div's up = m + decision + 2, if up <= 63 - m
      case Op::sqrt: return 34;
      default: return 3;  // add, sub, fma; mul and convert are exact
    }
  }

  static bool read(const FastArith& f, u64 code, NarrowValue& v) { return narrow_decode(f.in_, code, f.options_.daz, v); }

  static bool viable(Op op, const FastLayout& in, const FastLayout& out, const ArithOptions& o) {
    if (!in.is_float || !out.is_float || out.m > kNarrowMaxM) return false;
    if (op != Op::convert && in.m > kNarrowMaxM) return false;
    if (op != Op::add && op != Op::sub && op != Op::mul && op != Op::div && op != Op::sqrt && op != Op::fma &&
        op != Op::convert)
      return false;
    const int decision = decision_bits(o);
    if (op == Op::div && in.m + decision + 2 > 63 - in.m) return false;  // the dividend would not fit
    return 63 - out.m - decision >= jam_bit(op, out.m, decision) + 1;
  }

  template <bool Sub>
  static FastResult add(const FastArith& f, u64 ca, u64 cb, u64, std::uint32_t word) {
    NarrowValue a, b;
    if (!read(f, ca, a) || !read(f, cb, b)) return f.wide(ca, cb, 0, word);
    const int up = 61 - f.in_.m;  // top bits at 61
    const NarrowSum s = narrow_add(a.neg, a.sig << up, a.exp - up, b.neg != Sub, b.sig << up, b.exp - up);
    if (s.zero) return zero_of(f.out_, f.options_.rounding.mode == Rounding::rdn);
    return narrow_round(f.out_, s.neg, s.sig, s.exp, word, f.options_);
  }

  static FastResult mul(const FastArith& f, u64 ca, u64 cb, u64, std::uint32_t word) {
    NarrowValue a, b;
    if (!read(f, ca, a) || !read(f, cb, b)) return f.wide(ca, cb, 0, word);
    return narrow_round(f.out_, a.neg != b.neg, a.sig * b.sig, a.exp + b.exp, word, f.options_);  // <= 54 bits
  }

  static FastResult div(const FastArith& f, u64 ca, u64 cb, u64, std::uint32_t word) {
    NarrowValue a, b;
    if (!read(f, ca, a) || !read(f, cb, b)) return f.wide(ca, cb, 0, word);
    // a's top bit at m + up and b's at m: the quotient has at least `up` bits, so J <= 64 - up, below
    // every decision (viable() checked that up <= 63 - m). No more bits than that: a division's time
    // grows with its quotient's length on some CPUs.
    const int up = f.in_.m + decision_bits(f.options_) + 2;
    const u64 n = a.sig << up;
    const u64 q = n / b.sig;
    const u64 jam = n % b.sig != 0 ? 1 : 0;
    return narrow_round(f.out_, a.neg != b.neg, q | jam, a.exp - up - b.exp, word, f.options_);
  }

  static FastResult sqrt(const FastArith& f, u64 ca, u64, u64, std::uint32_t word) {
    NarrowValue a;
    if (!read(f, ca, a)) return f.wide(ca, 0, 0, word);
    if (a.neg) return nan_of(f.out_, f.options_.nan, {}, {}, true);  // invalid, no NaN operand to pass on
    // An even exponent, then N = sig x 4^k below 2^62 with at least 59 bits: its root r has at least 30
    // bits (J <= 34) and (r + 1)^2 cannot wrap.
    u64 sig = a.sig;
    std::int64_t exp = a.exp;
    if (exp & 1) {
      sig <<= 1;
      exp -= 1;
    }
    const int k = (60 - f.in_.m) / 2;
    const u64 n = sig << (2 * k);
    // Through int64: n and its root fit, and the signed conversions are single instructions.
    u64 r = static_cast<u64>(static_cast<std::int64_t>(std::sqrt(static_cast<double>(static_cast<std::int64_t>(n)))));
    while (r * r > n) --r;
    while ((r + 1) * (r + 1) <= n) ++r;
    return narrow_round(f.out_, false, r | (r * r != n ? 1 : 0), exp / 2 - k, word, f.options_);
  }

  static FastResult fma(const FastArith& f, u64 ca, u64 cb, u64 cc, std::uint32_t word) {
    NarrowValue a, b, c;
    if (!read(f, ca, a) || !read(f, cb, b) || !read(f, cc, c))
      return f.wide(ca, cb, cc, word);
    // The exact product (at most 54 bits) and the addend, both with their top bit at 61.
    const u64 p = a.sig * b.sig;
    const int up_p = std::countl_zero(p) - 2, up_c = 61 - f.in_.m;
    const NarrowSum s = narrow_add(a.neg != b.neg, p << up_p, a.exp + b.exp - up_p, c.neg, c.sig << up_c, c.exp - up_c);
    if (s.zero) return zero_of(f.out_, f.options_.rounding.mode == Rounding::rdn);
    return narrow_round(f.out_, s.neg, s.sig, s.exp, word, f.options_);
  }

  static FastResult convert(const FastArith& f, u64 ca, u64, u64, std::uint32_t word) {
    NarrowValue a;
    if (!read(f, ca, a)) return f.wide(ca, 0, 0, word);
    return narrow_round(f.out_, a.neg, a.sig, a.exp, word, f.options_);
  }
};

FastArith::Lane FastArith::narrow_lane(Op op, const FastLayout& in, const FastLayout& out, const ArithOptions& o) {
  if (!NarrowLane::viable(op, in, out, o)) return nullptr;
  switch (op) {
    case Op::add: return &NarrowLane::add<false>;
    case Op::sub: return &NarrowLane::add<true>;
    case Op::mul: return &NarrowLane::mul;
    case Op::div: return &NarrowLane::div;
    case Op::sqrt: return &NarrowLane::sqrt;
    case Op::fma: return &NarrowLane::fma;
    case Op::convert: return &NarrowLane::convert;
    default: return nullptr;
  }
}

TininessOutcome apply_tininess(std::uint8_t flags, bool tiny_before, bool nonzero_result, const ArithOptions& o) {
  // Tiny after rounding: the rounding flagged underflow (it does when inexact), or the value is exact and
  // so is its own rounding.
  const bool tiny_after = (flags & flag::underflow) || (!(flags & flag::inexact) && tiny_before);
  const bool before = o.tininess == Tininess::before_rounding;
  if (before) {
    flags &= static_cast<std::uint8_t>(~flag::underflow);
    if ((flags & flag::inexact) && tiny_before) flags |= flag::underflow;
  }
  const bool flush = o.ftz && (before ? tiny_before : tiny_after) && nonzero_result;
  if (flush) flags |= flag::underflow | flag::inexact;
  return {flags, flush};
}

bool FastArith::supports(Op op, const Format& format, const ArithOptions& o, const Format* to) {
  if (!layout_supported(format)) return false;
  if (op == Op::convert && (!to || !layout_supported(*to))) return false;
  if (op != Op::convert && to) return false;
  if (o.rounding.mode == Rounding::sr && (o.rounding.sr_bits < 1 || o.rounding.sr_bits > 32)) return false;
  return true;
}

FastArith::FastArith(Op op, const Format& format, const ArithOptions& options, const Format* to)
    : op_(op), options_(options), in_(layout_of(format)), out_(to ? layout_of(*to) : in_), format_(format),
      to_(to ? *to : format), narrow_(narrow_lane(op, in_, out_, options)) {}

FastResult FastArith::operator()(u64 ca, u64 cb, u64 cc, std::uint32_t word) const {
  return narrow_ ? narrow_(*this, ca, cb, cc, word) : wide(ca, cb, cc, word);
}

FastResult FastArith::wide(u64 ca, u64 cb, u64 cc, std::uint32_t word) const {
  const ArithOptions& o = options_;
  const FastLayout& F = out_;
  const Value a = decode(in_, ca, o.daz);
  switch (op_) {
    case Op::add:
    case Op::sub: {
      Value b = decode(in_, cb, o.daz);
      if (a.kind == Kind::nan || b.kind == Kind::nan) return nan_of(F, o.nan, {&a, &b}, {&a, &b}, false);
      if (op_ == Op::sub) b.neg = !b.neg;
      if (a.kind == Kind::inf || b.kind == Kind::inf) {
        if (a.kind == Kind::inf && b.kind == Kind::inf && a.neg != b.neg) return nan_of(F, o.nan, {&a, &b}, {&a, &b}, true);
        return infinite_of(F, a.kind == Kind::inf ? a.neg : b.neg, 0);
      }
      if (a.kind == Kind::zero || b.kind == Kind::zero) {
        if (a.kind == Kind::zero && b.kind == Kind::zero)
          return zero_of(F, zero_sum_negative(true, a.neg, true, b.neg, o.rounding.mode));
        const Value& x = a.kind == Kind::zero ? b : a;
        return round_to(F, normalized(x.neg, x.sig, x.exp, false), word, o);
      }
      const auto sum = add_terms(term_of(a), term_of(b));
      if (!sum) return zero_of(F, zero_sum_negative(false, a.neg, false, b.neg, o.rounding.mode));
      return round_to(F, *sum, word, o);
    }
    case Op::mul: {
      const Value b = decode(in_, cb, o.daz);
      if (a.kind == Kind::nan || b.kind == Kind::nan) return nan_of(F, o.nan, {&a, &b}, {&a, &b}, false);
      const bool neg = a.neg != b.neg;
      if (a.kind == Kind::inf || b.kind == Kind::inf) {
        if (a.kind == Kind::zero || b.kind == Kind::zero) return nan_of(F, o.nan, {&a, &b}, {&a, &b}, true);
        return infinite_of(F, neg, 0);
      }
      if (a.kind == Kind::zero || b.kind == Kind::zero) return zero_of(F, neg);
      return round_to(F, normalized(neg, u128(a.sig) * b.sig, a.exp + b.exp, false), word, o);
    }
    case Op::div: {
      const Value b = decode(in_, cb, o.daz);
      if (a.kind == Kind::nan || b.kind == Kind::nan) return nan_of(F, o.nan, {&a, &b}, {&a, &b}, false);
      const bool neg = a.neg != b.neg;
      if ((a.kind == Kind::inf && b.kind == Kind::inf) || (a.kind == Kind::zero && b.kind == Kind::zero))
        return nan_of(F, o.nan, {&a, &b}, {&a, &b}, true);
      if (a.kind == Kind::inf) return infinite_of(F, neg, 0);
      if (b.kind == Kind::inf || a.kind == Kind::zero) return zero_of(F, neg);
      if (b.kind == Kind::zero) return infinite_of(F, neg, flag::divide_by_zero);
      return round_to(F, divide(a, b), word, o);
    }
    case Op::fma: {
      // The exact product must leave a bit free in 128: operands of at most 63 significant bits.
      if (!in_.is_float && in_.width > 63) return {0, 0, true};
      const Value b = decode(in_, cb, o.daz), c = decode(in_, cc, o.daz);
      const bool inf_times_zero =
          (a.kind == Kind::inf && b.kind == Kind::zero) || (a.kind == Kind::zero && b.kind == Kind::inf);
      if (a.kind == Kind::nan || b.kind == Kind::nan || c.kind == Kind::nan) {
        // 0 x Inf + qNaN: invalid but for x86; Arm returns the default NaN (arith.cpp says why).
        if (inf_times_zero && o.nan == NanPolicy::arm && c.kind == Kind::nan && !c.snan &&
            a.kind != Kind::nan && b.kind != Kind::nan)
          return nan_of(F, NanPolicy::canonical, {&a, &b, &c}, {}, true);
        return nan_of(F, o.nan, {&a, &b, &c}, {&c, &a, &b}, inf_times_zero && o.nan != NanPolicy::x86);
      }
      if (inf_times_zero) return nan_of(F, o.nan, {&a, &b, &c}, {&c, &a, &b}, true);
      const bool p_neg = a.neg != b.neg;
      const bool p_inf = a.kind == Kind::inf || b.kind == Kind::inf;
      if (p_inf || c.kind == Kind::inf) {
        if (p_inf && c.kind == Kind::inf && p_neg != c.neg) return nan_of(F, o.nan, {&a, &b, &c}, {&c, &a, &b}, true);
        return infinite_of(F, p_inf ? p_neg : c.neg, 0);
      }
      const bool p_zero = a.kind == Kind::zero || b.kind == Kind::zero;
      if (p_zero && c.kind == Kind::zero) return zero_of(F, zero_sum_negative(true, p_neg, true, c.neg, o.rounding.mode));
      if (p_zero) return round_to(F, normalized(c.neg, c.sig, c.exp, false), word, o);
      const Term p{p_neg, a.exp + b.exp, u128(a.sig) * b.sig};
      if (c.kind == Kind::zero) return round_to(F, normalized(p.neg, p.sig, p.exp, false), word, o);
      const auto sum = add_terms(p, term_of(c));
      if (!sum) return zero_of(F, zero_sum_negative(false, p_neg, false, c.neg, o.rounding.mode));
      return round_to(F, *sum, word, o);
    }
    case Op::sqrt: {
      if (a.kind == Kind::nan) return nan_of(F, o.nan, {&a}, {&a}, false);
      if (a.kind == Kind::zero) return zero_of(F, a.neg);
      if (a.neg) return nan_of(F, o.nan, {&a}, {&a}, true);
      if (a.kind == Kind::inf) return infinite_of(F, false, 0);
      const std::int64_t lead = (a.exp + 63 - std::countl_zero(a.sig)) >> 1;  // floor(log2 sqrt), within one
      const int bits = needed_bits(F, lead + 1, o.rounding);
      if (bits > 120) return {0, 0, true};
      return round_to(F, square_root(a, bits), word, o);
    }
    case Op::min:
    case Op::max: {
      const Value b = decode(in_, cb, o.daz);
      const bool is_max = op_ == Op::max;
      auto pick_b = [&] { return is_max ? below_with_signed_zero(a, b) : below_with_signed_zero(b, a); };
      if (!F.is_float) return {pick_b() ? b.code : a.code, 0};
      const bool an = a.kind == Kind::nan, bn = b.kind == Kind::nan;
      const bool snan = (an && a.snan) || (bn && b.snan);
      switch (o.nan) {
        case NanPolicy::x86: {
          if (an || bn) return {b.code, flag::invalid};
          const int c = compare_values(a, b);
          return {(is_max ? c > 0 : c < 0) ? a.code : b.code, 0};
        }
        case NanPolicy::arm:
          if (an || bn) return nan_of(F, o.nan, {&a, &b}, {&a, &b}, false);
          return {pick_b() ? b.code : a.code, 0};
        case NanPolicy::canonical: {
          const std::uint8_t flags = snan ? flag::invalid : 0;
          if (an && bn) return {F.nan_code, flags};
          if (an) return {b.code, flags};
          if (bn) return {a.code, flags};
          return {pick_b() ? b.code : a.code, flags};
        }
      }
      return {a.code, 0};
    }
    case Op::convert: {
      if (a.kind == Kind::nan) {
        if (!F.is_float) return {integer_invalid_code(F, o.nan, true, false), flag::invalid};
        const std::uint8_t flags = a.snan ? flag::invalid : 0;
        if (!F.has_nan) return nan_of(F, o.nan, {&a}, {&a}, true);
        if (o.nan == NanPolicy::canonical) return {F.nan_code, flags};
        // Sign and payload carry over: the fraction's top bits (narrowing drops low bits).
        u64 code;
        if (!F.negative_zero) return {F.nan_code, flags};  // fnuz, inuz: one NaN, 1 0...0
        if (F.special == Special::ieee) {
          const u64 frac = a.code & in_.frac_mask;
          const u64 payload = F.m >= in_.m ? frac << (F.m - in_.m) : frac >> (in_.m - F.m);
          code = (F.top_field << F.m) | payload | (u64(1) << (F.m - 1));
        } else {
          code = F.nan_code & (F.sign_bit - 1);
        }
        if (a.code & in_.sign_bit) code |= F.sign_bit;
        return {code, flags};
      }
      if (F.is_float) {
        if (a.kind == Kind::inf) return infinite_of(F, a.neg, 0);
        if (a.kind == Kind::zero) return zero_of(F, a.neg);
        return round_to(F, normalized(a.neg, a.sig, a.exp, false), word, o);
      }
      // To an integer (fixed-point) format: NaN and out-of-range inputs are invalid, not overflow.
      if (a.kind == Kind::inf)
        return {o.nan == NanPolicy::x86 ? integer_invalid_code(F, o.nan, false, a.neg)
                                        : (a.neg ? fixed_min_code(F) : fixed_max_code(F)),
                flag::invalid};
      if (a.kind == Kind::zero) return {0, 0};
      FastResult r = round_fixed(F, normalized(a.neg, a.sig, a.exp, false), word, o.rounding);
      if (o.notexact) r.flags &= static_cast<std::uint8_t>(~flag::inexact);
      if (r.flags & flag::overflow) {
        r.flags = flag::invalid;
        if (F.fixed_overflow == FixedOverflow::saturate && o.nan == NanPolicy::x86)
          r.code = integer_invalid_code(F, o.nan, false, a.neg);
      }
      return r;
    }
    default: {  // comparisons
      const Value b = decode(in_, cb, o.daz);
      const bool an = a.kind == Kind::nan, bn = b.kind == Kind::nan;
      const bool snan = (an && a.snan) || (bn && b.snan);
      const bool signalling_op = op_ == Op::lt || op_ == Op::le || op_ == Op::eq_signaling;
      const std::uint8_t flags = (snan || ((an || bn) && signalling_op)) ? flag::invalid : 0;
      if (an || bn) return {0, flags};
      const int c = compare_values(a, b);
      bool v;
      switch (op_) {
        case Op::eq:
        case Op::eq_signaling: v = c == 0; break;
        case Op::lt:
        case Op::lt_quiet: v = c < 0; break;
        default: v = c <= 0; break;
      }
      return {v ? 1u : 0u, flags};
    }
  }
}

FastResult FastArith::complete(u64 a, u64 b, u64 c, std::uint32_t word) const {
  const FastResult r = (*this)(a, b, c, word);
  if (!r.golden) return r;
  std::vector<BigInt> operands{BigInt(a), BigInt(b), BigInt(c)};
  operands.resize(static_cast<std::size_t>(op_arity(op_)));
  const ArithResult g = arith_golden(op_, format_, operands, options_, word, op_ == Op::convert ? &to_ : nullptr);
  return {static_cast<u64>(g.code), g.flags, false};
}

void FastArith::run(std::size_t n, const u64* a, const u64* b, const u64* c, const std::uint32_t* words, u64* codes,
                    std::uint8_t* flags) const {
  const int arity = op_arity(op_);
  for (std::size_t i = 0; i < n; ++i) {
    const FastResult r = complete(a[i], arity >= 2 ? b[i] : 0, arity >= 3 ? c[i] : 0, words ? words[i] : 0);
    codes[i] = r.code;
    if (flags) flags[i] = r.flags;
  }
}

std::optional<ArithResult> arith_fast(Op op, const Format& format, const std::vector<BigInt>& operands,
                                      const ArithOptions& o, std::uint32_t word) {
  if (op != Op::add && op != Op::sub && op != Op::mul && op != Op::div && op != Op::sqrt && op != Op::fma)
    return std::nullopt;
  if (!FastArith::supports(op, format, o)) return std::nullopt;
  const FastLayout L = layout_of(format);
  u64 codes[3] = {0, 0, 0};
  Rational v[3];
  for (std::size_t i = 0; i < operands.size(); ++i) {
    if (operands[i] < 0 || operands[i] >= (BigInt(1) << L.width)) return std::nullopt;  // golden reports it
    codes[i] = static_cast<u64>(operands[i]);
    const Value x = decode(L, codes[i], o.daz);
    if (x.kind != Kind::finite) return std::nullopt;
    const Rational m = Rational(BigInt(x.sig)) * pow2(x.exp);
    v[i] = x.neg ? Rational(-m) : m;
  }
  // The exact value before rounding, as the golden path states it.
  ExactResult u;
  Rational exact;
  switch (op) {
    case Op::add: exact = v[0] + v[1]; break;
    case Op::sub: exact = v[0] - v[1]; break;
    case Op::mul: exact = v[0] * v[1]; break;
    case Op::div: exact = v[0] / v[1]; break;
    case Op::fma: exact = v[0] * v[1] + v[2]; break;
    default:
      if (v[0] < 0) return std::nullopt;  // invalid: the golden path
      exact = v[0];
      u.is_sqrt = true;
      break;
  }
  if (exact == 0) return std::nullopt;  // an exact zero's sign rules: the golden path
  u.negative = exact < 0;
  u.magnitude = u.negative ? Rational(-exact) : exact;

  const FastResult z = FastArith(op, format, o)(codes[0], codes[1], codes[2], word);
  if (z.golden) return std::nullopt;
  const GoldenResult g = golden_decode(format, BigInt(z.code));
  ArithResult r;
  r.code = BigInt(z.code);
  r.width = L.width;
  r.kind = g.kind;
  r.value = g.value;
  r.negative = g.kind == ValueKind::nan ? (L.is_float && (z.code & L.sign_bit) != 0) : g.negative;
  if (g.kind == ValueKind::finite) r.exact_value = g.exact;
  r.unrounded = u;
  r.flags = z.flags;
  return r;
}

}  // namespace bitsim::formats
