// Tests for hwaware/data/image_ops.hpp: IoU and square boxes on known numbers, and bilinear
// crop-and-resize against PyTorch's interpolate (align_corners=False) values and exact ramps.
#include <doctest/doctest.h>

#include <vector>

#include "hwaware/data/image_ops.hpp"

using namespace hwaware;

TEST_CASE("iou of boxes with known overlaps") {
  CHECK(iou(Box{0, 0, 4, 4}, Box{0, 0, 4, 4}) == doctest::Approx(1.0));
  CHECK(iou(Box{0, 0, 4, 4}, Box{2, 0, 6, 4}) == doctest::Approx(8.0 / 24.0));
  CHECK(iou(Box{0, 0, 2, 2}, Box{2, 2, 4, 4}) == 0.0);
  CHECK(iou(Box{}, Box{}) == 0.0);
  CHECK(iou(Box{1, 1, 3, 3}, Box{0, 0, 4, 4}) == doctest::Approx(4.0 / 16.0));
}

TEST_CASE("mean_iou averages the pairs and refuses lists of different lengths") {
  const std::vector<Box> boxes{{0, 0, 4, 4}, {0, 0, 4, 4}, {0, 0, 2, 2}};
  const std::vector<Box> truth{{0, 0, 4, 4}, {2, 0, 6, 4}, {2, 2, 4, 4}};
  CHECK(mean_iou(boxes, truth) == doctest::Approx((1.0 + 8.0 / 24.0 + 0.0) / 3.0));
  CHECK_THROWS_WITH_AS(mean_iou(boxes, {truth[0]}), doctest::Contains("got 3 and 1"), Error);
  CHECK_THROWS_AS(mean_iou({}, {}), Error);
}

TEST_CASE("square_inside centres a square on the box and keeps it inside the image") {
  CHECK(square_inside(Box{10, 10, 20, 14}, 64, 64) == Box{10, 7, 20, 17});
  CHECK(square_inside(Box{0, 0, 3, 9}, 64, 64) == Box{0, 0, 9, 9});          // shifted right of the edge
  CHECK(square_inside(Box{60, 60, 64, 64}, 64, 64) == Box{60, 60, 64, 64});
  CHECK(square_inside(Box{58, 0, 64, 12}, 64, 64) == Box{52, 0, 64, 12});    // pushed back inside
  CHECK(square_inside(Box{0, 0, 64, 80}, 80, 64) == Box{0, 8, 64, 72});      // capped at the smaller side
}

TEST_CASE("resize matches PyTorch's bilinear interpolate (align_corners=False)") {
  // torch.nn.functional.interpolate([[1, 2], [3, 4]], size=(4, 4), mode='bilinear', align_corners=False)
  const std::vector<float> want = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                                   2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f};
  Tensor x = Tensor::from({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor y = resize_batch(x, 4, 4);
  REQUIRE(y.shape() == Shape{1, 1, 4, 4});
  for (int i = 0; i < 16; ++i) CHECK(y.data()[i] == doctest::Approx(want[size_t(i)]));

  // arange(30).reshape(5, 6) down to 3×4
  std::vector<float> ramp(30);
  for (int i = 0; i < 30; ++i) ramp[size_t(i)] = float(i);
  Tensor r = resize_batch(Tensor::from({1, 1, 5, 6}, ramp), 3, 4);
  const std::vector<float> want_r = {2.25f, 3.75f, 5.25f, 6.75f, 12.25f, 13.75f, 15.25f, 16.75f,
                                     22.25f, 23.75f, 25.25f, 26.75f};
  for (int i = 0; i < 12; ++i) CHECK(r.data()[i] == doctest::Approx(want_r[size_t(i)]));
}

TEST_CASE("crop_resize at scale 1 copies the box; identity resize copies the image") {
  std::vector<float> img(2 * 8 * 8);
  for (size_t i = 0; i < img.size(); ++i) img[i] = float(i);
  std::vector<float> out(2 * 3 * 4);
  crop_resize(img.data(), 2, 8, 8, Box{2, 5, 6, 8}, out.data(), 3, 4);
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) CHECK(out[size_t((c * 3 + y) * 4 + x)] == img[size_t((c * 8 + 5 + y) * 8 + 2 + x)]);

  std::vector<float> same(img.size());
  crop_resize(img.data(), 2, 8, 8, Box{0, 0, 8, 8}, same.data(), 8, 8);
  CHECK(same == img);
}

TEST_CASE("crop_resize_batch uses each image's own box and reads nothing outside it") {
  Tensor x = Tensor::zeros({2, 1, 4, 4});
  for (int i = 0; i < 16; ++i) x.data()[i] = float(i), x.data()[16 + i] = float(100 + i);
  Tensor y = crop_resize_batch(x, {Box{0, 0, 1, 1}, Box{3, 3, 4, 4}}, 2, 2);
  for (int i = 0; i < 4; ++i) CHECK(y.data()[i] == 0.0f);
  for (int i = 0; i < 4; ++i) CHECK(y.data()[4 + i] == 115.0f);
}

TEST_CASE("bad boxes and sizes are refused with the shapes named") {
  std::vector<float> img(16), out(16);
  CHECK_THROWS_WITH_AS(crop_resize(img.data(), 1, 4, 4, Box{2, 2, 2, 4}, out.data(), 4, 4),
                       doctest::Contains("box [2, 2, 2, 4)"), Error);
  CHECK_THROWS_AS(crop_resize(img.data(), 1, 4, 4, Box{0, 0, 4, 4}, out.data(), 0, 4), Error);
  CHECK_THROWS_WITH_AS(crop_resize(img.data(), 1, 4, 4, Box{2, 2, 6, 6}, out.data(), 4, 4), doctest::Contains("inside the image"), Error);
  CHECK_THROWS_AS(crop_resize_batch(Tensor::zeros({2, 1, 4, 4}), {Box{0, 0, 1, 1}, Box{}, Box{}}, 2, 2), Error);
}
