#pragma once
// The baselines ZeroBN is compared with, in the same harness and epoch budget:
// - Network Slimming (Liu et al., ICCV 2017), three stages: train with the L1 penalty on BN
//   scales, prune globally to a ratio, fine-tune — here with the total epochs split between
//   training and fine-tuning;
// - uniform width scaling: the largest width multiplier whose predicted latency meets the budget,
//   trained from scratch for the same epochs.
#include <functional>
#include <memory>

#include "hwaware/methods/zerobn/zerobn.hpp"

namespace hwaware::zerobn {

struct BaselineResult {
  std::unique_ptr<nn::Module> model;
  double ratio_or_width = 0;
  double predicted_ms = 0, measured_ms = -1;
  double test_accuracy = 0;
  int64_t params = 0, macs = 0;
  double train_seconds = 0;
};

/// Training one epoch at a time with ZeroBN's optimizer, cosine schedule and batches (over
/// `epochs` in all). Stepped from ZeroBNConfig::on_epoch_end, plain training runs in the same time
/// window as a ZeroBN run, epoch by epoch, so their time ratio does not carry the machine's drift.
class EpochTrainer {
 public:
  EpochTrainer(nn::Module& m, const ZeroBNConfig& cfg, const Dataset& train, int epochs, float lr,
               train::StepHooks hooks = {})
      : m_(m),
        opt_(optim::param_groups(m, cfg.weight_decay), {cfg.momentum, false}),
        batcher_(train, {.batch_size = cfg.batch, .shuffle = true, .seed = cfg.seed}),
        sched_{optim::ScheduleKind::cosine, lr, batcher_.batches_per_epoch() * std::max(1, epochs), 0},
        hooks_(std::move(hooks)),
        bar_(stderr, cfg.progress),
        progress_(cfg.progress) {}

  /// Trains one epoch; `e` numbers it for the shuffle and the progress bar. Returns its seconds.
  double epoch(int e) {
    const double s = train::train_epoch(m_, opt_, sched_, batcher_, e, 0.f, progress_ ? &bar_ : nullptr, hooks_).seconds;
    seconds_ += s;
    return s;
  }
  double seconds() const { return seconds_; }

 private:
  nn::Module& m_;
  optim::Sgd opt_;
  Batcher batcher_;
  optim::LrSchedule sched_;
  train::StepHooks hooks_;
  report::ProgressBar bar_;
  bool progress_;
  double seconds_ = 0;
};

namespace detail {
inline double train_for(nn::Module& m, const ZeroBNConfig& cfg, const Dataset& train, int epochs, float lr,
                        const train::StepHooks& hooks = {}, int first_epoch = 0) {
  EpochTrainer t(m, cfg, train, epochs, lr, hooks);
  for (int e = 0; e < epochs; ++e) t.epoch(first_epoch + e);
  return t.seconds();
}

template <class Dev>
void finish(BaselineResult& r, const ZeroBNConfig& cfg, const Dataset& test, Dev* device, double predicted) {
  r.predicted_ms = predicted;
  r.measured_ms = device ? device->measure(*r.model, cfg.input_chw).median_ms : -1;
  r.test_accuracy = train::evaluate(*r.model, test).accuracy;
  r.params = r.model->parameter_count();
  r.macs = nn::total_macs(r.model->describe(cfg.input_chw));
}
}  // namespace detail

/// Network Slimming at `ratio` with `train_share` of the epochs for stage 1, the rest fine-tuning
/// (at a tenth of the learning rate, as the authors fine-tune).
template <hw::Predictor P, class Dev = hw::OnednnCpuDevice, Ranking R = GlobalBnRanking>
BaselineResult network_slimming(const std::function<std::unique_ptr<nn::Module>()>& make, const P& predictor,
                                const ZeroBNConfig& cfg, double ratio, const Dataset& train, const Dataset& test,
                                Dev* device = nullptr, double train_share = 0.6, R ranking = {}) {
  nn::manual_seed(cfg.seed);
  BaselineResult r;
  r.model = make();
  auto groups = nn::channel_groups(*r.model, cfg.input_chw[0]);
  std::vector<nn::BatchNorm2d*> bns;
  for (auto& g : groups) bns.insert(bns.end(), g.bns.begin(), g.bns.end());
  train::StepHooks l1;
  l1.after_backward = [&] { add_l1_subgradient(bns, cfg.sparsity); };
  const int e1 = std::max(1, int(std::lround(cfg.epochs * train_share)));
  r.train_seconds = detail::train_for(*r.model, cfg, train, e1, cfg.lr, l1);
  const auto sel = ranking.select(groups, ratio, cfg.guards);
  for (size_t g = 0; g < groups.size(); ++g)
    if (groups[g].prunable) nn::keep_channels(groups[g], sel[g]);
  if (cfg.epochs - e1 > 0) r.train_seconds += detail::train_for(*r.model, cfg, train, cfg.epochs - e1, cfg.lr * 0.1f, {}, e1);
  r.ratio_or_width = ratio;
  detail::finish(r, cfg, test, device, predictor.predict_ms(r.model->describe(cfg.input_chw)));
  return r;
}

/// Uniform width scaling to the budget: bisection on the width multiplier against the predictor.
template <hw::Predictor P, class Dev = hw::OnednnCpuDevice>
BaselineResult uniform_width(const std::function<std::unique_ptr<nn::Module>(double width)>& make, const P& predictor,
                             const ZeroBNConfig& cfg, const Dataset& train, const Dataset& test, Dev* device = nullptr) {
  auto at = [&](double w) { return predictor.predict_ms(make(w)->describe(cfg.input_chw)); };
  double lo = 0.02, hi = 1.0;
  if (at(hi) > cfg.latency_ms) {
    while (hi - lo > 0.01) {
      const double mid = 0.5 * (lo + hi);
      (at(mid) <= cfg.latency_ms ? lo : hi) = mid;
    }
    hi = lo;
  }
  nn::manual_seed(cfg.seed);
  BaselineResult r;
  r.model = make(hi);
  r.ratio_or_width = hi;
  r.train_seconds = detail::train_for(*r.model, cfg, train, cfg.epochs, cfg.lr);
  detail::finish(r, cfg, test, device, at(hi));
  return r;
}

}  // namespace hwaware::zerobn
