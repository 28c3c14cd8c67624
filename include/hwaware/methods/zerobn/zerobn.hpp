#pragma once
// ZeroBN (Huai et al., DAC 2021): budget-constrained channel pruning inside one training run.
//   ZeroBN<Predictor, Ranking, Device>{predictor, device, config}.run(make_model, train, test)
// L1 on BN scales throughout; Initial Training, then Zero / Recovery Training alternating, ending
// on ZT, where the ranking's lowest channels at ratio r get γ = β = 0 after every step. r is the
// shared budget controller's knob: bisected against the calibrated predictor at every ZT epoch,
// retargeted when the mask leaves the band, measured in the last ZT epoch until it settles (then
// the last architecture the device confirmed trains, its slack filled). The extracted network is
// judged on the device and r raised until it meets T (a raised mask trains briefly); a budget
// below the smallest allowed network is rejected before training.
// @tparam P a hw::Predictor: network description → ms; bisection runs on it, calibrated by D.
// @tparam R a zerobn::Ranking: which channels to keep at ratio r (the guards applied).
// @tparam D a hw::Device: judges latency budgets (hw::PredictedDevice<P>: no hardware at hand).
//         The default, hw::OnednnCpuDevice, is complete once <hwaware/zerobn.hpp> is included.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "hwaware/hw/mlp_predictor.hpp"
#include "hwaware/methods/common/policies.hpp"
#include "hwaware/methods/zerobn/architecture.hpp"
#include "hwaware/methods/zerobn/config.hpp"

namespace hwaware {

namespace hw { class OnednnCpuDevice; }  // the default device: hw/device.hpp, included by hwaware/zerobn.hpp

using zerobn::GlobalBnRanking;

template <hw::Predictor P = hw::MlpLatencyPredictor, zerobn::Ranking R = zerobn::GlobalBnRanking,
          class D = hw::OnednnCpuDevice>
  requires hw::Device<D>
class ZeroBN {
 public:
  using ModelFactory = zerobn::ModelFactory;

  ZeroBN(P predictor, D& device, ZeroBNConfig config, R ranking = {})
      : predictor_(std::move(predictor)), device_(device), cfg_(std::move(config)), ranking_(std::move(ranking)) {}

  /// The budget's metric (predicted ms, or MACs for a MACs budget) of `net` keeping `sel`.
  double predict(nn::Module& net, std::vector<nn::ChannelGroup>& groups, const zerobn::Selection& sel) const {
    return metric(zerobn::describe_selected(net, groups, sel, cfg_.training.input_chw));
  }
  /// The same for the first `kept[g]` channels of every group (only counts matter to a prediction).
  double predict_counts(nn::Module& net, std::vector<nn::ChannelGroup>& groups, const std::vector<int64_t>& kept) const {
    return predict(net, groups, zerobn::first_channels(groups, kept));
  }

  /// Throws InfeasibleBudget when even the smallest network the guards allow misses the budget
  /// (on the device for latency budgets, after the rechecks) — before any training; resolves a fraction to T.
  ZeroBNFeasibility check_feasible(const ModelFactory& make) {
    hw::MeasuredDevice<D> device(device_, cfg_.measurement, cfg_.training.input_chw);
    return check_feasible(make, device).first;
  }

  /// Defined below the class (not inline), so that hwaware::precompiled compiles it once.
  ZeroBNResult run(const ModelFactory& make, const Dataset& train, const Dataset& test);

  /// The Pruner contract: family(1.0) pruned to the configured budget.
  PrunedNetwork prune(const ModelFamily& family, const Dataset& train, const Dataset& test) {
    return run([&] { return family(1.0); }, train, test).to_pruned(cfg_.budget.on_device());
  }

  const ZeroBNConfig& config() const { return cfg_; }
  const R& ranking() const { return ranking_; }
  R& ranking() { return ranking_; }

 private:
  /// The state the phases of run() share.
  struct Run {
    Run(const ZeroBN& z, const ModelFactory& m)
        : make(m),
          device(z.device_, z.cfg_.measurement, z.cfg_.training.input_chw, report::Log{z.cfg_.training.progress}),
          log(z.cfg_.training.progress),
          bar(stderr, z.cfg_.training.progress) {}
    ModelFactory make;
    hw::MeasuredDevice<D> device;
    report::Log log;
    report::ProgressBar bar;
    std::optional<BudgetController> control;
    std::unique_ptr<nn::Module> net;
    std::vector<nn::ChannelGroup> groups;
    std::optional<optim::Sgd> opt;
    std::optional<Batcher> batcher;
    optim::LrSchedule sched{};
    double ratio = 0;                          // r in force
    std::vector<int64_t> frozen, confirmed;    // the architecture trained after the freeze; the last confirmed
    zerobn::Selection mask, final_sel;
    ZeroBNResult res;
    int start = 0;
    double callback_seconds = 0;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  };

  bool on_device() const { return cfg_.budget.on_device(); }
  double metric(const hw::NetDesc& d) const {
    return cfg_.budget.unit == Budget::Unit::macs ? double(nn::total_macs(d)) : predictor_.predict_ms(d);
  }
  zerobn::Selection select(Run& s, double r) const { return ranking_.select(s.groups, r, cfg_.guards); }
  zerobn::Selection current(Run& s) const {
    return s.frozen.empty() ? select(s, s.ratio) : zerobn::select_counts(s.groups, s.frozen);
  }

  std::pair<ZeroBNFeasibility, std::unique_ptr<nn::Module>> check_feasible(const ModelFactory& make,
                                                                           hw::MeasuredDevice<D>& device) {
    cfg_.budget.validate("ZeroBN");
    if (cfg_.budget.unit == Budget::Unit::energy_mj)
      throw Error("ZeroBN: an energy budget needs an energy model; give a latency, fraction or MACs budget");
    auto full = make();
    auto groups = nn::channel_groups(*full, cfg_.training.input_chw[0]);
    const auto smallest = ranking_.select(groups, 1.0, cfg_.guards);
    ZeroBNFeasibility f;
    f.smallest_predicted = predict(*full, groups, smallest);
    f.full_predicted = metric(full->describe(cfg_.training.input_chw));
    if (on_device()) {
      auto small = zerobn::build_selection(make, smallest, cfg_.training.input_chw[0]);
      const auto fits = [&](double small_ms, double full_ms) { return cfg_.budget.absolute(full_ms) >= small_ms; };
      std::tie(f.smallest_measured_ms, f.full_measured_ms) = device.measure_both(*small, *full, fits);
    }
    f.budget = cfg_.budget.absolute(f.full_measured_ms.value_or(f.full_predicted));
    const double floor = f.smallest_measured_ms.value_or(f.smallest_predicted);
    if (f.budget < floor) throw InfeasibleBudget(zerobn::infeasible_message(f, cfg_.budget, cfg_.guards, floor));
    return {f, std::move(full)};
  }
  /// Feasibility, T, the drift reference, the network, its optimizer, and a resumed state.
  void begin(Run& s, const Dataset& train) {
    auto [f, full] = check_feasible(s.make, s.device);
    s.res.budget = f.budget, s.res.full_measured_ms = f.full_measured_ms;
    if (f.full_measured_ms) s.device.set_reference(std::move(full), *f.full_measured_ms);
    s.control.emplace(f.budget, cfg_.control, on_device() && !hw::NoiseFreeDevice<D>);  // aim under T for noise
    const auto& t = cfg_.training;
    nn::manual_seed(t.seed);
    s.net = s.make();
    s.groups = nn::channel_groups(*s.net, t.input_chw[0]);
    s.opt.emplace(optim::param_groups(*s.net, t.weight_decay), optim::SgdOptions{t.momentum, false});
    s.batcher.emplace(train, BatcherOptions{.batch_size = t.batch, .shuffle = true, .seed = t.seed});
    s.sched = {optim::ScheduleKind::cosine, t.lr, s.batcher->batches_per_epoch() * cfg_.schedule.epochs, 0};
    const auto& ck = cfg_.checkpoint;
    if (ck.resume && !ck.path.empty() && std::filesystem::exists(ck.path)) {
      auto meta = train::load_training_checkpoint(ck.path, *s.net, *s.opt);
      s.start = meta.at("epochs_done").template get<int>();
      s.ratio = meta.value("ratio", 0.0);
      s.control->set_scale(meta.value("calibration", 1.0));
      s.frozen = meta.value("architecture", std::vector<int64_t>{});
      s.res.train_seconds = meta.value("train_seconds", 0.0);
    }
  }

  /// A device figure of the architecture `sel` keeps (the median of all its figures in the run).
  double measure(Run& s, const zerobn::Selection& sel) {
    auto shape = zerobn::build_selection(s.make, sel, cfg_.training.input_chw[0]);
    return s.device.measure(*shape, zerobn::counts(sel)).median_ms;
  }
  /// The architecture at a knob r, predicted and measured.
  auto predicted_at(Run& s) const { return [this, &s](double r) { return predict(*s.net, s.groups, select(s, r)); }; }
  auto measured_at(Run& s) { return [this, &s](double r) { return measure(s, select(s, r)); }; }
  /// After a measured retarget: the architecture at r becomes the confirmed one if its median is in the band.
  void note_confirmed(Run& s) const {
    const auto k = zerobn::counts(select(s, s.ratio));
    if (const auto ms = s.device.known_ms(k); ms && s.control->in_band(*ms)) s.confirmed = k;
  }

  /// One epoch: at a ZT epoch's start r is bisected (and calibrated on the device), then the
  /// epoch trains with the L1 term and, in ZT, the mask after every step.
  void train_epoch(Run& s, int e) {
    const auto t0 = std::chrono::steady_clock::now();
    const Phase phase = zerobn_phase(e, cfg_.schedule);
    ZeroBNEpoch log{e, phase};
    if (phase == Phase::zero) start_zt_epoch(s, e, log);
    train::StepHooks hooks;
    const auto bns = zerobn::all_bns(s.groups);
    hooks.after_backward = [&] { zerobn::add_l1_subgradient(bns, cfg_.schedule.sparsity); };
    if (phase == Phase::zero) hooks.after_step = zt_step(s, e);
    if (hooks.after_step) hooks.after_step();
    s.log.line("epoch %d/%d %s r=%.2f predicted %.4g (calibration %.3f, budget %.4g)", e + 1, cfg_.schedule.epochs,
               phase_name(phase), phase == Phase::zero ? s.ratio : 0.0, log.predicted, log.calibration, s.res.budget);
    const double setup = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto st = train::train_epoch(*s.net, *s.opt, s.sched, *s.batcher, e, 0.f, s.log.enabled() ? &s.bar : nullptr, hooks);
    log.train_loss = st.loss, log.train_accuracy = st.accuracy, log.seconds = st.seconds + setup;
    log.ratio = phase == Phase::zero ? s.ratio : 0, s.res.train_seconds += log.seconds;
    s.res.epochs.push_back(log);
    s.res.importance.push_back(zerobn::all_importance(s.groups));
    if (!cfg_.checkpoint.path.empty())
      train::save_training_checkpoint(cfg_.checkpoint.path, *s.net, *s.opt, e + 1,
                                      {{"ratio", s.ratio}, {"calibration", s.control->scale()},
                                       {"train_seconds", s.res.train_seconds}, {"architecture", s.frozen},
                                       {"method", "zerobn"}});
    if (cfg_.on_epoch_end) {
      const auto c0 = std::chrono::steady_clock::now();
      cfg_.on_epoch_end(log);
      s.callback_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
    }
  }

  void start_zt_epoch(Run& s, int e, ZeroBNEpoch& log) {
    const auto& sch = cfg_.schedule;
    const bool new_phase = e == 0 || zerobn_phase(e - 1, sch) != Phase::zero;
    const bool fresh = new_phase || s.ratio == 0;  // r bisected anew; otherwise kept while in the band
    if (fresh || sch.retarget_every > 0) {
      if (sch.retarget_every == 0) s.control->set_scale(1.0);  // the paper: the predictor alone
      for (int pass = 0; pass < (zerobn::CostAwareRanking<R> ? 2 : 1); ++pass) {  // costs around the pruned net
        zerobn::update_costs(ranking_, s.groups, cfg_.guards, select(s, s.ratio),
                             [&](const std::vector<int64_t>& k) { return predict_counts(*s.net, s.groups, k); });
        if (fresh) s.ratio = s.control->bisect(predicted_at(s));
      }
      const BudgetController::Metric measured = measured_at(s);
      if (on_device()) {
        log.measured_ms = s.control->retarget(s.ratio, predicted_at(s), &measured);
        note_confirmed(s);
      } else if (!fresh) {
        s.control->retarget(s.ratio, predicted_at(s));
      }
    }
    log.calibration = s.control->scale();
    log.predicted = predict(*s.net, s.groups, select(s, s.ratio));
  }

  /// The ZT step hook: the mask after every step; r retargeted every retarget_every steps and
  /// after the last one (in the last epoch on the device's figures, until the freeze).
  std::function<void()> zt_step(Run& s, int e) {
    const auto& sch = cfg_.schedule;
    const bool last = e == sch.epochs - 1;
    const bool measure_now = on_device() && sch.measure_last_epoch && last;
    const int64_t steps = s.batcher->batches_per_epoch();
    const int64_t settle = std::lround(std::clamp(sch.settle_fraction, 0.0, 1.0) * double(steps));
    return [this, &s, steps, last, measure_now, settle, step = int64_t{-1}]() mutable {
      ++step;  // call 0 comes before the epoch's first step
      const int every = cfg_.schedule.retarget_every;
      if (every > 0 && step > 0 && (!last || step <= settle) && (step % every == 0 || step == steps)) {
        const BudgetController::Metric measured = measured_at(s);
        s.control->retarget(s.ratio, predicted_at(s), measure_now ? &measured : nullptr);
        if (measure_now) note_confirmed(s);
      }
      if (last && every > 0 && step >= settle && s.frozen.empty()) freeze(s, measure_now, step);
      s.mask = current(s);
      zerobn::apply_mask(s.groups, s.mask);
    };
  }

  /// Fixes the architecture for the rest of the last epoch: the last one the device confirmed
  /// (a mask that moved off it is measured and retargeted first), its slack filled; a filled
  /// architecture the device puts over the target recalibrates the fill, which starts again.
  void freeze(Run& s, bool measured, int64_t step) {
    const auto at_r = [&] { return zerobn::counts(select(s, s.ratio)); };
    if (measured && at_r() != s.confirmed) {
      const BudgetController::Metric m = measured_at(s);
      s.control->retarget(s.ratio, predicted_at(s), &m);
      note_confirmed(s);
    }
    s.frozen = s.confirmed.empty() ? at_r() : s.confirmed;
    s.log.line("freeze at step %lld: kept %s", static_cast<long long>(step),
               hw::MeasuredDevice<D>::key_str(s.frozen).c_str());
    double scale = s.control->scale();
    for (int round = 0; cfg_.schedule.fill_slack && round < std::max(1, cfg_.control.calibration_steps); ++round) {
      const auto at = [&](const std::vector<int64_t>& k) { return scale * predict_counts(*s.net, s.groups, k); };
      auto filled = zerobn::fill_slack(s.groups, cfg_.guards, s.frozen, s.control->target(), at);
      if (filled == s.frozen) break;
      if (!measured) {
        s.frozen = std::move(filled);
        break;
      }
      const auto sel = zerobn::select_counts(s.groups, filled);
      const double ms = measure(s, sel);
      s.log.line("fill: kept %s measured %.4f ms (target %.4f)", hw::MeasuredDevice<D>::key_str(filled).c_str(), ms,
                 s.control->target());
      if (ms <= s.control->target()) {
        s.frozen = std::move(filled);
        break;
      }
      scale = ms / predict(*s.net, s.groups, sel);
    }
  }

  /// The trained network under its final mask is judged (on the device for latency budgets);
  /// while it misses T, r is raised to the next architecture.
  void guarantee(Run& s, const Dataset& test) {
    zerobn::apply_mask(s.groups, s.mask = current(s));
    s.res.masked_test_accuracy = train::evaluate(*s.net, test).accuracy;
    const double first = s.ratio;
    auto arch = [&](double r) { return r == first ? s.mask : select(s, r); };
    auto judge = [&](double r) {
      s.final_sel = arch(r);
      auto shape = zerobn::build_selection(s.make, s.final_sel, cfg_.training.input_chw[0]);
      s.res.predicted = metric(shape->describe(cfg_.training.input_chw));
      if (!on_device()) return s.res.predicted <= s.res.budget;
      const auto v = s.device.judge(*shape, zerobn::counts(s.final_sel), s.res.budget);
      s.res.measured_ms = v.ms, s.res.measured_raw_ms = v.last.raw_ms;
      s.log.line("guarantee: r=%.2f kept %s measured %.4f ms (budget %.4f)", r,
                 hw::MeasuredDevice<D>::key_str(zerobn::counts(s.final_sel)).c_str(), v.ms, s.res.budget);
      return v.met;
    };
    auto same = [&](double a, double b) { return zerobn::counts(arch(a)) == zerobn::counts(arch(b)); };
    const auto g = s.control->guarantee(s.ratio, judge, same);
    s.res.budget_met = g.met, s.res.guarantee_steps = g.steps;
    s.res.measurements = s.device.figures();  // every figure of the run, rechecks and re-measures included
    s.res.drift_waits = s.device.drift_waits(), s.res.full_now_ms = s.device.reference_now_ms(), s.res.ratio = s.ratio;
  }

  /// A mask the guarantee raised is trained briefly before the extraction.
  void recover(Run& s) {
    const auto& sch = cfg_.schedule;
    if (s.final_sel == s.mask || sch.recovery_epochs <= 0) return;
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t n = std::max<int64_t>(1, std::lround(sch.recovery_epochs * double(s.batcher->batches_per_epoch())));
    const optim::LrSchedule constant{optim::ScheduleKind::constant, float(sch.recovery_lr_fraction * cfg_.training.lr)};
    train::StepHooks fixed;
    fixed.after_step = [&] { zerobn::apply_mask(s.groups, s.final_sel); };
    fixed.after_step();
    s.log.line("recovery: %lld steps with r=%.2f", static_cast<long long>(n), s.ratio);
    train::train_epoch(*s.net, *s.opt, constant, *s.batcher, sch.epochs, 0.f, s.log.enabled() ? &s.bar : nullptr,
                       fixed, n);
    s.res.recovery_steps = n;
    s.res.train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  /// The compact network with the trained weights; it computes what the masked network does.
  void extract(Run& s, const Dataset& test) {
    const Shape& chw = cfg_.training.input_chw;
    zerobn::apply_mask(s.groups, s.final_sel);
    s.res.selection = s.final_sel;
    s.res.compact = zerobn::build_selection(s.make, s.final_sel, chw[0], s.net.get());
    s.res.extraction_max_abs_diff = zerobn::max_output_difference(*s.net, *s.res.compact, test, chw);
    s.res.test_accuracy = train::evaluate(*s.res.compact, test).accuracy;
    s.res.params = s.res.compact->parameter_count(), s.res.macs = nn::total_macs(s.res.compact->describe(chw));
    s.res.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - s.t0).count() - s.callback_seconds;
  }

  P predictor_;
  D& device_;
  ZeroBNConfig cfg_;
  R ranking_;
};

template <hw::Predictor P, zerobn::Ranking R, class D>
  requires hw::Device<D>
ZeroBNResult ZeroBN<P, R, D>::run(const ModelFactory& make, const Dataset& train, const Dataset& test) {
  Run s(*this, make);
  begin(s, train);
  for (int e = s.start; e < cfg_.schedule.epochs; ++e) train_epoch(s, e);
  guarantee(s, test);
  recover(s);
  extract(s, test);
  return std::move(s.res);
}

}  // namespace hwaware
