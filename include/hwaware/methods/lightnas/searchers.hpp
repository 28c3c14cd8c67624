#pragma once
// The Searcher policies of the search space (methods/common/policies.hpp): LightNAS, one search
// that learns λ, and FBNet's way to the same target, a sweep of searches with a fixed λ — the
// baseline whose cost LightNAS removes (about ten searches per target, per the LightNAS paper).
// Both take the cost model C and the device's measure, so they run in the same harness.
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
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
/// until a search's argmax is within ±band of T, max_searches ran or no new search may start
/// because the searches took max_seconds — measured when a measure is given, else by the cost.
/// No landing edits: what is judged is the search's own result, as for LightNAS's `searched`.
/// Each search starts from nn::manual_seed(cfg.seed), so a search at λ is the same whichever
/// sweep (or target) runs it.
template <DifferentiableCost C = OneHotMlpCost>
class FbnetSweep {
 public:
  using Space = SearchSpace;
  struct Options {
    double initial_lambda = 0.3, factor = 4;
    int max_searches = 10;
    double max_seconds = std::numeric_limits<double>::infinity();  ///< no new search after this long (> 0)
  };
  struct Attempt {
    double lambda = 0;
    SearchResult result;
  };
  struct Result {
    Architecture architecture;      ///< the last search's (the landed one if any landed)
    std::optional<double> measured;
    bool landed = false;
    double seconds = 0;             ///< all searches together (a reused one at its own time)
    std::vector<SearchEpoch> history;  ///< the last search's epochs
    std::vector<Attempt> attempts;
  };

  /// Sees each finished search (an interrupted sweep is resumed from these).
  using AttemptFn = std::function<void(const Attempt&)>;

  FbnetSweep(const C& cost, SearchConfig cfg, MeasureFn measure, Options o = {}, EpochFn on_epoch = {})
      : cost_(cost), cfg_(std::move(cfg)), measure_(std::move(measure)), o_(o), on_epoch_(std::move(on_epoch)) {
    cfg_.tradeoff = SearchConfig::Tradeoff::fixed_log;
    cfg_.landing_edits = 0;
    if (!(o_.initial_lambda > 0 && o_.factor > 1 && o_.max_searches >= 1 && o_.max_seconds > 0))
      throw Error("FbnetSweep: needs λ > 0, factor > 1, max_searches >= 1 and max_seconds > 0");
  }

  Result search(const Space& space, const Dataset& train);

  /// Searches already run at some λ, asked before each search: a search at a λ it knows is not
  /// run again. A fixed-λ search does not depend on T (the loss is CE + λ·log C), so another
  /// target's searches serve as well as an interrupted sweep's own.
  using KnownFn = std::function<std::optional<SearchResult>(double lambda)>;
  void reuse(KnownFn known) { known_ = std::move(known); }
  /// The searches an interrupted sweep finished (matched by λ).
  void resume(std::vector<Attempt> done) {
    reuse([done = std::move(done)](double lambda) -> std::optional<SearchResult> {
      for (const Attempt& a : done)
        if (std::abs(a.lambda / lambda - 1) <= 1e-9) return a.result;
      return std::nullopt;
    });
  }
  void on_attempt(AttemptFn f) { on_attempt_ = std::move(f); }

 private:
  const C& cost_;
  SearchConfig cfg_;
  MeasureFn measure_;
  Options o_;
  EpochFn on_epoch_;
  AttemptFn on_attempt_;
  KnownFn known_;
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
  for (int k = 0; k < o_.max_searches && !r.landed && (k == 0 || r.seconds < o_.max_seconds); ++k) {
    SearchConfig cfg = cfg_;
    cfg.fixed_lambda = lambda;
    std::optional<SearchResult> known = known_ ? known_(lambda) : std::nullopt;
    SearchResult s;
    if (known) {
      s = std::move(*known);
    } else {
      nn::manual_seed(cfg.seed);  // the supernet's initial weights: the same for every search at λ
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
