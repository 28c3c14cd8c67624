// Tests for hwaware/methods/smartscissor/accuracy_model.hpp and shrinkers.hpp: Eq. 3 fitted to
// points of a known curve gives that curve back; Eq. 2 on known drops; the shrinkers meet their
// MACs budgets, shrink only what they should, and refuse impossible or non-MACs budgets; with a
// DeviceMeter they meet latency budgets on a (drifting, mixed-shape) device through a wrong predictor.
#include <doctest/doctest.h>

#include <cmath>

#include "hwaware/methods/smartscissor/accuracy_model.hpp"
#include "hwaware/methods/smartscissor/shrinkers.hpp"
#include "fake_devices.hpp"

using namespace hwaware;
using namespace hwaware::smartscissor;

TEST_CASE("Eq. 3 through the anchor recovers a known curve; noise shows in the RMSE") {
  const double m0 = 4e7, a0 = 0.9, a = -0.2, b = 0.1;
  const auto truth = [&](double m) { const double x = m / m0 - 1; return a * x * x + b * x + a0; };
  std::vector<AccuracyPoint> pts;
  for (double f : {0.25, 0.5, 0.75}) pts.push_back({f * m0, truth(f * m0)});
  const AccuracyCurve c = fit_accuracy_curve(m0, a0, pts);
  CHECK(c.a == doctest::Approx(a).epsilon(1e-9));
  CHECK(c.b == doctest::Approx(b).epsilon(1e-9));
  CHECK(c.rmse < 1e-12);
  CHECK(c.accuracy(m0) == doctest::Approx(a0));
  CHECK(c.drop(0.5 * m0) == doctest::Approx(a0 - truth(0.5 * m0)));

  pts[1].accuracy += 0.01;  // one noisy training
  const AccuracyCurve noisy = fit_accuracy_curve(m0, a0, pts);
  CHECK(noisy.rmse > 1e-3);
  CHECK(noisy.rmse < 0.01);

  CHECK_THROWS_AS(fit_accuracy_curve(m0, a0, {{0.5 * m0, 0.8}}), Error);            // one point
  CHECK_THROWS_AS(fit_accuracy_curve(m0, a0, {{0.5 * m0, 0.8}, {0.5 * m0, 0.8}}), Error);  // same MACs
  CHECK_THROWS_AS(fit_accuracy_curve(0, a0, pts), Error);
}

TEST_CASE("Eq. 2: coefficients are the geometric mean of the drops over each drop") {
  // Linear curves with drops 0.01, 0.04, 0.16 at half the MACs: geometric mean 0.04.
  const auto linear = [](double drop_at_half) { return AccuracyCurve{0, 2 * drop_at_half, 1.0, 0.9, 0}; };
  const std::array<AccuracyCurve, 3> curves{linear(0.01), linear(0.04), linear(0.16)};
  const auto c = compound_coefficients(curves, 0.5);
  CHECK(c[0] == doctest::Approx(4.0));
  CHECK(c[1] == doctest::Approx(1.0));
  CHECK(c[2] == doctest::Approx(0.25));
  // A dimension that gains accuracy when shrunk is floored, not divided by a negative drop.
  const std::array<AccuracyCurve, 3> gain{AccuracyCurve{0, -0.02, 1.0, 0.9, 0}, linear(0.04), linear(0.16)};
  const auto g = compound_coefficients(gain, 0.5, 1e-3);
  CHECK(g[0] > g[1]);
  CHECK(std::isfinite(g[0]));
}

TEST_CASE("the shrinkers meet a MACs budget and shrink what they should") {
  const ScalableFamily family = resnet_family({.blocks = 3, .width = 0.5}, 32);
  const double full = scaling_macs(family, Scaling{});
  const Budget half = Budget::mac_count(0.45 * full);

  SingleDimension res{Dimension::resolution};
  const Scaling r = res.choose(family, half);
  CHECK(r.depth == 1.0);
  CHECK(r.width == 1.0);
  CHECK(r.resolution < 1.0);
  const double rm = scaling_macs(family, r);
  CHECK(rm <= half.value);
  CHECK(rm > 0.35 * full);  // the largest resolution that fits, not any

  SingleDimension width{Dimension::width};
  const Scaling w = width.choose(family, half);
  CHECK(w.width < 1.0);
  CHECK(scaling_macs(family, w) <= half.value);

  // Depth costs little accuracy, resolution much: compound shrinking takes most from depth.
  const auto linear = [&](double drop_at_half) { return AccuracyCurve{0, 2 * drop_at_half, full, 0.9, 0}; };
  CompoundShrinking compound{{linear(0.005), linear(0.03), linear(0.12)}};
  const Scaling c = compound.choose(family, half);
  CHECK(scaling_macs(family, c) <= half.value);
  CHECK(c.depth < c.resolution);
  CHECK(c.resolution > 0.9);
  // Depth rounds to whole blocks; what the rounding leaves goes to width and resolution, until
  // the budget is used or they are back at full size.
  for (double f : {0.3, 0.45, 0.5, 0.7, 0.85}) {
    const Budget b = Budget::mac_count(f * full);
    const Scaling x = compound.choose(family, b);
    CAPTURE(f);
    CHECK(scaling_macs(family, x) <= b.value);
    CHECK((scaling_macs(family, x) >= 0.85 * b.value || (x.width > 0.99 && x.resolution > 0.99)));
  }

  CHECK(compound.choose(family, Budget::mac_count(2 * full)).depth == 1.0);
  CHECK_THROWS_AS(res.choose(family, Budget::mac_count(10)), InfeasibleBudget);
  CHECK_THROWS_WITH_AS(compound.choose(family, Budget::latency(1.0)), doctest::Contains("MACs budget"), Error);
}

TEST_CASE("with a DeviceMeter the shrinkers meet a latency budget as the device measures it") {
  const ScalableFamily family = resnet_family({.blocks = 3, .width = 0.5}, 32);
  fake::ShapedDriftingDevice dev;  // 1 ms per MMAC, 10% slower every session
  hw::MeasuredDevice<fake::ShapedDriftingDevice> md(dev, {.drift_wait_seconds = 0}, family.base_chw);
  auto ref = family.make(Scaling{});
  const double full_ms = dev.measure(*ref, family.base_chw).median_ms;  // the first session: undisturbed
  md.set_reference(std::move(ref), full_ms);
  const fake::MacsPredictor wrong{.ms_per_mmac = 0.5, .ms_per_layer = 0.004};  // half the truth, plus a per-layer cost
  using Meter = DeviceMeter<fake::MacsPredictor, fake::ShapedDriftingDevice>;
  const Meter meter(wrong, md);
  const auto truth = [&](const Scaling& s) { return fake::exact_ms(*family.make(s), family.chw_at(s.resolution)); };
  const double budget = 0.5 * full_ms;

  for (Dimension d : kDimensions) {
    if (d == Dimension::depth) continue;  // 3 blocks per stage: depth moves in steps of a third
    const Scaling s = SingleDimension<Meter>{.dimension = d, .meter = meter}.choose(family, Budget::latency(budget));
    CAPTURE(dimension_name(d));
    CHECK(truth(s) <= budget);
    CHECK(truth(s) >= 0.8 * budget);  // the largest network the device accepts, to the knob's step
  }
  const Scaling c = CompoundShrinking<Meter>{.curves = {AccuracyCurve{0, 0.01, 1, 0.9, 0}, AccuracyCurve{0, 0.06, 1, 0.9, 0},
                                                        AccuracyCurve{0, 0.2, 1, 0.9, 0}},
                                             .meter = meter}
                        .choose(family, Budget::fraction_of_full(0.5));
  CHECK(truth(c) <= budget);
  CHECK(truth(c) >= 0.7 * budget);
  const Scaling e = EfficientNetRule<Meter>{.meter = meter}.choose(family, Budget::latency(budget));
  CHECK(truth(e) <= budget);

  // What the pipeline spends besides the network comes off the network's share.
  const Meter with_extra(wrong, md, 0.2 * full_ms);
  const Scaling w = SingleDimension<Meter>{.dimension = Dimension::width, .meter = with_extra}.choose(family, Budget::latency(budget));
  CHECK(truth(w) <= 0.3 * full_ms + 1e-9);
  CHECK(truth(w) >= 0.2 * full_ms);

  CHECK_THROWS_AS(SingleDimension<Meter>{.meter = meter}.choose(family, Budget::latency(1e-4)), InfeasibleBudget);

  // Most of a small network's reading is a fixed cost the predictor does not see (batch 1 on a
  // CPU): a calibration proportional to the prediction shrinks the network further at every
  // re-measurement, while the device's bisection keeps the largest network it accepts at the aim.
  const ScalableFamily fine = resnet_family({.blocks = 3, .width = 0.5}, 64);
  const double fine_full = fake::exact_ms(*fine.make(Scaling{}), fine.base_chw);
  fake::ShapedDriftingDevice fixed_dev{.fixed_ms = fine_full};
  hw::MeasuredDevice<fake::ShapedDriftingDevice> fixed_md(fixed_dev, {.drift_wait_seconds = 0}, fine.base_chw);
  fixed_md.set_reference(fine.make(Scaling{}), fixed_dev.measure(*fine.make(Scaling{}), fine.base_chw).median_ms);
  const Meter fixed_meter(wrong, fixed_md);
  const double fixed_budget = 0.6 * 2 * fine_full, room = Meter::kOptions.aim * fixed_budget - fine_full;
  for (Dimension d : {Dimension::width, Dimension::resolution}) {
    const Scaling s = SingleDimension<Meter>{.dimension = d, .meter = fixed_meter}.choose(fine, Budget::latency(fixed_budget));
    const double net = fake::exact_ms(*fine.make(s), fine.chw_at(s.resolution));
    CAPTURE(dimension_name(d));
    CHECK(net + fine_full <= fixed_budget);
    CHECK(net >= 0.8 * room);  // the network's share of what the aim leaves it
  }
  CHECK_THROWS_AS(SingleDimension<Meter>{.meter = with_extra}.choose(family, Budget::latency(0.1 * full_ms)), InfeasibleBudget);
  CHECK_THROWS_WITH_AS(SingleDimension<Meter>{.meter = meter}.choose(family, Budget::mac_count(1e6)),
                       doctest::Contains("judges latency budgets"), Error);
}
