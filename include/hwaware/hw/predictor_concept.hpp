#pragma once
// The Predictor policy: what every latency model in hwaware/hw offers the methods above it.
#include <concepts>
#include <string>
#include <vector>

#include "hwaware/hw/samples.hpp"

namespace hwaware::hw {

/// ∂latency/∂(channel counts) of each layer of a description, channels taken as continuous.
struct WidthGradient {
  std::vector<double> d_in_c;   // per layer: ∂ms/∂in_c
  std::vector<double> d_out_c;  // per layer: ∂ms/∂out_c
};

/// Predictor: network description → latency in ms, one at a time or batched.
/// Requires: predict_ms(net) ≥ 0 for any description of supported layer types;
/// predict_batch_ms(nets)[i] == predict_ms(nets[i]).
template <class P>
concept Predictor = requires(const P& p, const NetDesc& n, const std::vector<NetDesc>& batch) {
  { p.predict_ms(n) } -> std::convertible_to<double>;
  { p.predict_batch_ms(batch) } -> std::same_as<std::vector<double>>;
  { p.name() } -> std::convertible_to<std::string>;
};

/// A Predictor a gradient-based Searcher can use: also returns ∂ms/∂channels.
template <class P>
concept DifferentiablePredictor = Predictor<P> && requires(const P& p, const NetDesc& n, WidthGradient& g) {
  { p.predict_with_grad(n, g) } -> std::convertible_to<double>;
};

/// A predictor of energy (mJ per inference).
template <class P>
concept EnergyPredictor = requires(const P& p, const NetDesc& n) {
  { p.predict_mj(n) } -> std::convertible_to<double>;
};

}  // namespace hwaware::hw
