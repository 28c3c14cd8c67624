// Tests for hwaware/data/dataset.hpp and hwaware/data/batcher.hpp: normalisation statistics on
// the real training set, epoch coverage and determinism of the shuffle, and the augmentation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "hwaware/data/batcher.hpp"
#include "hwaware/data/dataset.hpp"

using namespace hwaware;

namespace {

/// n samples of C×H×W images whose pixels encode (sample, c, y, x) uniquely — none is
/// left-right symmetric — and label i = sample index, so a batch shows which samples it holds.
Dataset numbered_dataset(int64_t n, int64_t C = 1, int64_t H = 6, int64_t W = 5) {
  Dataset ds;
  ds.images = Tensor::empty({n, C, H, W});
  ds.labels = Tensor::empty({n}, Layout::plain, DType::i32);
  float* x = ds.images.data();
  for (int64_t i = 0; i < n * C * H * W; ++i) x[i] = static_cast<float>(i + 1);  // 0 marks padding
  for (int64_t i = 0; i < n; ++i) ds.labels.idata()[i] = static_cast<int32_t>(i);
  return ds;
}

/// All sample indices an epoch yields, in order.
std::vector<int64_t> epoch_indices(Batcher& b, int epoch) {
  b.start_epoch(epoch);
  std::vector<int64_t> seen;
  Tensor x, y;
  while (b.next(x, y))
    for (int64_t i = 0; i < y.dim(0); ++i) seen.push_back(y.idata()[i]);
  return seen;
}

/// Copy of one C×H×W image.
std::vector<float> image_of(const Tensor& images, int64_t i) {
  const int64_t pixels = images.numel() / images.dim(0);
  return std::vector<float>(images.data() + i * pixels, images.data() + (i + 1) * pixels);
}

}  // namespace

TEST_CASE("load_fashion_mnist normalises the training set to mean 0, std 1") {
  const Dataset train = load_fashion_mnist("train");
  REQUIRE(train.size() == 60000);
  double sum = 0, sum_sq = 0;
  const float* x = train.images.data();
  const int64_t n = train.images.numel();
  for (int64_t i = 0; i < n; ++i) {
    sum += x[i];
    sum_sq += static_cast<double>(x[i]) * x[i];
  }
  const double mean = sum / n;
  const double std = std::sqrt(sum_sq / n - mean * mean);
  CHECK(std::abs(mean) < 0.01);
  CHECK(std::abs(std - 1.0) < 0.01);
}

TEST_CASE("normalize maps (x - mean) / std in place and rejects non-f32 tensors") {
  Tensor t = Tensor::from({4}, {0.0f, 1.0f, 2.0f, 3.0f});
  const uint64_t version = t.storage().version;
  normalize(t, 1.0f, 2.0f);
  CHECK(t.data()[0] == doctest::Approx(-0.5));
  CHECK(t.data()[3] == doctest::Approx(1.0));
  CHECK(t.storage().version > version);
  Tensor labels = Tensor::zeros({4}, Layout::plain, DType::i32);
  CHECK_THROWS_AS(normalize(labels, 0.0f, 1.0f), Error);
  CHECK_THROWS_AS(normalize(t, 0.0f, 0.0f), Error);
}

TEST_CASE("Batcher covers every sample exactly once per epoch") {
  const Dataset ds = numbered_dataset(103);
  Batcher b(ds, {.batch_size = 10, .shuffle = true, .seed = 7});
  CHECK(b.batches_per_epoch() == 11);

  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<int64_t> seen = epoch_indices(b, epoch);
    REQUIRE(seen.size() == 103);
    std::sort(seen.begin(), seen.end());
    for (int64_t i = 0; i < 103; ++i) CHECK(seen[i] == i);
  }

  SUBCASE("images travel with their labels; the last batch is a view of the same buffers") {
    b.start_epoch(0);
    Tensor x, y, first_x;
    int64_t batches = 0, mismatches = 0;
    while (b.next(x, y)) {
      if (batches++ == 0) first_x = x;
      CHECK(x.shape()[0] == y.shape()[0]);
      for (int64_t i = 0; i < y.dim(0); ++i) mismatches += image_of(x, i) != image_of(ds.images, y.idata()[i]);
    }
    CHECK(batches == 11);
    CHECK(mismatches == 0);
    CHECK(x.shape() == Shape{3, 1, 6, 5});
    CHECK(x.shares_storage_with(first_x));
    CHECK_FALSE(b.next(x, y));
  }
  SUBCASE("drop_last skips the partial batch and repeats nothing") {
    Batcher d(ds, {.batch_size = 10, .seed = 7, .drop_last = true});
    CHECK(d.batches_per_epoch() == 10);
    std::vector<int64_t> seen = epoch_indices(d, 0);
    CHECK(seen.size() == 100);
    std::sort(seen.begin(), seen.end());
    CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
  }
  SUBCASE("no shuffle gives the dataset order") {
    Batcher s(ds, {.batch_size = 10, .shuffle = false});
    const std::vector<int64_t> seen = epoch_indices(s, 5);
    for (int64_t i = 0; i < 103; ++i) CHECK(seen[i] == i);
  }
}

TEST_CASE("the shuffle is a function of seed and epoch only") {
  const Dataset ds = numbered_dataset(200);
  Batcher a(ds, {.batch_size = 16, .seed = 42});
  Batcher b(ds, {.batch_size = 16, .seed = 42});
  Batcher other_seed(ds, {.batch_size = 16, .seed = 43});

  const std::vector<int64_t> a0 = epoch_indices(a, 0), a1 = epoch_indices(a, 1);
  CHECK(epoch_indices(b, 1) == a1);  // b skipped epoch 0: same epoch-1 order anyway
  CHECK(epoch_indices(b, 0) == a0);
  CHECK(a0 != a1);
  CHECK(epoch_indices(other_seed, 0) != a0);
  CHECK(epoch_indices(a, 0) == a0);  // revisiting an epoch reproduces it

  Batcher augmented(ds, {.batch_size = 16, .seed = 42, .crop_padding = 2, .random_flip = true});
  CHECK(epoch_indices(augmented, 1) == a1);  // augmentation draws do not disturb the order
}

TEST_CASE("Batcher does not allocate tensor storage per batch") {
  const Dataset ds = numbered_dataset(300);
  Batcher b(ds, {.batch_size = 32, .seed = 1, .crop_padding = 2, .random_flip = true});
  Tensor x, y;
  b.start_epoch(0);
  b.next(x, y);
  const uint64_t before = detail::BufferPool::instance().fresh_allocations();
  for (int epoch = 0; epoch < 3; ++epoch) {
    b.start_epoch(epoch);
    while (b.next(x, y)) {
    }
  }
  CHECK(detail::BufferPool::instance().fresh_allocations() == before);
}

TEST_CASE("crop_flip_image") {
  const int64_t C = 2, H = 4, W = 5;
  std::vector<float> src(C * H * W);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i + 1);
  auto at = [&](const std::vector<float>& img, int64_t c, int64_t y, int64_t x) { return img[(c * H + y) * W + x]; };

  SUBCASE("a flip mirrors the columns and a second flip round-trips") {
    std::vector<float> once(src.size()), twice(src.size());
    crop_flip_image(src.data(), once.data(), C, H, W, 0, 0, 0, true);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) CHECK(at(once, c, y, x) == at(src, c, y, W - 1 - x));
    crop_flip_image(once.data(), twice.data(), C, H, W, 0, 0, 0, true);
    CHECK(twice == src);
  }
  SUBCASE("the centred crop of the padded image is the image") {
    std::vector<float> out(src.size(), -1.0f);
    crop_flip_image(src.data(), out.data(), C, H, W, 3, 3, 3, false);
    CHECK(out == src);
  }
  SUBCASE("an off-centre crop shifts the content and fills with zeros") {
    // pad 2, offsets (0, 4): out(y, x) = src(y - 2, x + 2).
    std::vector<float> out(src.size(), -1.0f);
    crop_flip_image(src.data(), out.data(), C, H, W, 2, 0, 4, false);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const bool inside = y - 2 >= 0 && x + 2 < W;
          CHECK(at(out, c, y, x) == (inside ? at(src, c, y - 2, x + 2) : 0.0f));
        }
  }
  SUBCASE("padding wider than the image gives zeros; offsets outside [0, 2P] are rejected") {
    std::vector<float> out(src.size(), -1.0f);
    crop_flip_image(src.data(), out.data(), C, H, W, 6, 0, 12, true);
    CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v == 0.0f; }));
    CHECK_THROWS_AS(crop_flip_image(src.data(), out.data(), C, H, W, 1, 3, 0, false), Error);
  }
}

TEST_CASE("Batcher augmentation keeps shapes, is seeded, and applies real crops and flips") {
  const int64_t H = 6, W = 5, P = 2;
  const Dataset ds = numbered_dataset(64, 1, H, W);

  SUBCASE("flip only: each image is its source or the source mirrored, both occur") {
    Batcher b(ds, {.batch_size = 64, .seed = 3, .random_flip = true});
    Tensor x, y;
    REQUIRE(b.next(x, y));
    CHECK(x.shape() == Shape{64, 1, H, W});
    int flipped = 0, kept = 0, other = 0;
    for (int64_t i = 0; i < 64; ++i) {
      const std::vector<float> src = image_of(ds.images, y.idata()[i]);
      std::vector<float> mirrored(src.size());
      crop_flip_image(src.data(), mirrored.data(), 1, H, W, 0, 0, 0, true);
      const std::vector<float> got = image_of(x, i);
      if (got == src) ++kept;
      else if (got == mirrored) ++flipped;
      else ++other;
    }
    CHECK(other == 0);
    CHECK(kept > 0);
    CHECK(flipped > 0);
  }
  SUBCASE("crop only: each image is its source shifted by at most P, and shifts vary") {
    Batcher b(ds, {.batch_size = 64, .seed = 3, .crop_padding = P});
    Tensor x, y;
    REQUIRE(b.next(x, y));
    CHECK(x.shape() == Shape{64, 1, H, W});
    int unexplained = 0;
    std::vector<int> offsets_seen((2 * P + 1) * (2 * P + 1), 0);
    for (int64_t i = 0; i < 64; ++i) {
      const std::vector<float> src = image_of(ds.images, y.idata()[i]);
      const std::vector<float> got = image_of(x, i);
      bool explained = false;
      for (int64_t oy = 0; oy <= 2 * P && !explained; ++oy)
        for (int64_t ox = 0; ox <= 2 * P && !explained; ++ox) {
          std::vector<float> expect(src.size());
          crop_flip_image(src.data(), expect.data(), 1, H, W, P, oy, ox, false);
          if (expect == got) {
            explained = true;
            ++offsets_seen[oy * (2 * P + 1) + ox];
          }
        }
      unexplained += !explained;
    }
    CHECK(unexplained == 0);
    CHECK(std::count_if(offsets_seen.begin(), offsets_seen.end(), [](int n) { return n > 0; }) > 5);
  }
  SUBCASE("same seed and epoch, same augmented batches; another epoch differs") {
    const BatcherOptions opts{.batch_size = 16, .seed = 9, .crop_padding = P, .random_flip = true};
    Batcher a(ds, opts), b(ds, opts);
    Tensor xa, ya, xb, yb;
    a.start_epoch(2);
    b.start_epoch(2);
    while (a.next(xa, ya)) {
      REQUIRE(b.next(xb, yb));
      CHECK(image_of(xa, 0) == image_of(xb, 0));
      CHECK(std::equal(xa.data(), xa.data() + xa.numel(), xb.data()));
    }
    a.start_epoch(2);
    b.start_epoch(3);
    a.next(xa, ya);
    b.next(xb, yb);
    CHECK_FALSE(std::equal(xa.data(), xa.data() + xa.numel(), xb.data()));
  }
}

TEST_CASE("Batcher rejects bad inputs") {
  const Dataset ds = numbered_dataset(10);
  CHECK_THROWS_AS(Batcher(ds, {.batch_size = 0}), Error);
  CHECK_THROWS_AS(Batcher(ds, {.crop_padding = -1}), Error);
  Dataset flat = ds;
  flat.images = ds.images.reshape({10, 30});
  CHECK_THROWS_AS(Batcher(flat, {}), ShapeError);
}
