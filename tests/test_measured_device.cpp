// The measurement protocol over any Device: medians of interleaved sessions, drift correction
// against a reference, per-architecture medians, rechecks of near misses, pauses on drift.
#include <doctest/doctest.h>

#include "fake_devices.hpp"
#include "hwaware/hw/measured_device.hpp"
#include "hwaware/hw/predicted_device.hpp"
#include "hwaware/models/zoo.hpp"

using namespace hwaware;

namespace {
const Shape kChw{1, 28, 28};
hw::MeasurementProtocol quick(int sessions) { return {.sessions = sessions, .drift_wait_seconds = 0}; }
}  // namespace

TEST_CASE("figures are scaled by the reference's drift since it was set") {
  fake::DriftingDevice dev;
  auto full = models::ref_cnn({.width = 0.5});
  auto half = models::ref_cnn({.width = 0.25});
  const double full_ms = fake::exact_ms(*full, kChw), half_ms = fake::exact_ms(*half, kChw);
  hw::MeasuredDevice<fake::DriftingDevice> md(dev, quick(1), kChw);
  const auto [a, b] = md.measure_both(*half, *full);  // session 0: no slowdown yet
  CHECK(a == doctest::Approx(half_ms));
  CHECK(b == doctest::Approx(full_ms));
  md.set_reference(models::ref_cnn({.width = 0.5}), b);
  const auto f = md.measure(*half);  // session 1: 25% slower
  CHECK(f.raw_ms == doctest::Approx(1.25 * half_ms));
  REQUIRE(f.reference_now_ms);
  CHECK(*f.reference_now_ms == doctest::Approx(1.25 * full_ms));
  CHECK(f.ms == doctest::Approx(half_ms));
  CHECK(md.drifted());  // 25% off its start, beyond the 15% tolerance
  // Without a reference the slowdown goes straight into the figure.
  hw::MeasuredDevice<fake::DriftingDevice> bare(dev, quick(1), kChw);
  CHECK(bare.measure(*half).ms == doctest::Approx(1.5 * half_ms));
  CHECK_FALSE(bare.reference_ms());
}

TEST_CASE("a figure is the median of several sessions: one disturbed session does not decide") {
  fake::SpikyDevice dev;
  auto full = models::ref_cnn({.width = 0.5});
  auto half = models::ref_cnn({.width = 0.25});
  const double exact = fake::exact_ms(*half, kChw);
  hw::MeasuredDevice<fake::SpikyDevice> three(dev, quick(3), kChw);
  three.set_reference(models::ref_cnn({.width = 0.5}), fake::exact_ms(*full, kChw));
  CHECK(three.measure(*half).ms == doctest::Approx(exact));
  CHECK(dev.sessions == 3);
  dev.sessions = 0;
  hw::MeasuredDevice<fake::SpikyDevice> one(dev, quick(1), kChw);
  one.set_reference(models::ref_cnn({.width = 0.5}), fake::exact_ms(*full, kChw));
  CHECK(one.measure(*half).ms == doctest::Approx(3 * exact));
}

TEST_CASE("an architecture's latency is the median of all its figures in the run") {
  fake::FirstReadSlowDevice dev;
  auto half = models::ref_cnn({.width = 0.25});
  const double exact = fake::exact_ms(*half, kChw);
  hw::MeasuredDevice<fake::FirstReadSlowDevice> md(dev, quick(1), kChw);
  const hw::MeasuredDevice<fake::FirstReadSlowDevice>::Key key{4, 8};
  CHECK_FALSE(md.known_ms(key));
  CHECK(md.measure(*half, key).median_ms == doctest::Approx(1.12 * exact));
  const auto second = md.measure(*half, key);
  CHECK(second.ms == doctest::Approx(exact));
  CHECK(second.count == 2);
  CHECK(second.median_ms == doctest::Approx(1.06 * exact));
  CHECK(*md.known_ms(key) == doctest::Approx(1.06 * exact));
  CHECK(md.figures() == 2);
}

TEST_CASE("a pair that fails its test is measured again after a pause, up to the rechecks") {
  fake::ContendedDevice dev;
  auto full = models::ref_cnn({.width = 0.5});
  auto half = models::ref_cnn({.width = 0.25});
  const double r = fake::exact_ms(*half, kChw) / fake::exact_ms(*full, kChw);
  hw::MeasuredDevice<fake::ContendedDevice> md(dev, quick(1), kChw);  // 2 rechecks
  int asked = 0;
  const auto fits = [&](double a, double b) { return ++asked, a <= 1.5 * r * b; };
  dev.busy = 1;  // the first reading: half at 3×, full at 1.5× (2r)
  const auto [a, b] = md.measure_both(*half, *full, fits);
  CHECK(asked == 2);
  CHECK(a / b == doctest::Approx(r));
  asked = 0;
  dev.busy = 5;  // busy beyond the rechecks: the last reading stands
  const auto [c, d] = md.measure_both(*half, *full, fits);
  CHECK(dev.busy == 2);  // three readings: the first and two rechecks (the last is not tested)
  CHECK(asked == 2);
  CHECK(c / d == doctest::Approx(2 * r));
}

TEST_CASE("a near miss is measured again before it counts; a clear miss is not") {
  auto half = models::ref_cnn({.width = 0.25});
  const double exact = fake::exact_ms(*half, kChw);
  for (int rechecks : {2, 0}) {
    CAPTURE(rechecks);
    fake::FirstReadSlowDevice dev;
    auto p = quick(1);
    p.rechecks = rechecks;
    hw::MeasuredDevice<fake::FirstReadSlowDevice> md(dev, p, kChw);
    const auto v = md.judge(*half, {1}, 1.07 * exact);  // the first reading (1.12×) misses by < 15%
    CHECK(v.met == (rechecks > 0));
    CHECK(v.figures == (rechecks > 0 ? 2 : 1));
    if (rechecks > 0) CHECK(v.ms == doctest::Approx(1.06 * exact));
  }
  fake::FirstReadSlowDevice dev;
  hw::MeasuredDevice<fake::FirstReadSlowDevice> md(dev, quick(1), kChw);
  const auto v = md.judge(*half, {1}, 0.5 * exact);  // far over: no recheck helps
  CHECK_FALSE(v.met);
  CHECK(v.figures == 1);
}

TEST_CASE("a miss measured on a drifted machine is dropped and measured again after a pause") {
  auto full = models::vgg_small({.width = 0.5});
  auto half = models::vgg_small({.width = 0.25});
  const double exact = fake::exact_ms(*half, kChw), full_ms = fake::exact_ms(*full, kChw);
  for (int waits : {20, 0}) {
    CAPTURE(waits);
    fake::ContendedDevice dev;
    auto p = quick(1);
    p.rechecks = 0, p.drift_waits = waits;
    hw::MeasuredDevice<fake::ContendedDevice> md(dev, p, kChw);
    md.set_reference(models::vgg_small({.width = 0.5}), full_ms);
    dev.busy = 3;  // three contended sessions: the narrow net 3×, the reference 1.5×
    const auto v = md.judge(*half, {2}, 1.1 * exact);
    if (waits > 0) {
      CHECK(v.met);
      CHECK(v.waits == 3);
      CHECK(md.drift_waits() == 3);
      CHECK(v.ms == doctest::Approx(exact));  // the dropped figures left no trace in the median
    } else {
      CHECK_FALSE(v.met);
      CHECK(v.waits == 0);
    }
  }
}

TEST_CASE("a device without interleaving measures one network after the other, uncorrected") {
  struct Serial {
    hw::Fingerprint fingerprint() const { return {.device = "serial"}; }
    hw::Measurement measure(nn::Module& m, const Shape& chw) { return {.median_ms = fake::exact_ms(m, chw)}; }
  };
  static_assert(hw::Device<Serial> && !hw::InterleavingDevice<Serial>);
  Serial dev;
  hw::MeasuredDevice<Serial> md(dev, quick(3), kChw);
  auto net = models::ref_cnn({.width = 0.25});
  md.set_reference(models::ref_cnn({.width = 0.5}), 1.0);
  CHECK_FALSE(md.reference_ms());  // no interleaved session, so no drift reference
  CHECK(md.measure(*net).ms == doctest::Approx(fake::exact_ms(*net, kChw)));
}

TEST_CASE("a predicted device reports its predictor's figure and says so in its fingerprint") {
  hw::PredictedDevice dev(fake::MacsPredictor{.ms_per_mmac = 2, .ms_per_layer = 0});
  auto net = models::ref_cnn({.width = 0.25});
  CHECK(dev.measure(*net, kChw).median_ms == doctest::Approx(2 * fake::exact_ms(*net, kChw)));
  CHECK(dev.fingerprint().device == "predicted:macs");
  static_assert(hw::InterleavingDevice<hw::PredictedDevice<fake::MacsPredictor>>);
  static_assert(hw::NoiseFreeDevice<hw::PredictedDevice<fake::MacsPredictor>> && !hw::NoiseFreeDevice<fake::DriftingDevice>);
}
