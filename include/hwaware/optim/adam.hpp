#pragma once
// The Adam update rule (Kingma & Ba 2015, Algorithm 1), with L2 or decoupled (AdamW, Loshchilov &
// Hutter 2019) weight decay, over plain arrays of float or double. One routine for every user:
// optim::Adam steps the network's tensors with it, the MLP latency predictor its Eigen matrices.
// Standard library only.
#include <cmath>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>

#include "hwaware/core/error.hpp"

namespace hwaware::optim {

/// Adam's hyper-parameters. Held in double; a float step rounds them to float once.
struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool decoupled = true;  // AdamW: decay applied to w (scaled by lr), not added to the gradient
};

/// One Adam step on `w` with gradient `g` and moment estimates `m`, `v` (same length, updated in
/// place). `step` is this step's 1-based count (the bias corrections use it); `weight_decay` is
/// applied as AdamOptions::decoupled says. Per element, with ĝ = g (+ λ·w when not decoupled):
///   w -= lr·λ·w (decoupled);  m = β1·m + (1−β1)·ĝ;  v = β2·v + (1−β2)·ĝ²;
///   w -= lr · (m / (1−β1^step)) / (√(v / (1−β2^step)) + ε)
/// Throws Error when the lengths differ or step < 1.
template <std::floating_point T>
void adam_step(std::span<T> w, std::span<const T> g, std::span<T> m, std::span<T> v, int64_t step, T lr,
               T weight_decay, const AdamOptions& o = {}) {
  if (g.size() != w.size() || m.size() != w.size() || v.size() != w.size())
    throw Error("adam_step: params, grads and moments differ in length (" + std::to_string(w.size()) + ", " +
                std::to_string(g.size()) + ", " + std::to_string(m.size()) + ", " + std::to_string(v.size()) + ")");
  if (step < 1) throw Error("adam_step: step must be >= 1 (got " + std::to_string(step) + ")");
  const T b1 = T(o.beta1), b2 = T(o.beta2), eps = T(o.eps);
  const T c1 = 1 - std::pow(b1, T(step)), c2 = 1 - std::pow(b2, T(step));
  for (size_t i = 0; i < w.size(); ++i) {
    T gi = g[i];
    if (o.decoupled) w[i] -= lr * weight_decay * w[i];
    else gi += weight_decay * w[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    w[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps);
  }
}

}  // namespace hwaware::optim
