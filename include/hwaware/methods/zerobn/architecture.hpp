#pragma once
// From channel selections to architectures and back: kept counts (an architecture's key), the
// network that keeps a selection (fresh for a measurement, or with trained weights: the
// extraction), the slack fill, and the sparsity term ZeroBN and Network Slimming share.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hwaware/data/dataset.hpp"
#include "hwaware/methods/zerobn/ranking.hpp"

namespace hwaware::zerobn {

using ModelFactory = std::function<std::unique_ptr<nn::Module>()>;

/// Kept channel count per group: the architecture a selection gives.
inline std::vector<int64_t> counts(const Selection& sel) {
  std::vector<int64_t> k;
  for (const auto& g : sel) k.push_back(static_cast<int64_t>(g.size()));
  return k;
}

/// The first `kept[g]` channels of every prunable group: a selection with given counts, for
/// predictions (only counts matter to a predictor).
inline Selection first_channels(const std::vector<nn::ChannelGroup>& groups, const std::vector<int64_t>& kept) {
  Selection s(groups.size());
  for (size_t g = 0; g < groups.size(); ++g)
    for (int64_t c = 0; groups[g].prunable && c < kept[g]; ++c) s[g].push_back(c);
  return s;
}

/// Network Slimming's and ZeroBN's sparsity term: γ.grad += s·sign(γ) on every given BN.
inline void add_l1_subgradient(const std::vector<nn::BatchNorm2d*>& bns, float s) {
  for (auto* bn : bns) {
    Tensor& g = bn->gamma.grad();
    if (!g.defined()) continue;
    const float* gamma = bn->gamma.value().data();
    for (int64_t c = 0; c < g.numel(); ++c) g.data()[c] += s * float((gamma[c] > 0) - (gamma[c] < 0));
  }
}

inline std::vector<nn::BatchNorm2d*> all_bns(std::vector<nn::ChannelGroup>& groups) {
  std::vector<nn::BatchNorm2d*> r;
  for (auto& g : groups) r.insert(r.end(), g.bns.begin(), g.bns.end());
  return r;
}

/// |γ| of every prunable channel, group after group.
inline std::vector<float> all_importance(std::vector<nn::ChannelGroup>& groups) {
  std::vector<float> r;
  for (auto& g : groups)
    if (g.prunable) {
      auto imp = nn::channel_importance(g);
      r.insert(r.end(), imp.begin(), imp.end());
    }
  return r;
}

/// Copies parameters and BN statistics between two networks of the same architecture.
inline void copy_state(nn::Module& from, nn::Module& to) {
  auto a = from.parameters(), b = to.parameters();
  auto ab = from.buffers(), bb = to.buffers();
  check_shapes(a.size() == b.size() && ab.size() == bb.size(), "ZeroBN", "the model factory built another architecture",
               {static_cast<int64_t>(a.size())}, {static_cast<int64_t>(b.size())});
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || a[i].second->shape() != b[i].second->shape())
      throw Error("ZeroBN: the model factory built another architecture: '" + a[i].first + "' " +
                  shape_str(a[i].second->shape()) + " vs '" + b[i].first + "' " + shape_str(b[i].second->shape()));
    b[i].second->value() = a[i].second->value().clone();
  }
  for (size_t i = 0; i < ab.size(); ++i) *bb[i].second = ab[i].second->clone();
}

/// The architecture that keeps `sel`: with `weights` (a network of the full architecture) its
/// trained parameters and statistics — the extraction; without, fresh weights (for a measurement).
inline std::unique_ptr<nn::Module> build_selection(const ModelFactory& make, const Selection& sel, int64_t in_channels,
                                                   nn::Module* weights = nullptr) {
  auto net = make();
  if (weights) copy_state(*weights, *net);
  auto groups = nn::channel_groups(*net, in_channels);
  for (size_t g = 0; g < groups.size(); ++g)
    if (groups[g].prunable) nn::keep_channels(groups[g], sel[g]);
  return net;
}

/// Largest |a(x) − b(x)| over the logits of both networks (eval mode) on up to `images` test images.
inline double max_output_difference(nn::Module& a, nn::Module& b, const Dataset& data, const Shape& chw,
                                    int64_t images = 256) {
  NoGradGuard no_grad;
  a.eval(), b.eval();
  const int64_t n = std::min<int64_t>(images, data.size());
  double worst = 0;
  for (int64_t begin = 0; begin < n; begin += 64) {
    const int64_t end = std::min(n, begin + 64);
    Shape s{end - begin};
    s.insert(s.end(), chw.begin(), chw.end());
    Variable x(data.images.slice0(begin, end).reshape(s));
    const Tensor ya = a.forward(x).value().to_plain(), yb = b.forward(x).value().to_plain();
    for (int64_t i = 0; i < ya.numel(); ++i) worst = std::max(worst, double(std::abs(ya.data()[i] - yb.data()[i])));
  }
  return worst;
}

/// Raises kept counts while `at(counts)` (a calibrated prediction) stays within `budget`: each
/// time the narrowest group relative to its full width whose next allowed count still fits
/// (ties: the one that costs the fewest ms per channel). Narrowest first, because a thin layer
/// bottlenecks the network; under a mask the dropped channels' |γ| is zero, so importance cannot choose.
template <class At>
std::vector<int64_t> fill_slack(const std::vector<nn::ChannelGroup>& groups, const SelectionGuards& guards,
                                std::vector<int64_t> kept, double budget, At&& at) {
  double now = at(kept);
  for (;;) {
    size_t best = groups.size();
    int64_t best_count = 0;
    std::pair<double, double> best_key;  // (share of full width, ms per channel): smaller first
    double best_ms = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      const int64_t C = groups[g].channels;
      if (!groups[g].prunable || kept[g] >= C) continue;
      auto k = kept;
      k[g] = guards.fit(kept[g] + 1, C);
      const double ms = at(k);
      if (ms > budget) continue;
      const std::pair key{double(kept[g]) / double(C), std::max(ms - now, 0.0) / double(k[g] - kept[g])};
      if (best == groups.size() || key < best_key) best = g, best_count = k[g], best_key = key, best_ms = ms;
    }
    if (best == groups.size()) return kept;
    kept[best] = best_count, now = best_ms;
  }
}

/// For a cost-aware ranking: its per-channel costs from `predict_counts` (kept counts → ms),
/// around the architecture `sel` keeps (a channel's saving depends on its neighbours' widths).
template <class R, class PredictCounts>
void update_costs(R& ranking, const std::vector<nn::ChannelGroup>& groups, const SelectionGuards& guards,
                  const Selection& sel, PredictCounts&& predict_counts) {
  if constexpr (CostAwareRanking<R>) {
    std::vector<int64_t> kept(groups.size());
    for (size_t g = 0; g < groups.size(); ++g)
      kept[g] = groups[g].prunable ? static_cast<int64_t>(sel[g].size()) : groups[g].channels;
    ranking.set_costs(channel_costs(groups, kept, guards, predict_counts));
  }
}

}  // namespace hwaware::zerobn
