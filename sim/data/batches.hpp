// Mini-batches of a Dataset, epoch after epoch, shuffled and augmented reproducibly.
//
// Determinism contract: the content of every batch is a function of (seed, epoch, position) only,
// never of timing, threads, or whether the stream was interrupted and restored:
//   - the order of epoch e is epoch_permutation(count, seed, e) (stream_words.hpp): Fisher-Yates
//     driven by formats::PhiloxWords keyed stream_key(seed, e, shuffle), a SplitMix64 mix of seed and
//     e, with unbiased bounded integers (Lemire's method with rejection); with shuffle == false it is
//     0, 1, ..., count-1 (no word is drawn);
//   - the sample at position p of epoch e is augmented with draw_augment(seed, e, p, aug)
//     (augment.hpp): words keyed by (seed, e) at word indices p*2^32 + k, i.e. keyed by (seed, e, p);
//     random crop (zero padding of crop_pad pixels, a random HxW window) then a horizontal flip with
//     probability 1/2. Augmentation is independent of `shuffle`: it happens iff aug asks for it;
//   - batch k of an epoch holds positions [k*batch_size, min((k+1)*batch_size, count)); the last,
//     partial batch is returned unless drop_last.
// state() is (epoch, position of the next sample); restore(state()) on any stream over the same
// dataset with the same parameters reproduces bit for bit the batches the original stream would
// have produced next.
//
// The stream keeps a reference to the Dataset, which must outlive it and not change in between.
// Cost of next(): one memcpy per sample without augmentation, per-row memcpy with crop, plus an
// in-place row reversal with flip; the permutation (count words) is computed once per epoch.
#pragma once

#include "sim/data/augment.hpp"
#include "sim/data/dataset.hpp"

#include <cstdint>
#include <vector>

namespace bitsim::sim::data {

struct Batch {
  std::int64_t size = 0, channels = 0, height = 0, width = 0;  // size: samples in this batch
  std::vector<float> images;                                   // size*C*H*W, NCHW row-major
  std::vector<std::int32_t> labels;                            // size labels
};

class BatchStream {
 public:
  // batch_size >= 1 and 0 <= crop_pad <= 2^20, and the dataset consistent with its shape and < 2^32 samples;
  // otherwise std::invalid_argument naming the parameter.
  BatchStream(const Dataset& d, std::int64_t batch_size, std::uint64_t seed, bool shuffle, Augment aug, bool drop_last);
  // The stream keeps a reference: binding it to a temporary data set would dangle.
  BatchStream(Dataset&&, std::int64_t, std::uint64_t, bool, Augment, bool) = delete;

  // Fills `out` with the next batch (reusing its storage) and returns true; returns false at the end
  // of an epoch (leaving out unchanged), after which the next call starts the next epoch.
  bool next(Batch& out);

  struct State {
    std::uint64_t epoch = 0;    // current epoch, from 0
    std::int64_t position = 0;  // position in the epoch's order of the next sample to emit, in [0, count]
    bool operator==(const State&) const = default;
  };
  State state() const { return {epoch_, position_}; }
  // Continues from `s` (std::invalid_argument if s.position is outside [0, count]).
  void restore(State s);

  // Batches next() returns per epoch: count / batch_size, rounded up unless drop_last.
  std::int64_t batches_per_epoch() const;

 private:
  const std::vector<std::int64_t>& order();  // the current epoch's permutation, computed once per epoch

  const Dataset& data_;
  std::int64_t batch_size_;
  std::uint64_t seed_;
  bool shuffle_;
  Augment aug_;
  bool drop_last_;
  std::int64_t sample_size_;  // C*H*W

  std::uint64_t epoch_ = 0;
  std::int64_t position_ = 0;
  std::vector<std::int64_t> perm_;
  bool perm_valid_ = false;
  std::uint64_t perm_epoch_ = 0;
};

}  // namespace bitsim::sim::data
