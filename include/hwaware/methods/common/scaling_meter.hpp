#pragma once
// What a Shrinker's choice is judged by. A shrinker maps a knob k ∈ [0, 1] (0: the base network,
// larger: smaller) to a Scaling; its meter picks the smallest knob that meets the budget:
//   - MacsMeter: MACs counted from the description, exactly (bisection);
//   - DeviceMeter: a latency budget met on the device — the predictor, calibrated by the device
//     (measured / predicted, ZeroBN's BudgetController), proposes a knob and the device bisects
//     from there: at batch 1 a small network's time is mostly fixed costs no proportional
//     predictor sees, so a calibrated proposal alone can land far under the budget. `extra_ms` is
//     what the pipeline spends besides the network (DIC's box predictor and crop), measured by
//     the caller.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hwaware/hw/device_concept.hpp"
#include "hwaware/hw/measured_device.hpp"
#include "hwaware/hw/predictor_concept.hpp"
#include "hwaware/methods/common/budget.hpp"
#include "hwaware/methods/common/controller.hpp"
#include "hwaware/methods/common/policies.hpp"
#include "hwaware/nn/module.hpp"

namespace hwaware {

/// The scaling a shrinker gives a knob (0: the base network, 1: its smallest).
using KnobFn = std::function<Scaling(double knob)>;

/// MACs of the family at a scaling, per image, on its scaled input.
inline double scaling_macs(const ScalableFamily& f, const Scaling& s) {
  return double(nn::total_macs(f.make(s)->describe(f.chw_at(s.resolution))));
}

/// Whether two scalings build the same network as far as a budget can tell (the same input and
/// MACs: scalings whose blocks and channels round alike), so it is judged or trained once.
inline bool same_network(const ScalableFamily& f, const Scaling& x, const Scaling& y) {
  return f.chw_at(x.resolution) == f.chw_at(y.resolution) && scaling_macs(f, x) == scaling_macs(f, y);
}

/// ScalingMeter: for `const M& m`, `m.knob(family, budget, at, tolerance, who)` → the smallest
/// knob whose scaling meets `budget` (InfeasibleBudget when even knob 1 misses; Error, naming
/// `who`, for a budget unit the meter does not judge); `m.fraction(family, budget)` → the budget
/// as a fraction of the base network in the meter's unit (what Eq. 2 of a compound rule reads).
template <class M>
concept ScalingMeter = requires(const M& m, const ScalableFamily& f, const Budget& b, const KnobFn& at) {
  { m.knob(f, b, at, 1e-3, std::string()) } -> std::same_as<double>;
  { m.fraction(f, b) } -> std::same_as<double>;
};

struct MacsMeter {
  double knob(const ScalableFamily& f, const Budget& budget, const KnobFn& at, double tolerance,
              const std::string& who) const {
    require(budget, who);
    const auto ok = [&](double k) { return scaling_macs(f, at(k)) <= budget.value; };
    if (ok(0.0)) return 0.0;
    if (!ok(1.0))
      throw InfeasibleBudget(who + ": the budget " + std::to_string(budget.value) +
                             " MACs is below its smallest network (" + std::to_string(scaling_macs(f, at(1.0))) + " MACs)");
    return bisect_threshold(0.0, 1.0, tolerance, ok);
  }
  double fraction(const ScalableFamily& f, const Budget& budget) const {
    require(budget, "MacsMeter");
    return budget.value / scaling_macs(f, Scaling{});
  }

 private:
  static void require(const Budget& budget, const std::string& who) {
    budget.validate(who);
    if (budget.unit != Budget::Unit::macs)
      throw Error(who + ": chooses under a MACs budget with a MacsMeter (got a " + budget.unit_name() +
                  " budget; a DeviceMeter judges latency)");
  }
};

/// Latency budgets (absolute, or a fraction of the base network measured here) met on `device`,
/// each network measured on its own input shape beside the device's reference (in one session
/// when the device can: hw::ShapedInterleavingDevice). The knob's resolution is the controller's
/// (ControlOptions::tolerance), not the shrinker's `tolerance`: a device's noise makes a finer one
/// meaningless. Holds the predictor and the device by reference: both must outlive the meter.
/// The device judges every step of the bisection at aim·T (ControlOptions::aim: room for its
/// noise; knob 1 at T), about log2(1/tolerance) networks, each judgement one to three figures.
/// Of the ControlOptions only tolerance and aim are read.
template <hw::Predictor P, hw::Device D>
class DeviceMeter {
 public:
  static constexpr ControlOptions kOptions{};
  DeviceMeter(const P& predictor, hw::MeasuredDevice<D>& device, double extra_ms = 0, ControlOptions o = kOptions)
      : predictor_(&predictor), device_(&device), extra_ms_(extra_ms), o_(o) {
    if (!(extra_ms >= 0)) throw Error("DeviceMeter: extra_ms must be >= 0 (got " + std::to_string(extra_ms) + ")");
  }
  DeviceMeter(const P&&, hw::MeasuredDevice<D>&, double = 0, ControlOptions = kOptions) = delete;  // would dangle

  double knob(const ScalableFamily& f, const Budget& budget, const KnobFn& at, double /*tolerance*/,
              const std::string& who) const {
    const double net_budget = network_budget(budget, figure(f, Scaling{}), who);
    BudgetController c(net_budget, o_, true);
    const auto predicted_at = [&](double k) {
      const Scaling s = at(k);
      return predictor_->predict_ms(f.make(s)->describe(f.chw_at(s.resolution)));
    };
    const auto judge = [&](double k, double limit) {
      const Scaling s = at(k);
      auto net = f.make(s);
      return device_->judge(*net, key(f, s), limit, f.chw_at(s.resolution)).met;
    };
    if (judge(0.0, net_budget)) return 0.0;
    if (!judge(1.0, net_budget))
      throw InfeasibleBudget(who + ": the budget " + std::to_string(net_budget + extra_ms_) +
                             " ms is below its smallest network on the device (" + std::to_string(figure(f, at(1.0))) +
                             " ms + " + std::to_string(extra_ms_) + " ms besides the network)");
    c.calibrate(figure(f, at(0.0)), predicted_at(0.0));
    const double proposal = c.bisect(predicted_at);
    const auto same = [&](double a, double b) { return same_network(f, at(a), at(b)); };
    // The device accepts hi, not lo; the proposal splits the bracket first.
    const auto ok = [&](double k) { return judge(k, c.target()); };
    double lo = 0.0, hi = 1.0;
    if (proposal > lo && proposal < hi) (ok(proposal) ? hi : lo) = proposal;
    return bisect_bracket(lo, hi, o_.tolerance, ok, same);
  }

  double fraction(const ScalableFamily& f, const Budget& budget) const {
    const double base = figure(f, Scaling{});
    return network_budget(budget, base, "DeviceMeter") / base;
  }

  /// The network of a scaling on the device: the median of its figures (extra_ms not included).
  double figure(const ScalableFamily& f, const Scaling& s) const {
    auto net = f.make(s);
    return device_->measure(*net, key(f, s), f.chw_at(s.resolution)).median_ms;
  }
  double extra_ms() const { return extra_ms_; }

 private:
  /// What the network may take: the budget (a fraction: of the base network, `base_ms`, with the
  /// extra) less the extra.
  double network_budget(const Budget& budget, double base_ms, const std::string& who) const {
    budget.validate(who);
    if (!budget.on_device())
      throw Error(who + ": a DeviceMeter judges latency budgets (got a " + budget.unit_name() + " budget)");
    const double t = budget.absolute(base_ms + extra_ms_) - extra_ms_;
    if (!(t > 0))
      throw InfeasibleBudget(who + ": the budget leaves nothing for the network after " + std::to_string(extra_ms_) +
                             " ms besides it");
    return t;
  }
  static std::vector<int64_t> key(const ScalableFamily& f, const Scaling& s) {
    return {std::llround(s.depth * 1e4), std::llround(s.width * 1e4), f.chw_at(s.resolution)[1]};
  }

  const P* predictor_;
  hw::MeasuredDevice<D>* device_;
  double extra_ms_;
  ControlOptions o_;
};

}  // namespace hwaware
