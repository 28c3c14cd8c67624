// Tests for hwaware/train/checkpoint.hpp: round trip, each kind of damage detected with the file
// and offset named, restore_into's checks, and the atomic write.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "hwaware/train/checkpoint.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace hwaware;

namespace {

/// A fresh directory per test, removed at its end.
struct TempDir : hwtest::TempDir {
  TempDir() : hwtest::TempDir("test_ckpt") {}
};

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Tensor iota(const Shape& shape, float start = 0.0f) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = start + 0.5f * static_cast<float>(i);
  return t;
}

Checkpoint sample_checkpoint() {
  Checkpoint c;
  c.tensors.emplace_back("conv1.weight", iota({8, 1, 3, 3}));
  c.tensors.emplace_back("conv1.bias", iota({8}, -3.0f));
  Tensor steps = Tensor::empty({2, 3}, Layout::plain, DType::i32);
  for (int i = 0; i < 6; ++i) steps.idata()[i] = -7 + 1000 * i;
  c.tensors.emplace_back("optim.steps", steps);
  c.tensors.emplace_back("empty", Tensor::empty({0, 4}));
  c.meta = {{"epoch", 12}, {"lr", 0.025}, {"model", "ref-cnn"}, {"history", {0.5, 0.75}}};
  return c;
}

/// Bitwise equality of the values (f32 or i32) in any layout.
bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.to_plain().raw_data(), b.to_plain().raw_data(), static_cast<size_t>(a.numel()) * 4) == 0;
}

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("expected an exception");
  return {};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a checkpoint round-trips tensors (f32, i32, empty, blocked) and metadata") {
  TempDir tmp;
  Checkpoint saved = sample_checkpoint();
  // A blocked activation-layout tensor comes back plain with the same values.
  const Tensor plain_source = iota({2, 20, 3, 3});
  saved.tensors.emplace_back("bn.blocked", plain_source.to_layout(Layout::blocked16));

  const std::string path = tmp.file("model.ckpt");
  save_checkpoint(path, saved);
  const Checkpoint loaded = load_checkpoint(path);

  REQUIRE(loaded.tensors.size() == saved.tensors.size());
  for (size_t i = 0; i < saved.tensors.size(); ++i) {
    CHECK(loaded.tensors[i].first == saved.tensors[i].first);
    CHECK(loaded.tensors[i].second.layout() == Layout::plain);
    CHECK(same_values(loaded.tensors[i].second, saved.tensors[i].second));
  }
  CHECK(loaded.tensors[2].second.dtype() == DType::i32);
  CHECK(loaded.tensors[2].second.idata()[5] == 4993);
  CHECK(loaded.meta == saved.meta);
  CHECK(loaded.meta["model"] == "ref-cnn");

  SUBCASE("saving over an existing file replaces it and leaves no temp file behind") {
    Checkpoint second;
    second.meta = {{"epoch", 13}};
    save_checkpoint(path, second);
    CHECK(load_checkpoint(path).meta["epoch"] == 13);
    CHECK(load_checkpoint(path).tensors.empty());
    int entries = 0;
    for (const auto& entry : fs::directory_iterator(tmp.path)) {
      ++entries;
      CHECK(entry.path().filename() == "model.ckpt");
    }
    CHECK(entries == 1);
  }
}

TEST_CASE("damaged checkpoints throw FileError naming the file and the offset") {
  TempDir tmp;
  const std::string path = tmp.file("good.ckpt");
  save_checkpoint(path, sample_checkpoint());
  const std::vector<uint8_t> good = read_bytes(path);
  const std::string bad = tmp.file("bad.ckpt");

  SUBCASE("one flipped byte in tensor data: checksum mismatch") {
    uint32_t meta_len = 0;
    std::memcpy(&meta_len, good.data() + 12, 4);
    // header 16 + meta + count 4 + name_len 4 + "conv1.weight" 12 + dtype, rank 2 + 4 dims 32
    const size_t first_data = 16 + meta_len + 4 + 4 + 12 + 2 + 32;
    std::vector<uint8_t> b = good;
    b[first_data + 10] ^= 0x10;
    write_bytes(bad, b);
    const std::string msg = error_of<FileError>([&] { load_checkpoint(bad); });
    CHECK(contains(msg, "bad.ckpt"));
    CHECK(contains(msg, "checksum mismatch: file is corrupt"));
    CHECK(contains(msg, "byte offset " + std::to_string(good.size() - 4)));
  }
  SUBCASE("one flipped byte in the metadata: checksum mismatch, not a JSON error") {
    std::vector<uint8_t> b = good;
    b[20] ^= 0x55;
    write_bytes(bad, b);
    CHECK(contains(error_of<FileError>([&] { load_checkpoint(bad); }), "checksum mismatch"));
  }
  SUBCASE("truncated file: names where the data ran out") {
    for (size_t keep : {size_t{3}, size_t{10}, size_t{40}, good.size() / 2, good.size() - 2}) {
      CAPTURE(keep);
      write_bytes(bad, std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(keep)));
      const std::string msg = error_of<FileError>([&] { load_checkpoint(bad); });
      CHECK(contains(msg, "bad.ckpt"));
      CHECK(contains(msg, "byte offset"));
      CHECK(contains(msg, "truncated"));
    }
  }
  SUBCASE("bytes appended after the checksum") {
    std::vector<uint8_t> b = good;
    b.push_back(0);
    write_bytes(bad, b);
    const std::string msg = error_of<FileError>([&] { load_checkpoint(bad); });
    CHECK(contains(msg, "bad.ckpt"));
    CHECK(contains(msg, "byte offset"));
  }
  SUBCASE("wrong magic") {
    std::vector<uint8_t> b = good;
    std::memcpy(b.data(), "PK\x03\x04zipf", 8);
    write_bytes(bad, b);
    const std::string msg = error_of<FileError>([&] { load_checkpoint(bad); });
    CHECK(contains(msg, "bad.ckpt"));
    CHECK(contains(msg, "byte offset 0"));
    CHECK(contains(msg, "magic"));
  }
  SUBCASE("a newer format version names both versions") {
    std::vector<uint8_t> b = good;
    b[8] = 2;
    write_bytes(bad, b);
    const std::string msg = error_of<FileError>([&] { load_checkpoint(bad); });
    CHECK(contains(msg, "byte offset 8"));
    CHECK(contains(msg, "version 2"));
    CHECK(contains(msg, "version 1"));
  }
  SUBCASE("missing file") {
    const std::string msg = error_of<FileError>([&] { load_checkpoint(tmp.file("absent.ckpt")); });
    CHECK(contains(msg, "absent.ckpt"));
    CHECK(contains(msg, "byte offset 0"));
  }
}

TEST_CASE("restore_into copies by name into existing storage") {
  const Checkpoint ckpt = sample_checkpoint();

  Tensor weight = Tensor::zeros({8, 1, 3, 3});
  Tensor bias = Tensor::zeros({8});
  const void* weight_storage = weight.data();
  const uint64_t version = weight.storage().version;
  restore_into(ckpt, {{"conv1.weight", &weight}, {"conv1.bias", &bias}});
  CHECK(weight.data() == weight_storage);
  CHECK(weight.storage().version > version);
  CHECK(same_values(weight, ckpt.tensors[0].second));
  CHECK(same_values(bias, ckpt.tensors[1].second));

  SUBCASE("into a blocked target, keeping its layout") {
    Checkpoint c;
    const Tensor values = iota({2, 20, 3, 3});
    c.tensors.emplace_back("act", values);
    Tensor blocked = Tensor::zeros({2, 20, 3, 3}, Layout::blocked16);
    restore_into(c, {{"act", &blocked}});
    CHECK(blocked.layout() == Layout::blocked16);
    CHECK(same_values(blocked, values));
  }
  SUBCASE("shape mismatch names the tensor and both shapes") {
    Tensor wrong = Tensor::zeros({16, 1, 3, 3});
    const std::string msg = error_of<Error>([&] { restore_into(ckpt, {{"conv1.weight", &wrong}}); });
    CHECK(msg == "checkpoint tensor 'conv1.weight' has shape [8, 1, 3, 3] but the model expects [16, 1, 3, 3]");
  }
  SUBCASE("missing name and dtype mismatch") {
    Tensor t = Tensor::zeros({8});
    CHECK(contains(error_of<Error>([&] { restore_into(ckpt, {{"fc.weight", &t}}); }), "'fc.weight'"));
    Tensor as_float = Tensor::zeros({2, 3});
    CHECK(contains(error_of<Error>([&] { restore_into(ckpt, {{"optim.steps", &as_float}}); }), "dtype"));
  }
}

TEST_CASE("save_checkpoint validates before writing and cleans up on failure") {
  TempDir tmp;
  Checkpoint dup;
  dup.tensors.emplace_back("w", Tensor::zeros({2}));
  dup.tensors.emplace_back("w", Tensor::zeros({3}));
  CHECK_THROWS_AS(save_checkpoint(tmp.file("dup.ckpt"), dup), Error);

  // The temp file cannot be created in a directory that does not exist.
  const std::string msg =
      error_of<FileError>([&] { save_checkpoint(tmp.file("no/such/dir/x.ckpt"), sample_checkpoint()); });
  CHECK(contains(msg, "x.ckpt"));

  // Renaming over a directory fails after the temp file was written: the temp file must go.
  fs::create_directories(tmp.path / "occupied.ckpt" / "child");
  CHECK_THROWS_AS(save_checkpoint(tmp.file("occupied.ckpt"), sample_checkpoint()), FileError);
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(tmp.path)) {
    ++entries;
    CHECK(entry.path().filename() == "occupied.ckpt");
  }
  CHECK(entries == 1);
}
