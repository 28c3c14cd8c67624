// The measuring side of the hardware model: robust statistics, the oneDNN CPU device, probes,
// and latency data sets (round trip, wrong fingerprint, corrupt file).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "hwaware/hw/sampling.hpp"
#include "temp_dir.hpp"

using namespace hwaware;

TEST_CASE("summarize: median, IQR, CV, and outliers beyond 3 MADs dropped") {
  std::vector<double> t{1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 25.0};  // one interrupt-sized outlier
  auto m = hw::summarize(t, 3.0);
  CHECK(m.rejected == 1);
  CHECK(m.runs == 6);
  CHECK(m.median_ms == doctest::Approx(1.0));
  CHECK(m.min_ms == doctest::Approx(0.9));
  CHECK(m.cv < 0.1);
  CHECK(m.iqr_ms > 0);
}

TEST_CASE("the oneDNN CPU device measures networks interleaved and fingerprints itself") {
  hw::OnednnCpuDevice dev(2, 1, {.warmup_runs = 2, .warmup_ms = 1, .rounds = 5, .block_ms = 0.5});
  const auto fp = dev.fingerprint();
  CHECK(fp.device == "onednn-cpu");
  CHECK(!fp.isa.empty());
  CHECK(fp.onednn_version.rfind("2.", 0) == 0);
  auto small = models::ref_cnn({.width = 0.25}), big = models::vgg_small();
  auto ms = dev.measure_many({small.get(), big.get()}, {1, 28, 28});
  REQUIRE(ms.size() == 2);
  CHECK(ms[0].median_ms > 0);
  CHECK(ms[0].runs + ms[0].rejected == 5);
  CHECK(ms[1].median_ms > ms[0].median_ms);  // 232 MFLOP vs 0.5 MFLOP per image
}

TEST_CASE("probes: layer grid around the zoo's layer signatures and random-width networks") {
  auto probes = hw::layer_probes({"ref-cnn"}, {0.5, 1.0});
  int convs = 0, linear = 0;
  for (auto& p : probes) {
    convs += p.family == "conv2d";
    linear += p.family == "linear";
    auto d = p.layers();
    CHECK(!d.empty());
    if (p.family == "conv2d") {
      REQUIRE(d.size() == 2);  // conv + BN, fused at inference
      CHECK(d[1].kind == LayerKind::batchnorm2d);
    }
  }
  CHECK(convs == 2 + 4 + 4);  // first layer: 2 output widths; the others 2×2
  CHECK(linear == 2);
  std::mt19937_64 a(5), b(5);
  CHECK(hw::random_network("resnet-8", a).name == hw::random_network("resnet-8", b).name);
}

TEST_CASE("sampling: the scaled diagonal and log-uniform draws reach the narrow networks pruning produces") {
  CHECK(hw::scaled_network("resnet-8", 0.25, 16).name == "resnet-8-4-4-4-8-8-16-16");
  CHECK(hw::scaled_network("resnet-8", 0.75).name == "resnet-8-12-12-12-24-24-48-48");
  CHECK(hw::scaled_network("resnet-8", 0.75, 16).name == "resnet-8-16-16-16-32-32-48-48");
  const auto defaults = models::default_channels("resnet-8");
  auto narrow_share = [&](hw::WidthDraw draw, double lo) {
    std::mt19937_64 rng(3);
    int narrow = 0, layers = 0;
    for (int i = 0; i < 200; ++i) {
      const auto net = hw::random_network("resnet-8", rng, lo, 1.1, 0, draw);
      const auto d = net.module->describe(net.chw);
      // the first conv's output width against its default
      REQUIRE(d[0].kind == LayerKind::conv2d);
      narrow += d[0].out_c * 4 <= defaults[0];
      ++layers;
    }
    return double(narrow) / layers;
  };
  // At most a quarter of the default (f < 0.28 after rounding): log-uniform on [1/16, 1.1] puts
  // ln 4.5 / ln 17.6 = 52% there, uniform on [0.2, 1.1] 9%.
  CHECK(narrow_share(hw::WidthDraw::log_uniform, 0.0625) > 0.35);
  CHECK(narrow_share(hw::WidthDraw::uniform, 0.2) < 0.15);
}

TEST_CASE("latency data sets: round trip, wrong fingerprint refused, corrupt line named") {
  const hwtest::TempDir tmp("test_latency_dataset");
  const std::string path = tmp.file("latency.jsonl");
  hw::LatencyDataset d{hw::onednn_cpu_fingerprint(2, 1), {}};
  d.samples.push_back({"network", "ref-cnn", "n1", models::ref_cnn()->describe({1, 28, 28}), {0.05, 0.001, 0.02, 0.049, 21, 0}, -1});
  d.save(path);
  auto fp = hw::onednn_cpu_fingerprint(2, 1);
  auto back = hw::LatencyDataset::load(path, &fp);
  REQUIRE(back.samples.size() == 1);
  CHECK(back.samples[0].layers.size() == d.samples[0].layers.size());
  CHECK(back.samples[0].layers[2].macs == d.samples[0].layers[2].macs);
  CHECK(back.samples[0].m.median_ms == doctest::Approx(0.05));

  auto other = hw::onednn_cpu_fingerprint(4, 1);
  CHECK_THROWS_WITH_AS(hw::LatencyDataset::load(path, &other), doctest::Contains("'threads'"), FileError);

  std::ofstream(path, std::ios::app) << "{\"kind\": \"network\", \"family\": \n";
  CHECK_THROWS_WITH_AS(hw::LatencyDataset::load(path), doctest::Contains("line 3"), FileError);
  std::filesystem::remove(path);
  CHECK_THROWS_AS(hw::LatencyDataset::load(path), FileError);
}
