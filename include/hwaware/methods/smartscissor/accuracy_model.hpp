#pragma once
// SmartScissor's accuracy model (Kong et al., ICCAD 2022): shrinking one dimension s (depth, width
// or resolution) to M MACs costs accuracy along A_s(M) = a_s (M − M0)² + b_s (M − M0) + A0 (Eq. 3),
// fitted from a few short trainings; for a budget M the drops ΔA_s(M) = A0 − A_s(M) (Eq. 1) give
// the compound coefficients C_s(M) = (ΔA_d·ΔA_w·ΔA_r)^(1/3) / ΔA_s (Eq. 2): a dimension that loses
// little accuracy gets a large coefficient, i.e. takes a large share of the shrinking.
#include <Eigen/Dense>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"

namespace hwaware::smartscissor {

enum class Dimension { depth, width, resolution };
inline constexpr std::array<Dimension, 3> kDimensions{Dimension::depth, Dimension::width, Dimension::resolution};

inline const char* dimension_name(Dimension d) {
  switch (d) {
    case Dimension::depth: return "depth";
    case Dimension::width: return "width";
    case Dimension::resolution: return "resolution";
  }
  return "?";
}

/// One short training of a network shrunk along one dimension: its MACs and its accuracy.
struct AccuracyPoint {
  double macs = 0, accuracy = 0;
};

/// Eq. 3 for one dimension, anchored at the unshrunk network (M0, A0).
struct AccuracyCurve {
  double a = 0, b = 0;    ///< per (M/M0 − 1)² and per (M/M0 − 1): the fit works in fractions of M0
  double m0 = 1, a0 = 0;
  double rmse = 0;        ///< of the fit on the points it was fitted to (0 for an exact fit)

  double accuracy(double macs) const {
    const double x = macs / m0 - 1.0;
    return a * x * x + b * x + a0;
  }
  /// ΔA_s(M) = A0 − A_s(M) (Eq. 1).
  double drop(double macs) const { return a0 - accuracy(macs); }
};

/// Least-squares fit of Eq. 3 through (m0, a0) to `points` (at least two with M ≠ M0, the anchor
/// being exact). Throws Error when the points cannot determine both coefficients.
AccuracyCurve fit_accuracy_curve(double m0, double a0, const std::vector<AccuracyPoint>& points);

/// C_s(M) of Eq. 2 for depth, width and resolution, in that order. Drops are floored at
/// `min_drop` (a dimension that gains accuracy when shrunk still gets a finite coefficient).
std::array<double, 3> compound_coefficients(const std::array<AccuracyCurve, 3>& curves, double macs,
                                            double min_drop = 1e-4);

// ---------------------------------------------------------------------------------------------
// Implementation

inline AccuracyCurve fit_accuracy_curve(double m0, double a0, const std::vector<AccuracyPoint>& points) {
  if (!(m0 > 0)) throw Error("fit_accuracy_curve: M0 must be positive (got " + std::to_string(m0) + ")");
  Eigen::MatrixXd x(Eigen::Index(points.size()), 2);
  Eigen::VectorXd y(Eigen::Index(points.size()));
  for (size_t i = 0; i < points.size(); ++i) {
    const double d = points[i].macs / m0 - 1.0;
    x(Eigen::Index(i), 0) = d * d;
    x(Eigen::Index(i), 1) = d;
    y(Eigen::Index(i)) = points[i].accuracy - a0;
  }
  const auto qr = x.colPivHouseholderQr();
  if (points.size() < 2 || qr.rank() < 2)
    throw Error("fit_accuracy_curve: needs at least two points at distinct MACs other than M0 (got " +
                std::to_string(points.size()) + " points)");
  const Eigen::Vector2d c = qr.solve(y);
  AccuracyCurve curve{c(0), c(1), m0, a0, 0.0};
  double se = 0;
  for (const auto& p : points) se += std::pow(curve.accuracy(p.macs) - p.accuracy, 2);
  curve.rmse = std::sqrt(se / double(points.size()));
  return curve;
}

inline std::array<double, 3> compound_coefficients(const std::array<AccuracyCurve, 3>& curves, double macs,
                                                   double min_drop) {
  if (!(min_drop > 0)) throw Error("compound_coefficients: min_drop must be positive");
  std::array<double, 3> drop{};
  double log_mean = 0;
  for (size_t s = 0; s < 3; ++s) {
    drop[s] = std::max(curves[s].drop(macs), min_drop);
    log_mean += std::log(drop[s]) / 3.0;
  }
  const double geo = std::exp(log_mean);
  return {geo / drop[0], geo / drop[1], geo / drop[2]};
}

}  // namespace hwaware::smartscissor
