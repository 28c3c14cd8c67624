#pragma once
// Channel ranking policies for ZeroBN and Network Slimming: which channels to keep at a pruning
// ratio r, with the guards that keep the pruned network sane and fast.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <numeric>
#include <vector>

#include "hwaware/hw/fast_channels.hpp"
#include "hwaware/nn/channel_groups.hpp"

namespace hwaware::zerobn {

/// Kept channel indices (sorted) per group; empty for groups that are not prunable.
using Selection = std::vector<std::vector<int64_t>>;

/// Which kept counts a group may have: at least `min_channels` (no layer collapse), and a count
/// the device runs fast. Above `round_to`, counts are rounded up to a multiple of it; up to it,
/// to a power of two: with AVX-512, oneDNN blocks channels by 16, so a width that is a multiple of
/// 8 but not of 16 runs slower than the next multiple of 16, while 4 and 8 are fast
/// (`profile_device --widths`; figures in docs/decisions.md).
struct SelectionGuards {
  int64_t min_channels = 4;
  int64_t round_to = 16;

  /// The count a group of C channels keeps when k are wanted.
  int64_t fit(int64_t k, int64_t C) const {
    return std::min(C, hw::fast_channels(std::max<int64_t>(k, std::min<int64_t>(C, min_channels)), round_to));
  }
  /// The next allowed count below `kept` in a group of C channels (0: none).
  int64_t below(int64_t kept, int64_t C) const {
    for (int64_t k = kept - 1; k >= 1; --k)
      if (const int64_t f = fit(k, C); f < kept) return f;
    return 0;
  }
};

/// Ranking policy: importance-ordered selection of channels at ratio r ∈ [0, 1].
template <class R>
concept Ranking = requires(const R& r, std::vector<nn::ChannelGroup>& g, double ratio, const SelectionGuards& guards) {
  { r.select(g, ratio, guards) } -> std::same_as<Selection>;
};

namespace detail {
/// Keeps, across all prunable groups, every channel but the lowest-scored fraction r (one global
/// order), then brings each group back up to the guards with its best-scored dropped channels.
inline Selection select_by_score(const std::vector<nn::ChannelGroup>& groups,
                                 const std::vector<std::vector<float>>& score, double ratio,
                                 const SelectionGuards& guards) {
  struct Entry {
    float score;
    size_t group;
    int64_t channel;
  };
  std::vector<Entry> all;
  for (size_t g = 0; g < groups.size(); ++g)
    if (groups[g].prunable)
      for (int64_t c = 0; c < groups[g].channels; ++c) all.push_back({score[g][c], g, c});
  std::stable_sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) { return a.score < b.score; });
  const size_t drop = static_cast<size_t>(std::clamp(ratio, 0.0, 1.0) * double(all.size()));
  std::vector<std::vector<bool>> kept(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) kept[g].assign(static_cast<size_t>(groups[g].channels), true);
  for (size_t i = 0; i < drop; ++i) kept[all[i].group][all[i].channel] = false;
  Selection sel(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].prunable) continue;
    const int64_t C = groups[g].channels;
    int64_t k = std::count(kept[g].begin(), kept[g].end(), true);
    const int64_t want = guards.fit(k, C);
    if (want > k) {  // re-add the best-scored dropped channels
      std::vector<int64_t> dropped;
      for (int64_t c = 0; c < C; ++c)
        if (!kept[g][c]) dropped.push_back(c);
      std::stable_sort(dropped.begin(), dropped.end(), [&](int64_t a, int64_t b) { return score[g][a] > score[g][b]; });
      for (int64_t i = 0; i < want - k; ++i) kept[g][dropped[i]] = true;
    }
    for (int64_t c = 0; c < C; ++c)
      if (kept[g][c]) sel[g].push_back(c);
  }
  return sel;
}
}  // namespace detail

/// ZeroBN's ranking (and Network Slimming's): one global order of all prunable channels by |γ|
/// (mean over tied BNs); the lowest fraction r is dropped, then each group is brought back up to
/// the guards by re-adding its most important dropped channels.
struct GlobalBnRanking {
  Selection select(std::vector<nn::ChannelGroup>& groups, double ratio, const SelectionGuards& guards) const {
    std::vector<std::vector<float>> imp(groups.size());
    for (size_t g = 0; g < groups.size(); ++g)
      if (groups[g].prunable) imp[g] = nn::channel_importance(groups[g]);
    return detail::select_by_score(groups, imp, ratio, guards);
  }
};

/// Keeps `counts[g]` channels of every prunable group: its most important ones by |γ| (mean over
/// tied BNs). Inside one group every ranking orders channels by |γ|, so this is what any of them
/// selects once the architecture (the kept count per group) is fixed.
inline Selection select_counts(const std::vector<nn::ChannelGroup>& groups, const std::vector<int64_t>& counts) {
  Selection sel(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].prunable) continue;
    const auto imp = nn::channel_importance(groups[g]);
    std::vector<int64_t> order(static_cast<size_t>(groups[g].channels));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return imp[a] > imp[b]; });
    const int64_t k = std::clamp<int64_t>(g < counts.size() ? counts[g] : groups[g].channels, 1, groups[g].channels);
    sel[g].assign(order.begin(), order.begin() + k);
    std::sort(sel[g].begin(), sel[g].end());
  }
  return sel;
}

/// Layer-wise |γ| ranking (an hwaware policy): every prunable group drops the fraction r of its
/// own channels, its lowest-|γ| ones, so widths shrink together instead of the globally least
/// important layers collapsing first (which the global order can do to an early, cheap stage).
struct LayerwiseBnRanking {
  Selection select(std::vector<nn::ChannelGroup>& groups, double ratio, const SelectionGuards& guards) const {
    const double r = std::clamp(ratio, 0.0, 1.0);
    std::vector<int64_t> counts(groups.size(), 0);
    for (size_t g = 0; g < groups.size(); ++g) {
      const int64_t C = groups[g].channels;
      if (groups[g].prunable) counts[g] = guards.fit(static_cast<int64_t>(std::ceil((1 - r) * double(C) - 1e-9)), C);
    }
    return select_counts(groups, counts);
  }
};

/// A latency-aware ranking (an hwaware extension; the idea of importance per latency saved is
/// HALP's, Shen et al., NeurIPS 2022): a channel's score is |γ| / cost^α, cost being the predicted
/// milliseconds one channel of its group saves. |γ| alone treats a channel of a 7×7 layer like one
/// of a 28×28 layer, and at a tight budget prunes the cheap deep layers hardest. ZeroBN sets the costs (set_costs) from
/// its predictor at every ZT epoch; before that, all costs are equal and this is GlobalBnRanking.
struct LatencyAwareRanking {
  double alpha = 1.0;
  std::vector<double> cost;  // per group: predicted ms saved per channel (empty: all equal)

  void set_costs(std::vector<double> c) { cost = std::move(c); }

  Selection select(std::vector<nn::ChannelGroup>& groups, double ratio, const SelectionGuards& guards) const {
    std::vector<std::vector<float>> score(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      if (!groups[g].prunable) continue;
      score[g] = nn::channel_importance(groups[g]);
      if (g < cost.size()) {
        const float w = float(1.0 / std::pow(cost[g], alpha));
        for (auto& v : score[g]) v *= w;
      }
    }
    return detail::select_by_score(groups, score, ratio, guards);
  }
};

/// A ranking that takes per-group channel costs (ZeroBN feeds it from its predictor).
template <class R>
concept CostAwareRanking = Ranking<R> && requires(R& r, std::vector<double> c) { r.set_costs(c); };

/// Predicted ms one channel of each prunable group saves around the kept counts `kept`: the
/// prediction at the next count the guards allow below (above, where there is none), per channel;
/// `predict_sizes` predicts the network with the given kept count per group. Costs are floored at
/// 1% of the mean so that a predictor's noise cannot make a channel free.
template <class F>
std::vector<double> channel_costs(const std::vector<nn::ChannelGroup>& groups, const std::vector<int64_t>& kept,
                                  const SelectionGuards& guards, F&& predict_sizes) {
  std::vector<double> cost(groups.size(), 0.0);
  const double base = predict_sizes(kept);
  double sum = 0;
  int n = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].prunable) continue;
    const int64_t C = groups[g].channels, down = guards.below(kept[g], C);
    const int64_t other_count = down > 0 ? down : kept[g] < C ? guards.fit(kept[g] + 1, C) : kept[g];
    if (other_count == kept[g]) continue;  // a group with one allowed count: its cost stays at the floor
    std::vector<int64_t> k = kept;
    k[g] = other_count;
    cost[g] = (base - predict_sizes(k)) / double(kept[g] - other_count);
    sum += std::max(0.0, cost[g]), ++n;
  }
  const double floor = n > 0 && sum > 0 ? 0.01 * sum / n : 1e-9;
  for (size_t g = 0; g < groups.size(); ++g) cost[g] = std::max(cost[g], floor);
  return cost;
}

static_assert(Ranking<GlobalBnRanking>);
static_assert(Ranking<LayerwiseBnRanking>);
static_assert(CostAwareRanking<LatencyAwareRanking>);

/// Channels in the prunable groups, and how many a selection keeps.
inline std::pair<int64_t, int64_t> selection_size(const std::vector<nn::ChannelGroup>& groups, const Selection& s) {
  int64_t total = 0, kept = 0;
  for (size_t g = 0; g < groups.size(); ++g)
    if (groups[g].prunable) total += groups[g].channels, kept += static_cast<int64_t>(s[g].size());
  return {total, kept};
}

/// Zeroes γ and β of every channel a selection drops (the soft prune: the masked network then
/// computes exactly what the extracted one does).
inline void apply_mask(std::vector<nn::ChannelGroup>& groups, const Selection& s) {
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].prunable) continue;
    std::vector<bool> keep(static_cast<size_t>(groups[g].channels), false);
    for (auto c : s[g]) keep[c] = true;
    for (auto* bn : groups[g].bns) {
      float* gamma = bn->gamma.value().data();
      float* beta = bn->beta.value().data();
      for (int64_t c = 0; c < groups[g].channels; ++c)
        if (!keep[c]) gamma[c] = beta[c] = 0.f;
      bn->gamma.value().bump_version();
      bn->beta.value().bump_version();
    }
  }
}

/// Description of the network as it would be after keeping `s` (weights untouched).
inline std::vector<nn::LayerDesc> describe_selected(nn::Module& net, std::vector<nn::ChannelGroup>& groups,
                                                    const Selection& s, const Shape& chw) {
  std::vector<int64_t> saved;
  for (size_t g = 0; g < groups.size(); ++g) {
    saved.push_back(groups[g].channels);
    if (groups[g].prunable) nn::resize_metadata(groups[g], static_cast<int64_t>(s[g].size()));
  }
  auto d = net.describe(chw);
  for (size_t g = 0; g < groups.size(); ++g)
    if (groups[g].prunable) nn::resize_metadata(groups[g], saved[g]);
  return d;
}

}  // namespace hwaware::zerobn
