#pragma once
// Mini-batches over a Dataset: a seeded shuffle per epoch and the standard light augmentation for
// small images (random crop from a zero-padded image, random horizontal flip), written into
// buffers allocated once, so the training loop's data step does not allocate.
#include <xtensor/xadapt.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xview.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/core/tensor.hpp"
#include "hwaware/data/dataset.hpp"

namespace hwaware {

/// How a Batcher cuts, orders and augments an epoch.
struct BatcherOptions {
  int64_t batch_size = 128;  ///< samples per batch, >= 1
  bool shuffle = true;       ///< a new permutation each epoch; identity order when false
  uint64_t seed = 0;         ///< with the epoch number, fixes the order and the augmentation
  bool drop_last = false;    ///< skip a final batch smaller than batch_size
  /// Random crop: pad each image with crop_padding zeros on every side and crop an H × W window at
  /// offsets drawn uniformly from [0, 2 × crop_padding] in each direction. 0 disables it.
  int64_t crop_padding = 0;
  bool random_flip = false;  ///< mirror each image left-right with probability 0.5
};

/// Iterates over a Dataset in mini-batches.
///
/// Contract: the order of an epoch and its augmentation depend only on (seed, epoch), not on what
/// happened before, so a resumed run sees the same batches as an uninterrupted one. The batch
/// tensors are allocated once, by the constructor; next() hands out views of them, which the
/// following next() overwrites (clone() a batch to keep it).
class Batcher {
 public:
  /// Shares `data`'s storage (the samples are not copied): images f32 [N, C, H, W] plain, labels
  /// i32 [N]. Starts epoch 0. Throws ShapeError for other shapes or types, Error for bad options.
  Batcher(const Dataset& data, BatcherOptions options = {});

  /// Rewinds to the first batch of `epoch` and draws that epoch's permutation.
  void start_epoch(int epoch);

  /// Fills the next batch: images f32 [b, C, H, W], labels i32 [b], where b = batch_size except
  /// for a final partial batch (then slice0 views of the same buffers). Returns false, leaving
  /// the arguments untouched, when the epoch is exhausted.
  bool next(Tensor& images, Tensor& labels);

  /// Number of batches next() yields per epoch.
  int64_t batches_per_epoch() const;

  const BatcherOptions& options() const { return options_; }
  int epoch() const { return epoch_; }
  /// This epoch's sample order (indices into the dataset).
  const std::vector<int64_t>& order() const { return order_; }

 private:
  void fill_sample(int64_t slot, int64_t index);

  Dataset data_;
  BatcherOptions options_;
  int64_t channels_ = 0, height_ = 0, width_ = 0;
  Tensor image_buffer_;  // [batch_size, C, H, W]
  Tensor label_buffer_;  // [batch_size]
  std::vector<int64_t> order_;
  std::mt19937_64 augment_rng_;
  int epoch_ = 0;
  int64_t cursor_ = 0;
};

/// Writes to `dst` the channels × height × width image `src` mirrored left-right (when `flip`)
/// and then cropped: zero-padded by `pad` on every side and cut to height × width at offsets
/// (off_y, off_x) in [0, 2 × pad], i.e. dst(c, y, x) = src'(c, y + off_y - pad, x + off_x - pad),
/// 0 where that falls outside. `src` and `dst` must not overlap. Throws Error for offsets
/// outside [0, 2 × pad].
void crop_flip_image(const float* src, float* dst, int64_t channels, int64_t height, int64_t width, int64_t pad,
                     int64_t off_y, int64_t off_x, bool flip);

// ---------------------------------------------------------------------------------------------
// Implementation

namespace detail {

/// Uniform integer in [0, n) by rejection. std::uniform_int_distribution and std::shuffle are
/// implementation-defined, so they would give different orders under libstdc++ and libc++; this
/// and mt19937_64 are fully specified, so a seed means the same batches everywhere.
inline uint64_t batcher_uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n: values below it would bias the modulo
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

/// Engine for one (seed, epoch, stream); separate streams keep the order independent of whether
/// augmentation is on.
inline std::mt19937_64 batcher_epoch_rng(uint64_t seed, int epoch, uint32_t stream) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(epoch),
                    stream};
  return std::mt19937_64(seq);
}

}  // namespace detail

inline void crop_flip_image(const float* src, float* dst, int64_t channels, int64_t height, int64_t width,
                            int64_t pad, int64_t off_y, int64_t off_x, bool flip) {
  if (pad < 0 || off_y < 0 || off_y > 2 * pad || off_x < 0 || off_x > 2 * pad)
    throw Error("crop_flip_image: offsets (" + std::to_string(off_y) + ", " + std::to_string(off_x) +
                ") must lie in [0, " + std::to_string(2 * pad) + "] for padding " + std::to_string(pad));
  const std::array<size_t, 3> shape{static_cast<size_t>(channels), static_cast<size_t>(height),
                                    static_cast<size_t>(width)};
  const size_t n = shape[0] * shape[1] * shape[2];
  auto in = xt::adapt(src, n, xt::no_ownership(), shape);
  auto out = xt::adapt(dst, n, xt::no_ownership(), shape);

  // Output rows [y0, y1) and columns [x0, x1) come from the (flipped) source shifted by (dy, dx);
  // the rest is the zero padding.
  const int64_t dy = off_y - pad, dx = off_x - pad;
  const int64_t y0 = std::max<int64_t>(0, -dy), y1 = std::min(height, height - dy);
  const int64_t x0 = std::max<int64_t>(0, -dx), x1 = std::min(width, width - dx);
  if (dy != 0 || dx != 0) out.fill(0.0f);
  if (y0 >= y1 || x0 >= x1) return;  // padding wider than the image: all zeros

  auto place = [&](auto&& source) {
    // noalias: src and dst are distinct, so xtensor need not evaluate into a temporary first.
    xt::noalias(xt::view(out, xt::all(), xt::range(y0, y1), xt::range(x0, x1))) =
        xt::view(source, xt::all(), xt::range(y0 + dy, y1 + dy), xt::range(x0 + dx, x1 + dx));
  };
  if (flip) place(xt::flip(in, 2));
  else place(in);
}

inline Batcher::Batcher(const Dataset& data, BatcherOptions options) : data_(data), options_(options) {
  const Tensor& x = data_.images;
  const Tensor& y = data_.labels;
  check_shapes(x.defined() && x.rank() == 4 && x.layout() == Layout::plain && x.dtype() == DType::f32, "Batcher",
               "images must be plain f32 [N, C, H, W]", x.defined() ? x.shape() : Shape{});
  check_shapes(y.defined() && y.rank() == 1 && y.dtype() == DType::i32 && y.dim(0) == x.dim(0), "Batcher",
               "labels must be i32 [N] with N matching the images", y.defined() ? y.shape() : Shape{}, x.shape());
  if (options_.batch_size < 1)
    throw Error("Batcher: batch_size must be >= 1 (got " + std::to_string(options_.batch_size) + ")");
  if (options_.crop_padding < 0)
    throw Error("Batcher: crop_padding must be >= 0 (got " + std::to_string(options_.crop_padding) + ")");
  channels_ = x.dim(1);
  height_ = x.dim(2);
  width_ = x.dim(3);
  image_buffer_ = Tensor::empty({options_.batch_size, channels_, height_, width_});
  label_buffer_ = Tensor::empty({options_.batch_size}, Layout::plain, DType::i32);
  order_.resize(static_cast<size_t>(data_.size()));
  start_epoch(0);
}

inline void Batcher::start_epoch(int epoch) {
  epoch_ = epoch;
  cursor_ = 0;
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
  if (options_.shuffle) {
    std::mt19937_64 rng = detail::batcher_epoch_rng(options_.seed, epoch, 0);
    for (size_t i = order_.size(); i > 1; --i)  // Fisher–Yates
      std::swap(order_[i - 1], order_[detail::batcher_uniform_below(rng, i)]);
  }
  augment_rng_ = detail::batcher_epoch_rng(options_.seed, epoch, 1);
}

inline int64_t Batcher::batches_per_epoch() const {
  const int64_t n = data_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

inline void Batcher::fill_sample(int64_t slot, int64_t index) {
  const int64_t pixels = channels_ * height_ * width_;
  const float* src = data_.images.data() + index * pixels;
  float* dst = image_buffer_.data() + slot * pixels;
  const int64_t pad = options_.crop_padding;
  if (pad == 0 && !options_.random_flip) {
    std::memcpy(dst, src, static_cast<size_t>(pixels) * sizeof(float));
  } else {
    // Fixed draw order per sample (crop y, crop x, flip) keeps the stream reproducible.
    const int64_t off_y = pad ? static_cast<int64_t>(detail::batcher_uniform_below(augment_rng_, 2 * pad + 1)) : 0;
    const int64_t off_x = pad ? static_cast<int64_t>(detail::batcher_uniform_below(augment_rng_, 2 * pad + 1)) : 0;
    const bool flip = options_.random_flip && (augment_rng_() >> 63) != 0;
    crop_flip_image(src, dst, channels_, height_, width_, pad, off_y, off_x, flip);
  }
  label_buffer_.idata()[slot] = data_.labels.idata()[index];
}

inline bool Batcher::next(Tensor& images, Tensor& labels) {
  const int64_t n = std::min(options_.batch_size, data_.size() - cursor_);
  if (n <= 0 || (options_.drop_last && n < options_.batch_size)) return false;
  for (int64_t slot = 0; slot < n; ++slot) fill_sample(slot, order_[static_cast<size_t>(cursor_ + slot)]);
  cursor_ += n;
  if (n == options_.batch_size) {
    images = image_buffer_;
    labels = label_buffer_;
  } else {
    images = image_buffer_.slice0(0, n);
    labels = label_buffer_.slice0(0, n);
  }
  image_buffer_.bump_version();  // contents changed in place: stale any backend cache of them
  label_buffer_.bump_version();
  return true;
}

}  // namespace hwaware
