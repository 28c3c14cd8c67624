// Tests for hwaware/methods/lightnas/gumbel.hpp and lambda.hpp: Gumbel sampling statistics, the
// straight-through gradient against finite differences, the temperature schedule, and λ's update
// with its safeguards driving a toy search onto its target.
#include <doctest/doctest.h>

#include <cmath>

#include "hwaware/methods/lightnas/gumbel.hpp"
#include "hwaware/methods/lightnas/lambda.hpp"

using namespace hwaware;
using namespace hwaware::lightnas;

TEST_CASE("the hard sample follows softmax(α) over the allowed ops, whatever τ") {
  const std::vector<float> alpha{std::log(0.1f), std::log(0.2f), std::log(0.3f), std::log(0.4f), 5.0f};
  const std::vector<bool> allowed{true, true, true, true, false};
  for (double tau : {0.5, 5.0}) {
    std::mt19937_64 rng(3);
    std::vector<int> count(5, 0);
    const int n = 40000;
    for (int i = 0; i < n; ++i) ++count[size_t(gumbel_softmax(alpha, allowed, tau, rng).index)];
    CHECK(count[4] == 0);
    for (int j = 0; j < 4; ++j) CHECK(double(count[size_t(j)]) / n == doctest::Approx(0.1 * (j + 1)).epsilon(0.08));
  }
  std::mt19937_64 rng(1);
  const auto s = gumbel_softmax(alpha, allowed, 1.0, rng);
  double sum = 0;
  for (double y : s.soft) sum += y;
  CHECK(sum == doctest::Approx(1.0));
  CHECK(s.soft[4] == 0.0);
  CHECK_THROWS_AS(gumbel_softmax(alpha, allowed, 0.0, rng), Error);
  CHECK_THROWS_AS(gumbel_softmax(alpha, std::vector<bool>(5, false), 1.0, rng), Error);
}

TEST_CASE("the straight-through gradient is ∂y_k/∂α times the gate's gradient") {
  const std::vector<float> alpha{0.3f, -0.2f, 0.9f, 0.1f};
  const std::vector<bool> allowed(4, true);
  const double tau = 1.7, dgate = 2.5;
  std::mt19937_64 rng(9);
  const GumbelSample s = gumbel_softmax(alpha, allowed, tau, rng);
  // Recover the Gumbel noise from the soft weights, then differentiate y_k numerically.
  std::vector<double> noise_tau(4);
  for (size_t j = 0; j < 4; ++j) noise_tau[j] = std::log(s.soft[j]) - double(alpha[j]) / tau;
  const auto yk = [&](const std::vector<double>& a) {
    double sum = 0, k = 0;
    for (size_t j = 0; j < 4; ++j) {
      const double e = std::exp(a[j] / tau + noise_tau[j]);
      sum += e;
      if (int(j) == s.index) k = e;
    }
    return k / sum;
  };
  std::vector<float> grad(4, 0.0f);
  straight_through_grad(s, tau, dgate, grad);
  for (size_t j = 0; j < 4; ++j) {
    std::vector<double> hi(alpha.begin(), alpha.end()), lo = hi;
    hi[j] += 1e-5, lo[j] -= 1e-5;
    CHECK(grad[j] == doctest::Approx(dgate * (yk(hi) - yk(lo)) / 2e-5).epsilon(1e-4));
  }
}

TEST_CASE("the temperature schedule holds during the warm-up, then decays") {
  TemperatureSchedule t;
  CHECK(t.at(0) == 5.0);
  CHECK(t.at(10) == 5.0);
  CHECK(t.at(20) == doctest::Approx(5.0 * std::exp(-1.0)));
}

TEST_CASE("λ rises while the cost is over the target and is reset when its sign disagrees") {
  LagrangeMultiplier lam({.lr = 0.1});
  CHECK(lam.value() == 0.0);
  CHECK(lam.update(1.5, 1.0) == doctest::Approx(0.05));
  CHECK(lam.update(1.5, 1.0) == doctest::Approx(0.10));
  CHECK(lam.update(0.9, 1.0) == 0.0);  // under the target: a positive λ would keep pushing down
  lam.set(-0.3);
  CHECK(lam.update(1.2, 1.0) == 0.0);  // over the target with λ < 0
  CHECK(lam.alpha_lr_scale(1.02, 1.0, true) == doctest::Approx(0.02));
  CHECK(lam.alpha_lr_scale(1.02, 1.0, false) == 1.0);
  CHECK(lam.alpha_lr_scale(1.2, 1.0, true) == 1.0);
  CHECK_THROWS_AS(lam.update(1.0, 0.0), Error);
  CHECK_THROWS_AS(LagrangeMultiplier({.lr = 0}), Error);
}

TEST_CASE("a toy search lands on its target: min (θ − 2)² subject to LAT(θ) = θ ≤ 1") {
  LagrangeMultiplier lam({.lr = 0.05});
  double theta = 2.0;
  const double target = 1.0;
  const int steps = 3000;
  for (int t = 0; t < steps; ++t) {
    const double scale = lam.alpha_lr_scale(theta, target, t >= steps / 2);
    theta -= 0.05 * scale * (2 * (theta - 2) + lam.value() / target);
    lam.update(theta, target);
  }
  CHECK(theta == doctest::Approx(target).epsilon(0.01));
  CHECK(lam.value() == doctest::Approx(2.0).epsilon(0.05));  // the multiplier of the active constraint
}
