#pragma once
// Parameter initialisation (Kaiming). The default matches PyTorch's layer defaults —
// kaiming_uniform with a = √5, i.e. U(±1/√fan_in) — so accuracy comparisons with the PyTorch peer
// start from the same distribution; kaiming_normal (fan_out, ReLU gain) is the He et al. variant.
#include <cmath>
#include <random>

#include "hwaware/nn/module.hpp"

namespace hwaware::nn {

enum class Init : uint8_t { kaiming_uniform_default, kaiming_normal_fan_out };

inline void init_uniform(Tensor& t, float bound) {
  std::uniform_real_distribution<float> u(-bound, bound);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = u(init_rng());
}

inline void init_weight(Tensor& w, int64_t fan_in, int64_t fan_out, Init how) {
  if (how == Init::kaiming_uniform_default) return init_uniform(w, 1.f / std::sqrt(float(fan_in)));
  std::normal_distribution<float> n(0.f, std::sqrt(2.f / float(fan_out)));
  for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = n(init_rng());
}

}  // namespace hwaware::nn
