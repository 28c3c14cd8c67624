#pragma once
// Image-array operations on plain CHW float images, on xtensor arrays: boxes and their
// IoU, and bilinear crop-and-resize (PyTorch's interpolate with align_corners=false, no
// antialiasing), which is both "resize the whole image" and dynamic image cropping's step.
#include <xtensor/xtensor.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/core/tensor.hpp"

namespace hwaware {

/// An axis-aligned box of pixels: columns [x0, x1) and rows [y0, y1).
struct Box {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;

  int64_t width() const { return x1 - x0; }
  int64_t height() const { return y1 - y0; }
  int64_t area() const { return std::max<int64_t>(0, width()) * std::max<int64_t>(0, height()); }
  bool empty() const { return width() <= 0 || height() <= 0; }
  bool contains(int64_t x, int64_t y) const { return x >= x0 && x < x1 && y >= y0 && y < y1; }
  bool operator==(const Box&) const = default;
  std::string str() const;
};

/// Intersection over union of two boxes (0 when both are empty).
double iou(const Box& a, const Box& b);

/// Mean IoU of boxes[i] with truth[i]. Throws Error when the lists differ in length or are empty.
double mean_iou(const std::vector<Box>& boxes, const std::vector<Box>& truth);

/// The square box of side max(width, height) (capped at the image's smaller side) centred on `b`,
/// shifted to lie inside a height×width image: the crop DIC takes, so the crop keeps the aspect
/// ratio of the network's square input.
Box square_inside(const Box& b, int64_t height, int64_t width);

/// Resamples the region `box` of the plain [C, H, W] image `src` to [C, out_h, out_w] in `dst`
/// with bilinear interpolation, sample centres mapped as PyTorch's align_corners=false does: the
/// same as cropping to the box, then resizing (pixels outside the box are never read; its edge
/// pixels repeat). `box` = the whole image is a plain resize. The box must lie inside the image.
/// Throws Error naming the shapes when the box is empty or a size is not positive.
void crop_resize(const float* src, int64_t channels, int64_t height, int64_t width, const Box& box, float* dst,
                 int64_t out_h, int64_t out_w);

/// crop_resize for every image of a plain [N, C, H, W] batch, each with its own box (one box for
/// all when `boxes` holds one); returns [N, C, out_h, out_w].
Tensor crop_resize_batch(const Tensor& images, const std::vector<Box>& boxes, int64_t out_h, int64_t out_w);

/// Resizes a plain [N, C, H, W] batch to [N, C, out_h, out_w] (crop_resize of the whole image).
Tensor resize_batch(const Tensor& images, int64_t out_h, int64_t out_w);

// ---------------------------------------------------------------------------------------------
// Implementation

inline std::string Box::str() const {
  return "[" + std::to_string(x0) + ", " + std::to_string(y0) + ", " + std::to_string(x1) + ", " +
         std::to_string(y1) + ")";
}

inline double iou(const Box& a, const Box& b) {
  const Box in{std::max(a.x0, b.x0), std::max(a.y0, b.y0), std::min(a.x1, b.x1), std::min(a.y1, b.y1)};
  const int64_t inter = in.empty() ? 0 : in.area();
  const int64_t uni = a.area() + b.area() - inter;
  return uni > 0 ? double(inter) / double(uni) : 0.0;
}

inline double mean_iou(const std::vector<Box>& boxes, const std::vector<Box>& truth) {
  if (boxes.empty() || boxes.size() != truth.size())
    throw Error("mean_iou: needs as many boxes as true boxes, at least one (got " + std::to_string(boxes.size()) +
                " and " + std::to_string(truth.size()) + ")");
  double s = 0;
  for (size_t i = 0; i < boxes.size(); ++i) s += iou(boxes[i], truth[i]);
  return s / double(boxes.size());
}

inline Box square_inside(const Box& b, int64_t height, int64_t width) {
  const int64_t side = std::clamp<int64_t>(std::max(b.width(), b.height()), 1, std::min(height, width));
  const auto place = [side](int64_t lo, int64_t hi, int64_t limit) {
    const int64_t start = lo + (hi - lo - side) / 2;  // centred (an odd difference rounds toward zero)
    return std::clamp<int64_t>(start, 0, limit - side);
  };
  const int64_t x0 = place(b.x0, b.x1, width), y0 = place(b.y0, b.y1, height);
  return {x0, y0, x0 + side, y0 + side};
}

namespace detail {

/// The two source indices and the weight of the second for each of `n` output samples over the
/// source span [lo, lo + extent) of an axis of `size` pixels (align_corners=false, the span's
/// edge pixels repeated beyond it).
struct AxisSamples {
  std::vector<size_t> first, second;
  xt::xtensor<float, 1> weight;
};

inline AxisSamples axis_samples(int64_t lo, int64_t extent, int64_t n, int64_t size) {
  const int64_t last = std::min(lo + extent, size) - 1;  // samples never leave the box
  AxisSamples s;
  s.first.resize(size_t(n));
  s.second.resize(size_t(n));
  s.weight = xt::xtensor<float, 1>::from_shape({size_t(n)});
  const double scale = double(extent) / double(n);
  for (int64_t i = 0; i < n; ++i) {
    const double pos = std::clamp(double(lo) + (double(i) + 0.5) * scale - 0.5, double(lo), double(last));
    const auto a = static_cast<int64_t>(std::floor(pos));
    s.first[size_t(i)] = size_t(a);
    s.second[size_t(i)] = size_t(std::min(a + 1, last));
    s.weight(size_t(i)) = static_cast<float>(pos - double(a));
  }
  return s;
}

}  // namespace detail

inline void crop_resize(const float* src, int64_t channels, int64_t height, int64_t width, const Box& box, float* dst,
                        int64_t out_h, int64_t out_w) {
  if (box.empty() || box.x0 < 0 || box.y0 < 0 || box.x1 > width || box.y1 > height || out_h <= 0 || out_w <= 0 ||
      channels <= 0)
    throw Error("crop_resize: box " + box.str() + " of a " + std::to_string(channels) + "x" + std::to_string(height) +
                "x" + std::to_string(width) + " image to " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                ": the box must be non-empty and inside the image, every size positive");
  // Separable: interpolate the box's rows along x into `rows` [C, box rows, out_w], then along y.
  // Plain loops over the precomputed samples: xtensor's gathering views (keep) cost ~20× more,
  // and DIC's crop counts in the measured latency of every budget.
  const auto xs = detail::axis_samples(box.x0, box.width(), out_w, width);
  const auto ys = detail::axis_samples(box.y0, box.height(), out_h, height);
  const size_t bh = size_t(box.height()), ow = size_t(out_w), oh = size_t(out_h);
  auto rows = xt::xtensor<float, 3>::from_shape({size_t(channels), bh, ow});
  for (size_t c = 0; c < size_t(channels); ++c)
    for (size_t y = 0; y < bh; ++y) {
      const float* in = src + (c * size_t(height) + size_t(box.y0) + y) * size_t(width);
      float* r = &rows(c, y, 0);
      for (size_t x = 0; x < ow; ++x) {
        const float w = xs.weight(x);
        r[x] = in[xs.first[x]] * (1.0f - w) + in[xs.second[x]] * w;
      }
    }
  for (size_t c = 0; c < size_t(channels); ++c)
    for (size_t i = 0; i < oh; ++i) {
      const float w = ys.weight(i);
      const float* a = &rows(c, ys.first[i] - size_t(box.y0), 0);
      const float* b = &rows(c, ys.second[i] - size_t(box.y0), 0);
      float* o = dst + (c * oh + i) * ow;
      for (size_t x = 0; x < ow; ++x) o[x] = a[x] * (1.0f - w) + b[x] * w;
    }
}

inline Tensor crop_resize_batch(const Tensor& images, const std::vector<Box>& boxes, int64_t out_h, int64_t out_w) {
  check_shapes(images.defined() && images.rank() == 4 && images.layout() == Layout::plain &&
                   images.dtype() == DType::f32,
               "crop_resize_batch", "needs a plain f32 [N, C, H, W] batch", images.defined() ? images.shape() : Shape{});
  const int64_t n = images.dim(0), c = images.dim(1), h = images.dim(2), w = images.dim(3);
  check_shapes(boxes.size() == 1 || int64_t(boxes.size()) == n, "crop_resize_batch",
               "needs one box, or one box per image", {int64_t(boxes.size())}, {n});
  Tensor out = Tensor::empty({n, c, out_h, out_w});
  for (int64_t i = 0; i < n; ++i)
    crop_resize(images.data() + i * c * h * w, c, h, w, boxes[boxes.size() == 1 ? 0 : size_t(i)],
                out.data() + i * c * out_h * out_w, out_h, out_w);
  return out;
}

inline Tensor resize_batch(const Tensor& images, int64_t out_h, int64_t out_w) {
  check_shapes(images.defined() && images.rank() == 4, "resize_batch", "needs an [N, C, H, W] batch",
               images.defined() ? images.shape() : Shape{});
  return crop_resize_batch(images, {Box{0, 0, images.dim(3), images.dim(2)}}, out_h, out_w);
}

}  // namespace hwaware
