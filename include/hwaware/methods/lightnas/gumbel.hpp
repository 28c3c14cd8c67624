#pragma once
// The sampling half of LightNAS's supernet (Luo et al., TCAD 2022; Jang et al., ICLR 2017): per
// layer, a Gumbel-softmax over the architecture logits α with a straight-through hard sample, so
// one path runs per step. The sampled path's output is multiplied by a gate whose value is 1 and
// whose gradient g = ∂L/∂gate reaches α through the soft weights y = softmax((α + G)/τ):
// ∂L/∂α_j = g · y_k (δ_kj − y_j) / τ for the sampled op k (the single-path estimator of GDAS).
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "hwaware/core/error.hpp"

namespace hwaware::lightnas {

/// τ = start · exp(−decay · (epoch − warmup)) after the warm-up, `start` during it (the authors':
/// 5, 0.1, 10 epochs of weights only).
struct TemperatureSchedule {
  double start = 5.0, decay = 0.1;
  int warmup = 10;
  double at(int epoch) const { return epoch <= warmup ? start : start * std::exp(-decay * double(epoch - warmup)); }
};

/// One layer's sample: the hard op and the soft weights over all ops (0 for disallowed ones).
struct GumbelSample {
  int index = 0;
  std::vector<double> soft;
};

/// Samples a layer: logits α over the ops, `allowed[j]` false excludes op j, temperature τ > 0.
/// The hard index is argmax(α + G), distributed as softmax(α) over the allowed ops whatever τ.
GumbelSample gumbel_softmax(const std::vector<float>& logits, const std::vector<bool>& allowed, double tau,
                            std::mt19937_64& rng);

/// Adds ∂L/∂α for the sample, given g = ∂L/∂gate of its path, into `dlogits`.
void straight_through_grad(const GumbelSample& s, double tau, double dgate, std::vector<float>& dlogits);

// ---------------------------------------------------------------------------------------------
// Implementation

inline GumbelSample gumbel_softmax(const std::vector<float>& logits, const std::vector<bool>& allowed, double tau,
                                   std::mt19937_64& rng) {
  if (logits.size() != allowed.size() || logits.empty() || !(tau > 0))
    throw Error("gumbel_softmax: needs as many logits as flags (got " + std::to_string(logits.size()) + " and " +
                std::to_string(allowed.size()) + ") and τ > 0 (got " + std::to_string(tau) + ")");
  std::uniform_real_distribution<double> u(std::numeric_limits<double>::min(), 1.0);
  GumbelSample s;
  s.soft.assign(logits.size(), 0.0);
  std::vector<double> z(logits.size(), -std::numeric_limits<double>::infinity());
  double zmax = -std::numeric_limits<double>::infinity();
  int best = -1;
  for (size_t j = 0; j < logits.size(); ++j) {
    if (!allowed[j]) continue;
    z[j] = (double(logits[j]) - std::log(-std::log(u(rng)))) / tau;
    if (z[j] > zmax) zmax = z[j], best = int(j);
  }
  if (best < 0) throw Error("gumbel_softmax: no op is allowed");
  double sum = 0;
  for (size_t j = 0; j < z.size(); ++j)
    if (allowed[j]) sum += (s.soft[j] = std::exp(z[j] - zmax));
  for (double& y : s.soft) y /= sum;
  s.index = best;
  return s;
}

inline void straight_through_grad(const GumbelSample& s, double tau, double dgate, std::vector<float>& dlogits) {
  if (dlogits.size() != s.soft.size()) throw Error("straight_through_grad: gradient and sample sizes differ");
  const double yk = s.soft[size_t(s.index)];
  for (size_t j = 0; j < s.soft.size(); ++j) {
    if (s.soft[j] == 0.0 && int(j) != s.index) continue;  // a disallowed op gets no gradient
    const double dy = yk * ((int(j) == s.index ? 1.0 : 0.0) - s.soft[j]) / tau;
    dlogits[j] += float(dgate * dy);
  }
}

}  // namespace hwaware::lightnas
