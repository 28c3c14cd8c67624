// Tests for hwaware/data/idx.hpp, and load_idx_pair's file checks: the real Fashion-MNIST files
// load, and each kind of broken file fails with a FileError that names the file.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "hwaware/data/dataset.hpp"
#include "hwaware/data/idx.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace hwaware;

namespace {

const std::string kDir = "/usr/share/datasets/fashion-mnist/";

/// A fresh directory per test, removed at its end.
struct TempDir : hwtest::TempDir {
  TempDir() : hwtest::TempDir("test_idx") {}
};

void write_raw(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(f);
}

/// The decompressed bytes of a gzipped file.
std::vector<uint8_t> gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 15];
  int got;
  while ((got = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + got);
  gzclose(f);
  return out;
}

/// An IDX file of unsigned bytes with the given dims, element i = i % 7.
std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims) {
  std::vector<uint8_t> b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
    n *= d;
  }
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i % 7));
  return b;
}

/// Runs `f`, requires a FileError, returns its message.
template <class F>
std::string file_error_of(F&& f) {
  try {
    f();
  } catch (const FileError& e) {
    return e.what();
  }
  FAIL("expected a FileError");
  return {};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("the real Fashion-MNIST files load with their known shapes and labels") {
  const IdxArray train_images = read_idx(kDir + "train-images-idx3-ubyte.gz");
  CHECK(train_images.dims == Shape{60000, 28, 28});
  CHECK(train_images.data.size() == 60000u * 28 * 28);
  const IdxArray train_labels = read_idx(kDir + "train-labels-idx1-ubyte.gz");
  CHECK(train_labels.dims == Shape{60000});
  CHECK(train_labels.data[0] == 9);  // the first training image is an ankle boot
  const IdxArray test_images = read_idx(kDir + "t10k-images-idx3-ubyte.gz");
  CHECK(test_images.dims == Shape{10000, 28, 28});
  const IdxArray test_labels = read_idx(kDir + "t10k-labels-idx1-ubyte.gz");
  CHECK(test_labels.dims == Shape{10000});

  std::vector<int> per_class(10, 0);
  int out_of_range = 0;
  for (uint8_t y : train_labels.data) y < 10 ? ++per_class[y] : ++out_of_range;
  for (uint8_t y : test_labels.data) out_of_range += y >= 10;
  CHECK(out_of_range == 0);
  for (int c = 0; c < 10; ++c) CHECK(per_class[c] == 6000);  // Fashion-MNIST is balanced
}

TEST_CASE("load_fashion_mnist gives f32 [N,1,28,28] images and i32 labels") {
  const Dataset test = load_fashion_mnist("test");
  CHECK(test.size() == 10000);
  CHECK(test.images.shape() == Shape{10000, 1, 28, 28});
  CHECK(test.images.dtype() == DType::f32);
  CHECK(test.labels.shape() == Shape{10000});
  CHECK(test.labels.dtype() == DType::i32);
  CHECK(test.labels.idata()[0] == 9);

  const Dataset head = load_fashion_mnist("train", kDir, 100);
  CHECK(head.size() == 100);
  CHECK(head.images.shape() == Shape{100, 1, 28, 28});
  CHECK(head.labels.idata()[0] == 9);
  CHECK_THROWS_AS(load_fashion_mnist("validation"), Error);
}

TEST_CASE("a raw (not gzipped) IDX file reads the same as the gzipped one") {
  TempDir tmp;
  const std::vector<uint8_t> bytes = gunzip(kDir + "train-labels-idx1-ubyte.gz");
  write_raw(tmp.file("labels-raw"), bytes);
  const IdxArray raw = read_idx(tmp.file("labels-raw"));
  const IdxArray gz = read_idx(kDir + "train-labels-idx1-ubyte.gz");
  CHECK(raw.dims == gz.dims);
  CHECK(raw.data == gz.data);
}

TEST_CASE("broken IDX files throw FileError naming the file and the offset") {
  TempDir tmp;

  SUBCASE("missing file") {
    const std::string path = tmp.file("no-such-file.gz");
    const std::string msg = file_error_of([&] { read_idx(path); });
    CHECK(contains(msg, "no-such-file.gz"));
    CHECK(contains(msg, "byte offset 0"));
  }
  SUBCASE("empty file") {
    write_raw(tmp.file("empty"), {});
    const std::string msg = file_error_of([&] { read_idx(tmp.file("empty")); });
    CHECK(contains(msg, "empty"));
  }
  SUBCASE("wrong magic: not an IDX file") {
    std::vector<uint8_t> b = idx_bytes({3, 2});
    b[0] = 0x12;
    write_raw(tmp.file("bad-magic"), b);
    const std::string msg = file_error_of([&] { read_idx(tmp.file("bad-magic")); });
    CHECK(contains(msg, "bad-magic"));
    CHECK(contains(msg, "byte offset 0"));
    CHECK(contains(msg, "magic"));
  }
  SUBCASE("wrong magic: float elements") {
    std::vector<uint8_t> b = idx_bytes({3, 2});
    b[2] = 0x0D;
    write_gz(tmp.file("float-type.gz"), b);
    const std::string msg = file_error_of([&] { read_idx(tmp.file("float-type.gz")); });
    CHECK(contains(msg, "float-type.gz"));
    CHECK(contains(msg, "byte offset 2"));
    CHECK(contains(msg, "0x00000D02"));
  }
  SUBCASE("truncated real file, raw form: offset where the data ended and the size expected") {
    std::vector<uint8_t> b = gunzip(kDir + "t10k-images-idx3-ubyte.gz");
    REQUIRE(b.size() == 16u + 10000u * 28 * 28);
    b.resize(5000);
    write_raw(tmp.file("images-cut"), b);
    const std::string msg = file_error_of([&] { read_idx(tmp.file("images-cut")); });
    CHECK(contains(msg, "images-cut"));
    CHECK(contains(msg, "byte offset 5000"));
    CHECK(contains(msg, "truncated"));
    CHECK(contains(msg, std::to_string(10000 * 28 * 28)));
  }
  SUBCASE("truncated real file, gzip stream cut short") {
    std::ifstream in(kDir + "train-labels-idx1-ubyte.gz", std::ios::binary);
    std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    gz.resize(gz.size() / 2);
    write_raw(tmp.file("labels-cut.gz"), gz);
    const std::string msg = file_error_of([&] { read_idx(tmp.file("labels-cut.gz")); });
    CHECK(contains(msg, "labels-cut.gz"));
    CHECK(contains(msg, "truncated"));
  }
  SUBCASE("truncated header") {
    std::vector<uint8_t> b = idx_bytes({3, 2});
    b.resize(9);
    write_raw(tmp.file("short-header"), b);
    const std::string msg = file_error_of([&] { read_idx(tmp.file("short-header")); });
    CHECK(contains(msg, "short-header"));
    CHECK(contains(msg, "byte offset 9"));
  }
  SUBCASE("trailing garbage") {
    std::vector<uint8_t> b = idx_bytes({4});
    b.push_back(0xAB);
    write_raw(tmp.file("trailing"), b);
    const std::string msg = file_error_of([&] { read_idx(tmp.file("trailing")); });
    CHECK(contains(msg, "trailing"));
    CHECK(contains(msg, "byte offset 12"));
  }
  SUBCASE("image and label counts differ: both files and both counts named") {
    write_gz(tmp.file("five-images.gz"), idx_bytes({5, 4, 4}));
    write_gz(tmp.file("four-labels.gz"), idx_bytes({4}));
    const std::string msg =
        file_error_of([&] { load_idx_pair(tmp.file("five-images.gz"), tmp.file("four-labels.gz")); });
    CHECK(contains(msg, "five-images.gz"));
    CHECK(contains(msg, "four-labels.gz"));
    CHECK(contains(msg, "5 images"));
    CHECK(contains(msg, "4 labels"));
  }
  SUBCASE("label outside the class range") {
    write_raw(tmp.file("images"), idx_bytes({7, 2, 2}));
    write_raw(tmp.file("labels"), idx_bytes({7}));  // labels 0..6
    CHECK(load_idx_pair(tmp.file("images"), tmp.file("labels"), -1, 7).size() == 7);
    const std::string msg = file_error_of([&] { load_idx_pair(tmp.file("images"), tmp.file("labels"), -1, 6); });
    CHECK(contains(msg, "labels"));
    CHECK(contains(msg, "byte offset 14"));  // label 6 is sample 6, at 8 + 6
  }
  SUBCASE("image file given where labels are expected") {
    write_raw(tmp.file("images"), idx_bytes({3, 2, 2}));
    const std::string msg = file_error_of([&] { load_idx_pair(tmp.file("images"), tmp.file("images")); });
    CHECK(contains(msg, "images"));
    CHECK(contains(msg, "byte offset 3"));
  }
}

TEST_CASE("load_idx_pair scales pixels to [0, 1] and honours limit") {
  TempDir tmp;
  write_raw(tmp.file("images"), idx_bytes({3, 2, 2}));
  write_raw(tmp.file("labels"), idx_bytes({3}));
  const Dataset ds = load_idx_pair(tmp.file("images"), tmp.file("labels"), 2);
  REQUIRE(ds.size() == 2);
  CHECK(ds.images.shape() == Shape{2, 1, 2, 2});
  for (int64_t i = 0; i < 8; ++i) CHECK(ds.images.data()[i] == doctest::Approx((i % 7) / 255.0));
  CHECK(ds.labels.idata()[1] == 1);
}
