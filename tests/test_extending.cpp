// A user's own policies, defined here and not in include/: a Device, a Ranking and a Pruner run
// through the library's entry points (ZeroBN's template, hwaware::prune) without editing it.
#include <doctest/doctest.h>

#include <map>

#include "fake_devices.hpp"
#include "hwaware/concepts.hpp"
#include "hwaware/zerobn.hpp"

using namespace hwaware;

namespace user {

/// A device on the other end of a wire, modelled here by a fixed cost per layer plus MACs at a
/// given rate: it can only measure one network at a time (no interleaving).
struct RemoteBoard {
  double ms_per_mmac = 0.5, ms_per_layer = 0.01;
  int measured = 0;
  hw::Fingerprint fingerprint() const { return {.device = "remote-board"}; }
  hw::Measurement measure(nn::Module& m, const Shape& chw) {
    ++measured;
    double ms = 0;
    for (const auto& l : m.describe(chw)) ms += double(l.macs) * 1e-6 * ms_per_mmac + ms_per_layer;
    return {.median_ms = ms, .runs = 1};
  }
};
static_assert(hw::Device<RemoteBoard> && !hw::InterleavingDevice<RemoteBoard>);

/// Keeps the first channels of every group by index (a ranking that ignores the weights: the
/// simplest that still satisfies the contract), each group shrunk by the same share r.
struct FirstChannelsRanking {
  zerobn::Selection select(std::vector<nn::ChannelGroup>& groups, double r, const zerobn::SelectionGuards& guards) const {
    zerobn::Selection sel(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      if (!groups[g].prunable) continue;
      const int64_t C = groups[g].channels;
      const int64_t k = guards.fit(std::max<int64_t>(1, int64_t(std::ceil((1 - r) * double(C)))), C);
      for (int64_t c = 0; c < k; ++c) sel[g].push_back(c);
    }
    return sel;
  }
};
static_assert(zerobn::Ranking<FirstChannelsRanking>);

/// A pruner that asks the device directly: the widest of a few width multipliers that the device
/// measures within the budget, trained from scratch.
template <hw::Device D>
struct MeasuredWidthPruner {
  D& device;
  double budget_ms;
  TrainingOptions training;
  int epochs = 1;
  double chosen = 0;
  PrunedNetwork prune(const ModelFamily& family, const Dataset& train, const Dataset& test) {
    PrunedNetwork r;
    for (double w : {1.0, 0.75, 0.5, 0.25}) {
      auto net = family(w);
      const double ms = device.measure(*net, training.input_chw).median_ms;
      if (ms <= budget_ms) {
        r.network = std::move(net), r.measured_ms = ms, chosen = w;
        break;
      }
    }
    if (!r.network) throw InfeasibleBudget("MeasuredWidthPruner: no width meets the budget");
    r.budget_ms = budget_ms, r.budget_met = true;
    r.train_seconds = train_epochs(*r.network, training, train, epochs, training.lr);
    describe_network(r, test, training.input_chw);
    return r;
  }
};
static_assert(Pruner<MeasuredWidthPruner<RemoteBoard>>);

}  // namespace user

namespace {
const Dataset& data(const char* split, int64_t n) {
  static std::map<std::string, Dataset> cache;
  const auto key = std::string(split) + std::to_string(n);
  if (!cache.count(key)) cache[key] = load_fashion_mnist(split, kFashionMnistDir, n);
  return cache[key];
}
const ModelFamily kFamily = [](double w) { return models::ref_cnn({.width = 0.25 * w}); };
}  // namespace

TEST_CASE("a user's device and ranking run inside ZeroBN, and its result meets the device's budget") {
  user::RemoteBoard board;
  ZeroBNConfig cfg;
  cfg.budget = Budget::fraction_of_full(0.6);
  cfg.schedule.epochs = 2;
  cfg.schedule.initial_fraction = 0.5;
  cfg.guards = {2, 2};
  cfg.measurement.sessions = 1;
  cfg.training = {.batch = 64, .progress = false};
  ZeroBN<fake::MacsPredictor, user::FirstChannelsRanking, user::RemoteBoard> z(fake::MacsPredictor{}, board, cfg);
  const auto r = prune(z, kFamily, data("train", 512), data("test", 200));
  CHECK(board.measured > 2);  // the feasibility check, the calibrations and the guarantee asked the board
  REQUIRE(r.measured_ms);
  CHECK(r.budget_met);
  CHECK(*r.measured_ms <= r.budget_ms);
  CHECK(*r.measured_ms == doctest::Approx(board.measure(*r.network, {1, 28, 28}).median_ms));
  CHECK(r.params < kFamily(1.0)->parameter_count());
}

TEST_CASE("a user's pruner runs through the same entry point as the library's") {
  user::RemoteBoard board;
  const double full = board.measure(*kFamily(1.0), {1, 28, 28}).median_ms;
  user::MeasuredWidthPruner<user::RemoteBoard> mine{board, 0.5 * full, {.batch = 64, .progress = false}};
  const auto r = prune(mine, kFamily, data("train", 512), data("test", 200));
  REQUIRE(r.measured_ms);
  CHECK(mine.chosen == 0.5);  // MACs fall ~quadratically with width: 0.75 is over half, 0.5 under
  CHECK(*r.measured_ms <= 0.5 * full);
  CHECK(r.macs < nn::total_macs(kFamily(1.0)->describe({1, 28, 28})));
  CHECK_THROWS_AS(([&] {
                    user::MeasuredWidthPruner<user::RemoteBoard> none{board, 1e-9, {.progress = false}};
                    prune(none, kFamily, data("train", 512), data("test", 200));
                  }()),
                  InfeasibleBudget);
}
