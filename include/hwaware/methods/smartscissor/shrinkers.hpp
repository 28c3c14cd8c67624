#pragma once
// SmartScissor's Shrinker policies beside EfficientNet's fixed rule (methods/common/
// compound_scaling.hpp), all choosing a Scaling under a budget their meter judges (MACs exactly,
// or latency on the device: methods/common/scaling_meter.hpp) so one harness compares them:
// compound shrinking guided by the fitted accuracy model, and shrinking one dimension alone.
#include <array>
#include <cmath>
#include <memory>
#include <string>

#include "hwaware/methods/common/compound_scaling.hpp"
#include "hwaware/methods/common/controller.hpp"
#include "hwaware/methods/common/policies.hpp"
#include "hwaware/methods/common/scaling_meter.hpp"
#include "hwaware/methods/smartscissor/accuracy_model.hpp"
#include "hwaware/models/zoo.hpp"

namespace hwaware::smartscissor {

/// The CIFAR-style ResNet of the zoo as a family with three knobs: depth d → max(1, round(d ·
/// base.blocks)) blocks per stage, width w → base.width · w, resolution r → input side round(r ·
/// side). make(Scaling{}) is the base network.
ScalableFamily resnet_family(const models::ResNetShape& base, int64_t side);

/// Compound shrinking with the accuracy model: the budget's MACs fraction ρ is split among the
/// dimensions in proportion to their coefficients C_s(M) (Eq. 2) — depth keeps ρ^(C_d/ΣC), width
/// and resolution (MACs ∝ their square) ρ^(C_s/2ΣC) — scaled by a common factor that the meter
/// chooses until the built network meets the budget (rounding of blocks and channels), then, the
/// depth fixed, relaxes width and resolution into what the depth's rounding left unused. Under a
/// latency budget M is first the MACs at the budget's latency fraction, then the MACs of that
/// first choice (the coefficients read MACs, Eq. 1–3).
template <ScalingMeter Meter = MacsMeter>
struct CompoundShrinking {
  std::array<AccuracyCurve, 3> curves;  ///< depth, width, resolution (Eq. 3 fits)
  double tolerance = 1e-3;
  Meter meter{};

  Scaling at(const std::array<double, 3>& share, double phi) const {
    return {std::exp(-phi * share[0]), std::exp(-phi * share[1] / 2), std::exp(-phi * share[2] / 2)};
  }
  Scaling choose(const ScalableFamily& family, const Budget& budget) const;
};

/// Shrinks one dimension alone (the others stay at 1) until the network meets the budget.
template <ScalingMeter Meter = MacsMeter>
struct SingleDimension {
  Dimension dimension = Dimension::resolution;
  double min_multiplier = 0.05;
  double tolerance = 1e-3;
  Meter meter{};

  Scaling at(double m) const {
    Scaling s;
    (dimension == Dimension::depth ? s.depth : dimension == Dimension::width ? s.width : s.resolution) = m;
    return s;
  }
  Scaling choose(const ScalableFamily& family, const Budget& budget) const;
};

static_assert(Shrinker<CompoundShrinking<>>);
static_assert(Shrinker<SingleDimension<>>);

// ---------------------------------------------------------------------------------------------
// Implementation

inline ScalableFamily resnet_family(const models::ResNetShape& base, int64_t side) {
  ScalableFamily f;
  f.base_chw = {base.in_channels, side, side};
  f.make = [base](const Scaling& s) -> std::unique_ptr<nn::Module> {
    models::ResNetShape shape = base;
    shape.blocks = std::max<int64_t>(1, std::llround(s.depth * double(base.blocks)));
    shape.width = base.width * s.width;
    return models::scalable_resnet(shape);
  };
  return f;
}

template <ScalingMeter Meter>
Scaling CompoundShrinking<Meter>::choose(const ScalableFamily& family, const Budget& budget) const {
  const double full = scaling_macs(family, Scaling{});
  const double rho = meter.fraction(family, budget);
  if (rho >= 1) return Scaling{};
  // φ = −ln ρ would meet the budget exactly if MACs followed d·w²·r²; search a range around it.
  const double max_phi = 4.0 * -std::log(rho) + 1.0;
  double m = rho * full;
  Scaling s;
  for (int pass = 0; pass < (budget.unit == Budget::Unit::macs ? 1 : 2); ++pass) {
    const auto c = compound_coefficients(curves, m);
    const double sum = c[0] + c[1] + c[2];
    const std::array<double, 3> share{c[0] / sum, c[1] / sum, c[2] / sum};
    const double k = meter.knob(family, budget, [&](double x) { return at(share, x * max_phi); }, tolerance,
                                "CompoundShrinking");
    s = at(share, k * max_phi);
    // Depth moves in whole blocks, so its rounding can leave much of the budget unused (a 70%
    // budget met at 50%): with the depth fixed, width and resolution are relaxed as far as the
    // budget allows, along the same shares.
    const auto relaxed = [&](double x) {
      Scaling t = at(share, x * k * max_phi);
      t.depth = s.depth;
      return t;
    };
    s = relaxed(meter.knob(family, budget, relaxed, tolerance, "CompoundShrinking"));
    m = scaling_macs(family, s);
  }
  return s;
}

template <ScalingMeter Meter>
Scaling SingleDimension<Meter>::choose(const ScalableFamily& family, const Budget& budget) const {
  // Knob k ↦ multiplier 1 − k·(1 − min_multiplier): the knob grows as the network shrinks.
  const double span = 1.0 - min_multiplier;
  const std::string who = std::string("SingleDimension(") + dimension_name(dimension) + ")";
  return at(1.0 - meter.knob(family, budget, [&](double k) { return at(1.0 - k * span); }, tolerance, who) * span);
}

}  // namespace hwaware::smartscissor
