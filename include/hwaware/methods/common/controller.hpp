#pragma once
// The budget controller: turns one scalar knob (a pruning ratio, a shrink factor) into an
// architecture that meets a budget on the device. The knob runs over [0, 1], larger = smaller
// network, and the caller supplies what an architecture at a knob is predicted and measured to
// take. The controller:
//   - bisects the knob against the predictor scaled by a measured calibration (measured /
//     predicted), aiming under the budget by `aim` when a device judges (a margin for its noise);
//   - retargets: keeps the knob while the architecture's latency stays inside a band under the
//     aim (an architecture that flips on every check costs accuracy), else bisects again,
//     recalibrating on each new measurement;
//   - guarantees: raises the knob step by step until the judge (the device) accepts.
#include <algorithm>
#include <functional>
#include <optional>
#include <vector>

namespace hwaware {

/// The bisection of a bracket already judged (ok(hi), not ok(lo)): stops when `same(lo, hi)`
/// and judges no midpoint `same` as an end (knobs that build one network need one judgement,
/// which on a device is a measurement). Returns hi.
template <class Ok, class Same>
double bisect_bracket(double lo, double hi, double tolerance, Ok&& ok, Same&& same) {
  while (hi - lo > tolerance && !same(lo, hi)) {
    const double mid = 0.5 * (lo + hi);
    if (same(mid, hi))
      hi = mid;
    else if (same(mid, lo))
      lo = mid;
    else
      (ok(mid) ? hi : lo) = mid;
  }
  return hi;
}

/// The smallest x in [lo, hi] (to `tolerance`) with ok(x), for ok monotone (false below a
/// threshold, true above). Returns lo when ok(lo), hi when no point in between passes.
template <class Ok>
double bisect_threshold(double lo, double hi, double tolerance, Ok&& ok) {
  if (ok(lo)) return lo;
  return bisect_bracket(lo, hi, tolerance, ok, [](double, double) { return false; });
}

struct ControlOptions {
  double tolerance = 0.01;     // bisection resolution of the knob
  double aim = 0.95;           // with a device, bisect for aim·T: room for measurement noise
  double band = 0.95;          // keep the knob while latency ∈ [band·aim·T, aim·T]
  int calibration_steps = 2;   // measured re-bisections per retarget (0: never measure)
  double guarantee_step = 0.01;
  int max_guarantee_steps = 50;
};

class BudgetController {
 public:
  using Metric = std::function<double(double knob)>;  // the architecture at a knob → the budget's unit (ms, MACs)

  /// `measured`: a device judges the result (aim below T); otherwise predictions are final.
  BudgetController(double budget, ControlOptions o, bool measured)
      : budget_(budget), opt_(o), target_(measured ? o.aim * budget : budget) {}

  double budget() const { return budget_; }
  /// What bisection aims at: aim·T with a device, T without.
  double target() const { return target_; }
  const ControlOptions& options() const { return opt_; }

  /// measured / predicted of the last calibration (1 before any).
  double scale() const { return scale_; }
  void set_scale(double s) { scale_ = s; }
  void calibrate(double measured, double predicted) {
    if (predicted > 0 && measured > 0) scale_ = measured / predicted;
  }
  double calibrated(double predicted) const { return scale_ * predicted; }
  bool in_band(double ms) const { return ms <= target_ && ms >= opt_.band * target_; }

  /// Smallest knob whose calibrated prediction meets `within` (default: the target).
  double bisect(const Metric& predicted_at, std::optional<double> within = std::nullopt) const {
    const double limit = within.value_or(target_);
    return bisect_threshold(0.0, 1.0, opt_.tolerance, [&](double k) { return calibrated(predicted_at(k)) <= limit; });
  }

  /// One retarget: the knob stays while its architecture's latency (calibrated prediction, or
  /// with `measured_at` the device's figure, recalibrating on it) is in the band; otherwise it
  /// is bisected again — with a device up to calibration_steps times. Returns the last figure.
  std::optional<double> retarget(double& knob, const Metric& predicted_at, const Metric* measured_at = nullptr) {
    const int rounds = measured_at ? opt_.calibration_steps : 1;
    std::optional<double> last;
    for (int c = 0; c < rounds; ++c) {
      const double predicted = predicted_at(knob);
      if (measured_at) last = (*measured_at)(knob), calibrate(*last, predicted);
      if (in_band(calibrated(predicted))) break;
      knob = bisect(predicted_at);
    }
    return last;
  }

  struct Guarantee {
    bool met = false;
    int steps = 0;  // knob raises
  };
  /// Raises the knob by guarantee_step until `judge(knob)` accepts (at most max_guarantee_steps
  /// raises, never past 1). `same(a, b)`: the knobs select one architecture (not judged again).
  Guarantee guarantee(double& knob, const std::function<bool(double)>& judge,
                      const std::function<bool(double, double)>& same) const {
    Guarantee g;
    g.met = judge(knob);
    double judged = knob;
    while (!g.met && knob < 1.0 && g.steps < opt_.max_guarantee_steps) {
      knob = std::min(1.0, knob + opt_.guarantee_step);
      ++g.steps;
      if (same(knob, judged)) continue;
      judged = knob;
      g.met = judge(knob);
    }
    return g;
  }

 private:
  double budget_;
  ControlOptions opt_;
  double target_;
  double scale_ = 1;
};

}  // namespace hwaware
