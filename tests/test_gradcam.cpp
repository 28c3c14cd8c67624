// Tests for hwaware/methods/smartscissor/gradcam.hpp: on a network whose answer is the mean
// brightness of one channel, Grad-CAM's heat is that channel's activation, so its box is the
// bright region; the explained class changes the heat; boxes from known heat maps at each t; a
// zoo ResNet runs on both backends without touching its parameters' gradients or its mode.
#include <doctest/doctest.h>

#include <vector>

#include "hwaware/methods/smartscissor/gradcam.hpp"
#include "hwaware/models/zoo.hpp"

using namespace hwaware;
using namespace hwaware::smartscissor;

namespace {

/// conv1×1 (1 → 2 channels: x and −x) | GAP | linear identity: logit 0 = mean(x), logit 1 = −mean(x).
std::unique_ptr<nn::Sequential> brightness_net() {
  auto net = std::make_unique<nn::Sequential>();
  auto& conv = net->emplace<nn::Conv2d>(1, 2, 1);
  conv.weight.value().data()[0] = 1.0f;
  conv.weight.value().data()[1] = -1.0f;
  net->emplace<nn::GlobalAvgPool>();
  auto& fc = net->emplace<nn::Linear>(2, 2, false);
  const float eye[] = {1, 0, 0, 1};
  std::copy(eye, eye + 4, fc.weight.value().data());
  return net;
}

/// n 16×16 images, zero but for a bright square [x0, x0 + 5) × [y0, y0 + 5) at a place per image.
Tensor bright_squares(int64_t n, std::vector<Box>& where) {
  Tensor x = Tensor::zeros({n, 1, 16, 16});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x0 = 1 + 3 * i, y0 = 10 - 2 * i;
    where.push_back({x0, y0, x0 + 5, y0 + 5});
    for (int64_t y = y0; y < y0 + 5; ++y)
      for (int64_t c = x0; c < x0 + 5; ++c) x.data()[(i * 16 + y) * 16 + c] = 2.0f;
  }
  return x;
}

}  // namespace

TEST_CASE("Grad-CAM puts the box on the region the answer depends on") {
  for (BackendKind kind : {BackendKind::reference, BackendKind::onednn}) {
    BackendGuard guard(kind);
    auto net = brightness_net();
    std::vector<Box> truth;
    const Tensor images = bright_squares(3, truth);
    const Tensor heat = gradcam_heat(*net, images);  // predicted class 0: the x channel explains it
    REQUIRE(heat.shape() == Shape{3, 16, 16});
    for (int64_t i = 0; i < 3; ++i) {
      CAPTURE(i);
      const float* h = heat.data() + i * 256;
      CHECK(h[(truth[size_t(i)].y0 + 2) * 16 + truth[size_t(i)].x0 + 2] == doctest::Approx(1.0f));
      CHECK(*std::min_element(h, h + 256) == doctest::Approx(0.0f));
      CHECK(box_from_heat(h, 16, 16, 0.5) == truth[size_t(i)]);
      CHECK(box_from_heat(h, 16, 16, 0.0) == Box{0, 0, 16, 16});  // t = 0 keeps the whole image
    }
    GradCamOptions other;
    other.classes = std::vector<int32_t>{1, 1, 1};  // −mean(x): the ReLU leaves no heat at all
    const Tensor flat = gradcam_heat(*net, images, other);
    for (int64_t i = 0; i < flat.numel(); ++i) REQUIRE(flat.data()[i] == 0.0f);
  }
}

TEST_CASE("box_from_heat on known maps and thresholds") {
  std::vector<float> heat(8 * 8, 0.0f);
  for (int y = 2; y < 4; ++y)
    for (int x = 3; x < 7; ++x) heat[size_t(y * 8 + x)] = 0.6f;
  heat[2 * 8 + 4] = 1.0f;
  CHECK(box_from_heat(heat.data(), 8, 8, 0.5) == Box{3, 1, 7, 5});    // 4×2 region made a 4×4 square
  CHECK(box_from_heat(heat.data(), 8, 8, 0.75) == Box{4, 2, 5, 3});   // only the peak
  CHECK(box_from_heat(heat.data(), 8, 8, 1.0) == Box{4, 2, 5, 3});
  CHECK_THROWS_AS(box_from_heat(heat.data(), 8, 8, 1.5), Error);
}

TEST_CASE("Grad-CAM on a zoo ResNet leaves the network as it found it") {
  for (BackendKind kind : {BackendKind::reference, BackendKind::onednn}) {
    BackendGuard guard(kind);
    nn::manual_seed(7);
    auto net = models::scalable_resnet({.blocks = 1, .width = 0.5});
    net->train();
    Tensor images = Tensor::empty({4, 1, 32, 32});
    for (int64_t i = 0; i < images.numel(); ++i) images.data()[i] = float((i * 37) % 11) / 11.0f;
    const Tensor heat = gradcam_heat(*net, images);
    REQUIRE(heat.shape() == Shape{4, 32, 32});
    for (int64_t i = 0; i < heat.numel(); ++i) REQUIRE((heat.data()[i] >= 0.0f && heat.data()[i] <= 1.0f));
    CHECK(net->training());
    for (auto& [name, p] : net->parameters()) {
      CAPTURE(name);
      CHECK(p->requires_grad());
      CHECK_FALSE(p->grad().defined());
    }
    Dataset d{images, Tensor::empty({4}, Layout::plain, DType::i32)};
    const auto boxes = gradcam_boxes(*net, d, 0.5, 3);  // two batches: 3 + 1
    REQUIRE(boxes.size() == 4);
    for (const Box& b : boxes) CHECK((!b.empty() && b.width() == b.height() && b.x1 <= 32 && b.y1 <= 32));
  }
  GradCamOptions bad;
  bad.feature_end = 0;
  auto net = models::scalable_resnet({});
  CHECK_THROWS_WITH_AS(gradcam_heat(*net, Tensor::zeros({1, 1, 16, 16}), bad), doctest::Contains("feature_end"), Error);
}
