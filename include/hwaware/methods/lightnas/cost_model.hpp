#pragma once
// The cost LightNAS searches against, differentiable in the architecture encoding: a model maps an
// encoding (one-hot, or the softmax of α, [layers × 7]) to a cost and its gradient. OpTableCost
// is the additive one — a fixed part plus one figure per (layer, op) — exact for MACs and the
// lookup-table form of latency or energy; a learned predictor plugs in through the same concept.
#include <algorithm>
#include <concepts>
#include <span>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/methods/lightnas/search_space.hpp"

namespace hwaware::lightnas {

/// DifferentiableCost: for `const C& c`, an encoding `e` (layers × 7 floats) and a gradient
/// buffer `g` of the same length:
/// - `c.cost(e, g)` → double: the cost at `e`, writing ∂cost/∂e into `g`;
/// - `c.cost_of(a)` → double: the cost of the architecture `a` (= cost(encode(a))).
template <class C>
concept DifferentiableCost = requires(const C& c, std::span<const float> e, std::span<float> g, const Architecture& a) {
  { c.cost(e, g) } -> std::convertible_to<double>;
  { c.cost_of(a) } -> std::convertible_to<double>;
};

class OpTableCost {
 public:
  /// `fixed` plus table[l · 7 + op] for each layer's op; `unit` names the cost in messages.
  OpTableCost(double fixed, std::vector<double> table, std::string unit)
      : fixed_(fixed), table_(std::move(table)), unit_(std::move(unit)) {
    if (table_.empty() || table_.size() % kOpsPerLayer != 0)
      throw Error("OpTableCost: the table needs 7 entries per layer (got " + std::to_string(table_.size()) + ")");
  }

  /// MACs per image of the space's networks at input `chw`, from the layer descriptions.
  static OpTableCost macs(const SearchSpace& space, const Shape& chw);

  double cost(std::span<const float> e, std::span<float> g) const {
    if (e.size() != table_.size() || g.size() != table_.size())
      throw Error("OpTableCost: encoding and gradient need " + std::to_string(table_.size()) + " entries");
    double c = fixed_;
    for (size_t i = 0; i < table_.size(); ++i) {
      c += double(e[i]) * table_[i];
      g[i] = float(table_[i]);
    }
    return c;
  }
  double cost_of(const Architecture& a) const {
    double c = fixed_;
    for (size_t l = 0; l < a.size(); ++l) c += table_.at(l * kOpsPerLayer + size_t(a[l]));
    return c;
  }
  const std::string& unit() const { return unit_; }
  /// The same table with every entry (and the fixed part) times k: a change of units.
  OpTableCost scaled(double k) const {
    std::vector<double> t = table_;
    for (double& v : t) v *= k;
    return {fixed_ * k, std::move(t), unit_};
  }
  /// The smallest and largest cost of any architecture (skip counted only where `space` allows it).
  std::pair<double, double> range(const SearchSpace& space) const;

 private:
  double fixed_;
  std::vector<double> table_;
  std::string unit_;
};

static_assert(DifferentiableCost<OpTableCost>);

// ---------------------------------------------------------------------------------------------
// Implementation

inline OpTableCost OpTableCost::macs(const SearchSpace& space, const Shape& chw) {
  // The stem and the head are the same in every architecture: the fixed part.
  std::vector<double> table(space.layers() * kOpsPerLayer, 0.0);
  Shape shape{chw};
  std::vector<LayerDesc> stem;
  shape = space.make_stem()->describe_layers(shape, stem, "stem");
  double fixed = double(nn::total_macs(stem));
  for (size_t l = 0; l < space.layers(); ++l) {
    Shape out = shape;
    for (int op = 0; op < kOpsPerLayer; ++op) {
      if (!space.allowed(l, op) || op == kSkipOp) continue;
      std::vector<LayerDesc> d;
      out = space.make_op(l, op)->describe_layers(shape, d, "op");
      table[l * kOpsPerLayer + size_t(op)] = double(nn::total_macs(d));
    }
    shape = out;
  }
  std::vector<LayerDesc> head;
  space.make_head()->describe_layers(shape, head, "head");
  fixed += double(nn::total_macs(head));
  return OpTableCost(fixed, std::move(table), "MACs");
}

inline std::pair<double, double> OpTableCost::range(const SearchSpace& space) const {
  double lo = fixed_, hi = fixed_;
  for (size_t l = 0; l < space.layers(); ++l) {
    double mn = 1e300, mx = -1e300;
    for (int op = 0; op < kOpsPerLayer; ++op)
      if (space.allowed(l, op)) {
        mn = std::min(mn, table_.at(l * kOpsPerLayer + size_t(op)));
        mx = std::max(mx, table_.at(l * kOpsPerLayer + size_t(op)));
      }
    lo += mn, hi += mx;
  }
  return {lo, hi};
}

}  // namespace hwaware::lightnas
