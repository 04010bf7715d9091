#include "sim/kernels/im2col.hpp"

#include <algorithm>
#include <cstring>

namespace bitsim::sim::nn {

namespace {

// Writes `len` values (src, or +0 when src is null) at positions pos .. pos+len-1 of row k.
inline void put(const RowsOut& o, std::int64_t k, std::int64_t pos, const float* src, std::int64_t len) {
  float* d = o.base + (k - o.k_begin) * o.P + pos;
  if (src) std::memcpy(d, src, static_cast<std::size_t>(len) * sizeof(float));
  else std::fill(d, d + len, 0.0f);
}
inline void put(const PanelsOut& o, std::int64_t k, std::int64_t pos, const float* src, std::int64_t len) {
  Panels& p = *o.panels;
  while (len > 0) {
    const std::int64_t lane = pos % kPanelWidth, n = std::min(len, kPanelWidth - lane);
    float* d = p.panel(pos / kPanelWidth) + k * kPanelWidth + lane;
    if (src) {
      std::memcpy(d, src, static_cast<std::size_t>(n) * sizeof(float));
      src += n;
    } else {
      std::fill(d, d + n, 0.0f);
    }
    pos += n;
    len -= n;
  }
}
inline void put1(const RowsOut& o, std::int64_t k, std::int64_t pos, float v) { o.base[(k - o.k_begin) * o.P + pos] = v; }
inline void put1(const PanelsOut& o, std::int64_t k, std::int64_t pos, float v) {
  o.panels->panel(pos / kPanelWidth)[k * kPanelWidth + pos % kPanelWidth] = v;
}

// Row k, positions o*OW + w: src[(o + dh)*W + (w + dw)] (a stride-1 shift), +0 outside src.
template <class Out>
void shifted_plane(const float* src, std::int64_t H, std::int64_t W, const Out& out, std::int64_t k, std::int64_t OH,
                   std::int64_t OW, std::int64_t dh, std::int64_t dw) {
  const std::int64_t lo = std::clamp<std::int64_t>(-dw, 0, OW), hi = std::clamp<std::int64_t>(W - dw, lo, OW);
  for (std::int64_t o = 0; o < OH; ++o) {
    const std::int64_t ih = o + dh, p0 = o * OW;
    if (ih < 0 || ih >= H) {
      put(out, k, p0, nullptr, OW);
      continue;
    }
    if (lo > 0) put(out, k, p0, nullptr, lo);
    if (hi > lo) put(out, k, p0 + lo, src + ih * W + lo + dw, hi - lo);
    if (OW > hi) put(out, k, p0 + hi, nullptr, OW - hi);
  }
}

}  // namespace

template <class Out>
void im2col(const float* x, std::int64_t H, std::int64_t W, std::int64_t KH, std::int64_t KW, std::int64_t OH,
            std::int64_t OW, std::int64_t stride, std::int64_t pad, std::int64_t k_begin, std::int64_t k_end, Out out) {
  for (std::int64_t k = k_begin; k < k_end; ++k) {
    const std::int64_t c = k / (KH * KW), kh = (k / KW) % KH, kw = k % KW;
    const float* xc = x + c * H * W;
    if (stride == 1) {
      shifted_plane(xc, H, W, out, k, OH, OW, kh - pad, kw - pad);
      continue;
    }
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const std::int64_t ih = oh * stride - pad + kh;
      if (ih < 0 || ih >= H) {
        put(out, k, oh * OW, nullptr, OW);
        continue;
      }
      const float* xr = xc + ih * W;
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const std::int64_t iw = ow * stride - pad + kw;
        put1(out, k, oh * OW + ow, iw >= 0 && iw < W ? xr[iw] : 0.0f);
      }
    }
  }
}

template <class Out>
void im2col_transposed(const float* dy, std::int64_t CO, std::int64_t OH, std::int64_t OW, std::int64_t KH,
                       std::int64_t KW, std::int64_t H, std::int64_t W, std::int64_t stride, std::int64_t pad, Out out) {
  for (std::int64_t co = 0; co < CO; ++co)
    for (std::int64_t a = 0; a < KH; ++a)
      for (std::int64_t b = 0; b < KW; ++b) {
        const std::int64_t k = (co * KH + a) * KW + b, kh = KH - 1 - a, kw = KW - 1 - b;
        const float* src = dy + co * OH * OW;
        if (stride == 1) {
          shifted_plane(src, OH, OW, out, k, H, W, pad - kh, pad - kw);
          continue;
        }
        for (std::int64_t ih = 0; ih < H; ++ih) {
          const std::int64_t th = ih + pad - kh;
          put(out, k, ih * W, nullptr, W);
          if (th < 0 || th % stride != 0 || th / stride >= OH) continue;
          // Non-zero columns: iw = ow*stride - pad + kw for the ow that land inside the row.
          const float* sr = src + (th / stride) * OW;
          for (std::int64_t ow = 0; ow < OW; ++ow) {
            const std::int64_t iw = ow * stride - pad + kw;
            if (iw >= 0 && iw < W) put1(out, k, ih * W + iw, sr[ow]);
          }
        }
      }
}

template void im2col<RowsOut>(const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                              std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, RowsOut);
template void im2col<PanelsOut>(const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, PanelsOut);
template void im2col_transposed<PanelsOut>(const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                           std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, PanelsOut);

}  // namespace bitsim::sim::nn
