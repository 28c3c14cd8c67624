#pragma once
// Channel ranking policies for ZeroBN and Network Slimming: which channels to keep at a pruning
// ratio r, with the guards that keep the pruned network sane and fast.
#include <algorithm>
#include <concepts>
#include <numeric>
#include <vector>

#include "hwaware/nn/channel_groups.hpp"

namespace hwaware::zerobn {

/// Kept channel indices (sorted) per group; empty for groups that are not prunable.
using Selection = std::vector<std::vector<int64_t>>;

struct SelectionGuards {
  int64_t min_channels = 4;  // no group below this (layer collapse)
  int64_t round_to = 8;      // kept counts rounded up to a multiple (oneDNN blocks channels by 8/16)
};

/// Ranking policy: importance-ordered selection of channels at ratio r ∈ [0, 1].
template <class R>
concept Ranking = requires(const R& r, std::vector<nn::ChannelGroup>& g, double ratio, const SelectionGuards& guards) {
  { r.select(g, ratio, guards) } -> std::same_as<Selection>;
};

/// ZeroBN's ranking (and Network Slimming's): one global order of all prunable channels by |γ|
/// (mean over tied BNs); the lowest fraction r is dropped, then each group is brought back up to
/// the guards by re-adding its most important dropped channels.
struct GlobalBnRanking {
  Selection select(std::vector<nn::ChannelGroup>& groups, double ratio, const SelectionGuards& guards) const {
    struct Entry {
      float importance;
      size_t group;
      int64_t channel;
    };
    std::vector<Entry> all;
    std::vector<std::vector<float>> imp(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      if (!groups[g].prunable) continue;
      imp[g] = nn::channel_importance(groups[g]);
      for (int64_t c = 0; c < groups[g].channels; ++c) all.push_back({imp[g][c], g, c});
    }
    std::stable_sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) { return a.importance < b.importance; });
    const size_t drop = static_cast<size_t>(std::clamp(ratio, 0.0, 1.0) * double(all.size()));
    std::vector<std::vector<bool>> kept(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) kept[g].assign(static_cast<size_t>(groups[g].channels), true);
    for (size_t i = 0; i < drop; ++i) kept[all[i].group][all[i].channel] = false;
    Selection sel(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      if (!groups[g].prunable) continue;
      const int64_t C = groups[g].channels;
      int64_t k = std::count(kept[g].begin(), kept[g].end(), true);
      int64_t want = std::max<int64_t>(k, std::min<int64_t>(C, guards.min_channels));
      if (guards.round_to > 1) want = std::min<int64_t>(C, (want + guards.round_to - 1) / guards.round_to * guards.round_to);
      if (want > k) {  // re-add the most important dropped channels
        std::vector<int64_t> dropped;
        for (int64_t c = 0; c < C; ++c)
          if (!kept[g][c]) dropped.push_back(c);
        std::stable_sort(dropped.begin(), dropped.end(), [&](int64_t a, int64_t b) { return imp[g][a] > imp[g][b]; });
        for (int64_t i = 0; i < want - k; ++i) kept[g][dropped[i]] = true;
      }
      for (int64_t c = 0; c < C; ++c)
        if (kept[g][c]) sel[g].push_back(c);
    }
    return sel;
  }
};

static_assert(Ranking<GlobalBnRanking>);

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
