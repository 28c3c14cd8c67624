#pragma once
// SmartScissor's Shrinker policies beside EfficientNet's fixed rule (methods/common/
// compound_scaling.hpp), all choosing a Scaling under a MACs budget so one harness compares them:
// compound shrinking guided by the fitted accuracy model, and shrinking one dimension alone.
#include <array>
#include <cmath>
#include <memory>
#include <string>

#include "hwaware/methods/common/compound_scaling.hpp"
#include "hwaware/methods/common/controller.hpp"
#include "hwaware/methods/common/policies.hpp"
#include "hwaware/methods/smartscissor/accuracy_model.hpp"
#include "hwaware/models/zoo.hpp"

namespace hwaware::smartscissor {

/// The CIFAR-style ResNet of the zoo as a family with three knobs: depth d → max(1, round(d ·
/// base.blocks)) blocks per stage, width w → base.width · w, resolution r → input side round(r ·
/// side). make(Scaling{}) is the base network.
ScalableFamily resnet_family(const models::ResNetShape& base, int64_t side);

/// Compound shrinking with the accuracy model: the budget's MACs fraction ρ is split among the
/// dimensions in proportion to their coefficients C_s(M) (Eq. 2) — depth keeps ρ^(C_d/ΣC), width
/// and resolution (MACs ∝ their square) ρ^(C_s/2ΣC) — scaled by a common factor that is bisected
/// until the built network meets the budget (rounding of blocks and channels).
struct CompoundShrinking {
  std::array<AccuracyCurve, 3> curves;  ///< depth, width, resolution (Eq. 3 fits)
  double tolerance = 1e-3;

  Scaling at(const std::array<double, 3>& share, double phi) const {
    return {std::exp(-phi * share[0]), std::exp(-phi * share[1] / 2), std::exp(-phi * share[2] / 2)};
  }
  Scaling choose(const ScalableFamily& family, const Budget& budget) const;
};

/// Shrinks one dimension alone (the others stay at 1) until the network meets the MACs budget.
struct SingleDimension {
  Dimension dimension = Dimension::resolution;
  double min_multiplier = 0.05;
  double tolerance = 1e-3;

  Scaling at(double m) const {
    Scaling s;
    (dimension == Dimension::depth ? s.depth : dimension == Dimension::width ? s.width : s.resolution) = m;
    return s;
  }
  Scaling choose(const ScalableFamily& family, const Budget& budget) const;
};

static_assert(Shrinker<CompoundShrinking>);
static_assert(Shrinker<SingleDimension>);

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

namespace detail {

inline void require_macs_budget(const Budget& budget, const char* who) {
  budget.validate(who);
  if (budget.unit != Budget::Unit::macs)
    throw Error(std::string(who) + ": chooses under a MACs budget (got a " + budget.unit_name() + " budget)");
}

}  // namespace detail

inline Scaling CompoundShrinking::choose(const ScalableFamily& family, const Budget& budget) const {
  detail::require_macs_budget(budget, "CompoundShrinking");
  const double full = EfficientNetRule::macs(family, Scaling{});
  if (budget.value >= full) return Scaling{};
  const auto c = compound_coefficients(curves, budget.value);
  const double sum = c[0] + c[1] + c[2];
  const std::array<double, 3> share{c[0] / sum, c[1] / sum, c[2] / sum};
  // φ = −ln ρ would meet the budget exactly if MACs followed d·w²·r²; search a range around it.
  const double max_phi = 4.0 * -std::log(budget.value / full) + 1.0;
  const auto ok = [&](double k) { return EfficientNetRule::macs(family, at(share, k * max_phi)) <= budget.value; };
  if (!ok(1.0))
    throw InfeasibleBudget("CompoundShrinking: the budget " + std::to_string(budget.value) +
                           " MACs is below the smallest scaling tried");
  return at(share, bisect_threshold(0.0, 1.0, tolerance, ok) * max_phi);
}

inline Scaling SingleDimension::choose(const ScalableFamily& family, const Budget& budget) const {
  detail::require_macs_budget(budget, "SingleDimension");
  const auto macs_at = [&](double m) { return EfficientNetRule::macs(family, at(m)); };
  if (macs_at(1.0) <= budget.value) return Scaling{};
  if (macs_at(min_multiplier) > budget.value)
    throw InfeasibleBudget(std::string("SingleDimension(") + dimension_name(dimension) + "): the budget " +
                           std::to_string(budget.value) + " MACs is below its smallest network (" +
                           std::to_string(macs_at(min_multiplier)) + " MACs)");
  // The largest multiplier that meets the budget: bisect on 1 − m so that "ok" grows with the knob.
  const double span = 1.0 - min_multiplier;
  const auto ok = [&](double k) { return macs_at(1.0 - k * span) <= budget.value; };
  return at(1.0 - bisect_threshold(0.0, 1.0, tolerance, ok) * span);
}

}  // namespace hwaware::smartscissor
