#pragma once
// Grad-CAM (Selvaraju et al., ICCV 2017) as SmartScissor uses it to find the region of an image
// that a trained classifier looks at: on the last conv stage, channel weights = the mean gradient
// of the class score, heat = ReLU(Σ weight · activation), normalised to [0, 1]; the box spans
// the rows and columns whose heat reaches min + t·(max − min) (t = 0.5, the authors' default),
// made square and kept inside the image.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/core/tensor.hpp"
#include "hwaware/data/dataset.hpp"
#include "hwaware/data/image_ops.hpp"
#include "hwaware/nn/frozen.hpp"
#include "hwaware/nn/layers.hpp"
#include "hwaware/nn/sequential.hpp"

namespace hwaware::smartscissor {

/// Where Grad-CAM reads the activations and which class score it explains.
struct GradCamOptions {
  /// The feature map is the output of children [0, feature_end); by default, everything before
  /// the network's first GlobalAvgPool (its last conv stage).
  std::optional<size_t> feature_end;
  /// Explain these classes (one per image); by default each image's predicted class.
  std::optional<std::vector<int32_t>> classes;
};

/// Grad-CAM heat of each image of the plain [N, C, H, W] batch, resized (bilinear) to [N, H, W],
/// each map in [0, 1] (all zeros when its heat is flat). Runs the network in eval mode and leaves
/// its mode and its parameters' gradients as they were. Throws Error when the network has no
/// child to split at or the classes do not match the batch.
Tensor gradcam_heat(nn::Sequential& net, const Tensor& images, const GradCamOptions& options = {});

/// The square box of a heat map [h, w] at threshold t ∈ [0, 1] (see the header comment).
Box box_from_heat(const float* heat, int64_t height, int64_t width, double t);

/// Grad-CAM boxes of every image of `data` at threshold t, `batch` images at a time (explaining
/// each image's predicted class).
std::vector<Box> gradcam_boxes(nn::Sequential& net, const Dataset& data, double t, int64_t batch = 256);

// ---------------------------------------------------------------------------------------------
// Implementation

namespace detail {

inline size_t feature_end_of(const nn::Sequential& net, const GradCamOptions& o) {
  if (o.feature_end) {
    if (*o.feature_end < 1 || *o.feature_end >= net.children.size())
      throw Error("gradcam: feature_end " + std::to_string(*o.feature_end) + " must split the network's " +
                  std::to_string(net.children.size()) + " children into two non-empty parts");
    return *o.feature_end;
  }
  for (size_t i = 1; i < net.children.size(); ++i)
    if (dynamic_cast<const nn::GlobalAvgPool*>(net.children[i].get())) return i;
  throw Error("gradcam: the network has no GlobalAvgPool after its first child; name feature_end");
}

/// Eval mode and frozen parameters for the scope, both restored after.
class ExplainScope {
 public:
  explicit ExplainScope(nn::Module& m) : m_(m), training_(m.training()), frozen_(m) { m_.eval(); }
  ~ExplainScope() { m_.set_training(training_); }
  ExplainScope(const ExplainScope&) = delete;
  ExplainScope& operator=(const ExplainScope&) = delete;

 private:
  nn::Module& m_;
  bool training_;
  nn::FrozenParameters frozen_;  // gradients flow to the input only; parameter grads untouched
};

/// ReLU(Σ_c mean_hw(grad) · act) per image, normalised to [0, 1]: [N, h, w].
inline Tensor weighted_heat(const Tensor& act, const Tensor& grad) {
  const int64_t n = act.dim(0), c = act.dim(1), hw = act.dim(2) * act.dim(3);
  Tensor heat = Tensor::zeros({n, 1, act.dim(2), act.dim(3)});
  for (int64_t i = 0; i < n; ++i) {
    float* h = heat.data() + i * hw;
    for (int64_t k = 0; k < c; ++k) {
      const float* g = grad.data() + (i * c + k) * hw;
      const float* a = act.data() + (i * c + k) * hw;
      double weight = 0;
      for (int64_t p = 0; p < hw; ++p) weight += g[p];
      weight /= double(hw);
      for (int64_t p = 0; p < hw; ++p) h[p] += static_cast<float>(weight) * a[p];
    }
    for (int64_t p = 0; p < hw; ++p) h[p] = std::max(h[p], 0.0f);
    const auto [lo, hi] = std::minmax_element(h, h + hw);
    const float min = *lo, range = *hi - *lo;
    for (int64_t p = 0; p < hw; ++p) h[p] = range > 0 ? (h[p] - min) / range : 0.0f;
  }
  return heat;
}

/// One-hot seed of the explained class per image.
inline Tensor class_seed(const Tensor& logits, const GradCamOptions& o) {
  const int64_t n = logits.dim(0), k = logits.dim(1);
  if (o.classes && int64_t(o.classes->size()) != n)
    throw Error("gradcam: " + std::to_string(o.classes->size()) + " classes given for " + std::to_string(n) +
                " images");
  Tensor seed = Tensor::zeros({n, k});
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data() + i * k;
    const int64_t cls = o.classes ? (*o.classes)[size_t(i)] : std::max_element(row, row + k) - row;
    if (cls < 0 || cls >= k) throw Error("gradcam: class " + std::to_string(cls) + " outside [0, " + std::to_string(k) + ")");
    seed.data()[i * k + cls] = 1.0f;
  }
  return seed;
}

}  // namespace detail

inline Tensor gradcam_heat(nn::Sequential& net, const Tensor& images, const GradCamOptions& options) {
  check_shapes(images.defined() && images.rank() == 4, "gradcam", "needs an [N, C, H, W] batch",
               images.defined() ? images.shape() : Shape{});
  const size_t split = detail::feature_end_of(net, options);
  detail::ExplainScope scope(net);
  Variable h(images.to_plain(), true);
  for (size_t i = 0; i < split; ++i) h = net.children[i]->forward(h);
  Variable features = h;
  features.retain_grad();
  for (size_t i = split; i < net.children.size(); ++i) h = net.children[i]->forward(h);
  check_shapes(h.shape().size() == 2 && h.shape()[0] == images.dim(0), "gradcam",
               "the network's output must be [N, classes]", h.shape());
  h.backward(detail::class_seed(h.value().to_plain(), options));
  const Tensor heat = detail::weighted_heat(features.value().to_plain(), features.grad().to_plain());
  Tensor up = resize_batch(heat, images.dim(2), images.dim(3));
  return up.reshape({images.dim(0), images.dim(2), images.dim(3)});
}

inline Box box_from_heat(const float* heat, int64_t height, int64_t width, double t) {
  if (!(t >= 0 && t <= 1)) throw Error("box_from_heat: threshold t must be in [0, 1] (got " + std::to_string(t) + ")");
  const auto [lo, hi] = std::minmax_element(heat, heat + height * width);
  const double thr = double(*lo) + t * double(*hi - *lo);
  Box b{width, height, 0, 0};
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      if (double(heat[y * width + x]) >= thr)
        b = {std::min(b.x0, x), std::min(b.y0, y), std::max(b.x1, x + 1), std::max(b.y1, y + 1)};
  return square_inside(b, height, width);
}

inline std::vector<Box> gradcam_boxes(nn::Sequential& net, const Dataset& data, double t, int64_t batch) {
  check_shapes(batch > 0, "gradcam_boxes", "batch must be positive", {batch});
  std::vector<Box> boxes;
  boxes.reserve(size_t(data.size()));
  for (int64_t b = 0; b < data.size(); b += batch) {
    const int64_t e = std::min(data.size(), b + batch);
    const Tensor heat = gradcam_heat(net, data.images.slice0(b, e));
    const int64_t h = heat.dim(1), w = heat.dim(2);
    for (int64_t i = 0; i < e - b; ++i) boxes.push_back(box_from_heat(heat.data() + i * h * w, h, w, t));
  }
  return boxes;
}

}  // namespace hwaware::smartscissor
