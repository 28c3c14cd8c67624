#pragma once
// Accuracy of latency predictions against measurements, with nn-Meter's metrics: RMSE (ms),
// RMSPE, the share of predictions within ±5/10/15% — plus Spearman's rank correlation, which is
// what a search that only compares candidates needs.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/hw/predictor_concept.hpp"

namespace hwaware::hw {

/// Root mean squared error, in the units of the inputs (ms).
inline double rmse(const std::vector<double>& predicted, const std::vector<double>& measured);
/// Root mean squared relative error sqrt(mean(((p − m)/m)²)), a fraction (0.1 = 10%).
inline double rmspe(const std::vector<double>& predicted, const std::vector<double>& measured);
/// Share (0–1) of predictions with |p − m| ≤ tolerance · m.
inline double within_fraction(const std::vector<double>& predicted, const std::vector<double>& measured,
                              double tolerance);
/// Spearman's rank correlation (ties get their average rank); 0 when either side is constant.
inline double spearman(const std::vector<double>& a, const std::vector<double>& b);

/// All metrics of one predictor on one held-out set.
struct PredictionReport {
  size_t n = 0;
  double rmse_ms = 0, rmspe = 0;
  double within_5 = 0, within_10 = 0, within_15 = 0;  // fractions
  double spearman = 0;

  /// Keys as examples/fit_predictor prints them per predictor.
  nlohmann::json to_json() const {
    return {{"rmse_ms", rmse_ms},     {"rmspe", rmspe},       {"within_5", within_5}, {"within_10", within_10},
            {"within_15", within_15}, {"spearman", spearman}, {"n_heldout", n}};
  }
};

/// The report for predictions against measurements (same length, measurements > 0).
inline PredictionReport prediction_report(const std::vector<double>& predicted, const std::vector<double>& measured) {
  PredictionReport r;
  r.n = measured.size();
  r.rmse_ms = rmse(predicted, measured);
  r.rmspe = rmspe(predicted, measured);
  r.within_5 = within_fraction(predicted, measured, 0.05);
  r.within_10 = within_fraction(predicted, measured, 0.10);
  r.within_15 = within_fraction(predicted, measured, 0.15);
  r.spearman = spearman(predicted, measured);
  return r;
}

/// Predicts every sample's network (batched) and reports against the measured medians.
template <Predictor P>
PredictionReport evaluate(const P& predictor, const std::vector<const LatencySample*>& samples) {
  std::vector<NetDesc> nets;
  std::vector<double> measured;
  nets.reserve(samples.size());
  for (const LatencySample* s : samples) nets.push_back(s->layers), measured.push_back(s->m.median_ms);
  return prediction_report(predictor.predict_batch_ms(nets), measured);
}

// ---- implementation ----------------------------------------------------------------------------

namespace detail {
inline void check_same_length(const std::vector<double>& a, const std::vector<double>& b, const char* what) {
  if (a.size() != b.size())
    throw ShapeError(std::string(what) + ": " + std::to_string(a.size()) + " predictions but " +
                     std::to_string(b.size()) + " measurements");
}
inline std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> rank(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double r = 0.5 * double(i + j) + 1.0;  // ranks from 1
    for (size_t k = i; k <= j; ++k) rank[idx[k]] = r;
    i = j + 1;
  }
  return rank;
}
}  // namespace detail

inline double rmse(const std::vector<double>& p, const std::vector<double>& m) {
  detail::check_same_length(p, m, "rmse");
  if (m.empty()) return 0;
  double s = 0;
  for (size_t i = 0; i < m.size(); ++i) s += (p[i] - m[i]) * (p[i] - m[i]);
  return std::sqrt(s / double(m.size()));
}

inline double rmspe(const std::vector<double>& p, const std::vector<double>& m) {
  detail::check_same_length(p, m, "rmspe");
  if (m.empty()) return 0;
  double s = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    const double e = (p[i] - m[i]) / m[i];
    s += e * e;
  }
  return std::sqrt(s / double(m.size()));
}

inline double within_fraction(const std::vector<double>& p, const std::vector<double>& m, double tolerance) {
  detail::check_same_length(p, m, "within_fraction");
  if (m.empty()) return 0;
  size_t k = 0;
  for (size_t i = 0; i < m.size(); ++i) k += std::abs(p[i] - m[i]) <= tolerance * std::abs(m[i]);
  return double(k) / double(m.size());
}

inline double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  detail::check_same_length(a, b, "spearman");
  if (a.size() < 2) return 0;
  const auto ra = detail::average_ranks(a), rb = detail::average_ranks(b);
  const double mean = 0.5 * double(a.size() + 1);
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) * (ra[i] - mean);
    sbb += (rb[i] - mean) * (rb[i] - mean);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

}  // namespace hwaware::hw
