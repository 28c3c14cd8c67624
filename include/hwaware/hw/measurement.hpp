#pragma once
// What a device reports for one network: robust statistics of its per-run times. Plain data and
// plain statistics, so predictors and methods can use it without the device that produced it.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace hwaware::hw {

/// Statistics of repeated timings of one network on a device.
struct Measurement {
  double median_ms = 0;
  double iqr_ms = 0;  // interquartile range of the retained samples
  double cv = 0;      // std / mean of the retained samples
  double min_ms = 0;
  int runs = 0;       // retained samples
  int rejected = 0;   // outliers dropped (beyond median ± 3·MAD)
};

/// Median of `v` (the mean of the middle two for an even count; 0 when empty).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// Robust statistics of per-run times (ms): median after dropping outliers beyond k·MAD.
inline Measurement summarize(std::vector<double> t, double reject_mads) {
  Measurement m;
  if (t.empty()) return m;
  const double med = median(t);
  std::vector<double> dev(t.size());
  for (size_t i = 0; i < t.size(); ++i) dev[i] = std::abs(t[i] - med);
  const double mad = 1.4826 * median(dev);
  std::vector<double> kept;
  for (double x : t)
    if (mad == 0 || std::abs(x - med) <= reject_mads * mad) kept.push_back(x);
  std::sort(kept.begin(), kept.end());
  m.runs = static_cast<int>(kept.size());
  m.rejected = static_cast<int>(t.size() - kept.size());
  m.median_ms = median(kept);
  m.min_ms = kept.front();
  auto quantile = [&](double q) {
    const double pos = q * double(kept.size() - 1);
    const size_t lo = size_t(pos);
    const double f = pos - double(lo);
    return lo + 1 < kept.size() ? kept[lo] * (1 - f) + kept[lo + 1] * f : kept[lo];
  };
  m.iqr_ms = quantile(0.75) - quantile(0.25);
  const double mean = std::accumulate(kept.begin(), kept.end(), 0.0) / double(kept.size());
  double var = 0;
  for (double x : kept) var += (x - mean) * (x - mean);
  m.cv = kept.size() > 1 ? std::sqrt(var / double(kept.size() - 1)) / mean : 0;
  return m;
}

}  // namespace hwaware::hw
