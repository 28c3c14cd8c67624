#pragma once
// The pruners ZeroBN is compared with, as Pruner policies in the same harness and epoch budget:
// - NetworkSlimming (Liu et al., ICCV 2017): train with the L1 penalty on BN scales, prune
//   globally to a ratio, fine-tune at a tenth of the learning rate (the authors' fine-tuning);
//   the ratio is given, or bisected so the predicted latency (calibrated on the full network's
//   device figure) meets the budget;
// - UniformWidth: the largest width multiplier whose calibrated prediction meets the budget,
//   trained from scratch.
// Both report the device's figure of their result; neither corrects it on the device.
#include <optional>

#include "hwaware/hw/measured_device.hpp"
#include "hwaware/hw/mlp_predictor.hpp"
#include "hwaware/methods/common/controller.hpp"
#include "hwaware/methods/common/policies.hpp"
#include "hwaware/methods/common/training.hpp"
#include "hwaware/methods/zerobn/architecture.hpp"

namespace hwaware {

namespace hw {
class OnednnCpuDevice;
}

namespace zerobn::detail {
/// The budget T and the calibration measured / predicted, both from one device figure of the
/// full network: `full_ms` when given (e.g. the figure a ZeroBN run started from, so the baselines
/// share its machine state), else measured now. A MACs budget is exact and needs no device.
template <hw::Predictor P, class D>
std::pair<double, double> budget_and_scale(const Budget& b, const P& predictor, hw::MeasuredDevice<D>& device,
                                           nn::Module& full, const Shape& chw, std::optional<double> full_ms) {
  b.validate("pruner");
  if (!b.on_device()) return {b.absolute(double(nn::total_macs(full.describe(chw)))), 1.0};
  const double ms = full_ms ? *full_ms : device.measure(full).ms;
  return {b.absolute(ms), ms / predictor.predict_ms(full.describe(chw))};
}

/// A baseline's trained network judged once: predicted, measured (latency budgets), checked
/// against the budget, described.
template <hw::Predictor P, class D>
void judge_result(PrunedNetwork& r, const Budget& b, double budget, const P& predictor, hw::MeasuredDevice<D>& device,
                  const Dataset& test, const Shape& chw) {
  const auto d = r.network->describe(chw);
  r.predicted_ms = predictor.predict_ms(d);
  if (b.on_device()) r.measured_ms = device.measure(*r.network).ms;
  r.budget_ms = b.on_device() ? budget : 0;
  r.budget_met = b.on_device() ? *r.measured_ms <= budget : double(nn::total_macs(d)) <= budget;
  describe_network(r, test, chw);
}

inline double budget_metric(const Budget& b, const hw::NetDesc& d, double predicted_ms, double scale) {
  return b.on_device() ? scale * predicted_ms : double(nn::total_macs(d));
}
}  // namespace zerobn::detail

struct SlimmingConfig {
  Budget budget = Budget::fraction_of_full(0.5);
  std::optional<double> ratio;    // prune this share of channels (else bisected to the budget)
  std::optional<double> full_ms;  // the full network's device figure (measured when empty)
  int epochs = 20;
  double train_share = 0.6;     // epochs of sparsity training; the rest fine-tunes
  float sparsity = 1e-4f;
  zerobn::SelectionGuards guards{};
  ControlOptions control{};
  hw::MeasurementProtocol measurement{};
  TrainingOptions training{};
};

template <hw::Predictor P = hw::MlpLatencyPredictor, zerobn::Ranking R = zerobn::GlobalBnRanking,
          class D = hw::OnednnCpuDevice>
  requires hw::Device<D>
class NetworkSlimming {
 public:
  NetworkSlimming(P predictor, D& device, SlimmingConfig config, R ranking = {})
      : predictor_(std::move(predictor)), device_(device), cfg_(std::move(config)), ranking_(std::move(ranking)) {}

  PrunedNetwork prune(const ModelFamily& family, const Dataset& train, const Dataset& test) {
    const auto& t = cfg_.training;
    hw::MeasuredDevice<D> device(device_, cfg_.measurement, t.input_chw);
    nn::manual_seed(t.seed);
    PrunedNetwork r;
    r.network = family(1.0);
    // Pruned to a given ratio under an absolute budget, nothing needs the full network's figure.
    const bool given = cfg_.ratio && cfg_.budget.unit == Budget::Unit::latency_ms;
    const auto [budget, scale] = given ? std::pair{cfg_.budget.value, 1.0}
                                       : zerobn::detail::budget_and_scale(cfg_.budget, predictor_, device, *r.network,
                                                                          t.input_chw, cfg_.full_ms);
    auto groups = nn::channel_groups(*r.network, t.input_chw[0]);
    train::StepHooks l1;
    const auto bns = zerobn::all_bns(groups);
    l1.after_backward = [&] { zerobn::add_l1_subgradient(bns, cfg_.sparsity); };
    const int e1 = std::max(1, int(std::lround(cfg_.epochs * cfg_.train_share)));
    r.train_seconds = train_epochs(*r.network, t, train, e1, t.lr, l1);
    BudgetController control(budget, cfg_.control, false);
    auto metric_at = [&](double ratio) {
      const auto d = zerobn::describe_selected(*r.network, groups, ranking_.select(groups, ratio, cfg_.guards), t.input_chw);
      return zerobn::detail::budget_metric(cfg_.budget, d, cfg_.budget.on_device() ? predictor_.predict_ms(d) : 0, scale);
    };
    ratio_ = cfg_.ratio ? *cfg_.ratio : control.bisect(metric_at);
    const auto sel = ranking_.select(groups, ratio_, cfg_.guards);
    for (size_t g = 0; g < groups.size(); ++g)
      if (groups[g].prunable) nn::keep_channels(groups[g], sel[g]);
    if (cfg_.epochs > e1) r.train_seconds += train_epochs(*r.network, t, train, cfg_.epochs - e1, t.lr * 0.1f, {}, e1);
    zerobn::detail::judge_result(r, cfg_.budget, budget, predictor_, device, test, t.input_chw);
    return r;
  }
  /// The ratio the last prune() used.
  double ratio() const { return ratio_; }

 private:
  P predictor_;
  D& device_;
  SlimmingConfig cfg_;
  R ranking_;
  double ratio_ = 0;
};

struct UniformWidthConfig {
  Budget budget = Budget::fraction_of_full(0.5);
  std::optional<double> full_ms;  // the full network's device figure (measured when empty)
  int epochs = 20;
  double min_width = 0.02;
  ControlOptions control{};
  hw::MeasurementProtocol measurement{};
  TrainingOptions training{};
};

template <hw::Predictor P = hw::MlpLatencyPredictor, class D = hw::OnednnCpuDevice>
  requires hw::Device<D>
class UniformWidth {
 public:
  UniformWidth(P predictor, D& device, UniformWidthConfig config)
      : predictor_(std::move(predictor)), device_(device), cfg_(std::move(config)) {}

  PrunedNetwork prune(const ModelFamily& family, const Dataset& train, const Dataset& test) {
    const auto& t = cfg_.training;
    hw::MeasuredDevice<D> device(device_, cfg_.measurement, t.input_chw);
    auto full = family(1.0);
    const auto [budget, scale] =
        zerobn::detail::budget_and_scale(cfg_.budget, predictor_, device, *full, t.input_chw, cfg_.full_ms);
    const double span = 1.0 - cfg_.min_width;  // knob k: width 1 − k·span
    auto metric_at = [&](double k) {
      const auto d = family(1.0 - k * span)->describe(t.input_chw);
      return zerobn::detail::budget_metric(cfg_.budget, d, cfg_.budget.on_device() ? predictor_.predict_ms(d) : 0, scale);
    };
    width_ = 1.0 - BudgetController(budget, cfg_.control, false).bisect(metric_at) * span;
    nn::manual_seed(t.seed);
    PrunedNetwork r;
    r.network = family(width_);
    r.train_seconds = train_epochs(*r.network, t, train, cfg_.epochs, t.lr);
    zerobn::detail::judge_result(r, cfg_.budget, budget, predictor_, device, test, t.input_chw);
    return r;
  }
  /// The width multiplier the last prune() chose.
  double width() const { return width_; }

 private:
  P predictor_;
  D& device_;
  UniformWidthConfig cfg_;
  double width_ = 1;
};

}  // namespace hwaware
