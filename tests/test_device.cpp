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

namespace {
/// 1 ms per million MACs (plus 1 µs per network), every group 20% slower than the one before it
/// (a shared host getting busier); with `per_pass` groups to a pass, the probes (not the reference,
/// measured last) read 1.0×, 1.5× and 0.7× in the first, second and third pass — the median pass is
/// the exact one.
struct DriftingShapedDevice {
  int groups = 0, per_pass = 0;
  std::vector<hw::Measurement> measure_many(const std::vector<nn::Module*>& nets, const std::vector<Shape>& chws) {
    static constexpr double kPass[] = {1.0, 1.5, 0.7};
    const double slowdown = 1 + 0.2 * groups;
    const double noise = per_pass ? kPass[(groups / per_pass) % 3] : 1.0;
    ++groups;
    std::vector<hw::Measurement> r;
    for (size_t i = 0; i < nets.size(); ++i) {
      const double ms = 1e-6 * double(nn::total_macs(nets[i]->describe(chws[i]))) + 1e-3;
      const double f = slowdown * (i + 1 < nets.size() ? noise : 1.0);
      r.push_back({.median_ms = ms * f, .iqr_ms = 0.1 * ms * f});
    }
    return r;
  }
};
double truth(const hw::Probe& p) { return 1e-6 * double(nn::total_macs(p.layers())) + 1e-3; }
}  // namespace

TEST_CASE("measure_probes: a drift reference beside every group puts all figures in the first group's units") {
  std::vector<hw::Probe> probes;
  std::mt19937_64 rng(2);
  for (int i = 0; i < 10; ++i) probes.push_back(hw::random_network("resnet-8", rng));
  const double ref_truth = 1e-6 * double(nn::total_macs(models::make_model("ref-cnn")->describe({1, 28, 28}))) + 1e-3;

  DriftingShapedDevice plain;  // no reference: later groups read slower and slower
  auto raw = hw::measure_probes(plain, probes, {.group = 3}, nullptr, [](size_t, size_t) {});
  REQUIRE(raw.size() == probes.size());
  CHECK(raw[9].m.median_ms == doctest::Approx(1.6 * truth(probes[9])));  // the 4th group: 1.6×

  DriftingShapedDevice drifting{.per_pass = 4};  // 10 probes in groups of 3: 4 groups a pass
  hw::DriftReference ref{"ref-cnn", std::nullopt};
  size_t last_done = 0, last_total = 0;
  auto fixed = hw::measure_probes(drifting, probes, {.group = 3, .passes = 3, .seed = 4}, &ref, [&](size_t d, size_t t) {
    CHECK(d > last_done);
    last_done = d, last_total = t;
  });
  CHECK(drifting.groups == 12);
  CHECK(last_done == 30);
  CHECK(last_total == 30);
  REQUIRE(ref.ms);
  CHECK(*ref.ms == doctest::Approx(ref_truth));  // the first group's reading sets the units
  for (size_t i = 0; i < probes.size(); ++i) {
    CHECK(fixed[i].name == probes[i].name);
    // every group's drift cancels, and the median of the 1.0×, 1.5× and 0.7× passes is exact
    CHECK(fixed[i].m.median_ms == doctest::Approx(truth(probes[i])));
    CHECK(fixed[i].m.iqr_ms == doctest::Approx(0.1 * truth(probes[i])));
  }
  // A later process in the same units: its machine reads 2× slow from the start.
  DriftingShapedDevice later{.groups = 5};
  auto again = hw::measure_probes(later, probes, {.group = 4}, &ref, [](size_t, size_t) {});
  for (size_t i = 0; i < probes.size(); ++i) CHECK(again[i].m.median_ms == doctest::Approx(truth(probes[i])));
  CHECK_THROWS_AS(hw::measure_probes(later, probes, {.group = 0}, &ref, [](size_t, size_t) {}), Error);
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
  CHECK(!back.reference);
  d.reference = hw::DriftReference{"resnet-8", 0.1875};
  d.passes = 3, d.group = 7;
  d.save(path);
  back = hw::LatencyDataset::load(path, &fp);
  REQUIRE(back.reference);
  CHECK(back.reference->family == "resnet-8");
  CHECK(*back.reference->ms == 0.1875);
  CHECK(back.passes == 3);
  CHECK(back.group == 7);

  // Header lines written by hand: a set from before the drift reference, and bad new fields.
  const std::string sample = nlohmann::json{{"kind", "layer"}, {"family", "relu"}, {"name", "r"}, {"layers", nlohmann::json::array()},
                                            {"median_ms", 0.01}, {"iqr_ms", 0.0}, {"cv", 0.0}, {"min_ms", 0.01},
                                            {"runs", 21}, {"rejected", 0}, {"energy_mj", -1}}.dump();
  auto with_header = [&](nlohmann::json extra) {
    nlohmann::json head{{"format", "hwaware-latency"}, {"version", 1}, {"fingerprint", fp.to_json()}};
    head.update(extra);
    std::ofstream(path) << head.dump() << "\n" << sample << "\n";
  };
  with_header(nlohmann::json::object());
  back = hw::LatencyDataset::load(path, &fp);
  CHECK(!back.reference);
  CHECK(back.passes == 1);
  CHECK(back.group == 12);
  CHECK(back.samples.size() == 1);
  for (const auto& [bad, what] : std::vector<std::pair<nlohmann::json, std::string>>{
           {{{"passes", 0}}, "'passes'"},
           {{{"passes", 2.5}}, "'passes'"},
           {{{"passes", true}}, "'passes'"},
           {{{"group", 101}}, "'group'"},
           {{{"reference", {{"family", "ref-cnn"}, {"ms", -1}}}}, "'reference'"},
           {{{"reference", {{"ms", 0.2}}}}, "'reference'"},
           {{{"reference", "ref-cnn"}}, "'reference'"}}) {
    const std::string shown = bad.dump();
    CAPTURE(shown);
    with_header(bad);
    CHECK_THROWS_WITH_AS(hw::LatencyDataset::load(path, &fp), doctest::Contains(what.c_str()), FileError);
  }

  d.save(path);
  auto other = hw::onednn_cpu_fingerprint(4, 1);
  CHECK_THROWS_WITH_AS(hw::LatencyDataset::load(path, &other), doctest::Contains("'threads'"), FileError);

  std::ofstream(path, std::ios::app) << "{\"kind\": \"network\", \"family\": \n";
  CHECK_THROWS_WITH_AS(hw::LatencyDataset::load(path), doctest::Contains("line 3"), FileError);
  std::filesystem::remove(path);
  CHECK_THROWS_AS(hw::LatencyDataset::load(path), FileError);
}
