// Tests for hwaware/methods/lightnas/latency_model.hpp and the landing of search.hpp: keys round
// trip; spread sampling covers the range; the one-hot MLP learns a latency law with interactions
// and its gradient matches finite differences; a linearised sum predictor is exact; the measured
// op table of a MACs device is the MACs table; landing reaches the band on a biased device.
#include <doctest/doctest.h>

#include <cmath>

#include "fake_devices.hpp"
#include "hwaware/methods/lightnas/latency_model.hpp"
#include "hwaware/methods/lightnas/search.hpp"

using namespace hwaware;
using namespace hwaware::lightnas;

namespace {

/// A latency law a sum of per-op costs cannot express: each skip also saves a fixed 0.01 ms of
/// the next layer's reorder, and k7 ops after k7 ops cost 20% more.
double law_ms(const SearchSpace& space, const OpTableCost& macs, const Architecture& a) {
  double ms = 0.05 + 1e-8 * macs.cost_of(a);
  for (size_t l = 1; l < space.layers(); ++l) {
    if (a[l] == kSkipOp) ms -= 0.01;
    if (a[l] >= 4 && a[l] < kSkipOp && a[l - 1] >= 4 && a[l - 1] < kSkipOp) ms += 0.2 * 1e-8 * 3e5;
  }
  return ms;
}

std::vector<hw::LatencySample> law_samples(const SearchSpace& space, const std::vector<Architecture>& archs) {
  const OpTableCost macs = OpTableCost::macs(space, {1, 28, 28});
  std::vector<hw::LatencySample> out;
  for (const auto& a : archs) {
    hw::LatencySample s{"network", "lightnas", architecture_key(a), {}, {}, -1};
    s.m.median_ms = law_ms(space, macs, a);
    out.push_back(s);
  }
  return out;
}

std::vector<const hw::LatencySample*> pointers(const std::vector<hw::LatencySample>& v, size_t b, size_t e) {
  std::vector<const hw::LatencySample*> p;
  for (size_t i = b; i < e; ++i) p.push_back(&v[i]);
  return p;
}

}  // namespace

TEST_CASE("architecture keys round trip and refuse what is not an architecture") {
  const SearchSpace space;
  std::mt19937_64 rng(2);
  const Architecture a = space.sample(rng);
  CHECK(architecture_from_key(space, architecture_key(a)) == a);
  CHECK_THROWS_AS(architecture_from_key(space, "0123"), Error);          // too few layers
  CHECK_THROWS_AS(architecture_from_key(space, "6" + std::string(11, '0')), Error);  // skip at a stride
  CHECK_THROWS_AS(architecture_from_key(space, std::string(11, '0') + "x"), Error);
}

TEST_CASE("spread sampling starts at both ends of the range and covers it") {
  const SearchSpace space;
  const OpTableCost macs = OpTableCost::macs(space, {1, 28, 28});
  const auto [lo, hi] = macs.range(space);
  const auto archs = spread_architectures(space, {1, 28, 28}, 60, 5);
  REQUIRE(archs.size() == 60);
  CHECK(macs.cost_of(archs[0]) == doctest::Approx(lo));
  CHECK(macs.cost_of(archs[1]) == doctest::Approx(hi));
  int low = 0, high = 0;  // outside the middle half of the range
  for (size_t i = 2; i < archs.size(); ++i) {
    const double f = (macs.cost_of(archs[i]) - lo) / (hi - lo);
    low += f < 0.25, high += f > 0.75;
  }
  CHECK(low >= 5);
  CHECK(high >= 5);
}

TEST_CASE("the one-hot MLP learns a law with interactions, and its gradient is the encoding's") {
  const SearchSpace space;
  const auto archs = spread_architectures(space, {1, 28, 28}, 400, 11);
  const auto samples = law_samples(space, archs);
  const OneHotMlpCost mlp = OneHotMlpCost::fit(space, pointers(samples, 0, 320));
  const hw::PredictionReport held = evaluate_cost(mlp, space, pointers(samples, 320, 400));
  MESSAGE("held-out within ±5%: " << held.within_5 << ", ±10%: " << held.within_10 << ", training RMSPE "
                                   << mlp.training_rms_relative_error());
  CHECK(held.within_10 >= 0.9);
  // The gradient at a soft encoding, against central differences.
  std::vector<float> e = space.encode(archs[7]);
  for (float& v : e) v = 0.5f * v + 0.07f;
  std::vector<float> g(e.size()), unused(e.size());
  mlp.cost(e, g);
  for (size_t i : {size_t(0), size_t(15), size_t(40), e.size() - 2}) {
    auto hi = e, lo = e;
    hi[i] += 1e-4f, lo[i] -= 1e-4f;
    CHECK(g[i] == doctest::Approx((mlp.cost(hi, unused) - mlp.cost(lo, unused)) / 2e-4).epsilon(0.02).scale(1e-3));
  }
  CHECK_THROWS_AS(OneHotMlpCost::fit(space, pointers(samples, 0, 5)), Error);
}

TEST_CASE("a predictor that sums over layers is exact as a linearised table") {
  const SearchSpace space;
  const fake::MacsPredictor p{.ms_per_mmac = 0.02, .ms_per_layer = 0.003};
  std::mt19937_64 rng(8);
  const OpTableCost table =
      linearised_cost(space, {1, 28, 28}, [&](const NetDesc& n) { return p.predict_ms(n); }, space.sample(rng), "ms");
  for (int i = 0; i < 8; ++i) {
    const Architecture a = space.sample(rng);
    CHECK(table.cost_of(a) == doctest::Approx(p.predict_ms(space.build(a)->describe({1, 28, 28}))));
  }
}

TEST_CASE("the measured op table of a MACs device is the MACs table, and measured architectures carry their keys") {
  const SearchSpace space(SearchSpace::Options{.stem_width = 8, .head_width = 16, .stages = {{8, 2, 2}, {16, 2, 1}}});
  fake::DriftingDevice device{.drift = 0};
  const OpTableCost lut = measured_op_table(device, space, {1, 28, 28});
  const OpTableCost macs = OpTableCost::macs(space, {1, 28, 28});
  std::mt19937_64 rng(1);
  for (int i = 0; i < 5; ++i) {
    const Architecture a = space.sample(rng);
    CHECK(lut.cost_of(a) == doctest::Approx(1e-6 * macs.cost_of(a)));
  }
  const auto archs = spread_architectures(space, {1, 28, 28}, 5, 1);
  const auto samples = measure_architectures(device, space, {1, 28, 28}, archs, 2);
  REQUIRE(samples.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    CHECK(architecture_from_key(space, samples[i].name) == archs[i]);
    CHECK(samples[i].m.median_ms == doctest::Approx(1e-6 * macs.cost_of(archs[i])));
  }
  // A table measured on a machine that has since run 30% slower is put back in the samples' units.
  fake::DriftingDevice later{.drift = 0};
  later.scale = 1.3;
  std::vector<const hw::LatencySample*> fit;
  for (const auto& s : samples) fit.push_back(&s);
  const OpTableCost slow = measured_op_table(later, space, {1, 28, 28});
  const OpTableCost back = in_sample_units(slow, later, space, {1, 28, 28}, fit, 3);
  for (size_t i = 0; i < 5; ++i) {
    CHECK(slow.cost_of(archs[i]) == doctest::Approx(1.3e-6 * macs.cost_of(archs[i])));
    CHECK(back.cost_of(archs[i]) == doctest::Approx(1e-6 * macs.cost_of(archs[i])));
  }
  CHECK_THROWS_AS(in_sample_units(slow, later, space, {1, 28, 28}, {}), Error);
  // On a machine that slows by a quarter per session the reference in every group keeps the
  // architectures' ratios exact: uncorrected, the last group would read several times slow.
  fake::DriftingDevice drifting{.drift = 0.25};
  const auto corrected = measure_architectures(drifting, space, {1, 28, 28}, archs, 2);
  CHECK(drifting.sessions == 9);  // 3 passes of 3 groups
  for (size_t i = 1; i < 5; ++i)
    CHECK(corrected[i].m.median_ms / corrected[0].m.median_ms ==
          doctest::Approx(macs.cost_of(archs[i]) / macs.cost_of(archs[0])));
}

TEST_CASE("landing moves a derived architecture into the band on a device the cost underestimates") {
  const SearchSpace space;
  const OpTableCost macs = OpTableCost::macs(space, {1, 28, 28});
  const auto [lo, hi] = macs.range(space);
  // The device reads 1.25× the cost plus a constant the cost does not know.
  int measured = 0;
  const MeasureFn device = [&](const Architecture& a) { return ++measured, 1.25 * macs.cost_of(a) + 0.02 * (hi - lo); };
  const std::vector<float> alpha(space.layers() * kOpsPerLayer, 0.0f);
  std::mt19937_64 rng(3);
  for (double where : {0.3, 0.7}) {
    const double target = 1.25 * (lo + where * (hi - lo));
    measured = 0;
    const Landing l = land(space, macs, alpha, space.sample(rng), target, 0.05, 8, device);
    CAPTURE(where);
    CHECK(l.measured <= target);
    CHECK(l.measured >= 0.95 * target);
    CHECK(l.measured == doctest::Approx(device(l.architecture)));
    CHECK(measured == l.edits + 2);  // the start, each edit, and the check above
  }
}
