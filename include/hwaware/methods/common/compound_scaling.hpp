#pragma once
// EfficientNet's fixed compound rule as a Shrinker (Tan & Le, ICML 2019): depth α^−φ, width
// β^−φ, resolution γ^−φ with α 1.2, β 1.1, γ 1.15 (found by grid search so that α·β²·γ² ≈ 2);
// φ ≥ 0 is bisected so that the network's MACs meet the budget. The baseline a fitted accuracy
// model (SmartScissor) has to beat.
#include <cmath>
#include <string>

#include "hwaware/methods/common/controller.hpp"
#include "hwaware/methods/common/policies.hpp"

namespace hwaware {

struct EfficientNetRule {
  double alpha = 1.2, beta = 1.1, gamma = 1.15;
  double max_phi = 12;         // the smallest scaling tried
  double tolerance = 1e-3;     // of φ / max_phi

  Scaling at(double phi) const { return {std::pow(alpha, -phi), std::pow(beta, -phi), std::pow(gamma, -phi)}; }

  /// MACs of the family at a scaling, per image, on its scaled input.
  static double macs(const ScalableFamily& f, const Scaling& s) {
    return double(nn::total_macs(f.make(s)->describe(f.chw_at(s.resolution))));
  }

  Scaling choose(const ScalableFamily& family, const Budget& budget) const {
    budget.validate("EfficientNetRule");
    if (budget.unit != Budget::Unit::macs)
      throw Error("EfficientNetRule: chooses under a MACs budget (got a " + budget.unit_name() + " budget)");
    const auto ok = [&](double k) { return macs(family, at(k * max_phi)) <= budget.value; };
    if (!ok(1.0))
      throw InfeasibleBudget("EfficientNetRule: the budget " + std::to_string(budget.value) +
                             " MACs is below the smallest scaling tried (φ = " + std::to_string(max_phi) + ": " +
                             std::to_string(macs(family, at(max_phi))) + " MACs)");
    return at(bisect_threshold(0.0, 1.0, tolerance, ok) * max_phi);
  }
};

static_assert(Shrinker<EfficientNetRule>);

}  // namespace hwaware
