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
  for (const Box& b : boxes) {
    CHECK(b.width() == b.height());
    CHECK((b.x0 >= 0 && b.y0 >= 0 && b.x1 <= 32 && b.y1 <= 32));
  }
  const double fit = mean_iou(boxes, truth);
  MESSAGE("mean IoU on its training squares: " << fit);
  CHECK(fit > 0.4);
}

TEST_CASE("DIC crops each image to its box") {
  std::vector<Box> truth;
  const Tensor images = squares(4, truth);
  const Tensor crops = dynamic_crop(images, truth, 8);
  REQUIRE(crops.shape() == Shape{4, 1, 8, 8});
  for (int64_t i = 0; i < crops.numel(); ++i) REQUIRE(crops.data()[i] == 1.0f);  // all object, no background
}

TEST_CASE("a crop margin widens the square about its centre and keeps it inside the image") {
  CHECK(widen_box(Box{10, 10, 20, 20}, 1.0, 32, 32) == Box{10, 10, 20, 20});
  CHECK(widen_box(Box{10, 10, 20, 20}, 1.2, 32, 32) == Box{9, 9, 21, 21});     // side 10 → 12
  CHECK(widen_box(Box{10, 12, 20, 18}, 1.4, 32, 32) == Box{8, 8, 22, 22});     // squared to 10, then 14
  CHECK(widen_box(Box{0, 26, 6, 32}, 2.0, 32, 32) == Box{0, 20, 12, 32});      // shifted back inside
  CHECK(widen_box(Box{2, 2, 30, 30}, 1.5, 32, 32) == Box{0, 0, 32, 32});       // capped at the image
  CHECK_THROWS_AS(widen_box(Box{10, 10, 20, 20}, 0.9, 32, 32), Error);
  // DIC with a margin crops the widened squares, so it sees background round each object.
  std::vector<Box> truth;
  const Tensor images = squares(4, truth);
  const Tensor crops = dynamic_crop(images, truth, 12, 1.2);
  std::vector<Box> wide;
  for (const Box& b : truth) wide.push_back(widen_box(b, 1.2, 32, 32));
  const Tensor expected = crop_resize_batch(images, wide, 12, 12);
  int64_t background = 0;
  for (int64_t i = 0; i < crops.numel(); ++i) {
    REQUIRE(crops.data()[i] == expected.data()[i]);
    background += crops.data()[i] == 0.0f;
  }
  CHECK(background > 0);
}

TEST_CASE("bad shapes are refused") {
  auto net = make_box_predictor();
  CHECK_THROWS_AS(train_box_predictor(*net, {}, Tensor::zeros({2, 1, 32, 32}), {Box{}}), Error);
  CHECK_THROWS_AS(make_box_predictor({.side = 4}), Error);
}
