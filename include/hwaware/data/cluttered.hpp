#pragma once
// Cluttered Fashion-MNIST, after "cluttered MNIST" of the Spatial Transformer Networks paper
// (Jaderberg et al. 2015): each item, randomly scaled, sits at a random place on a larger canvas
// among patches cut from other items, so a classifier must find it — the data on which cropping
// to the object (SmartScissor's DIC) can matter. Deterministic from a seed, sample by sample.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/core/tensor.hpp"
#include "hwaware/data/dataset.hpp"
#include "hwaware/data/image_ops.hpp"

namespace hwaware {

/// How cluttered images are composed.
struct ClutteredOptions {
  int64_t canvas = 64;                      ///< side of the square canvas, pixels
  double min_scale = 0.6, max_scale = 1.2;  ///< item side = 28 × scale, scale uniform in this range
  int clutter = 6;                          ///< patches of other items per image
  int64_t patch = 8;                        ///< side of a clutter patch, pixels
  uint64_t seed = 1;

  /// Throws Error naming the field when the options cannot compose an image.
  void validate(int64_t item_side) const;
};

/// A cluttered set: the images and, for evaluation only, each item's ground-truth box.
struct ClutteredSet {
  Dataset data;            ///< images f32 [N, 1, canvas, canvas], labels of the placed items
  std::vector<Box> boxes;  ///< tight box of the placed item's visible pixels (never for training)
};

/// Pixels of a placed item brighter than this (on [0, 1]) count as the item for its box.
inline constexpr float kClutteredItemThreshold = 0.1f;

/// Composes `count` cluttered images (all of `items` when negative; sample i places item
/// i mod N) from single-item images in [0, 1] ([N, 1, h, w], h = w). `stream` separates the
/// random streams of different splits drawn from one seed. Sample i depends only on the items,
/// (seed, stream) and i, so a set of n samples is the first n of any larger one.
ClutteredSet make_cluttered(const Dataset& items, const ClutteredOptions& options, int64_t count = -1,
                            uint64_t stream = 0);

/// The two splits of Cluttered Fashion-MNIST, normalised with the training images' mean and
/// standard deviation (kept here, so a picture can undo it).
struct ClutteredFashionMnist {
  ClutteredSet train, test;
  float mean = 0, std = 1;
};

/// Builds Cluttered Fashion-MNIST from the installed Fashion-MNIST: `train_count` training and
/// `test_count` test images (one per item of the split when negative), each composed from its
/// whole split, so a smaller set is a prefix of a larger one. Throws as load_fashion_mnist does.
ClutteredFashionMnist load_cluttered_fashion_mnist(const ClutteredOptions& options, int64_t train_count,
                                                   int64_t test_count, const std::string& dir = kFashionMnistDir);

// ---------------------------------------------------------------------------------------------
// Implementation

inline void ClutteredOptions::validate(int64_t item_side) const {
  const auto bad = [](const std::string& what) { throw Error("ClutteredOptions: " + what); };
  if (!(min_scale > 0) || !(max_scale >= min_scale) || !std::isfinite(max_scale))
    bad("scales must satisfy 0 < min_scale <= max_scale (got " + std::to_string(min_scale) + ", " +
        std::to_string(max_scale) + ")");
  const auto largest = static_cast<int64_t>(std::lround(double(item_side) * max_scale));
  if (canvas < largest)
    bad("canvas " + std::to_string(canvas) + " is smaller than the largest item (" + std::to_string(largest) + ")");
  if (clutter < 0) bad("clutter must be >= 0 (got " + std::to_string(clutter) + ")");
  if (patch < 1 || patch > item_side)
    bad("patch must be in [1, " + std::to_string(item_side) + "] (got " + std::to_string(patch) + ")");
}

namespace detail {

/// A 64-bit mix of a seed and a counter (splitmix64's finaliser), so nearby samples get
/// unrelated streams.
inline uint64_t mix_seed(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline int64_t uniform_int(std::mt19937_64& rng, int64_t lo, int64_t hi) {  // inclusive
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

/// Draws the item scaled onto `canvas` (side s) at a random place; returns its tight box.
inline Box place_item(const float* item, int64_t side, float* canvas, int64_t canvas_side, const ClutteredOptions& o,
                      std::mt19937_64& rng) {
  const double scale = std::uniform_real_distribution<double>(o.min_scale, o.max_scale)(rng);
  const int64_t s = std::clamp<int64_t>(std::lround(double(side) * scale), 1, canvas_side);
  std::vector<float> scaled(size_t(s * s));
  crop_resize(item, 1, side, side, Box{0, 0, side, side}, scaled.data(), s, s);
  const int64_t x = uniform_int(rng, 0, canvas_side - s), y = uniform_int(rng, 0, canvas_side - s);
  Box tight{canvas_side, canvas_side, 0, 0};
  for (int64_t r = 0; r < s; ++r)
    for (int64_t c = 0; c < s; ++c) {
      const float v = scaled[size_t(r * s + c)];
      float& dst = canvas[(y + r) * canvas_side + x + c];
      dst = std::max(dst, v);
      if (v > kClutteredItemThreshold)
        tight = {std::min(tight.x0, x + c), std::min(tight.y0, y + r), std::max(tight.x1, x + c + 1),
                 std::max(tight.y1, y + r + 1)};
    }
  return tight.empty() ? Box{x, y, x + s, y + s} : tight;
}

/// Draws one patch cut from a random other item, kept off the item's box when it can be.
inline void place_clutter(const Dataset& items, int64_t self, float* canvas, int64_t canvas_side, const Box& keep_off,
                          const ClutteredOptions& o, std::mt19937_64& rng) {
  const int64_t n = items.size(), side = items.images.dim(2), p = o.patch;
  int64_t other = uniform_int(rng, 0, n - 1);
  if (n > 1 && other == self) other = (other + 1) % n;
  const float* src = items.images.data() + other * side * side;
  int64_t sx = 0, sy = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {  // prefer a patch with some of the item in it
    sx = uniform_int(rng, 0, side - p);
    sy = uniform_int(rng, 0, side - p);
    double mass = 0;
    for (int64_t r = 0; r < p; ++r)
      for (int64_t c = 0; c < p; ++c) mass += src[(sy + r) * side + sx + c];
    if (mass > 0.15 * double(p * p)) break;
  }
  int64_t x = 0, y = 0;
  for (int attempt = 0; attempt < 16; ++attempt) {
    x = uniform_int(rng, 0, canvas_side - p);
    y = uniform_int(rng, 0, canvas_side - p);
    if (iou(Box{x, y, x + p, y + p}, keep_off) == 0.0) break;
  }
  for (int64_t r = 0; r < p; ++r)
    for (int64_t c = 0; c < p; ++c) {
      float& dst = canvas[(y + r) * canvas_side + x + c];
      dst = std::max(dst, src[(sy + r) * side + sx + c]);
    }
}

}  // namespace detail

inline ClutteredSet make_cluttered(const Dataset& items, const ClutteredOptions& o, int64_t count, uint64_t stream) {
  const Tensor& im = items.images;
  check_shapes(im.defined() && im.rank() == 4 && im.dim(1) == 1 && im.dim(2) == im.dim(3) && items.size() > 0,
               "make_cluttered", "needs a non-empty set of square one-channel images [N, 1, h, h]",
               im.defined() ? im.shape() : Shape{});
  const int64_t side = im.dim(2), n = count < 0 ? items.size() : count, cs = o.canvas;
  o.validate(side);
  ClutteredSet out;
  out.data.images = Tensor::zeros({n, 1, cs, cs});
  out.data.labels = Tensor::empty({n}, Layout::plain, DType::i32);
  out.boxes.resize(size_t(n));
  const uint64_t base = detail::mix_seed(o.seed ^ detail::mix_seed(stream + 0x51ed));
  for (int64_t i = 0; i < n; ++i) {
    std::mt19937_64 rng(detail::mix_seed(base + uint64_t(i)));
    const int64_t item = i % items.size();
    float* canvas = out.data.images.data() + i * cs * cs;
    const Box box = detail::place_item(im.data() + item * side * side, side, canvas, cs, o, rng);
    for (int k = 0; k < o.clutter; ++k) detail::place_clutter(items, item, canvas, cs, box, o, rng);
    out.boxes[size_t(i)] = box;
    out.data.labels.idata()[i] = items.labels.idata()[item];
  }
  return out;
}

inline ClutteredFashionMnist load_cluttered_fashion_mnist(const ClutteredOptions& options, int64_t train_count,
                                                          int64_t test_count, const std::string& dir) {
  ClutteredFashionMnist set;
  set.train = make_cluttered(load_fashion_mnist_raw("train", dir), options, train_count, 0);
  set.test = make_cluttered(load_fashion_mnist_raw("test", dir), options, test_count, 1);
  const Tensor& t = set.train.data.images;
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    sum += t.data()[i];
    sq += double(t.data()[i]) * t.data()[i];
  }
  const double mean = sum / double(t.numel());
  set.mean = float(mean);
  set.std = float(std::sqrt(std::max(1e-12, sq / double(t.numel()) - mean * mean)));
  normalize(set.train.data.images, set.mean, set.std);
  normalize(set.test.data.images, set.mean, set.std);
  return set;
}

}  // namespace hwaware
