#pragma once
// ZeroBN's configuration (nested by concern, the paper's defaults) and what a run returns.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <optional>
#include <vector>

#include "hwaware/hw/measured_device.hpp"
#include "hwaware/methods/common/budget.hpp"
#include "hwaware/methods/common/controller.hpp"
#include "hwaware/methods/common/training.hpp"
#include "hwaware/methods/zerobn/ranking.hpp"

namespace hwaware {

namespace zerobn {

/// The training schedule (Huai et al., DAC 2021, and the authors' CIFAR code), and where the
/// device is consulted inside it.
struct Schedule {
  int epochs = 20;
  double initial_fraction = 0.25;  // share of epochs in Initial Training
  int interval = 2;                // ZT and RT alternate every `interval` epochs; the last is ZT
  float sparsity = 1e-4f;          // s: γ.grad += s·sign(γ) (the paper's CIFAR VGG)
  // Inside ZT epochs the mask is re-checked every `retarget_every` steps and r bisected again
  // when its latency left the band: the ranking moves channels between layers of unequal cost,
  // so a fixed r drifts off target. 0: r fixed per ZT phase (the paper).
  int retarget_every = 50;
  // In the last ZT epoch those checks measure on the device, so training ends on a confirmed mask.
  bool measure_last_epoch = true;
  // Share of the last epoch in which r may move; the rest trains one architecture (kept counts
  // frozen): a retarget with no training after it leaves the network untrained on its mask.
  double settle_fraction = 0.25;
  // At the freeze, raise kept counts into the slack the guards' rounding left under the target
  // (the device confirms the filled architecture before it is kept).
  bool fill_slack = true;
  // A mask the guarantee raised after training is trained this share of an epoch at
  // recovery_lr_fraction × lr before extraction: removing channels the training kept costs accuracy.
  double recovery_epochs = 0.25;
  double recovery_lr_fraction = 0.1;
};

}  // namespace zerobn

enum class Phase : uint8_t { initial, zero, recovery };
inline const char* phase_name(Phase p) { return p == Phase::initial ? "IT" : p == Phase::zero ? "ZT" : "RT"; }

/// Phase of epoch e: IT first; after it, blocks of `interval` epochs alternate so that the last is ZT.
inline Phase zerobn_phase(int e, const zerobn::Schedule& s) {
  const int it = std::max(0, std::min(s.epochs - 1, int(std::lround(s.initial_fraction * s.epochs))));
  if (e < it) return Phase::initial;
  return ((s.epochs - 1 - e) / std::max(1, s.interval)) % 2 == 0 ? Phase::zero : Phase::recovery;
}

struct ZeroBNEpoch {
  int epoch = 0;
  Phase phase = Phase::initial;
  double ratio = 0;                    // r in force at the end of the epoch (0 outside ZT)
  double predicted = 0;                // budget metric of the network at r (ms, or MACs)
  std::optional<double> measured_ms;   // that network on the device, when it was measured
  double calibration = 1;              // measured / predicted used in the bisection
  double train_loss = 0, train_accuracy = 0, seconds = 0;
};

struct ZeroBNConfig {
  Budget budget = Budget::fraction_of_full(0.5);
  zerobn::Schedule schedule{};
  zerobn::SelectionGuards guards{};
  ControlOptions control{};
  hw::MeasurementProtocol measurement{};
  TrainingOptions training{};
  CheckpointOptions checkpoint{};
  // Called after every epoch with its record (checkpoint written), outside the timed training
  // (e.g. one epoch of a baseline run in the same minutes, for a time comparison free of drift).
  std::function<void(const ZeroBNEpoch&)> on_epoch_end;
};

/// What the device says about the full network and the smallest one the guards allow.
struct ZeroBNFeasibility {
  double smallest_predicted = 0, full_predicted = 0;  // in the budget's unit (ms or MACs)
  std::optional<double> smallest_measured_ms, full_measured_ms;
  double budget = 0;                                  // T in absolute terms
};

namespace zerobn {
/// Why a budget is infeasible: the budget, the floor the guards allow, where it was taken.
inline std::string infeasible_message(const ZeroBNFeasibility& f, const Budget& b, const SelectionGuards& guards,
                                      double floor) {
  const std::string unit = b.on_device() ? " ms" : " MACs";
  std::string m = "ZeroBN: the budget " + std::to_string(f.budget) + unit;
  if (b.unit == Budget::Unit::fraction) m += " (" + std::to_string(b.value) + " of the full network)";
  m += " is infeasible: the smallest network the guards allow (min " + std::to_string(guards.min_channels) +
       " channels per layer, powers of two up to " + std::to_string(guards.round_to) +
       " and multiples of it above) takes " + std::to_string(floor) + unit;
  m += f.smallest_measured_ms ? " measured on the device" : " predicted";
  if (f.full_measured_ms)
    m += " (the full network " + std::to_string(*f.full_measured_ms) + " ms: " +
         std::to_string(*f.smallest_measured_ms / *f.full_measured_ms) + " of it)";
  return m;
}
}  // namespace zerobn

struct ZeroBNResult {
  std::unique_ptr<nn::Module> compact;  // the extracted network
  zerobn::Selection selection;
  double budget = 0;                    // T (ms for latency budgets, MACs for a MACs budget)
  double ratio = 0;                     // final r (after the guarantee)
  double predicted = 0;                 // predicted metric of the compact network
  std::optional<double> measured_ms;    // on the device, drift-corrected (latency budgets)
  std::optional<double> measured_raw_ms;     // the same figure before the correction
  std::optional<double> full_measured_ms;    // the full network at the start (the drift reference)
  std::optional<double> full_now_ms;         // the reference as last measured
  double masked_test_accuracy = 0;  // the trained network under its training mask
  double test_accuracy = 0;         // the compact network (equal up to float rounding)
  int64_t params = 0, macs = 0;
  double train_seconds = 0;         // training epochs (recovery included), masks and bisections
  double wall_seconds = 0;          // all of run() but on_epoch_end
  double extraction_max_abs_diff = 0;  // max |logits(masked) − logits(compact)| on test images
  int guarantee_steps = 0;          // raises of r after training
  int drift_waits = 0;              // guarantee figures dropped on a drifted machine
  int64_t recovery_steps = 0;       // steps trained with the raised mask
  int measurements = 0;             // device figures in the run (feasibility excluded)
  bool budget_met = false;
  std::vector<ZeroBNEpoch> epochs;
  std::vector<std::vector<float>> importance;  // per epoch, |γ| of all prunable channels (Fig. 3)

  /// The result as the Pruner contract states it (moves the network out).
  PrunedNetwork to_pruned(bool latency_budget) {
    PrunedNetwork p;
    p.network = std::move(compact);
    p.budget_ms = latency_budget ? budget : 0;
    if (latency_budget) p.predicted_ms = predicted;
    p.measured_ms = measured_ms;
    p.test_accuracy = test_accuracy, p.params = params, p.macs = macs;
    p.train_seconds = train_seconds, p.budget_met = budget_met;
    return p;
  }
};

}  // namespace hwaware
