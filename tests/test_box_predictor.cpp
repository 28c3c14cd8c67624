// Tests for hwaware/methods/smartscissor/box_predictor.hpp: the network's output shape and range,
// its loss falls when trained on boxes that the images show, predicted boxes are squares inside
// the image, and DIC crops to the box.
#include <doctest/doctest.h>

#include "hwaware/methods/smartscissor/box_predictor.hpp"

using namespace hwaware;
using namespace hwaware::smartscissor;

namespace {

/// n 32×32 images, each a bright square of side 6–13 at a place drawn from a seed, and its box.
Tensor squares(int64_t n, std::vector<Box>& boxes) {
  std::mt19937_64 rng(3);
  Tensor x = Tensor::zeros({n, 1, 32, 32});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = 6 + int64_t(rng() % 8), x0 = int64_t(rng() % uint64_t(32 - s)), y0 = int64_t(rng() % uint64_t(32 - s));
    boxes.push_back({x0, y0, x0 + s, y0 + s});
    for (int64_t y = y0; y < y0 + s; ++y)
      for (int64_t c = x0; c < x0 + s; ++c) x.data()[(i * 32 + y) * 32 + c] = 1.0f;
  }
  return x;
}

}  // namespace

TEST_CASE("the box predictor learns where the object is") {
  nn::manual_seed(11);
  const BoxPredictorShape shape{.side = 16, .widths = {8, 8, 16}, .first_stage_stride = 1, .hidden = 32};
  auto net = make_box_predictor(shape);
  std::vector<Box> truth;
  const Tensor images = squares(192, truth);
  BoxTrainingOptions o;
  o.epochs = 12;
  o.batch = 32;
  const auto history = train_box_predictor(*net, shape, images, truth, o);
  REQUIRE(history.size() == 12);
  CHECK(history.back() < 0.5 * history.front());

  const auto boxes = predict_boxes(*net, shape, images);
  REQUIRE(boxes.size() == 192);
  double mean_iou = 0;
  for (size_t i = 0; i < boxes.size(); ++i) {
    CHECK(boxes[i].width() == boxes[i].height());
    CHECK((boxes[i].x0 >= 0 && boxes[i].y0 >= 0 && boxes[i].x1 <= 32 && boxes[i].y1 <= 32));
    mean_iou += iou(boxes[i], truth[i]) / double(boxes.size());
  }
  MESSAGE("mean IoU on its training squares: " << mean_iou);
  CHECK(mean_iou > 0.4);
}

TEST_CASE("DIC crops each image to its box") {
  std::vector<Box> truth;
  const Tensor images = squares(4, truth);
  const Tensor crops = dynamic_crop(images, truth, 8);
  REQUIRE(crops.shape() == Shape{4, 1, 8, 8});
  for (int64_t i = 0; i < crops.numel(); ++i) REQUIRE(crops.data()[i] == 1.0f);  // all object, no background
}

TEST_CASE("bad shapes are refused") {
  auto net = make_box_predictor();
  CHECK_THROWS_AS(train_box_predictor(*net, {}, Tensor::zeros({2, 1, 32, 32}), {Box{}}), Error);
  CHECK_THROWS_AS(make_box_predictor({.side = 4}), Error);
}
