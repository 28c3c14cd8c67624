#pragma once
// LightNAS's learned trade-off (Luo et al., TCAD 2022, Eq. 5–6): the search minimises
// L(w, α) + λ·(LAT(α)/T − 1) and raises λ by gradient ascent, λ ← λ + η·(LAT/T − 1), so a single
// search ends on the target instead of a sweep over fixed λ. The authors' safeguards: λ starts at
// 0, is reset to 0 when its sign disagrees with the constraint, and late in the search α's
// learning rate is scaled by |LAT/T − 1| once LAT is near T.
#include <cmath>
#include <string>

#include "hwaware/core/error.hpp"

namespace hwaware::lightnas {

class LagrangeMultiplier {
 public:
  struct Options {
    double lr = 5e-4;    ///< η (the authors')
    double near = 0.05;  ///< |LAT/T − 1| under which α's learning rate is damped late in the search
  };

  LagrangeMultiplier() : LagrangeMultiplier(Options{}) {}
  explicit LagrangeMultiplier(Options o) : o_(o) {
    if (!(o_.lr > 0) || !(o_.near > 0)) throw Error("LagrangeMultiplier: lr and near must be positive");
  }

  double value() const { return lambda_; }
  void set(double lambda) { lambda_ = lambda; }

  /// One ascent step with the cost `lat` of the current (argmax) architecture and the target.
  /// Returns the new λ. Throws Error for a non-positive target or a non-finite cost.
  double update(double lat, double target) {
    if (!(target > 0) || !std::isfinite(lat))
      throw Error("LagrangeMultiplier: needs a positive target and a finite cost (got " + std::to_string(lat) + " / " +
                  std::to_string(target) + ")");
    const double violation = lat / target - 1.0;
    lambda_ += o_.lr * violation;
    if ((lambda_ > 0 && violation < 0) || (lambda_ < 0 && violation > 0)) lambda_ = 0;  // sign disagrees
    return lambda_;
  }

  /// The factor on α's learning rate: |LAT/T − 1| late in the search once within `near`, else 1.
  double alpha_lr_scale(double lat, double target, bool late) const {
    const double v = std::abs(lat / target - 1.0);
    return late && v < o_.near ? v : 1.0;
  }

 private:
  Options o_;
  double lambda_ = 0;
};

}  // namespace hwaware::lightnas
