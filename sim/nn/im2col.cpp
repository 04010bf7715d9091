#include "sim/nn/im2col.hpp"

#include <algorithm>
#include <cstring>

namespace bitsim::sim::nn {

namespace {

// dst[o*OW + w] = src[(o + dh)*W + (w + dw)] for a stride-1 shift, +0 outside src: rows of memcpy.
void shifted_plane(const float* src, std::int64_t H, std::int64_t W, float* dst, std::int64_t OH, std::int64_t OW,
                   std::int64_t dh, std::int64_t dw) {
  const std::int64_t lo = std::clamp<std::int64_t>(-dw, 0, OW), hi = std::clamp<std::int64_t>(W - dw, lo, OW);
  for (std::int64_t o = 0; o < OH; ++o) {
    float* d = dst + o * OW;
    const std::int64_t ih = o + dh;
    if (ih < 0 || ih >= H) {
      std::fill(d, d + OW, 0.0f);
      continue;
    }
    std::fill(d, d + lo, 0.0f);
    std::memcpy(d + lo, src + ih * W + lo + dw, static_cast<std::size_t>(hi - lo) * sizeof(float));
    std::fill(d + hi, d + OW, 0.0f);
  }
}

}  // namespace

void im2col_rows(const float* x, std::int64_t H, std::int64_t W, std::int64_t KH, std::int64_t KW, std::int64_t OH,
                 std::int64_t OW, std::int64_t stride, std::int64_t pad, std::int64_t k_begin, std::int64_t k_end,
                 float* out) {
  const std::int64_t P = OH * OW;
  for (std::int64_t k = k_begin; k < k_end; ++k) {
    const std::int64_t c = k / (KH * KW), kh = (k / KW) % KH, kw = k % KW;
    const float* xc = x + c * H * W;
    float* d = out + (k - k_begin) * P;
    if (stride == 1) {
      shifted_plane(xc, H, W, d, OH, OW, kh - pad, kw - pad);
      continue;
    }
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const std::int64_t ih = oh * stride - pad + kh;
      float* row = d + oh * OW;
      if (ih < 0 || ih >= H) {
        std::fill(row, row + OW, 0.0f);
        continue;
      }
      const float* xr = xc + ih * W;
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const std::int64_t iw = ow * stride - pad + kw;
        row[ow] = iw >= 0 && iw < W ? xr[iw] : 0.0f;
      }
    }
  }
}

void im2col_transposed_rows(const float* dy, std::int64_t CO, std::int64_t OH, std::int64_t OW, std::int64_t KH,
                            std::int64_t KW, std::int64_t H, std::int64_t W, std::int64_t stride, std::int64_t pad,
                            float* out) {
  const std::int64_t P = H * W;
  for (std::int64_t co = 0; co < CO; ++co)
    for (std::int64_t a = 0; a < KH; ++a)
      for (std::int64_t b = 0; b < KW; ++b) {
        const std::int64_t k = (co * KH + a) * KW + b, kh = KH - 1 - a, kw = KW - 1 - b;
        const float* src = dy + co * OH * OW;
        float* d = out + k * P;
        if (stride == 1) {
          shifted_plane(src, OH, OW, d, H, W, pad - kh, pad - kw);
          continue;
        }
        for (std::int64_t ih = 0; ih < H; ++ih) {
          const std::int64_t th = ih + pad - kh;
          float* row = d + ih * W;
          if (th < 0 || th % stride != 0 || th / stride >= OH) {
            std::fill(row, row + W, 0.0f);
            continue;
          }
          // Non-zero columns: iw = ow*stride - pad + kw for the ow that land inside the row.
          const float* sr = src + (th / stride) * OW;
          std::fill(row, row + W, 0.0f);
          for (std::int64_t ow = 0; ow < OW; ++ow) {
            const std::int64_t iw = ow * stride - pad + kw;
            if (iw >= 0 && iw < W) row[iw] = sr[ow];
          }
        }
      }
}

}  // namespace bitsim::sim::nn
