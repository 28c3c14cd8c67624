#pragma once
// SmartScissor's box predictor and dynamic image cropping (DIC). The predictor is the seed's
// Table II network scaled down to this input (a stride-2 stem, four residual stages of rising
// width, a 2-layer head with a sigmoid giving (x0, y0, x1, y1) as fractions of the side), trained
// with the smooth L1 loss on Grad-CAM boxes — never on ground truth. It reads the image resized
// to a small side, so its MACs stay a few percent of the classifier's; DIC then crops each image
// to its predicted (square) box and resizes the crop to the classifier's resolution. A classifier
// for DIC trains on the predictor's crops of its training images: the crops it will see.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "hwaware/autograd/regression_loss.hpp"
#include "hwaware/data/dataset.hpp"
#include "hwaware/data/image_ops.hpp"
#include "hwaware/nn/blocks.hpp"
#include "hwaware/nn/layers.hpp"
#include "hwaware/nn/sequential.hpp"
#include "hwaware/optim/optimizer.hpp"
#include "hwaware/optim/schedule.hpp"

namespace hwaware::smartscissor {

/// The box predictor's shape: the side it reads images at and its stage widths.
struct BoxPredictorShape {
  int64_t side = 32;                            ///< input side (images are resized to it)
  std::vector<int64_t> widths{8, 16, 16, 32};   ///< one residual block per stage
  int64_t first_stage_stride = 2;               ///< later stages always halve; 2 here keeps MACs ~2% of a ResNet-20
  int64_t hidden = 64;                          ///< the head's hidden layer
  int64_t in_channels = 1;
};

/// The box predictor network: [N, C, side, side] → [N, 4] in (0, 1).
std::unique_ptr<nn::Sequential> make_box_predictor(const BoxPredictorShape& shape = {});

/// How the box predictor is trained.
struct BoxTrainingOptions {
  int epochs = 10;
  int64_t batch = 64;
  double lr = 2e-3;        ///< Adam, cosine decay to 0 over the run
  float beta = 0.05f;      ///< smooth L1's β, in fractions of the side
  uint64_t seed = 1;
};

/// Trains `net` to predict `targets` (boxes in pixels of `images`' [N, C, H, H] frame) from the
/// images resized to `shape.side`. Returns the mean loss of each epoch.
std::vector<double> train_box_predictor(nn::Sequential& net, const BoxPredictorShape& shape, const Tensor& images,
                                        const std::vector<Box>& targets, const BoxTrainingOptions& options = {});

/// The predicted boxes of a batch [N, C, H, H], in its pixels, made square and inside the image.
std::vector<Box> predict_boxes(nn::Sequential& net, const BoxPredictorShape& shape, const Tensor& images,
                               int64_t batch = 500);

/// `b` made square, its side grown by `factor` (≥ 1) about its centre and kept inside the
/// height × width image: a margin round a box that may cut its object.
inline Box widen_box(const Box& b, double factor, int64_t height, int64_t width) {
  if (!(factor >= 1 && std::isfinite(factor)))
    throw Error("widen_box: factor must be >= 1 (got " + std::to_string(factor) + ")");
  const Box sq = square_inside(b, height, width);
  const int64_t grow = std::llround(double(sq.width()) * (factor - 1) / 2);
  return square_inside(Box{sq.x0 - grow, sq.y0 - grow, sq.x1 + grow, sq.y1 + grow}, height, width);
}

/// DIC: each image cropped to its box (DIC's boxes are squares already; with `margin` > 1, the
/// square widened by it, see widen_box; a margin < 1 throws) and resized to side × side.
inline Tensor dynamic_crop(const Tensor& images, const std::vector<Box>& boxes, int64_t side, double margin = 1.0) {
  if (margin == 1.0 || !images.defined() || images.rank() != 4) return crop_resize_batch(images, boxes, side, side);
  std::vector<Box> wide;
  wide.reserve(boxes.size());
  for (const Box& b : boxes) wide.push_back(widen_box(b, margin, images.dim(2), images.dim(3)));
  return crop_resize_batch(images, wide, side, side);
}

// ---------------------------------------------------------------------------------------------
// Implementation

inline std::unique_ptr<nn::Sequential> make_box_predictor(const BoxPredictorShape& shape) {
  check_shapes(shape.side >= 8 && !shape.widths.empty() && shape.hidden >= 1 && shape.first_stage_stride >= 1,
               "make_box_predictor", "needs a side >= 8, at least one stage, a hidden width and a stride >= 1",
               {shape.side, shape.hidden, shape.first_stage_stride});
  auto net = std::make_unique<nn::Sequential>();
  net->add(nn::conv_bn(shape.in_channels, shape.widths[0], 3, 2, true));
  int64_t in = shape.widths[0];
  for (size_t s = 0; s < shape.widths.size(); ++s) {
    net->emplace<nn::BasicBlock>(in, shape.widths[s], shape.widths[s], s == 0 ? shape.first_stage_stride : 2);
    in = shape.widths[s];
  }
  net->emplace<nn::GlobalAvgPool>();
  net->emplace<nn::Linear>(in, shape.hidden);
  net->emplace<nn::Act>(Activation::relu);
  net->emplace<nn::Linear>(shape.hidden, 4);
  net->emplace<nn::Act>(Activation::sigmoid);
  return net;
}

namespace detail {

/// Boxes as (x0, y0, x1, y1) / side, [n, 4], for the samples `index[b, e)`.
inline Tensor box_targets(const std::vector<Box>& boxes, const std::vector<int64_t>& index, size_t b, size_t e,
                          int64_t side) {
  Tensor t = Tensor::empty({int64_t(e - b), 4});
  const float s = float(side);
  for (size_t i = b; i < e; ++i) {
    const Box& box = boxes[size_t(index[i])];
    float* row = t.data() + int64_t(i - b) * 4;
    row[0] = float(box.x0) / s, row[1] = float(box.y0) / s, row[2] = float(box.x1) / s, row[3] = float(box.y1) / s;
  }
  return t;
}

inline Tensor gather_images(const Tensor& images, const std::vector<int64_t>& index, size_t b, size_t e) {
  const int64_t per = images.numel() / images.dim(0);
  Shape shape = images.shape();
  shape[0] = int64_t(e - b);
  Tensor out = Tensor::empty(shape);
  for (size_t i = b; i < e; ++i)
    std::copy_n(images.data() + index[i] * per, per, out.data() + int64_t(i - b) * per);
  return out;
}

}  // namespace detail

inline std::vector<double> train_box_predictor(nn::Sequential& net, const BoxPredictorShape& shape,
                                               const Tensor& images, const std::vector<Box>& targets,
                                               const BoxTrainingOptions& o) {
  check_shapes(images.defined() && images.rank() == 4 && images.dim(2) == images.dim(3) &&
                   int64_t(targets.size()) == images.dim(0) && o.epochs >= 1 && o.batch >= 1,
               "train_box_predictor", "needs square images [N, C, H, H], one box each, epochs and batch >= 1",
               images.defined() ? images.shape() : Shape{}, {int64_t(targets.size()), o.epochs, o.batch});
  const int64_t n = images.dim(0), side = images.dim(2);
  optim::Adam opt(optim::param_groups(net, 0.f));
  const optim::LrSchedule schedule{optim::ScheduleKind::cosine, float(o.lr), o.epochs * ((n + o.batch - 1) / o.batch)};
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(o.seed);
  std::vector<double> history;
  net.train();
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    double sum = 0;
    for (size_t b = 0; b < size_t(n); b += size_t(o.batch)) {
      const size_t e = std::min(size_t(n), b + size_t(o.batch));
      const Tensor x = resize_batch(detail::gather_images(images, order, b, e), shape.side, shape.side);
      opt.zero_grad();
      Variable loss = ops::smooth_l1(net.forward(Variable(x)), detail::box_targets(targets, order, b, e, side), o.beta);
      loss.backward();
      opt.step(schedule.at(opt.steps()));
      sum += double(loss.value().data()[0]) * double(e - b);
    }
    history.push_back(sum / double(n));
  }
  return history;
}

inline std::vector<Box> predict_boxes(nn::Sequential& net, const BoxPredictorShape& shape, const Tensor& images,
                                      int64_t batch) {
  check_shapes(images.defined() && images.rank() == 4 && images.dim(2) == images.dim(3), "predict_boxes",
               "needs square images [N, C, H, H]", images.defined() ? images.shape() : Shape{});
  const bool was_training = net.training();
  net.eval();
  NoGradGuard no_grad;
  const int64_t n = images.dim(0), side = images.dim(2);
  std::vector<Box> boxes;
  boxes.reserve(size_t(n));
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch);
    const Tensor out = net.forward(Variable(resize_batch(images.slice0(b, e), shape.side, shape.side))).value().to_plain();
    for (int64_t i = 0; i < e - b; ++i) {
      const float* r = out.data() + i * 4;
      const auto px = [&](float f) { return std::clamp<int64_t>(std::llround(double(f) * double(side)), 0, side); };
      Box box{std::min(px(r[0]), px(r[2])), std::min(px(r[1]), px(r[3])), std::max(px(r[0]), px(r[2])),
              std::max(px(r[1]), px(r[3]))};
      boxes.push_back(square_inside(box, side, side));
    }
  }
  net.set_training(was_training);
  return boxes;
}

}  // namespace hwaware::smartscissor
