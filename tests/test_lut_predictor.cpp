// LutPredictor: op segmentation, exact entries, interpolation and extrapolation, misses, files.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "hwaware/hw/lut_predictor.hpp"
#include "hwaware/models/zoo.hpp"
#include "temp_dir.hpp"

using namespace hwaware;
using namespace hwaware::hw;

namespace {

// Bilinear in (in_c, out_c), so bilinear interpolation of it is exact.
double law(int64_t ci, int64_t co) { return 0.01 + 1e-5 * double(ci * co); }

LatencySample conv_sample(int64_t ci, int64_t co, int64_t hw, int64_t k, int64_t s, bool relu, bool depthwise = false) {
  LatencySample x;
  x.kind = "layer";
  x.family = "conv2d";
  x.name = "conv" + std::to_string(ci) + "_" + std::to_string(co);
  x.layers = nn::conv_bn(ci, co, k, s, relu, depthwise ? ci : 1)->describe({ci, hw, hw});
  x.m.median_ms = depthwise ? 0.002 + 1e-4 * double(ci) : law(ci, co);
  return x;
}

std::vector<LatencySample> grid_samples() {
  std::vector<LatencySample> v;
  for (int64_t ci : {16, 32, 48, 64})
    for (int64_t co : {16, 32, 48, 64}) v.push_back(conv_sample(ci, co, 14, 3, 1, true));
  for (int64_t c : {16, 32, 64}) v.push_back(conv_sample(c, c, 14, 3, 1, true, true));
  return v;
}

std::vector<const LatencySample*> pointers(const std::vector<LatencySample>& v) {
  std::vector<const LatencySample*> p;
  for (const auto& s : v) p.push_back(&s);
  return p;
}

Fingerprint test_fingerprint() { return {"onednn-cpu", "Test CPU", "avx512_core", "2.6.3", kLibraryVersion, "test-runtime", 2, 1}; }

NetDesc conv_net(int64_t ci, int64_t co, bool depthwise = false) {
  return nn::conv_bn(ci, co, 3, 1, true, depthwise ? ci : 1)->describe({ci, 14, 14});
}


}  // namespace

TEST_CASE("a network is cut into the ops the runtime runs") {
  const NetDesc net = models::make_model("resnet-8")->describe({1, 28, 28});
  const auto ops = lut_ops(net);
  size_t covered = 0, convs = 0, adds = 0;
  for (const auto& op : ops) {
    covered += op.count;
    if (op.sig.kind == LayerKind::conv2d) {
      ++convs;
      CHECK(op.count == 2);  // conv + its BN
      CHECK(net[op.first + 1].kind == LayerKind::batchnorm2d);
    }
    if (op.sig.kind == LayerKind::add) {
      ++adds;
      CHECK(op.count == 2);  // add + relu
      CHECK(op.sig.fused_relu);
    }
  }
  CHECK(covered == net.size());
  CHECK(convs == 9);  // stem, 3 blocks × 2, 2 shortcuts
  CHECK(adds == 3);
  // The stem's BN has a fused ReLU, the second conv of a block does not.
  CHECK(ops[0].sig.fused_relu);
  const auto mb = lut_ops(models::make_model("mobilenetv2-tiny")->describe({1, 28, 28}));
  bool depthwise = false;
  for (const auto& op : mb) depthwise |= op.sig.grouping == "depthwise";
  CHECK(depthwise);
}

TEST_CASE("exact on measured entries, bilinear between them, in proportion to MACs outside") {
  const auto samples = grid_samples();
  const auto lut = LutPredictor::build(pointers(samples), test_fingerprint());
  CHECK(lut.entries() == 19);
  CHECK(lut.signatures() == 2);
  for (const auto& s : samples) CHECK(lut.predict_ms(s.layers) == s.m.median_ms);
  // Between grid points: the law is bilinear, so interpolation is exact.
  CHECK(lut.predict_ms(conv_net(24, 40)) == doctest::Approx(law(24, 40)));
  CHECK(lut.predict_ms(conv_net(17, 63)) == doctest::Approx(law(17, 63)));
  CHECK(lut.predict_ms(conv_net(48, 20)) == doctest::Approx(law(48, 20)));
  // Outside: the nearest grid point scaled by MACs.
  CHECK(lut.predict_ms(conv_net(128, 128)) == doctest::Approx(law(64, 64) * 4.0));
  CHECK(lut.predict_ms(conv_net(8, 32)) == doctest::Approx(law(16, 32) * 0.5));
  // Depthwise entries lie on the diagonal: linear in MACs between neighbours.
  const double d32 = 0.002 + 1e-4 * 32, d64 = 0.002 + 1e-4 * 64;
  CHECK(lut.predict_ms(conv_net(48, 48, true)) == doctest::Approx(0.5 * (d32 + d64)));
  CHECK(lut.misses() == 0);
}

TEST_CASE("a network is the sum of its ops; unmeasured signatures fall back and are counted") {
  const auto samples = grid_samples();
  auto lut = LutPredictor::build(pointers(samples));
  NetDesc net = conv_net(16, 32);
  const NetDesc second = conv_net(32, 48);
  net.insert(net.end(), second.begin(), second.end());
  CHECK(lut.predict_ms(net) == doctest::Approx(law(16, 32) + law(32, 48)));
  // A 5×5 conv was never measured: nearest signature by MACs per output pixel, scaled by MACs.
  const NetDesc k5 = nn::conv_bn(32, 32, 5, 1, true)->describe({32, 14, 14});
  const double v = lut.predict_ms(k5);
  CHECK(lut.misses() == 1);
  CHECK(v > 0);
  CHECK(lut.predict_batch_ms({k5, net}) == std::vector<double>{v, lut.predict_ms(net)});
  CHECK(lut.misses() == 2);
  lut.reset_misses();
  CHECK(lut.misses() == 0);
}

TEST_CASE("build skips samples that are not a single op and refuses an empty table") {
  auto samples = grid_samples();
  LatencySample net;
  net.kind = "network";
  net.name = "n";
  net.layers = models::make_model("ref-cnn")->describe({1, 28, 28});
  net.m.median_ms = 0.05;
  samples.push_back(net);
  const auto lut = LutPredictor::build(pointers(samples));
  CHECK(lut.ignored() == 1);
  CHECK_THROWS_AS(LutPredictor::build({&samples.back()}), Error);
}

TEST_CASE("save → load round-trips; wrong fingerprint and corrupt files are refused") {
  const auto samples = grid_samples();
  const auto lut = LutPredictor::build(pointers(samples), test_fingerprint());
  const hwtest::TempDir tmp("test_lut");
  const std::string path = tmp.file("lut.txt"), bad = tmp.file("bad.txt");
  lut.save(path);
  const Fingerprint fp = test_fingerprint();
  const auto back = LutPredictor::load(path, &fp);
  CHECK(back.entries() == lut.entries());
  for (const NetDesc& n : {conv_net(24, 40), conv_net(128, 100), conv_net(48, 48, true), conv_net(16, 16)})
    CHECK(back.predict_ms(n) == lut.predict_ms(n));

  Fingerprint other = fp;
  other.cpu_model = "Other CPU";
  try {
    LutPredictor::load(path, &other);
    FAIL("expected FileError");
  } catch (const FileError& e) {
    CHECK(std::string(e.what()).find("cpu_model") != std::string::npos);
  }

  std::vector<std::string> lines;
  {
    std::ifstream in(path);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  auto expect_error = [&](std::vector<std::string> ls, const std::string& needle) {
    {
      std::ofstream out(bad);
      for (const auto& l : ls) out << l << "\n";
    }
    try {
      LutPredictor::load(bad);
      FAIL("expected FileError");
    } catch (const FileError& e) {
      const std::string msg = e.what();
      CHECK(msg.find(bad) != std::string::npos);
      CHECK(msg.find(needle) != std::string::npos);
    }
  };
  expect_error({lines.begin(), lines.end() - 4}, "line " + std::to_string(lines.size() - 3));  // truncated
  auto ls = lines;
  ls[6] = ls[6].substr(0, ls[6].rfind(' '));  // a field missing
  expect_error(ls, "line 7");
  ls = lines;
  ls[5].replace(ls[5].find("dense"), 5, "sparse");
  expect_error(ls, "line 6");
  std::filesystem::remove(path);
  std::filesystem::remove(bad);
}
