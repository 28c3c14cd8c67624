#pragma once
// Test helpers: random tensors and a finite-difference gradient check.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <algorithm>
#include <random>

#include "hwaware/autograd/variable.hpp"

namespace hwtest {

using namespace hwaware;

inline Tensor random_tensor(const Shape& s, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = u(rng);
  return t;
}

/// Values k·gap in a seeded random order: ties and near-ties (which make max pooling's finite
/// differences jump) cannot occur.
inline Tensor distinct_tensor(const Shape& s, uint64_t seed, float gap = 0.01f) {
  Tensor t = Tensor::empty(s);
  std::vector<float> v(t.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = (float(i) - float(v.size()) / 2) * gap;
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  std::copy(v.begin(), v.end(), t.data());
  return t;
}

/// Largest |a-b| / (atol + rtol·|b|) over all elements (≤ 1 means "close").
inline double closeness(const Tensor& a_in, const Tensor& b_in, double atol, double rtol) {
  const Tensor a = a_in.to_plain(), b = b_in.to_plain();
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    worst = std::max(worst, std::abs(double(a.data()[i]) - b.data()[i]) / (atol + rtol * std::abs(double(b.data()[i]))));
  return worst;
}

/// Checks d(sum(f(inputs) * r))/d(input) against central differences for every input element.
/// f builds the graph from the input variables; r is a fixed random projection.
inline void check_gradients(const std::function<Variable(std::vector<Variable>&)>& f, std::vector<Tensor> inputs,
                            double step = 1e-2, double tol = 3e-2) {
  std::vector<Variable> vars;
  for (auto& t : inputs) vars.emplace_back(t.clone(), true);
  Variable y = f(vars);
  const Tensor r = random_tensor(y.shape(), 99);
  auto project = [&](const Tensor& out) {
    const Tensor p = out.to_plain();
    double s = 0;
    for (int64_t i = 0; i < p.numel(); ++i) s += double(p.data()[i]) * r.data()[i];
    return s;
  };
  y.backward(r.to_layout(y.value().layout()));
  for (size_t k = 0; k < inputs.size(); ++k) {
    REQUIRE_MESSAGE(vars[k].grad().defined(), "no gradient reached input " << k);
    const Tensor analytic = vars[k].grad().to_plain();
    for (int64_t i = 0; i < inputs[k].numel(); ++i) {
      auto eval = [&](float delta) {
        std::vector<Variable> v2;
        for (size_t j = 0; j < inputs.size(); ++j) {
          Tensor t = inputs[j].clone();
          if (j == k) t.data()[i] += delta;
          v2.emplace_back(t, false);
        }
        NoGradGuard ng;
        return project(f(v2).value());
      };
      const double numeric = (eval(float(step)) - eval(float(-step))) / (2 * step);
      const double a = analytic.data()[i];
      INFO("input " << k << " element " << i << ": analytic " << a << " numeric " << numeric);
      CHECK(std::abs(a - numeric) <= tol * (1.0 + std::abs(numeric)));
    }
  }
}

}  // namespace hwtest
