#pragma once
// EfficientNet's fixed compound rule as a Shrinker (Tan & Le, ICML 2019): depth α^−φ, width
// β^−φ, resolution γ^−φ with α 1.2, β 1.1, γ 1.15 (found by grid search so that α·β²·γ² ≈ 2);
// φ ≥ 0 is chosen by the meter so that the network meets the budget (MACs, or latency on a
// device). The baseline a fitted accuracy model (SmartScissor) has to beat.
#include <cmath>
#include <string>

#include "hwaware/methods/common/controller.hpp"
#include "hwaware/methods/common/policies.hpp"
#include "hwaware/methods/common/scaling_meter.hpp"

namespace hwaware {

template <ScalingMeter Meter = MacsMeter>
struct EfficientNetRule {
  double alpha = 1.2, beta = 1.1, gamma = 1.15;
  double max_phi = 12;         // the smallest scaling tried
  double tolerance = 1e-3;     // of φ / max_phi
  Meter meter{};

  Scaling at(double phi) const { return {std::pow(alpha, -phi), std::pow(beta, -phi), std::pow(gamma, -phi)}; }

  /// MACs of the family at a scaling, per image, on its scaled input.
  static double macs(const ScalableFamily& f, const Scaling& s) { return scaling_macs(f, s); }

  Scaling choose(const ScalableFamily& family, const Budget& budget) const {
    const double k = meter.knob(family, budget, [&](double x) { return at(x * max_phi); }, tolerance, "EfficientNetRule");
    return at(k * max_phi);
  }
};

static_assert(Shrinker<EfficientNetRule<>>);

}  // namespace hwaware
