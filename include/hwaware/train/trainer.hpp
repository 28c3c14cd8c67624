#pragma once
// The training loop: one epoch of SGD over a Batcher with a per-step learning-rate schedule,
// evaluation, and whole-run state (model, optimizer, epoch) saved and restored through
// checkpoints so a killed run resumes where it stopped.
#include <chrono>
#include <cmath>
#include <string>

#include "hwaware/data/batcher.hpp"
#include "hwaware/nn/module.hpp"
#include "hwaware/optim/optimizer.hpp"
#include "hwaware/optim/schedule.hpp"
#include "hwaware/report/progress.hpp"
#include "hwaware/train/checkpoint.hpp"

namespace hwaware::train {

struct EpochStats {
  int epoch = 0;
  double loss = 0, accuracy = 0;
  double seconds = 0, img_per_s = 0;
  float last_lr = 0;
};

struct EvalStats {
  double loss = 0, accuracy = 0;
};

/// A hook called after each optimizer step (ZeroBN's masks and sparsity gradients live here).
struct StepHooks {
  std::function<void()> after_backward;  // before the optimizer step (e.g. add L1 subgradients)
  std::function<void()> after_step;      // after the optimizer step (e.g. re-apply masks)
};

/// Trains `model` for one epoch (or its first `max_batches` batches, when ≥ 0). Throws
/// DivergenceError naming the step on a non-finite loss.
inline EpochStats train_epoch(nn::Module& model, optim::Optimizer& opt, const optim::LrSchedule& schedule,
                              Batcher& batcher, int epoch, float label_smoothing = 0.f,
                              report::ProgressBar* progress = nullptr, const StepHooks& hooks = {},
                              int64_t max_batches = -1) {
  model.train();
  batcher.start_epoch(epoch);
  Tensor images, labels;
  EpochStats st{epoch};
  double loss_sum = 0;
  int64_t seen = 0, correct = 0, batches = 0;
  const auto t0 = std::chrono::steady_clock::now();
  if (progress) progress->start("epoch " + std::to_string(epoch + 1), batcher.batches_per_epoch());
  while ((max_batches < 0 || batches < max_batches) && batcher.next(images, labels)) {
    const float lr = schedule.at(opt.steps());
    opt.zero_grad();
    Variable x(images);
    auto out = ops::cross_entropy(model.forward(x), labels, label_smoothing);
    const float loss = out.loss.value().data()[0];
    if (!std::isfinite(loss))
      throw DivergenceError("training diverged: loss is " + std::to_string(loss) + " at step " +
                            std::to_string(opt.steps()) + " (epoch " + std::to_string(epoch + 1) + ", batch " +
                            std::to_string(batches + 1) + "); lower the learning rate");
    out.loss.backward();
    if (hooks.after_backward) hooks.after_backward();
    opt.step(lr);
    if (hooks.after_step) hooks.after_step();
    const int64_t n = images.dim(0);
    loss_sum += double(loss) * n, seen += n, correct += out.correct, ++batches;
    st.last_lr = lr;
    if (progress) progress->update(batches, loss_sum / seen, double(correct) / seen, seen);
  }
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.loss = loss_sum / double(std::max<int64_t>(seen, 1));
  st.accuracy = double(correct) / double(std::max<int64_t>(seen, 1));
  st.img_per_s = double(seen) / st.seconds;
  return st;
}

/// Loss and accuracy of `model` (in eval mode) on a data set.
inline EvalStats evaluate(nn::Module& model, const Dataset& data, int64_t batch = 500) {
  const bool was_training = model.training();
  model.eval();
  NoGradGuard no_grad;
  EvalStats st;
  int64_t correct = 0;
  double loss_sum = 0;
  for (int64_t b = 0; b < data.size(); b += batch) {
    const int64_t e = std::min(data.size(), b + batch);
    auto out = ops::cross_entropy(model.forward(Variable(data.images.slice0(b, e))), data.labels.slice0(b, e));
    correct += out.correct;
    loss_sum += double(out.loss.value().data()[0]) * double(e - b);
  }
  model.set_training(was_training);
  st.accuracy = double(correct) / double(data.size());
  st.loss = loss_sum / double(data.size());
  return st;
}

/// Everything needed to continue a run: parameters, BN statistics, optimizer state.
inline std::vector<std::pair<std::string, Tensor*>> training_state(nn::Module& model, optim::Optimizer& opt) {
  std::vector<std::pair<std::string, Tensor*>> s;
  for (auto& [name, v] : model.parameters()) s.emplace_back("model." + name, &v->value());
  for (auto& [name, t] : model.buffers()) s.emplace_back("model." + name, t);
  for (auto& [name, t] : opt.state()) s.emplace_back("optim." + name, t);
  return s;
}

/// Atomically writes the run state after `epochs_done` epochs; `meta` is stored alongside.
inline void save_training_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& opt,
                                     int epochs_done, nlohmann::json meta = {}) {
  Checkpoint c;
  for (auto& [name, t] : training_state(model, opt)) c.tensors.emplace_back(name, *t);
  meta["epochs_done"] = epochs_done;
  meta["optimizer_steps"] = opt.steps();
  c.meta = std::move(meta);
  save_checkpoint(path, c);
}

/// Restores a run saved by save_training_checkpoint; returns its metadata (with epochs_done).
inline nlohmann::json load_training_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& opt) {
  Checkpoint c = load_checkpoint(path);
  restore_into(c, training_state(model, opt));
  opt.set_steps(c.meta.value("optimizer_steps", int64_t{0}));
  return c.meta;
}

/// Atomically writes a trained model: its parameters and BN statistics (no optimizer state).
inline void save_model(const std::string& path, nn::Module& model, nlohmann::json meta = nlohmann::json::object()) {
  Checkpoint c;
  c.meta = std::move(meta);
  for (auto& [name, v] : model.parameters()) c.tensors.emplace_back(name, v->value());
  for (auto& [name, t] : model.buffers()) c.tensors.emplace_back(name, *t);
  save_checkpoint(path, c);
}

/// Restores a model saved by save_model; throws Error (naming the file and the tensor) when the
/// file does not hold this model's tensors.
inline void load_model(const std::string& path, nn::Module& model) {
  std::vector<std::pair<std::string, Tensor*>> targets;
  for (auto& [name, v] : model.parameters()) targets.emplace_back(name, &v->value());
  for (auto& [name, t] : model.buffers()) targets.emplace_back(name, t);
  restore_into(load_checkpoint(path), targets);
}

}  // namespace hwaware::train
