// Tests for hwaware/data/cluttered.hpp: the generator is deterministic, a smaller set is a prefix
// of a larger one, the ground-truth box is the placed item's tight box (clutter only adds pixels
// around it), and the real Fashion-MNIST build is normalised with the training statistics.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "hwaware/data/cluttered.hpp"

using namespace hwaware;

namespace {

/// n 28×28 items: a bright rectangle whose place and size depend on the index, label i mod 10.
Dataset rectangle_items(int64_t n) {
  Dataset d;
  d.images = Tensor::zeros({n, 1, 28, 28});
  d.labels = Tensor::empty({n}, Layout::plain, DType::i32);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x0 = 3 + i % 5, y0 = 4 + i % 7, x1 = 20 + i % 6, y1 = 22 + i % 4;
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = x0; x < x1; ++x) d.images.data()[i * 784 + y * 28 + x] = 0.8f;
    d.labels.idata()[i] = int32_t(i % 10);
  }
  return d;
}

bool same_images(const Tensor& a, const Tensor& b, int64_t count) {
  const int64_t per = a.numel() / a.dim(0);
  for (int64_t i = 0; i < count * per; ++i)
    if (a.data()[i] != b.data()[i]) return false;
  return true;
}

}  // namespace

TEST_CASE("the generator is deterministic, seeded, and a smaller set is a prefix") {
  const Dataset items = rectangle_items(30);
  ClutteredOptions o;
  const ClutteredSet a = make_cluttered(items, o, 20), b = make_cluttered(items, o, 20);
  CHECK(same_images(a.data.images, b.data.images, 20));
  CHECK(a.boxes == b.boxes);
  const ClutteredSet small = make_cluttered(items, o, 7);
  CHECK(same_images(small.data.images, a.data.images, 7));
  CHECK(std::vector<Box>(a.boxes.begin(), a.boxes.begin() + 7) == small.boxes);

  ClutteredOptions other = o;
  other.seed = 2;
  CHECK_FALSE(same_images(make_cluttered(items, other, 20).data.images, a.data.images, 20));
  CHECK_FALSE(same_images(make_cluttered(items, o, 20, 1).data.images, a.data.images, 20));  // another stream
  for (int64_t i = 0; i < 20; ++i) CHECK(a.data.labels.idata()[i] == items.labels.idata()[i]);
}

TEST_CASE("the box is the placed item's tight box, and clutter only adds pixels") {
  const Dataset items = rectangle_items(30);
  ClutteredOptions clean;
  clean.clutter = 0;
  ClutteredOptions busy = clean;
  busy.clutter = 6;
  const ClutteredSet c = make_cluttered(items, clean, 30), b = make_cluttered(items, busy, 30);
  const int64_t side = clean.canvas;
  int64_t added = 0, removed = 0;
  for (int64_t i = 0; i < 30; ++i) {
    CAPTURE(i);
    const Box box = c.boxes[size_t(i)];
    CHECK(b.boxes[size_t(i)] == box);  // the item is drawn first, so clutter does not move it
    CHECK(box.width() >= 5);  // the narrowest rectangle (13 px) at the smallest scale (0.6)
    CHECK(box.x1 <= side);
    CHECK(box.y1 <= side);
    bool on_left = false, on_top = false, on_right = false, on_bottom = false;
    for (int64_t y = 0; y < side; ++y)
      for (int64_t x = 0; x < side; ++x) {
        const float v = c.data.images.data()[(i * side + y) * side + x];
        const float w = b.data.images.data()[(i * side + y) * side + x];
        removed += w < v;
        added += w > v;
        if (v <= kClutteredItemThreshold) continue;
        REQUIRE(box.contains(x, y));  // every item pixel is in the box ...
        on_left |= x == box.x0, on_right |= x == box.x1 - 1, on_top |= y == box.y0, on_bottom |= y == box.y1 - 1;
      }
    CHECK((on_left && on_right && on_top && on_bottom));  // ... and the box touches the item on every side
  }
  CHECK(removed == 0);
  CHECK(added > 30 * 20);  // the clutter is really there
}

TEST_CASE("options that cannot compose an image are refused") {
  const Dataset items = rectangle_items(3);
  ClutteredOptions o;
  o.canvas = 30;  // smaller than 28 × 1.2
  CHECK_THROWS_WITH_AS(make_cluttered(items, o), doctest::Contains("canvas 30"), Error);
  o = {};
  o.patch = 40;
  CHECK_THROWS_WITH_AS(make_cluttered(items, o), doctest::Contains("patch"), Error);
  o = {};
  o.min_scale = 0;
  CHECK_THROWS_AS(make_cluttered(items, o), Error);
  CHECK_THROWS_AS(make_cluttered(Dataset{}, ClutteredOptions{}), Error);
}

TEST_CASE("Cluttered Fashion-MNIST from the installed data, normalised by the training images") {
  ClutteredOptions o;
  const ClutteredFashionMnist set = load_cluttered_fashion_mnist(o, 200, 100);
  REQUIRE(set.train.data.images.shape() == Shape{200, 1, 64, 64});
  REQUIRE(set.test.data.images.shape() == Shape{100, 1, 64, 64});
  CHECK(set.train.boxes.size() == 200);
  const Tensor& t = set.train.data.images;
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < t.numel(); ++i) sum += t.data()[i], sq += double(t.data()[i]) * t.data()[i];
  CHECK(std::abs(sum / double(t.numel())) < 1e-3);
  CHECK(std::sqrt(sq / double(t.numel())) == doctest::Approx(1.0).epsilon(1e-3));
  CHECK(set.mean > 0.0f);
  CHECK(set.mean < 0.3f);  // mostly empty canvas
  // the test split is composed from test items: its first label is Fashion-MNIST's first test label
  CHECK(set.test.data.labels.idata()[0] == load_fashion_mnist_raw("test", kFashionMnistDir, 1).labels.idata()[0]);
}
