#pragma once
// The method policies: Pruner, Shrinker, Searcher. A method is a template over these and the
// hardware policies (hw::Predictor, hw::Device), each checked at the door by its concept, so a
// wrong argument fails in one readable line and a user's own policy plugs into the same harness.
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "hwaware/data/dataset.hpp"
#include "hwaware/methods/common/budget.hpp"
#include "hwaware/nn/module.hpp"

namespace hwaware {

/// A model family by width multiplier: make(1.0) is the full network. Pruners start from
/// make(1.0); uniform width scaling explores the multiplier itself.
using ModelFamily = std::function<std::unique_ptr<nn::Module>(double width)>;

/// What every pruner returns: a trained network and what is known about it. Figures that were
/// not taken are empty, not -1.
struct PrunedNetwork {
  std::unique_ptr<nn::Module> network;
  double budget_ms = 0;                  // T as the run resolved it (0: not a latency budget)
  std::optional<double> predicted_ms;    // the predictor's figure for `network`
  std::optional<double> measured_ms;     // the device's (drift-corrected) figure
  double test_accuracy = 0;
  int64_t params = 0, macs = 0;
  double train_seconds = 0;
  bool budget_met = false;
};

/// Pruner: trains and prunes a network of a family under the budget it was configured with.
///
/// Required, for `P& p`, `const ModelFamily& family`, `const Dataset& train, test`:
/// - `p.prune(family, train, test)` → a type convertible to `PrunedNetwork`: `network` is
///   trained and no larger than `family(1.0)`; `budget_met` says whether the configured budget
///   held where it is judged (the device for latency budgets); `test` is used only to report
///   accuracy, never to choose.
template <class P>
concept Pruner = requires(P& p, const ModelFamily& family, const Dataset& data) {
  { p.prune(family, data, data) } -> std::convertible_to<PrunedNetwork>;
};

/// Runs any Pruner: the entry point harnesses and examples share, so a user's policy runs where
/// ZeroBN, Network Slimming and uniform width do.
template <Pruner P>
PrunedNetwork prune(P& pruner, const ModelFamily& family, const Dataset& train, const Dataset& test) {
  return pruner.prune(family, train, test);
}

/// Compound scaling of a network: multipliers of its depth (blocks per stage), width (channels)
/// and input resolution; 1 is the base network.
struct Scaling {
  double depth = 1, width = 1, resolution = 1;
};

/// A model family with three knobs, and the per-image input shape at a resolution multiplier.
struct ScalableFamily {
  std::function<std::unique_ptr<nn::Module>(const Scaling&)> make;
  std::vector<int64_t> base_chw;  // channels, height, width at resolution 1

  std::vector<int64_t> chw_at(double resolution) const {
    const auto side = [&](int64_t s) { return std::max<int64_t>(1, int64_t(double(s) * resolution + 0.5)); };
    return {base_chw[0], side(base_chw[1]), side(base_chw[2])};
  }
};

/// Shrinker: chooses depth, width and resolution multipliers (each ≤ 1) under a budget.
///
/// Required, for `S& s`, `const ScalableFamily& family`, `const Budget& budget`:
/// - `s.choose(family, budget)` → `Scaling`: a scaling whose network meets `budget` as the
///   shrinker's ScalingMeter judges it (methods/common/scaling_meter.hpp: MACs counted from the
///   description, or latency on a device), as large as the shrinker's rule allows. Throws
///   InfeasibleBudget when even its smallest scaling misses.
template <class S>
concept Shrinker = requires(S& s, const ScalableFamily& family, const Budget& budget) {
  { s.choose(family, budget) } -> std::same_as<Scaling>;
};

/// Searcher: searches an architecture space under a budget.
///
/// Required, for `S& s`, a space `const typename S::Space& space`, `const Dataset& train`:
/// - `typename S::Space` and `typename S::Result`;
/// - `s.search(space, train)` → `S::Result`, which has `architecture` (a value of the space) and
///   `history` (one entry per search epoch: what the search tracks on its way, e.g. λ and the
///   latency against the target). The test set is never seen by a search.
template <class S>
concept Searcher = requires(S& s, const typename S::Space& space, const Dataset& train) {
  typename S::Result;
  { s.search(space, train) } -> std::same_as<typename S::Result>;
  requires requires(typename S::Result r) {
    r.architecture;
    r.history;
  };
};

}  // namespace hwaware
