// Prediction metrics against hand-computed values.
#include <doctest/doctest.h>

#include <cmath>

#include "hwaware/hw/metrics.hpp"

using namespace hwaware;
using namespace hwaware::hw;

TEST_CASE("RMSE, RMSPE and the shares within ±5/10/15%") {
  const std::vector<double> m = {1.0, 2.0, 4.0, 10.0};
  const std::vector<double> p = {1.04, 2.19, 3.5, 10.0};  // errors: +4%, +9.5%, −12.5%, 0%
  CHECK(rmse(p, m) == doctest::Approx(std::sqrt((0.0016 + 0.0361 + 0.25 + 0) / 4)));
  CHECK(rmspe(p, m) == doctest::Approx(std::sqrt((0.0016 + 0.009025 + 0.015625 + 0) / 4)));
  CHECK(within_fraction(p, m, 0.05) == 0.5);
  CHECK(within_fraction(p, m, 0.10) == 0.75);
  CHECK(within_fraction(p, m, 0.15) == 1.0);
  CHECK_THROWS_AS(rmse({1.0}, m), ShapeError);
  CHECK(rmse({}, {}) == 0.0);
}

TEST_CASE("Spearman: monotone = 1, reversed = −1, ties get average ranks, constant = 0") {
  CHECK(spearman({1, 2, 3, 4}, {10, 20, 30, 1000}) == doctest::Approx(1.0));
  CHECK(spearman({1, 2, 3, 4}, {4, 3, 2, 1}) == doctest::Approx(-1.0));
  // a's ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4): ρ = Σ(ra−m)(rb−m)/√(ΣΣ) with m = 2.5
  const double sab = (-1.5) * (-1.5) + 0 + 0 + 1.5 * 1.5, saa = 2.25 + 0 + 0 + 2.25, sbb = 2.25 + 0.25 + 0.25 + 2.25;
  CHECK(spearman({1, 2, 2, 5}, {1, 2, 3, 4}) == doctest::Approx(sab / std::sqrt(saa * sbb)));
  CHECK(spearman({1, 1, 1}, {1, 2, 3}) == 0.0);
}

TEST_CASE("PredictionReport collects the metrics and prints fit_predictor's JSON keys") {
  const auto r = prediction_report({1.04, 2.19, 3.5, 10.0}, {1.0, 2.0, 4.0, 10.0});
  CHECK(r.n == 4);
  CHECK(r.within_10 == 0.75);
  CHECK(r.spearman == doctest::Approx(1.0));
  const auto j = r.to_json();
  for (const char* key : {"rmse_ms", "rmspe", "within_5", "within_10", "within_15", "spearman", "n_heldout"})
    CHECK(j.contains(key));
  CHECK(j["n_heldout"] == 4);
}

namespace {
struct DoublingPredictor {  // predicts 2 ms per layer
  double predict_ms(const NetDesc& n) const { return 2.0 * double(n.size()); }
  std::vector<double> predict_batch_ms(const std::vector<NetDesc>& b) const {
    std::vector<double> r;
    for (const auto& n : b) r.push_back(predict_ms(n));
    return r;
  }
  std::string name() const { return "doubling"; }
};
}  // namespace

TEST_CASE("evaluate runs any Predictor over measured samples") {
  LatencySample a, b;
  a.layers.resize(1), a.m.median_ms = 2.0;
  b.layers.resize(3), b.m.median_ms = 5.0;
  const auto r = evaluate(DoublingPredictor{}, {&a, &b});
  CHECK(r.n == 2);
  CHECK(r.within_5 == 0.5);
  CHECK(r.rmse_ms == doctest::Approx(std::sqrt(0.5)));
}
