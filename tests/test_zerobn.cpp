// ZeroBN: phases, bisection on r against the predictor, infeasible budgets rejected before
// training, a short real run whose compact network equals its masked one, and resume.
#include <filesystem>
#include <map>
#include <random>

#include "fake_devices.hpp"
#include "gradcheck.hpp"
#include "temp_dir.hpp"
#include "hwaware/data/dataset.hpp"
#include "hwaware/models/zoo.hpp"
#include "hwaware/zerobn.hpp"

using namespace hwaware;

using fake::MacsPredictor;
using fake::DriftingDevice;
using Predicted = hw::PredictedDevice<MacsPredictor>;
template <class D = Predicted>
using ZeroBNOf = ZeroBN<MacsPredictor, GlobalBnRanking, D>;

namespace {
double exact_macs_ms(nn::Module& m, const Shape& chw) { return fake::exact_ms(m, chw); }

const Dataset& small(const char* split, int64_t n) {
  static std::map<std::string, Dataset> cache;
  auto key = std::string(split) + std::to_string(n);
  if (!cache.count(key)) cache[key] = load_fashion_mnist(split, kFashionMnistDir, n);
  return cache[key];
}

/// A short run's configuration: `epochs` epochs on small data, quiet, no drift pauses.
ZeroBNConfig quick(Budget b, int epochs, zerobn::SelectionGuards guards = {4, 4}) {
  ZeroBNConfig c;
  c.budget = b;
  c.schedule.epochs = epochs;
  c.guards = guards;
  c.measurement.drift_wait_seconds = 0;
  c.training.batch = 64;
  c.training.progress = false;
  return c;
}
}  // namespace

TEST_CASE("phases: initial training, then ZT/RT blocks ending on ZT") {
  std::string s;
  for (int e = 0; e < 8; ++e) s += phase_name(zerobn_phase(e, {.epochs = 8})), s += ' ';
  CHECK(s == "IT IT ZT ZT RT RT ZT ZT ");
  CHECK(zerobn_phase(9, {.epochs = 10}) == Phase::zero);
}

TEST_CASE("the controller's bisection finds the smallest ratio whose predicted latency meets the budget") {
  auto net = models::vgg_small({.width = 0.5});
  auto groups = nn::channel_groups(*net);
  MacsPredictor p;
  Predicted dev(p);
  const double full = p.predict_ms(net->describe({1, 28, 28}));
  ZeroBNOf<> z(p, dev, quick(Budget::latency(0.5 * full), 2, {4, 1}));
  GlobalBnRanking rank;
  auto at = [&](double r) { return z.predict(*net, groups, rank.select(groups, r, {4, 1})); };
  const double r = BudgetController(0.5 * full, {}, false).bisect(at);
  CHECK(at(r) <= 0.5 * full);
  CHECK(r > 0.05);
  CHECK(r < 1.0);
  CHECK(at(r - 0.011) > 0.5 * full);
}

TEST_CASE("an infeasible budget is rejected before training, with the achievable minimum") {
  MacsPredictor p;
  Predicted predicted(p);
  auto make = [] { return std::unique_ptr<nn::Module>(models::ref_cnn()); };
  CHECK_THROWS_WITH_AS(ZeroBNOf<>(p, predicted, quick(Budget::latency(1e-6), 2)).check_feasible(make),
                       doctest::Contains("infeasible: the smallest network"), InfeasibleBudget);
  hw::OnednnCpuDevice dev(2, 1, {.warmup_runs = 2, .warmup_ms = 1, .rounds = 3, .block_ms = 0.2});
  CHECK_THROWS_WITH_AS(ZeroBNOf<hw::OnednnCpuDevice>(p, dev, quick(Budget::latency(1e-6), 2)).check_feasible(make),
                       doctest::Contains("measured on the device"), Error);
  // With a budget fraction the floor is given as the full network's share.
  CHECK_THROWS_WITH_AS(ZeroBNOf<hw::OnednnCpuDevice>(p, dev, quick(Budget::fraction_of_full(1e-6), 2)).check_feasible(make),
                       doctest::Contains(" of it)"), InfeasibleBudget);
  CHECK_THROWS_WITH_AS(ZeroBNOf<>(p, predicted, quick(Budget::mac_count(10), 2)).check_feasible(make),
                       doctest::Contains("MACs predicted"), InfeasibleBudget);
  CHECK_THROWS_AS(ZeroBNOf<>(p, predicted, quick(Budget::latency(-1), 2)).check_feasible(make), Error);
  CHECK_THROWS_WITH_AS(ZeroBNOf<>(p, predicted, quick(Budget::energy(1), 2)).check_feasible(make),
                       doctest::Contains("energy model"), Error);
}

TEST_CASE("a feasible budget is not rejected on a contended reading: the pair is measured again first") {
  MacsPredictor p;
  auto make = [] { return std::unique_ptr<nn::Module>(models::ref_cnn()); };
  fake::ContendedDevice dev;
  const auto exact = ZeroBNOf<fake::ContendedDevice>(p, dev, quick(Budget::fraction_of_full(0.99), 2)).check_feasible(make);
  const double r = *exact.smallest_measured_ms / *exact.full_measured_ms;  // the smallest network's share
  REQUIRE(1.5 * r < 1);
  // Contention puts the smallest network at 2r of the full one (3× against 1.5×): a budget of 1.5r
  // would be rejected on that reading, as one was on a host running a build beside it.
  auto cfg = quick(Budget::fraction_of_full(1.5 * r), 2);
  dev.busy = cfg.measurement.sessions;  // every session of the first reading
  const auto f = ZeroBNOf<fake::ContendedDevice>(p, dev, cfg).check_feasible(make);
  CHECK(*f.smallest_measured_ms / *f.full_measured_ms == doctest::Approx(r));
  cfg.measurement.rechecks = 0;  // without the recheck the contended reading decides
  dev.busy = cfg.measurement.sessions;
  CHECK_THROWS_AS(ZeroBNOf<fake::ContendedDevice>(p, dev, cfg).check_feasible(make), InfeasibleBudget);
}

TEST_CASE("a short ZeroBN run: compact network meets the predicted budget and equals the masked one") {
  MacsPredictor p;
  Predicted dev(p);
  auto make = [] { return std::unique_ptr<nn::Module>(models::resnet8({.width = 0.5})); };
  const double full = p.predict_ms(make()->describe({1, 28, 28}));
  const auto cfg = quick(Budget::latency(0.6 * full), 4);
  auto res = ZeroBNOf<>(p, dev, cfg).run(make, small("train", 1024), small("test", 500));
  REQUIRE(res.compact);
  CHECK(res.predicted <= 0.6 * full);
  CHECK(res.predicted >= 0.85 * 0.6 * full);  // r is retargeted up to the freeze
  REQUIRE(res.measured_ms);
  CHECK(*res.measured_ms == doctest::Approx(res.predicted));  // the predicted device is the predictor
  CHECK(res.budget_met);
  CHECK(res.ratio > 0);
  CHECK(res.params < make()->parameter_count());
  CHECK(res.test_accuracy == doctest::Approx(res.masked_test_accuracy).epsilon(0.004));
  CHECK(res.extraction_max_abs_diff <= 1e-4);  // the masked network at the final selection = the extracted one
  CHECK(res.wall_seconds >= res.train_seconds);
  CHECK(res.epochs.size() == 4);
  CHECK(res.epochs.back().phase == Phase::zero);
  CHECK(res.importance.size() == 4);
}

TEST_CASE("a MACs budget is met exactly, without a device figure") {
  MacsPredictor p;
  Predicted dev(p);
  auto make = [] { return std::unique_ptr<nn::Module>(models::ref_cnn({.width = 0.5})); };
  const double full = double(nn::total_macs(make()->describe({1, 28, 28})));
  auto res = ZeroBNOf<>(p, dev, quick(Budget::mac_count(0.5 * full), 2)).run(make, small("train", 512), small("test", 200));
  CHECK(res.budget_met);
  CHECK(double(res.macs) <= 0.5 * full);
  CHECK(res.predicted == doctest::Approx(double(res.macs)));
  CHECK_FALSE(res.measured_ms);
  CHECK(res.measurements == 0);
}

TEST_CASE("resume after a kill continues from the last checkpoint") {
  const hwtest::TempDir tmp("zerobn_resume");
  const auto& dir = tmp.path;
  const std::string ckpt = (dir / "run.ckpt").string();
  MacsPredictor p;
  Predicted dev(p);
  auto make = [] { return std::unique_ptr<nn::Module>(models::ref_cnn({.width = 0.5})); };
  const double full = p.predict_ms(make()->describe({1, 28, 28}));
  auto first = quick(Budget::latency(0.7 * full), 2);
  first.checkpoint.path = ckpt;
  ZeroBNOf<>(p, dev, first).run(make, small("train", 512), small("test", 200));
  REQUIRE(std::filesystem::exists(ckpt));
  auto second = first;
  second.schedule.epochs = 4;  // the "killed" run was meant to go on: it continues from its checkpoint
  second.checkpoint.resume = true;
  auto res = ZeroBNOf<>(p, dev, second).run(make, small("train", 512), small("test", 200));
  REQUIRE(res.epochs.size() == 2);
  CHECK(res.epochs.front().epoch == 2);
}

TEST_CASE("baselines as Pruner policies: Network Slimming at a ratio or to the budget, uniform width to the budget") {
  MacsPredictor p;
  Predicted dev(p);
  const ModelFamily family = [](double w) { return std::unique_ptr<nn::Module>(models::ref_cnn({.width = 0.5 * w})); };
  const double full = p.predict_ms(family(1.0)->describe({1, 28, 28}));
  TrainingOptions t{.batch = 64, .progress = false};
  NetworkSlimming<MacsPredictor, GlobalBnRanking, Predicted> at_ratio(
      p, dev, {.budget = Budget::latency(0.5 * full), .ratio = 0.4, .epochs = 2, .guards = {4, 4}, .training = t});
  auto slim = at_ratio.prune(family, small("train", 512), small("test", 200));
  CHECK(at_ratio.ratio() == 0.4);
  CHECK(slim.params < family(1.0)->parameter_count());
  NetworkSlimming<MacsPredictor, GlobalBnRanking, Predicted> to_budget(
      p, dev, {.budget = Budget::latency(0.5 * full), .epochs = 2, .guards = {4, 4}, .training = t});
  auto slim_b = to_budget.prune(family, small("train", 512), small("test", 200));
  CHECK(slim_b.budget_met);
  REQUIRE(slim_b.measured_ms);
  CHECK(*slim_b.measured_ms <= 0.5 * full);
  CHECK(to_budget.ratio() > 0);
  UniformWidth<MacsPredictor, Predicted> uniform(p, dev, {.budget = Budget::latency(0.5 * full), .epochs = 2, .training = t});
  auto uni = uniform.prune(family, small("train", 512), small("test", 200));
  REQUIRE(uni.predicted_ms);
  CHECK(*uni.predicted_ms <= 0.5 * full);
  CHECK(uni.budget_met);
  CHECK(uniform.width() < 1.0);
  CHECK(uniform.width() > 0.3);
  static_assert(Pruner<decltype(uniform)> && Pruner<decltype(to_budget)> && Pruner<ZeroBNOf<>>);
}

TEST_CASE("with a device, each ZT phase calibrates the predictor by a measurement and the result meets T") {
  // The stand-in predictor's milliseconds are on an arbitrary scale: only the measured
  // calibration makes its bisection hit a real budget.
  MacsPredictor p{.ms_per_mmac = 0.5, .ms_per_layer = 0.1};
  auto make = [] { return std::unique_ptr<nn::Module>(models::vgg_small({.width = 0.5})); };
  hw::OnednnCpuDevice dev(2, 1);  // the full protocol: the budget must not rest on a noisy measurement
  auto cfg = quick(Budget::fraction_of_full(0.6), 2, {4, 8});
  cfg.schedule.initial_fraction = 0.5;
  auto res = ZeroBNOf<hw::OnednnCpuDevice>(p, dev, cfg).run(make, small("train", 512), small("test", 200));
  REQUIRE(res.epochs.size() == 2);
  const auto& zt = res.epochs.back();
  CHECK(zt.phase == Phase::zero);
  CHECK(zt.measured_ms);
  CHECK(zt.calibration > 0);
  CHECK(zt.calibration < 0.5);  // the stand-in is far off the real scale, and the calibration says so
  REQUIRE(res.measured_ms);
  CHECK(res.budget_met == (*res.measured_ms <= res.budget));
  CHECK(res.extraction_max_abs_diff <= 1e-4);
}

TEST_CASE("a run on a drifting device judges the budget in the machine state of its start") {
  MacsPredictor p;
  auto make = [] { return std::unique_ptr<nn::Module>(models::ref_cnn({.width = 0.5})); };
  const Shape chw{1, 28, 28};
  DriftingDevice dev;
  const double full_ms = exact_macs_ms(*make(), chw);
  auto cfg = quick(Budget::latency(0.6 * full_ms), 2);
  cfg.schedule.initial_fraction = 0.5;
  cfg.measurement.sessions = 1;
  int epochs_seen = 0;
  cfg.on_epoch_end = [&](const ZeroBNEpoch& ep) { CHECK(ep.epoch == epochs_seen++); };
  auto res = ZeroBNOf<DriftingDevice>(p, dev, cfg).run(make, small("train", 512), small("test", 200));
  CHECK(epochs_seen == 2);
  REQUIRE(res.full_now_ms);
  CHECK(*res.full_now_ms > 1.5 * *res.full_measured_ms);
  CHECK(*res.measured_raw_ms > *res.measured_ms);
  CHECK(*res.measured_ms == doctest::Approx(exact_macs_ms(*res.compact, chw)));
  CHECK(res.budget_met);
  CHECK(*res.measured_ms <= res.budget);
  CHECK(*res.measured_ms >= 0.8 * res.budget);  // calibrated, retargeted: close under T
}

TEST_CASE("the guarantee re-measures a near miss before it raises r") {
  MacsPredictor p{.ms_per_mmac = 1, .ms_per_layer = 0};  // = the device's exact figure
  auto make = [] { return std::unique_ptr<nn::Module>(models::vgg_small({.width = 0.5})); };
  const Shape chw{1, 28, 28};
  const double full_ms = exact_macs_ms(*make(), chw);
  for (int rechecks : {2, 0}) {
    CAPTURE(rechecks);
    fake::FirstReadSlowDevice dev;
    auto cfg = quick(Budget::latency(0.6 * full_ms), 2);
    cfg.schedule.initial_fraction = 0.5, cfg.schedule.measure_last_epoch = false, cfg.schedule.fill_slack = false;
    cfg.control.calibration_steps = 0;
    cfg.measurement = {.sessions = 1, .drift_reference = false, .rechecks = rechecks};
    auto res = ZeroBNOf<fake::FirstReadSlowDevice>(p, dev, cfg).run(make, small("train", 512), small("test", 200));
    const double exact = exact_macs_ms(*res.compact, chw);
    CHECK(res.budget_met);
    if (rechecks > 0) {
      // the trained architecture read over T once (the precondition of this test) ...
      REQUIRE(dev.first.size() >= 2);  // feasibility's smallest network, then the trained one
      REQUIRE(dev.first[1] > res.budget);
      REQUIRE(dev.first[1] <= 1.15 * res.budget);
      // ... and was kept on the median of its readings (the slow one and an exact one)
      CHECK(res.guarantee_steps == 0);
      CHECK(*res.measured_ms == doctest::Approx(0.5 * (dev.first[1] + exact)));
    } else {
      CHECK(res.guarantee_steps > 0);  // the one slow reading raised r
    }
  }
}

TEST_CASE("a guarantee miss measured on a drifted machine is measured again after a pause, not believed") {
  MacsPredictor p{.ms_per_mmac = 1, .ms_per_layer = 0};  // = the device's exact figure
  auto make = [] { return std::unique_ptr<nn::Module>(models::vgg_small({.width = 0.5})); };
  const Shape chw{1, 28, 28};
  const double full_ms = exact_macs_ms(*make(), chw);
  for (int waits : {20, 0}) {
    CAPTURE(waits);
    fake::ContendedDevice dev;
    auto cfg = quick(Budget::latency(0.6 * full_ms), 2);
    cfg.schedule.initial_fraction = 0.5, cfg.schedule.measure_last_epoch = false, cfg.schedule.fill_slack = false;
    cfg.control.calibration_steps = 0;
    cfg.measurement = {.sessions = 1, .rechecks = 0, .drift_waits = waits, .drift_wait_seconds = 0};
    cfg.on_epoch_end = [&](const ZeroBNEpoch& ep) {
      if (ep.epoch == 1) dev.busy = 3;  // the machine gets busy as training ends
    };
    auto res = ZeroBNOf<fake::ContendedDevice>(p, dev, cfg).run(make, small("train", 512), small("test", 200));
    CHECK(res.budget_met);
    REQUIRE(*res.full_now_ms == doctest::Approx(*res.full_measured_ms));  // the last reading was quiet
    if (waits > 0) {
      CHECK(res.drift_waits == 3);       // three contended readings dropped ...
      CHECK(res.guarantee_steps == 0);   // ... and the trained architecture kept
      CHECK(*res.measured_ms == doctest::Approx(exact_macs_ms(*res.compact, chw)));
    } else {
      CHECK(res.drift_waits == 0);
      CHECK(res.guarantee_steps > 0);    // the contended readings raised r
    }
  }
}

TEST_CASE("a budget fraction is taken of the full network measured when the run starts") {
  MacsPredictor p;
  auto make = [] { return std::unique_ptr<nn::Module>(models::ref_cnn({.width = 0.5})); };
  const Shape chw{1, 28, 28};
  DriftingDevice dev{.drift = 0.5, .sessions = 2};  // the machine is already 2× slower than "exact"
  auto cfg = quick(Budget::fraction_of_full(0.5), 2);
  cfg.schedule.initial_fraction = 0.5;
  auto res = ZeroBNOf<DriftingDevice>(p, dev, cfg).run(make, small("train", 512), small("test", 200));
  // the median of the feasibility check's three sessions (2×, 2.5×, 3× slow)
  CHECK(*res.full_measured_ms == doctest::Approx(2.5 * exact_macs_ms(*make(), chw)));
  CHECK(res.budget == doctest::Approx(0.5 * *res.full_measured_ms));
  CHECK(*res.measured_ms <= res.budget);
  CHECK(*res.measured_ms / *res.full_measured_ms > 0.4);  // the fraction holds across the drift
  CHECK_THROWS_WITH_AS(ZeroBNOf<DriftingDevice>(p, dev, quick(Budget::fraction_of_full(1.5), 2)).check_feasible(make),
                       doctest::Contains("fraction must be in (0, 1]"), Error);
}

TEST_CASE("latency-aware ranking: costs from the predictor, expensive channels go first, fewer channels dropped") {
  auto net = models::vgg_small({.width = 0.5});
  auto groups = nn::channel_groups(*net);
  REQUIRE(groups.size() == 8);  // the input, six conv outputs, the logits
  CHECK(!groups[0].prunable);
  CHECK(!groups[7].prunable);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  for (auto& g : groups)
    for (auto* bn : g.bns)
      for (int64_t c = 0; c < g.channels; ++c) bn->gamma.value().data()[c] = u(rng);
  MacsPredictor p;
  Predicted dev(p);
  using Aware = ZeroBN<MacsPredictor, zerobn::LatencyAwareRanking, Predicted>;
  const zerobn::SelectionGuards guards{4, 4};
  Aware z(p, dev, quick(Budget::latency(1), 2));
  auto costs_of = [&](Aware& a) {
    zerobn::update_costs(a.ranking(), groups, guards, GlobalBnRanking{}.select(groups, 0.0, guards),
                         [&](const std::vector<int64_t>& k) { return a.predict_counts(*net, groups, k); });
  };
  costs_of(z);
  const auto& cost = z.ranking().cost;
  REQUIRE(cost.size() == groups.size());
  // A channel of conv 1 (28×28) feeds conv 2 at 28×28; one of conv 2 feeds conv 3 at 14×14 (after
  // the pool); one of the last conv (7×7) feeds only the classifier.
  CHECK(cost[2] > cost[1]);
  CHECK(cost[1] > cost[6]);
  CHECK(cost[3] > cost[6]);
  for (double c : cost) CHECK(c > 0);

  // The same predicted budget: the latency-aware ranking gets there dropping fewer channels.
  const double full = p.predict_ms(net->describe({1, 28, 28}));
  ZeroBNOf<> plain(p, dev, quick(Budget::latency(0.5 * full), 2));
  Aware aware(p, dev, quick(Budget::latency(0.5 * full), 2));
  costs_of(aware);
  const BudgetController control(0.5 * full, {}, false);
  auto plain_at = [&](double r) { return plain.predict(*net, groups, plain.ranking().select(groups, r, guards)); };
  auto aware_at = [&](double r) { return aware.predict(*net, groups, aware.ranking().select(groups, r, guards)); };
  const double r_plain = control.bisect(plain_at), r_aware = control.bisect(aware_at);
  CHECK(plain_at(r_plain) <= 0.5 * full);
  CHECK(aware_at(r_aware) <= 0.5 * full);
  CHECK(r_aware < r_plain);

  // Equal |γ| but a slightly higher one in the expensive group: |γ| alone keeps it, latency-aware drops it first.
  for (auto& g : groups)
    for (auto* bn : g.bns)
      for (int64_t c = 0; c < g.channels; ++c) bn->gamma.value().data()[c] = &g == &groups[2] ? 1.1f : 1.0f;
  const double small_r = 0.05;
  const auto sg = GlobalBnRanking{}.select(groups, small_r, {1, 1});
  const auto sa = aware.ranking().select(groups, small_r, {1, 1});
  CHECK(sg[2].size() == static_cast<size_t>(groups[2].channels));
  CHECK(sa[2].size() < static_cast<size_t>(groups[2].channels));
}

TEST_CASE("guards: powers of two up to the block, multiples of it above, never below the minimum") {
  const zerobn::SelectionGuards g{.min_channels = 4, .round_to = 16};
  CHECK(g.fit(1, 64) == 4);
  CHECK(g.fit(5, 64) == 8);
  CHECK(g.fit(12, 64) == 16);  // 12 runs slower than 16 on AVX-512
  CHECK(g.fit(17, 64) == 32);
  CHECK(g.fit(41, 64) == 48);
  CHECK(g.fit(9, 10) == 10);   // never more than the layer has
  CHECK(g.fit(2, 3) == 3);
  CHECK(g.below(64, 64) == 48);
  CHECK(g.below(32, 64) == 16);
  CHECK(g.below(16, 64) == 8);
  CHECK(g.below(8, 64) == 4);
  CHECK(g.below(4, 64) == 0);
  const zerobn::SelectionGuards plain{.min_channels = 1, .round_to = 1};
  CHECK(plain.fit(7, 64) == 7);
  CHECK(plain.below(7, 64) == 6);
  // Every selection keeps an allowed count in every prunable group.
  auto net = models::resnet8();
  auto groups = nn::channel_groups(*net);
  for (double r : {0.1, 0.35, 0.6, 0.9, 1.0}) {
    const auto sel = zerobn::GlobalBnRanking{}.select(groups, r, g);
    for (size_t i = 0; i < groups.size(); ++i)
      if (groups[i].prunable) CHECK(int64_t(sel[i].size()) == g.fit(int64_t(sel[i].size()), groups[i].channels));
  }
}

TEST_CASE("a prediction the device contradicts is corrected after training: r raised, the new mask trained") {
  MacsPredictor p{.ms_per_mmac = 1e-4, .ms_per_layer = 0};  // 100× optimistic against the device
  auto make = [] { return std::unique_ptr<nn::Module>(models::vgg_small({.width = 0.5})); };
  const Shape chw{1, 28, 28};
  DriftingDevice dev{.drift = 0};
  auto cfg = quick(Budget::latency(0.6 * exact_macs_ms(*make(), chw)), 2);
  cfg.schedule.initial_fraction = 0.5, cfg.schedule.measure_last_epoch = false, cfg.schedule.recovery_epochs = 0.5;
  cfg.control.max_guarantee_steps = 100, cfg.control.calibration_steps = 0;
  auto res = ZeroBNOf<DriftingDevice>(p, dev, cfg).run(make, small("train", 512), small("test", 200));
  CHECK(res.epochs.back().ratio == 0);  // trusting the predictor, training pruned nothing
  CHECK(res.guarantee_steps > 0);
  CHECK(res.ratio > 0);
  CHECK(res.recovery_steps == 4);       // half of the 8 batches of an epoch
  CHECK(res.budget_met);
  CHECK(*res.measured_ms <= res.budget);
  CHECK(*res.measured_ms == doctest::Approx(exact_macs_ms(*res.compact, chw)));
  CHECK(res.extraction_max_abs_diff <= 1e-4);  // the recovered, masked network is the extracted one
}

TEST_CASE("in the last ZT epoch the device is asked: a wrong prediction is corrected before training ends") {
  MacsPredictor p{.ms_per_mmac = 1e-4, .ms_per_layer = 0};
  auto make = [] { return std::unique_ptr<nn::Module>(models::vgg_small({.width = 0.5})); };
  const Shape chw{1, 28, 28};
  DriftingDevice dev{.drift = 0};
  auto cfg = quick(Budget::latency(0.6 * exact_macs_ms(*make(), chw)), 2);
  cfg.schedule.initial_fraction = 0.5, cfg.schedule.retarget_every = 4;
  auto res = ZeroBNOf<DriftingDevice>(p, dev, cfg).run(make, small("train", 512), small("test", 200));
  CHECK(res.epochs.back().calibration > 50);  // measured / predicted: the device's word, not the predictor's
  CHECK(res.measurements >= 2);
  CHECK(res.budget_met);
  CHECK(res.recovery_steps == 0);
  CHECK(*res.measured_ms >= 0.8 * res.budget);
}

TEST_CASE("select_counts keeps the most important channels of each group at fixed counts") {
  auto net = models::vgg_small({.width = 0.25});
  auto groups = nn::channel_groups(*net, 1);
  REQUIRE(groups.size() >= 2);
  std::vector<int64_t> counts;
  for (auto& g : groups) {
    counts.push_back(g.channels / 2);
    if (!g.prunable) continue;
    for (auto* bn : g.bns) {  // a permutation of 1..C (C = 8·k, 7 coprime to it)
      float* gamma = bn->gamma.value().data();
      for (int64_t c = 0; c < g.channels; ++c) gamma[c] = float((c * 7) % g.channels) + 1.f;
    }
  }
  const auto sel = zerobn::select_counts(groups, counts);
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].prunable) continue;
    REQUIRE(static_cast<int64_t>(sel[g].size()) == counts[g]);
    const auto imp = nn::channel_importance(groups[g]);
    float kept_min = 1e30f, dropped_max = -1;
    std::vector<bool> in(static_cast<size_t>(groups[g].channels), false);
    for (auto c : sel[g]) in[c] = true, kept_min = std::min(kept_min, imp[c]);
    for (int64_t c = 0; c < groups[g].channels; ++c)
      if (!in[c]) dropped_max = std::max(dropped_max, imp[c]);
    CHECK(kept_min > dropped_max);
    CHECK(std::is_sorted(sel[g].begin(), sel[g].end()));
  }
}

TEST_CASE("once r settles in the last epoch, one architecture trains: the one the device confirmed, slack filled") {
  const hwtest::TempDir tmp("zerobn_frozen");
  const auto& dir = tmp.path;
  const std::string ckpt = (dir / "run.ckpt").string();
  MacsPredictor p{.ms_per_mmac = 1e-4, .ms_per_layer = 0};  // 10000× low: the device must correct it
  auto make = [] { return std::unique_ptr<nn::Module>(models::vgg_small({.width = 0.5})); };
  const Shape chw{1, 28, 28};
  DriftingDevice dev{.drift = 0};
  auto cfg = quick(Budget::latency(0.5 * exact_macs_ms(*make(), chw)), 2);
  cfg.schedule.initial_fraction = 0.5, cfg.schedule.retarget_every = 2;
  cfg.control.calibration_steps = 3;
  cfg.training.batch = 32;
  cfg.checkpoint.path = ckpt;
  auto res = ZeroBNOf<DriftingDevice>(p, dev, cfg).run(make, small("train", 512), small("test", 200));
  // The checkpoint after the last epoch records the frozen architecture: the extracted one.
  auto net = make();
  optim::Sgd opt(optim::param_groups(*net, cfg.training.weight_decay), {cfg.training.momentum, false});
  const auto meta = train::load_training_checkpoint(ckpt, *net, opt);
  const auto frozen = meta.at("architecture").get<std::vector<int64_t>>();
  REQUIRE_FALSE(frozen.empty());
  CHECK(res.guarantee_steps == 0);
  CHECK(frozen == zerobn::counts(res.selection));
  // ...and it is inside the band the device checked: [band·target, target], target = aim·T.
  const double target = cfg.control.aim * res.budget;
  CHECK(*res.measured_ms <= target * (1 + 1e-9));
  CHECK(*res.measured_ms >= cfg.control.band * target * (1 - 1e-9));
}

TEST_CASE("fill_slack raises kept counts while the prediction stays within the budget, until none fits") {
  MacsPredictor p;
  Predicted dev(p);
  auto net = models::resnet8({});
  auto groups = nn::channel_groups(*net, 1);
  ZeroBNOf<> z(p, dev, quick(Budget::latency(1), 2, {4, 16}));
  const auto& guards = z.config().guards;
  const auto smallest = z.ranking().select(groups, 1.0, guards);
  const auto kept = zerobn::counts(smallest);
  const double full = p.predict_ms(net->describe({1, 28, 28}));
  const double low = z.predict(*net, groups, smallest);
  const double budget = low + 0.5 * (full - low);
  auto at = [&](const std::vector<int64_t>& k) { return z.predict_counts(*net, groups, k); };
  const auto filled = zerobn::fill_slack(groups, guards, kept, budget, at);
  const double ms = at(filled);
  CHECK(ms <= budget);
  CHECK(ms > low);
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].prunable) continue;
    CHECK(filled[g] >= kept[g]);
    if (filled[g] == groups[g].channels) continue;
    auto up = filled;
    up[g] = guards.fit(filled[g] + 1, groups[g].channels);
    CHECK(at(up) > budget);  // nothing else fits
  }
}

TEST_CASE("layer-wise ranking: every group drops its own lowest-|γ| share, within the guards") {
  auto net = models::resnet8({});
  auto groups = nn::channel_groups(*net, 1);
  for (auto& g : groups)
    for (auto* bn : g.bns) {
      float* gamma = bn->gamma.value().data();
      for (int64_t c = 0; c < g.channels; ++c) gamma[c] = float((c * 5) % g.channels) + 1.f;
    }
  const zerobn::SelectionGuards guards{4, 16};
  const auto sel = zerobn::LayerwiseBnRanking{}.select(groups, 0.5, guards);
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].prunable) continue;
    const int64_t C = groups[g].channels;
    CHECK(static_cast<int64_t>(sel[g].size()) == guards.fit(C / 2, C));
    const auto imp = nn::channel_importance(groups[g]);
    for (auto c : sel[g]) CHECK(imp[c] > float(C - static_cast<int64_t>(sel[g].size())));  // the top ones
  }
  const auto none = zerobn::LayerwiseBnRanking{}.select(groups, 0.0, guards);
  for (size_t g = 0; g < groups.size(); ++g)
    if (groups[g].prunable) CHECK(static_cast<int64_t>(none[g].size()) == groups[g].channels);
}
