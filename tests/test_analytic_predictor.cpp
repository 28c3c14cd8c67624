// AnalyticPredictor: roofline bounds, parallelism quantisation, calibration from ≤ 20 samples,
// energy, and the same two networks ranking differently on two accelerators.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "hwaware/hw/analytic_predictor.hpp"
#include "hwaware/hw/metrics.hpp"
#include "hwaware/models/zoo.hpp"

using namespace hwaware;
using namespace hwaware::hw;

namespace {

nn::LayerDesc conv(int64_t ci, int64_t co, int64_t hw, int64_t k, int64_t s = 1, int64_t groups = 1) {
  nn::LayerDesc d{"c", LayerKind::conv2d, ci, hw, hw, co, (hw + s - 1) / s, (hw + s - 1) / s};
  d.kernel = k, d.stride = s, d.padding = k / 2, d.groups = groups;
  d.macs = d.out_h * d.out_w * co * (ci / groups) * k * k;
  d.params = co * (ci / groups) * k * k;
  return d;
}

nn::LayerDesc bn_after(const nn::LayerDesc& c) {
  nn::LayerDesc d{"bn", LayerKind::batchnorm2d, c.out_c, c.out_h, c.out_w, c.out_c, c.out_h, c.out_w};
  d.macs = c.out_c * c.out_h * c.out_w, d.params = 2 * c.out_c, d.fused_relu = true;
  return d;
}

// A CPU-like latency law that is not the model's own form (compute and traffic add up instead of
// overlapping) with constants unlike the description's: 150 GMAC/s at full vectors, padding
// waste, 40 GB/s traffic, 4 µs per op, BN after a conv free.
double law_ms(const NetDesc& net) {
  double t = 0;
  for (size_t i = 0; i < net.size(); ++i) {
    const auto& d = net[i];
    if (d.kind == LayerKind::batchnorm2d && i > 0 && net[i - 1].kind == LayerKind::conv2d) continue;
    double eff = double(d.out_c) / double(padded_channels(d.out_c, 16));
    if (feature_kind(d) == FeatureKind::conv_dense && d.in_c >= 4) eff *= double(d.in_c) / double(padded_channels(d.in_c, 16));
    const double bytes = 4.0 * double(d.in_c * d.in_h * d.in_w + d.out_c * d.out_h * d.out_w + d.params);
    t += 1e3 * (double(d.macs) / (150e9 * eff) + bytes / 40e9 + 4e-6);
  }
  return t;
}

NetDesc random_net(std::mt19937_64& rng) {
  static const std::vector<std::string> families = {"ref-cnn", "vgg-small", "resnet-8", "mobilenetv2-tiny"};
  const std::string family = families[rng() % families.size()];
  std::uniform_real_distribution<double> u(0.25, 2.0);
  auto c = models::default_channels(family);
  for (auto& v : c) v = std::max<int64_t>(1, std::llround(double(v) * u(rng)));
  return models::make_model(family, {.channels = c})->describe({1, 28, 28});
}

std::vector<LatencySample> law_samples(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<LatencySample> v;
  for (size_t i = 0; i < n; ++i) {
    LatencySample s;
    s.kind = "network", s.name = "n" + std::to_string(i);
    s.layers = random_net(rng);
    s.m.median_ms = law_ms(s.layers);
    v.push_back(std::move(s));
  }
  return v;
}

std::vector<const LatencySample*> pointers(const std::vector<LatencySample>& v) {
  std::vector<const LatencySample*> p;
  for (const auto& s : v) p.push_back(&s);
  return p;
}

}  // namespace

TEST_CASE("compute- and memory-bound layers on the CPU description") {
  const AnalyticPredictor cpu(AcceleratorDesc::this_cpu());
  // 1×1 conv, 16 → 16 channels, 640×640: 4 bytes in and out per MAC-pair, the tensors live in DRAM.
  const auto thin = cpu.explain({conv(16, 16, 640, 1)});
  CHECK_FALSE(thin[0].compute_bound);
  CHECK(cpu.accelerator().memory[size_t(thin[0].memory_level)].name == "DRAM");
  // 3×3 conv, 256 → 256 at 14×14: 2.3 k MACs per byte moved.
  const auto wide = cpu.explain({conv(256, 256, 14, 3)});
  CHECK(wide[0].compute_bound);
  CHECK(wide[0].efficiency == doctest::Approx(1.0));
  CHECK(wide[0].seconds == doctest::Approx(wide[0].compute_s + cpu.overhead_s()));
}

TEST_CASE("parallelism quantisation: padding to the vector width, PE-array mapping") {
  const AnalyticPredictor cpu(AcceleratorDesc::this_cpu());
  // 17 output channels compute as 32: efficiency 17/32 (in_c 16 fills its vectors).
  CHECK(cpu.explain({conv(16, 17, 14, 3)})[0].efficiency == doctest::Approx(17.0 / 32.0));
  CHECK(cpu.explain({conv(16, 16, 14, 3)})[0].efficiency == doctest::Approx(1.0));
  // One output row block per core: 1 row of 16 channels on 2 cores → half the cores idle.
  CHECK(cpu.explain({conv(16, 16, 1, 1)})[0].efficiency == doctest::Approx(0.5));
  const AnalyticPredictor eyeriss(AcceleratorDesc::eyeriss_like());
  // 3×3: 4 PE sets of 3 rows on 12 rows; 14 output rows fill 14 columns.
  CHECK(eyeriss.explain({conv(16, 16, 14, 3)})[0].efficiency == doctest::Approx(1.0));
  // 5×5: 2 sets of 5 rows = 10 of 12 rows; 6 output channels on 2 sets fill them.
  CHECK(eyeriss.explain({conv(16, 6, 14, 5)})[0].efficiency == doctest::Approx(10.0 / 12.0));
  // 28 output rows: 2 passes of 14 columns; 15 would take 2 passes at 15/28.
  CHECK(eyeriss.explain({conv(16, 16, 15, 3)})[0].efficiency == doctest::Approx(15.0 / 28.0));
  // A linear layer uses one column of 14.
  nn::LayerDesc fc{"fc", LayerKind::linear, 64, 1, 1, 12};
  fc.macs = 64 * 12, fc.params = 64 * 12 + 12;
  CHECK(eyeriss.explain({fc})[0].efficiency == doctest::Approx(1.0 / 14.0));
}

TEST_CASE("a BN after a conv is folded: no time, no energy") {
  const AnalyticPredictor cpu(AcceleratorDesc::this_cpu());
  const auto c = conv(32, 32, 14, 3);
  const auto e = cpu.explain({c, bn_after(c)});
  CHECK(e[1].fused);
  CHECK(e[1].seconds == 0.0);
  CHECK(cpu.predict_ms({c, bn_after(c)}) == doctest::Approx(cpu.predict_ms({c})));
  CHECK(cpu.predict_mj({c, bn_after(c)}) == doctest::Approx(cpu.predict_mj({c})));
}

TEST_CASE("energy: MACs at the MAC cost plus bytes through the levels they pass") {
  const AcceleratorDesc d = AcceleratorDesc::this_cpu();
  const AnalyticPredictor cpu(d);
  const auto c = conv(256, 256, 14, 3);  // 2.76 MB: L3
  const double bytes = 4.0 * double(256 * 196 * 2 + c.params);
  const double pj = double(c.macs) * d.energy_pj_per_mac +
                    bytes * (d.memory[0].energy_pj_per_byte + d.memory[1].energy_pj_per_byte + d.memory[2].energy_pj_per_byte);
  CHECK(cpu.predict_mj({c}) == doctest::Approx(pj * 1e-9));
  CHECK(cpu.explain({c})[0].energy_mj == doctest::Approx(pj * 1e-9));
  // The 16-bit accelerator spends less per inference on the same network.
  const AnalyticPredictor eyeriss(AcceleratorDesc::eyeriss_like());
  const NetDesc net = models::make_model("ref-cnn")->describe({1, 28, 28});
  CHECK(eyeriss.predict_mj(net) < cpu.predict_mj(net));
  CHECK(eyeriss.predict_mj(net) > 0);
}

TEST_CASE("calibrated on 20 samples of a latency law, ranks held-out networks with Spearman ≥ 0.9") {
  const auto calib = law_samples(20, 1);
  const auto held_out = law_samples(80, 2);
  AnalyticPredictor cpu(AcceleratorDesc::this_cpu());
  const auto before = evaluate(cpu, pointers(held_out));
  const auto rep = cpu.calibrate(pointers(calib));
  const auto after = evaluate(cpu, pointers(held_out));
  MESSAGE("calibration: κ_c " << rep.compute_scale << ", κ_m " << rep.memory_scale << ", overhead "
                              << rep.overhead_s * 1e6 << " µs, " << rep.iterations << " iterations; held-out RMSPE "
                              << before.rmspe << " → " << after.rmspe << ", Spearman " << after.spearman);
  CHECK(after.spearman >= 0.9);
  CHECK(after.rmspe < before.rmspe);
  CHECK(rep.rms_relative_error < 0.25);

  const auto too_many = law_samples(21, 3);
  CHECK_THROWS_AS(cpu.calibrate(pointers(too_many)), Error);
  CHECK_THROWS_AS(cpu.calibrate({}), Error);
}

TEST_CASE("the same two networks rank differently on this CPU and on an Eyeriss-like array") {
  // A: 40 thin depthwise 3×3 layers (16 channels, 14×14) — little work, many ops.
  // B: 2 wide dense 3×3 convs (64 → 64, 14×14) — few ops, 100× the MACs of one of A's layers.
  NetDesc a, b;
  for (int i = 0; i < 40; ++i) a.push_back(conv(16, 16, 14, 3, 1, 16));
  for (int i = 0; i < 2; ++i) b.push_back(conv(64, 64, 14, 3));
  const AnalyticPredictor cpu(AcceleratorDesc::this_cpu()), eyeriss(AcceleratorDesc::eyeriss_like());
  const double cpu_a = cpu.predict_ms(a), cpu_b = cpu.predict_ms(b);
  const double ey_a = eyeriss.predict_ms(a), ey_b = eyeriss.predict_ms(b);
  MESSAGE("this-cpu: A " << cpu_a << " ms, B " << cpu_b << " ms; eyeriss-like: A " << ey_a << " ms, B " << ey_b << " ms");
  // The CPU's 224 GMAC/s make B's MACs cheap and A's per-op overheads dominate; the 33.6 GMAC/s
  // array spends its time on B's MACs.
  CHECK(cpu_a > cpu_b);
  CHECK(ey_a < ey_b);
  const auto batch = cpu.predict_batch_ms({a, b});
  CHECK(batch == std::vector<double>{cpu_a, cpu_b});
}
