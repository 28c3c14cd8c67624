#pragma once
// LightNAS's search (Luo et al., TCAD 2022): weights on the training split, α on a held-out part of
// it, alternating after a warm-up of weights only; the α step minimises CE + λ·(C(softmax α)/T − 1)
// and λ rises by Eq. 6 with the cost of the argmax architecture, so one search ends on the target T.
// The cost is any DifferentiableCost (MACs, a latency or energy table, a learned predictor).
#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "hwaware/data/batcher.hpp"
#include "hwaware/methods/lightnas/cost_model.hpp"
#include "hwaware/methods/lightnas/lambda.hpp"
#include "hwaware/methods/lightnas/supernet.hpp"
#include "hwaware/nn/frozen.hpp"
#include "hwaware/optim/adam.hpp"
#include "hwaware/optim/optimizer.hpp"
#include "hwaware/optim/schedule.hpp"

namespace hwaware::lightnas {

struct SearchConfig {
  double target = 0;  ///< T, in the cost model's unit
  int epochs = 30;
  TemperatureSchedule temperature{5.0, 0.1, 10};  ///< its warm-up is the weights-only epochs
  float weight_lr = 0.05f, momentum = 0.9f, weight_decay = 3e-5f;  ///< SGD, cosine to 0
  double alpha_lr = 1e-3, alpha_weight_decay = 1e-3;               ///< Adam, betas (0.5, 0.999)
  LagrangeMultiplier::Options lambda{};
  double late_fraction = 0.8;   ///< α's learning rate is damped near T after this share of epochs
  double valid_fraction = 0.2;  ///< of the training set, for α
  int64_t batch = 128;
  uint64_t seed = 1;
};

/// One epoch of the search, as the convergence plot shows it.
struct SearchEpoch {
  int epoch = 0;
  double tau = 0, lambda = 0, cost = 0;  ///< cost of the argmax architecture at the epoch's end
  double train_accuracy = 0, seconds = 0;
  std::string architecture;
};

struct SearchResult {
  Architecture architecture;  ///< argmax α at the end
  double cost = 0, lambda = 0, seconds = 0;
  std::vector<SearchEpoch> history;
};

/// Runs one search of `space` on `train` (split into weights and α parts) against `cost`.
/// `on_epoch` sees each epoch's record. Throws Error for a non-positive target or a bad split.
template <DifferentiableCost C>
SearchResult search(const SearchSpace& space, const C& cost, const Dataset& train, const SearchConfig& cfg,
                    const std::function<void(const SearchEpoch&)>& on_epoch = {});

// ---------------------------------------------------------------------------------------------
// Implementation

namespace detail {

/// Softmax of each layer's allowed logits (0 elsewhere), [layers × 7].
inline std::vector<float> layer_softmax(const SearchSpace& space, const std::vector<float>& alpha) {
  std::vector<float> p(alpha.size(), 0.0f);
  for (size_t l = 0; l < space.layers(); ++l) {
    double mx = -1e30, sum = 0;
    for (int op = 0; op < kOpsPerLayer; ++op)
      if (space.allowed(l, op)) mx = std::max(mx, double(alpha[l * kOpsPerLayer + size_t(op)]));
    for (int op = 0; op < kOpsPerLayer; ++op)
      if (space.allowed(l, op)) sum += (p[l * kOpsPerLayer + size_t(op)] = float(std::exp(alpha[l * kOpsPerLayer + size_t(op)] - mx)));
    for (int op = 0; op < kOpsPerLayer; ++op) p[l * kOpsPerLayer + size_t(op)] = float(p[l * kOpsPerLayer + size_t(op)] / sum);
  }
  return p;
}

/// Adds scale · J_softmaxᵀ · dp into dalpha, layer by layer.
inline void add_softmax_backward(const SearchSpace& space, const std::vector<float>& p, const std::vector<float>& dp,
                                 double scale, std::vector<float>& dalpha) {
  for (size_t l = 0; l < space.layers(); ++l) {
    double dot = 0;
    for (int op = 0; op < kOpsPerLayer; ++op) dot += double(p[l * kOpsPerLayer + size_t(op)]) * dp[l * kOpsPerLayer + size_t(op)];
    for (int op = 0; op < kOpsPerLayer; ++op) {
      const size_t i = l * kOpsPerLayer + size_t(op);
      dalpha[i] += float(scale * double(p[i]) * (double(dp[i]) - dot));
    }
  }
}

/// The first `n` samples of `d` (train) and the rest (valid).
inline std::pair<Dataset, Dataset> split(const Dataset& d, int64_t n) {
  return {Dataset{d.images.slice0(0, n), d.labels.slice0(0, n)},
          Dataset{d.images.slice0(n, d.size()), d.labels.slice0(n, d.size())}};
}

/// The state of one search: the supernet, both optimisers, λ and the data streams.
template <class C>
struct SearchRun {
  const SearchSpace& space;
  const C& cost;
  const SearchConfig& cfg;
  Supernet net;
  optim::Sgd weights;
  std::vector<float> alpha_m, alpha_v;
  int64_t alpha_steps = 0;
  LagrangeMultiplier lambda;
  std::mt19937_64 rng;

  SearchRun(const SearchSpace& s, const C& c, const SearchConfig& k)
      : space(s), cost(c), cfg(k), net(s), weights(optim::param_groups(net, k.weight_decay), {k.momentum, false}),
        alpha_m(net.alpha().size(), 0.0f), alpha_v(net.alpha().size(), 0.0f), lambda(k.lambda), rng(k.seed) {}

  /// One weights step on a training batch; returns the number of correct predictions.
  int64_t weight_step(const Tensor& x, const Tensor& y, double tau, float lr) {
    net.sample(tau, rng);
    net.set_gates(false);
    weights.zero_grad();
    auto out = ops::cross_entropy(net.forward(Variable(x)), y);
    out.loss.backward();
    weights.step(lr);
    return out.correct;
  }

  /// One α step on a held-out batch (CE through the gates, the cost through softmax α), then λ.
  void alpha_step(const Tensor& x, const Tensor& y, double tau, bool late) {
    net.sample(tau, rng);
    net.set_gates(true);
    {
      nn::FrozenParameters frozen(net);  // the α step trains α only: no weight gradients
      auto out = ops::cross_entropy(net.forward(Variable(x)), y);
      out.loss.backward();
    }
    net.set_gates(false);
    std::vector<float> dalpha(net.alpha().size(), 0.0f), dp(net.alpha().size(), 0.0f);
    net.accumulate_alpha_grad(dalpha);
    const std::vector<float> p = layer_softmax(space, net.alpha());
    cost.cost(std::span<const float>(p), std::span<float>(dp));
    add_softmax_backward(space, p, dp, lambda.value() / cfg.target, dalpha);
    const double before = cost.cost_of(net.argmax());
    const double lr = cfg.alpha_lr * lambda.alpha_lr_scale(before, cfg.target, late);
    optim::adam_step<float>(net.alpha(), dalpha, alpha_m, alpha_v, ++alpha_steps, float(lr),
                            float(cfg.alpha_weight_decay), {0.5, 0.999, 1e-8, true});
    lambda.update(cost.cost_of(net.argmax()), cfg.target);  // the architecture after this step
  }
};

}  // namespace detail

template <DifferentiableCost C>
SearchResult search(const SearchSpace& space, const C& cost, const Dataset& train, const SearchConfig& cfg,
                    const std::function<void(const SearchEpoch&)>& on_epoch) {
  if (!(cfg.target > 0) || cfg.epochs < 1 || !(cfg.valid_fraction > 0 && cfg.valid_fraction < 1))
    throw Error("lightnas::search: needs a positive target, epochs >= 1 and a validation fraction in (0, 1)");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t n_valid = std::max<int64_t>(1, int64_t(double(train.size()) * cfg.valid_fraction));
  const auto [wdata, adata] = detail::split(train, train.size() - n_valid);
  detail::SearchRun<C> run(space, cost, cfg);
  Batcher wb(wdata, {.batch_size = cfg.batch, .shuffle = true, .seed = cfg.seed});
  Batcher ab(adata, {.batch_size = cfg.batch, .shuffle = true, .seed = cfg.seed + 1});
  const optim::LrSchedule schedule{optim::ScheduleKind::cosine, cfg.weight_lr, wb.batches_per_epoch() * cfg.epochs};
  SearchResult result;
  for (int e = 0; e < cfg.epochs; ++e) {
    const auto te = std::chrono::steady_clock::now();
    const double tau = cfg.temperature.at(e);
    const bool search_alpha = e >= cfg.temperature.warmup, late = e >= int(cfg.late_fraction * cfg.epochs);
    run.net.train();
    wb.start_epoch(e);
    ab.start_epoch(e);
    Tensor x, y, vx, vy;
    int64_t correct = 0, seen = 0, valid_epoch = e;
    while (wb.next(x, y)) {
      correct += run.weight_step(x, y, tau, schedule.at(run.weights.steps()));
      seen += x.dim(0);
      if (!search_alpha) continue;
      if (!ab.next(vx, vy)) ab.start_epoch(int(++valid_epoch)), ab.next(vx, vy);
      run.alpha_step(vx, vy, tau, late);
    }
    const Architecture a = run.net.argmax();
    SearchEpoch rec{e, tau, run.lambda.value(), cost.cost_of(a), double(correct) / double(std::max<int64_t>(1, seen)),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count(), space.describe(a)};
    result.history.push_back(rec);
    if (on_epoch) on_epoch(rec);
  }
  result.architecture = run.net.argmax();
  result.cost = cost.cost_of(result.architecture);
  result.lambda = run.lambda.value();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace hwaware::lightnas
