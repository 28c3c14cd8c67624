#pragma once
// LightNAS's search (Luo et al., TCAD 2022): weights on the training split, α on a held-out part of
// it, alternating after a warm-up of weights only; the α step minimises CE + λ·(C(softmax α)/T − 1)
// and λ rises by Eq. 6 with the cost of the argmax architecture, so one search ends on the target T.
// The cost is any DifferentiableCost (MACs, a latency or energy table, a learned predictor).
// Where a device measures, the device decides: the argmax is measured after every α epoch and the
// cost scaled by measured / predicted, and at the end single-layer edits land the derived
// architecture's measured cost in [(1 − band)·T, T] (the predictor is never exact on a device).
// Tradeoff::fixed_log is FBNet's fixed trade-off (λ·log C, λ chosen by the caller) in the same loop.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <sstream>
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
#include "hwaware/train/checkpoint.hpp"

namespace hwaware::lightnas {

struct SearchConfig {
  enum class Tradeoff { learned, fixed_log };
  double target = 0;  ///< T, in the cost model's unit
  Tradeoff tradeoff = Tradeoff::learned;  ///< LightNAS's λ (Eq. 6), or FBNet's fixed λ on log C
  double fixed_lambda = 0;                ///< λ of Tradeoff::fixed_log
  int epochs = 30;
  TemperatureSchedule temperature{5.0, 0.1, 10};  ///< its warm-up is the weights-only epochs
  float weight_lr = 0.05f, momentum = 0.9f, weight_decay = 3e-5f;  ///< SGD, cosine to 0
  double alpha_lr = 1e-3, alpha_weight_decay = 1e-3;               ///< Adam, betas (0.5, 0.999)
  LagrangeMultiplier::Options lambda{};
  double late_fraction = 0.8;   ///< α's learning rate is damped near T after this share of epochs
  double valid_fraction = 0.2;  ///< of the training set, for α
  int64_t batch = 128;
  uint64_t seed = 1;
  double band = 0.05;     ///< with a device: land the measured cost in [(1 − band)·T, T]
  int landing_edits = 6;  ///< single-layer edits (each measured) allowed for that; 0: none
  /// When set, the search's whole state is written here (atomically) after every epoch, and a
  /// search that finds the file continues after its last epoch, as if never stopped.
  std::string checkpoint;
};

/// Measures an architecture on the device, in the cost's unit (e.g. a MeasuredDevice's median).
using MeasureFn = std::function<double(const Architecture&)>;

/// One epoch of the search, as the convergence plot shows it.
struct SearchEpoch {
  int epoch = 0;
  double tau = 0, lambda = 0, cost = 0;  ///< calibrated cost of the argmax at the epoch's end
  std::optional<double> measured;         ///< the device's figure of that argmax
  double scale = 1;                       ///< measured / predicted the cost is multiplied by
  double train_accuracy = 0, seconds = 0;
  std::string architecture;
  double weight_seconds = 0;  ///< of `seconds`, in weight steps: training the sampled paths alone
};

struct SearchResult {
  Architecture architecture;  ///< the derived architecture (argmax α, landed when measured)
  Architecture searched;      ///< argmax α at the end, before landing
  double cost = 0, lambda = 0, seconds = 0;  ///< cost: calibrated prediction of `architecture`
  std::optional<double> measured;            ///< the device's figure of `architecture`
  double scale = 1;
  int landing_edits = 0;
  std::vector<SearchEpoch> history;
};

/// Runs one search of `space` on `train` (split into weights and α parts) against `cost`.
/// `on_epoch` sees each epoch's record; `measure` (optional) is the device that calibrates and
/// lands the result. Throws Error for a non-positive target or a bad split.
template <DifferentiableCost C>
SearchResult search(const SearchSpace& space, const C& cost, const Dataset& train, const SearchConfig& cfg,
                    const std::function<void(const SearchEpoch&)>& on_epoch = {}, const MeasureFn& measure = {});

/// The architecture near `a` whose measured cost lies in [(1 − band)·T, T]: single-layer edits,
/// each predicted from the last measurement (measured + scale·Δcost) and preferring the op α
/// ranks highest, at most `edits` of them. Returns the best measured architecture seen.
struct Landing {
  Architecture architecture;
  double measured = 0, scale = 1;
  int edits = 0;
};
template <DifferentiableCost C>
Landing land(const SearchSpace& space, const C& cost, const std::vector<float>& alpha, Architecture a, double target,
             double band, int edits, const MeasureFn& measure);

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
  double scale = 1;  // measured / predicted cost (the device's calibration)

  SearchRun(const SearchSpace& s, const C& c, const SearchConfig& k)
      : space(s), cost(c), cfg(k), net(s), weights(optim::param_groups(net, k.weight_decay), {k.momentum, false}),
        alpha_m(net.alpha().size(), 0.0f), alpha_v(net.alpha().size(), 0.0f), lambda(k.lambda), rng(k.seed) {}

  /// Everything an epoch changes, for the checkpoint: tensors by name, scalars in `meta`.
  std::vector<std::pair<std::string, Tensor*>> state_tensors() {
    std::vector<std::pair<std::string, Tensor*>> t;
    for (auto& [name, v] : net.parameters()) t.emplace_back("net." + name, &v->value());
    for (auto& [name, b] : net.buffers()) t.emplace_back("net." + name, b);
    for (auto& [name, b] : weights.state()) t.emplace_back("optim." + name, b);
    return t;
  }
  void save(const std::string& path, int epochs_done, const std::vector<SearchEpoch>& history, double seconds);
  /// Restores a checkpoint of this search; returns (epochs done, seconds spent) and fills history.
  std::pair<int, double> load(const std::string& path, std::vector<SearchEpoch>& history);

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
    const double c = scale * cost.cost(std::span<const float>(p), std::span<float>(dp));
    const bool learned = cfg.tradeoff == SearchConfig::Tradeoff::learned;
    // ∂/∂p of λ·(scale·C/T − 1), or of λ·log(scale·C) = λ·scale/c · ∂C/∂p
    const double coef = learned ? lambda.value() * scale / cfg.target : cfg.fixed_lambda * scale / c;
    add_softmax_backward(space, p, dp, coef, dalpha);
    const double before = scale * cost.cost_of(net.argmax());
    const double lr = cfg.alpha_lr * (learned ? lambda.alpha_lr_scale(before, cfg.target, late) : 1.0);
    optim::adam_step<float>(net.alpha(), dalpha, alpha_m, alpha_v, ++alpha_steps, float(lr),
                            float(cfg.alpha_weight_decay), {0.5, 0.999, 1e-8, true});
    if (learned) lambda.update(scale * cost.cost_of(net.argmax()), cfg.target);  // the architecture after this step
  }
};

inline nlohmann::json to_json(const SearchEpoch& e) {
  nlohmann::json j{{"epoch", e.epoch}, {"tau", e.tau}, {"lambda", e.lambda}, {"cost", e.cost}, {"scale", e.scale},
                   {"train_accuracy", e.train_accuracy}, {"seconds", e.seconds}, {"architecture", e.architecture}};
  if (e.measured) j["measured"] = *e.measured;
  if (e.weight_seconds > 0) j["weight_seconds"] = e.weight_seconds;
  return j;
}

inline SearchEpoch epoch_from_json(const nlohmann::json& j) {
  SearchEpoch e{j.at("epoch"), j.at("tau"), j.at("lambda"), j.at("cost"), std::nullopt, j.at("scale"),
                j.at("train_accuracy"), j.at("seconds"), j.at("architecture")};
  if (j.contains("measured")) e.measured = double(j["measured"]);
  e.weight_seconds = j.value("weight_seconds", 0.0);
  return e;
}

template <class C>
void SearchRun<C>::save(const std::string& path, int epochs_done, const std::vector<SearchEpoch>& history,
                        double seconds) {
  Checkpoint c;
  for (auto& [name, t] : state_tensors()) c.tensors.emplace_back(name, *t);
  const int64_t n = int64_t(alpha_m.size());
  c.tensors.emplace_back("alpha", Tensor::from({n}, net.alpha()));
  c.tensors.emplace_back("alpha.adam.m", Tensor::from({n}, alpha_m));
  c.tensors.emplace_back("alpha.adam.v", Tensor::from({n}, alpha_v));
  std::ostringstream rng_state;
  rng_state << rng;
  nlohmann::json h = nlohmann::json::array();
  for (const SearchEpoch& e : history) h.push_back(to_json(e));
  c.meta = {{"kind", "lightnas-search"}, {"target", cfg.target}, {"epochs", cfg.epochs},
            {"tradeoff_fixed_lambda", cfg.tradeoff == SearchConfig::Tradeoff::fixed_log ? cfg.fixed_lambda : -1.0},
            {"epochs_done", epochs_done}, {"seconds", seconds}, {"alpha_steps", alpha_steps},
            {"weight_steps", weights.steps()}, {"lambda", lambda.value()}, {"scale", scale},
            {"rng", rng_state.str()}, {"history", h}};
  save_checkpoint(path, c);
}

template <class C>
std::pair<int, double> SearchRun<C>::load(const std::string& path, std::vector<SearchEpoch>& history) {
  const Checkpoint c = load_checkpoint(path);
  const auto& m = c.meta;
  const double fixed = cfg.tradeoff == SearchConfig::Tradeoff::fixed_log ? cfg.fixed_lambda : -1.0;
  if (m.value("kind", "") != "lightnas-search" || m.value("target", 0.0) != cfg.target ||
      m.value("epochs", 0) != cfg.epochs || m.value("tradeoff_fixed_lambda", 0.0) != fixed)
    throw Error("lightnas::search: checkpoint '" + path + "' belongs to another search (target " +
                std::to_string(m.value("target", 0.0)) + ", " + std::to_string(m.value("epochs", 0)) +
                " epochs); remove it or give another path");
  const int64_t n = int64_t(alpha_m.size());
  Tensor a = Tensor::empty({n}), am = Tensor::empty({n}), av = Tensor::empty({n});
  auto targets = state_tensors();
  targets.insert(targets.end(), {{"alpha", &a}, {"alpha.adam.m", &am}, {"alpha.adam.v", &av}});
  restore_into(c, targets);
  net.alpha().assign(a.data(), a.data() + n);
  alpha_m.assign(am.data(), am.data() + n);
  alpha_v.assign(av.data(), av.data() + n);
  alpha_steps = m.at("alpha_steps");
  weights.set_steps(m.at("weight_steps"));
  lambda.set(m.at("lambda"));
  scale = m.at("scale");
  std::istringstream(m.at("rng").get<std::string>()) >> rng;
  history.clear();
  for (const auto& e : m.at("history")) history.push_back(epoch_from_json(e));
  return {m.at("epochs_done"), m.at("seconds")};
}

}  // namespace detail

namespace detail {

/// One epoch of the search: weight steps on every training batch, after the warm-up an α step
/// on a held-out batch after each. Returns the epoch's training accuracy; adds the time spent in
/// weight steps to `weight_seconds`.
template <class C>
double search_epoch(SearchRun<C>& run, Batcher& wb, Batcher& ab, const optim::LrSchedule& schedule, int e,
                    double& weight_seconds) {
  const SearchConfig& cfg = run.cfg;
  const double tau = cfg.temperature.at(e);
  const bool search_alpha = e >= cfg.temperature.warmup, late = e >= int(cfg.late_fraction * cfg.epochs);
  run.net.train();
  wb.start_epoch(e);
  ab.start_epoch(e);
  Tensor x, y, vx, vy;
  int64_t correct = 0, seen = 0, valid_epoch = e;
  while (wb.next(x, y)) {
    const auto t0 = std::chrono::steady_clock::now();
    correct += run.weight_step(x, y, tau, schedule.at(run.weights.steps()));
    weight_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    seen += x.dim(0);
    if (!search_alpha) continue;
    if (!ab.next(vx, vy)) ab.start_epoch(int(++valid_epoch)), ab.next(vx, vy);
    run.alpha_step(vx, vy, tau, late);
  }
  return double(correct) / double(std::max<int64_t>(1, seen));
}

/// Σ over layers of α[l][a[l]]: how strongly α prefers `a` (landing keeps this high).
inline double alpha_score(const std::vector<float>& alpha, const Architecture& a) {
  double s = 0;
  for (size_t l = 0; l < a.size(); ++l) s += alpha[l * kOpsPerLayer + size_t(a[l])];
  return s;
}

}  // namespace detail

template <DifferentiableCost C>
SearchResult search(const SearchSpace& space, const C& cost, const Dataset& train, const SearchConfig& cfg,
                    const std::function<void(const SearchEpoch&)>& on_epoch, const MeasureFn& measure) {
  if (!(cfg.target > 0) || cfg.epochs < 1 || !(cfg.valid_fraction > 0 && cfg.valid_fraction < 1) ||
      !(cfg.band > 0 && cfg.band < 1))
    throw Error("lightnas::search: needs a positive target, epochs >= 1, a validation fraction and a band in (0, 1)");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t n_valid = std::max<int64_t>(1, int64_t(double(train.size()) * cfg.valid_fraction));
  const auto [wdata, adata] = detail::split(train, train.size() - n_valid);
  detail::SearchRun<C> run(space, cost, cfg);
  Batcher wb(wdata, {.batch_size = cfg.batch, .shuffle = true, .seed = cfg.seed});
  Batcher ab(adata, {.batch_size = cfg.batch, .shuffle = true, .seed = cfg.seed + 1});
  const optim::LrSchedule schedule{optim::ScheduleKind::cosine, cfg.weight_lr, wb.batches_per_epoch() * cfg.epochs};
  SearchResult result;
  int first = 0;
  double before = 0;  // seconds spent before a resume
  if (!cfg.checkpoint.empty() && std::filesystem::exists(cfg.checkpoint))
    std::tie(first, before) = run.load(cfg.checkpoint, result.history);
  for (int e = first; e < cfg.epochs; ++e) {
    const auto te = std::chrono::steady_clock::now();
    double weight_seconds = 0;
    const double accuracy = detail::search_epoch(run, wb, ab, schedule, e, weight_seconds);
    const Architecture a = run.net.argmax();
    SearchEpoch rec{e, cfg.temperature.at(e), run.lambda.value(), 0, std::nullopt, run.scale, accuracy, 0,
                    space.describe(a), weight_seconds};
    if (measure && e >= cfg.temperature.warmup) {  // the device calibrates the cost on the argmax
      rec.measured = measure(a);
      run.scale = rec.scale = *rec.measured / cost.cost_of(a);
    }
    rec.cost = run.scale * cost.cost_of(a);
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
    result.history.push_back(rec);
    if (!cfg.checkpoint.empty())
      run.save(cfg.checkpoint, e + 1, result.history,
               before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (on_epoch) on_epoch(rec);
  }
  result.searched = result.architecture = run.net.argmax();
  if (measure && cfg.landing_edits > 0) {
    const Landing l = land(space, cost, run.net.alpha(), result.searched, cfg.target, cfg.band, cfg.landing_edits, measure);
    result.architecture = l.architecture, result.measured = l.measured, run.scale = l.scale, result.landing_edits = l.edits;
  } else if (measure) {
    result.measured = measure(result.architecture);
  }
  result.scale = run.scale;
  result.cost = run.scale * cost.cost_of(result.architecture);
  result.lambda = run.lambda.value();
  result.seconds = before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

template <DifferentiableCost C>
Landing land(const SearchSpace& space, const C& cost, const std::vector<float>& alpha, Architecture a, double target,
             double band, int edits, const MeasureFn& measure) {
  const double lo = (1 - band) * target, mid = (1 - band / 2) * target;
  auto inside = [&](double m) { return m >= lo && m <= target; };
  Landing cur{a, measure(a), 1, 0};
  cur.scale = cur.measured / cost.cost_of(a);
  std::vector<Landing> seen{cur};
  while (!inside(cur.measured) && cur.edits < edits) {
    // The edit whose predicted figure lands inside with the least loss of α's preference, else
    // the one nearest the middle of the band.
    Architecture best;
    double best_score = -1e300;
    bool best_inside = false;
    const double here = cost.cost_of(cur.architecture);
    for (size_t l = 0; l < space.layers(); ++l)
      for (int op = 0; op < kOpsPerLayer; ++op) {
        if (!space.allowed(l, op) || op == cur.architecture[l]) continue;
        Architecture b = cur.architecture;
        b[l] = op;
        const double pred = cur.measured + cur.scale * (cost.cost_of(b) - here);
        const bool in = inside(pred);
        const double score = in ? detail::alpha_score(alpha, b) : -std::abs(pred - mid) * 1e6;
        if ((in && !best_inside) || ((in == best_inside) && score > best_score))
          best = b, best_score = score, best_inside = in;
      }
    if (best.empty()) break;
    const double m = measure(best);
    cur = {best, m, m / cost.cost_of(best), cur.edits + 1};
    seen.push_back(cur);
  }
  // The best seen: inside the band with α's highest preference, else the largest under T, else
  // the smallest.
  auto rank = [&](const Landing& x) {
    if (inside(x.measured)) return 2e12 + detail::alpha_score(alpha, x.architecture);
    return x.measured <= target ? 1e12 + x.measured : -x.measured;
  };
  Landing best = *std::max_element(seen.begin(), seen.end(), [&](const Landing& x, const Landing& y) { return rank(x) < rank(y); });
  best.edits = cur.edits;
  return best;
}

}  // namespace hwaware::lightnas
