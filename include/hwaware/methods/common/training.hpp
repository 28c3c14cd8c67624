#pragma once
// The training recipe every method and baseline shares (SGD with momentum, cosine schedule,
// seeded batches), one epoch at a time so that a baseline can run interleaved with a method
// epoch by epoch (their time ratio then does not carry the machine's drift).
#include <cstdint>
#include <string>
#include <utility>

#include "hwaware/methods/common/policies.hpp"
#include "hwaware/train/trainer.hpp"

namespace hwaware {

struct TrainingOptions {
  float lr = 0.05f, momentum = 0.9f, weight_decay = 5e-4f;
  int64_t batch = 128;
  uint64_t seed = 1;
  Shape input_chw = {1, 28, 28};
  bool progress = true;
};

/// A run's checkpoint: written after every epoch when `path` is set; `resume` continues from it.
struct CheckpointOptions {
  std::string path;
  bool resume = false;
};

/// Trains a model with the shared recipe over `epochs` in all, one epoch per call.
class EpochTrainer {
 public:
  EpochTrainer(nn::Module& m, const TrainingOptions& o, const Dataset& train, int epochs, float lr,
               train::StepHooks hooks = {})
      : m_(m),
        opt_(optim::param_groups(m, o.weight_decay), {o.momentum, false}),
        batcher_(train, {.batch_size = o.batch, .shuffle = true, .seed = o.seed}),
        sched_{optim::ScheduleKind::cosine, lr, batcher_.batches_per_epoch() * std::max(1, epochs), 0},
        hooks_(std::move(hooks)),
        bar_(stderr, o.progress),
        progress_(o.progress) {}

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

/// Trains `m` for `epochs` epochs (numbered from `first_epoch`); returns the training seconds.
inline double train_epochs(nn::Module& m, const TrainingOptions& o, const Dataset& train, int epochs, float lr,
                           const train::StepHooks& hooks = {}, int first_epoch = 0) {
  EpochTrainer t(m, o, train, epochs, lr, hooks);
  for (int e = 0; e < epochs; ++e) t.epoch(first_epoch + e);
  return t.seconds();
}

/// Fills a result's test accuracy, parameters and MACs from its network.
inline void describe_network(PrunedNetwork& r, const Dataset& test, const Shape& chw) {
  r.test_accuracy = train::evaluate(*r.network, test).accuracy;
  r.params = r.network->parameter_count();
  r.macs = nn::total_macs(r.network->describe(chw));
}

}  // namespace hwaware
