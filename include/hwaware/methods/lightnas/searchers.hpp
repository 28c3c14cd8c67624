#pragma once
// The Searcher policies of the search space (methods/common/policies.hpp): LightNAS, one search
// that learns λ, and FBNet's way to the same target, a sweep of searches with a fixed λ — the
// baseline whose cost LightNAS removes (about ten searches per target, per the LightNAS paper).
// Both take the cost model C and the device's measure, so they run in the same harness.
#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <vector>

#include "hwaware/methods/common/policies.hpp"
#include "hwaware/methods/lightnas/latency_model.hpp"
#include "hwaware/methods/lightnas/search.hpp"

namespace hwaware::lightnas {

using EpochFn = std::function<void(const SearchEpoch&)>;

/// LightNAS: one search against cfg.target, calibrated and landed by `measure` when given.
/// @tparam C a DifferentiableCost in the unit of the target (the one-hot MLP by default).
template <DifferentiableCost C = OneHotMlpCost>
class LightNas {
 public:
  using Space = SearchSpace;
  using Result = SearchResult;

  LightNas(const C& cost, SearchConfig cfg, MeasureFn measure = {}, EpochFn on_epoch = {})
      : cost_(cost), cfg_(std::move(cfg)), measure_(std::move(measure)), on_epoch_(std::move(on_epoch)) {}

  Result search(const Space& space, const Dataset& train) {
    return lightnas::search(space, cost_, train, cfg_, on_epoch_, measure_);
  }

 private:
  const C& cost_;
  SearchConfig cfg_;
  MeasureFn measure_;
  EpochFn on_epoch_;
};

/// FBNet's sweep: searches with Tradeoff::fixed_log at λ, λ multiplied (or divided) by `factor`
/// while every search lands on one side of T, then bisected in log λ between the two sides,
/// until a search's argmax is within ±band of T or max_searches ran — measured when a measure is
/// given, else by the cost. No landing edits: what is judged is the search's own result, as for
/// LightNAS's `searched`.
template <DifferentiableCost C = OneHotMlpCost>
class FbnetSweep {
 public:
  using Space = SearchSpace;
  struct Options {
    double initial_lambda = 0.3, factor = 4;
    int max_searches = 10;
  };
  struct Attempt {
    double lambda = 0;
    SearchResult result;
  };
  struct Result {
    Architecture architecture;      ///< the last search's (the landed one if any landed)
    std::optional<double> measured;
    bool landed = false;
    double seconds = 0;             ///< all searches together
    std::vector<SearchEpoch> history;  ///< the last search's epochs
    std::vector<Attempt> attempts;
  };

  /// Sees each finished search (an interrupted sweep is resumed from these).
  using AttemptFn = std::function<void(const Attempt&)>;

  FbnetSweep(const C& cost, SearchConfig cfg, MeasureFn measure, Options o = {}, EpochFn on_epoch = {})
      : cost_(cost), cfg_(std::move(cfg)), measure_(std::move(measure)), o_(o), on_epoch_(std::move(on_epoch)) {
    cfg_.tradeoff = SearchConfig::Tradeoff::fixed_log;
    cfg_.landing_edits = 0;
    if (!(o_.initial_lambda > 0 && o_.factor > 1 && o_.max_searches >= 1))
      throw Error("FbnetSweep: needs λ > 0, factor > 1 and max_searches >= 1");
  }

  Result search(const Space& space, const Dataset& train);

  /// The searches an interrupted sweep finished, in order: the next search() replays them
  /// (their λ must be the ones the sweep would choose) instead of running them again.
  void resume(std::vector<Attempt> done) { done_ = std::move(done); }
  void on_attempt(AttemptFn f) { on_attempt_ = std::move(f); }

 private:
  const C& cost_;
  SearchConfig cfg_;
  MeasureFn measure_;
  Options o_;
  EpochFn on_epoch_;
  AttemptFn on_attempt_;
  std::vector<Attempt> done_;
};

static_assert(Searcher<LightNas<OpTableCost>>);
static_assert(Searcher<FbnetSweep<OpTableCost>>);

// ---------------------------------------------------------------------------------------------
// Implementation

template <DifferentiableCost C>
typename FbnetSweep<C>::Result FbnetSweep<C>::search(const Space& space, const Dataset& train) {
  Result r;
  double lambda = o_.initial_lambda;
  std::optional<double> too_small, too_large;  // λ that landed over T, under T
  for (int k = 0; k < o_.max_searches && !r.landed; ++k) {
    SearchConfig cfg = cfg_;
    cfg.fixed_lambda = lambda;
    SearchResult s;
    if (size_t(k) < done_.size()) {
      if (std::abs(done_[size_t(k)].lambda / lambda - 1) > 1e-9)
        throw Error("FbnetSweep::resume: search " + std::to_string(k) + " ran at λ " + std::to_string(done_[size_t(k)].lambda) +
                    ", the sweep would choose " + std::to_string(lambda) + " (another target or options?)");
      s = done_[size_t(k)].result;
    } else {
      s = lightnas::search(space, cost_, train, cfg, on_epoch_, measure_);
      if (on_attempt_) on_attempt_({lambda, s});
    }
    const double figure = s.measured.value_or(s.cost);
    r.seconds += s.seconds;
    r.architecture = s.architecture, r.measured = s.measured, r.history = s.history;
    r.landed = std::abs(figure / cfg.target - 1) <= cfg.band;
    r.attempts.push_back({lambda, std::move(s)});
    if (figure > cfg.target) too_small = lambda;
    else too_large = lambda;
    if (too_small && too_large) lambda = std::sqrt(*too_small * *too_large);
    else lambda = too_small ? lambda * o_.factor : lambda / o_.factor;
  }
  return r;
}

}  // namespace hwaware::lightnas
