// The shared budget layer: Budget validation, bisection, the controller's calibration, band,
// retarget and guarantee, and EfficientNet's compound rule as a Shrinker.
#include <doctest/doctest.h>

#include "hwaware/methods/common/budget.hpp"
#include "hwaware/methods/common/compound_scaling.hpp"
#include "hwaware/methods/common/controller.hpp"
#include "hwaware/models/zoo.hpp"

using namespace hwaware;

TEST_CASE("budgets: validated with the value in the message, fractions resolved against the full network") {
  CHECK_THROWS_WITH_AS(Budget::fraction_of_full(1.5).validate("X"), doctest::Contains("X: the budget fraction must be in (0, 1] (got 1.5"), Error);
  CHECK_THROWS_WITH_AS(Budget::latency(-1).validate("X"), doctest::Contains("latency (ms) budget must be positive"), Error);
  CHECK_THROWS_AS(Budget::mac_count(std::nan("")).validate("X"), Error);
  CHECK_NOTHROW(Budget::energy(2).validate("X"));
  CHECK(Budget::fraction_of_full(0.3).absolute(2.0) == doctest::Approx(0.6));
  CHECK(Budget::latency(0.7).absolute(2.0) == doctest::Approx(0.7));
  CHECK(Budget::latency(1).on_device());
  CHECK_FALSE(Budget::mac_count(1e6).on_device());
}

TEST_CASE("bisect_threshold: the smallest passing point to the tolerance, the ends when they decide") {
  int calls = 0;
  const double x = bisect_threshold(0.0, 1.0, 1e-3, [&](double v) { return ++calls, v >= 0.3141; });
  CHECK(x >= 0.3141);
  CHECK(x - 0.3141 <= 1e-3);
  CHECK(calls <= 12);
  CHECK(bisect_threshold(0.0, 1.0, 1e-3, [](double) { return true; }) == 0.0);
  CHECK(bisect_threshold(0.0, 1.0, 1e-3, [](double) { return false; }) == 1.0);
}

TEST_CASE("the controller aims under T with a device, bisects on the calibrated prediction") {
  // An architecture's predicted latency falls linearly with the knob: 10 ms at 0, 0 at 1.
  const BudgetController::Metric predicted = [](double k) { return 10 * (1 - k); };
  BudgetController measured(4.0, {}, true), exact(4.0, {}, false);
  CHECK(measured.target() == doctest::Approx(0.95 * 4));
  CHECK(exact.target() == doctest::Approx(4));
  CHECK(exact.bisect(predicted) == doctest::Approx(0.6).epsilon(0.02));
  measured.calibrate(20, 10);  // the device says twice the prediction
  CHECK(measured.scale() == doctest::Approx(2));
  const double k = measured.bisect(predicted);
  CHECK(2 * predicted(k) <= measured.target());
  CHECK(2 * predicted(k - 0.011) > measured.target());
}

TEST_CASE("retarget: the knob stays inside the band, moves outside it, and recalibrates on the device") {
  const BudgetController::Metric predicted = [](double k) { return 10 * (1 - k); };
  BudgetController c(4.0, {}, false);
  double knob = 0.61;  // 3.9 ms: inside [0.95·4, 4]
  c.retarget(knob, predicted);
  CHECK(knob == 0.61);
  knob = 0.8;  // 2 ms: far under the band
  c.retarget(knob, predicted);
  CHECK(predicted(knob) <= 4);
  CHECK(predicted(knob) >= 0.95 * 4 - 0.1);
  // With a device 3× the prediction, two measured rounds land the device's figure in the band.
  BudgetController d(4.0, {.calibration_steps = 2}, true);
  int figures = 0;
  const BudgetController::Metric device = [&](double k) { return ++figures, 3 * predicted(k); };
  knob = 0;
  const auto last = d.retarget(knob, predicted, &device);
  REQUIRE(last);
  CHECK(figures == 2);
  CHECK(d.scale() == doctest::Approx(3));
  CHECK(3 * predicted(knob) <= d.target());
  CHECK(3 * predicted(knob) >= d.options().band * d.target() - 0.15);
}

TEST_CASE("guarantee: the knob rises until the judge accepts, one judgment per architecture") {
  BudgetController c(4.0, {.guarantee_step = 0.01, .max_guarantee_steps = 100}, true);
  std::vector<double> judged;
  // Architectures change every 0.05 of the knob; the device accepts from 0.7 on.
  auto arch = [](double k) { return int(k / 0.05 + 1e-9); };
  double knob = 0.5;
  const auto g = c.guarantee(
      knob, [&](double k) { return judged.push_back(k), k >= 0.7 - 1e-9; },
      [&](double a, double b) { return arch(a) == arch(b); });
  CHECK(g.met);
  CHECK(knob == doctest::Approx(0.7));
  CHECK(g.steps == 20);
  CHECK(judged.size() == 5);  // 0.5, 0.55, 0.6, 0.65, 0.7
  double stuck = 0.2;
  const auto never = c.guarantee(stuck, [](double) { return false; }, [](double, double) { return false; });
  CHECK_FALSE(never.met);
  CHECK(never.steps == 80);  // stops at 1.0
  CHECK(stuck == doctest::Approx(1.0));
}

TEST_CASE("EfficientNet's rule: the largest φ-scaling under a MACs budget, rejected below its floor") {
  const ScalableFamily family{[](const Scaling& s) { return models::resnet8({.width = s.width}); }, {1, 28, 28}};
  const double base = scaling_macs(family, {});
  const EfficientNetRule<> rule;
  const Scaling s = rule.choose(family, Budget::mac_count(0.5 * base));
  CHECK(scaling_macs(family, s) <= 0.5 * base);
  CHECK(scaling_macs(family, rule.at(std::log(s.width) / std::log(1 / rule.beta) - 0.3)) > 0.5 * base);
  CHECK(s.width < 1);
  CHECK(s.resolution < 1);
  CHECK(s.depth == doctest::Approx(std::pow(s.width, std::log(1.2) / std::log(1.1))));
  CHECK_THROWS_AS(rule.choose(family, Budget::mac_count(1)), InfeasibleBudget);
  CHECK_THROWS_WITH_AS(rule.choose(family, Budget::latency(1)), doctest::Contains("MACs budget"), Error);
}
