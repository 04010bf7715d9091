// Data augmentation of one sample: random crop from a zero-padded image, then horizontal flip.
//
// Words: the sample at position p (0-based, in the epoch's order) of epoch e draws from
// BoundedDraws(stream_key(seed, e, WordStream::augment), p * 2^32) (stream_words.hpp), in this order:
//   if crop_pad > 0:  dy = below(2*crop_pad + 1), then dx = below(2*crop_pad + 1);
//   if flip:          flip = (word() >> 31) == 1, probability 1/2.
// A draw that is not asked for consumes no word. Each position owns 2^32 word indices, so draws of
// different positions never overlap (rejection needs more than one word with probability < 2^-31).
//
// Pixels: with P the image padded by crop_pad zeros on every side (zero of the data as stored, i.e.
// the mean once normalized), out(c, y, x) = P(c, y + dy, xs + dx), xs = flip ? W-1-x : x; that is,
// the HxW window at offset (dy, dx) of P, mirrored left-right if flip. dy = dx = crop_pad is the
// centre (the unchanged image).
#pragma once

#include <cstdint>

namespace bitsim::sim::data {

struct Augment {
  int crop_pad = 0;   // pixels of zero padding for the random crop; 0: no crop
  bool flip = false;  // mirror horizontally with probability 1/2
  bool any() const { return crop_pad > 0 || flip; }
};

struct SampleAugment {
  int dy = 0, dx = 0;  // window offset in the padded image, each in [0, 2*crop_pad]
  bool flip = false;
};

// The draws of the sample at `position` of `epoch` (see above). position must be in [0, 2^32).
SampleAugment draw_augment(std::uint64_t seed, std::uint64_t epoch, std::int64_t position, const Augment& aug);

// Writes the augmented sample: src and dst each hold channels*height*width floats, NCHW, and must not
// overlap. With a = {crop_pad, crop_pad, false} this is a plain copy.
void augment_sample(const float* src, float* dst, std::int64_t channels, std::int64_t height, std::int64_t width,
                    int crop_pad, const SampleAugment& a);

}  // namespace bitsim::sim::data
