// Tests for hwaware/methods/lightnas/cost_model.hpp and search.hpp: the MACs table adds up to the
// built network's MACs for any architecture; its gradient is the table; a tiny search on real
// Fashion-MNIST images with a MACs target ends near the target from either side.
#include <doctest/doctest.h>

#include "hwaware/data/dataset.hpp"
#include "hwaware/methods/lightnas/searchers.hpp"
#include "temp_dir.hpp"

using namespace hwaware;
using namespace hwaware::lightnas;

namespace {
SearchSpace tiny_space() {
  return SearchSpace(SearchSpace::Options{.stem_width = 8, .head_width = 16, .stages = {{8, 2, 2}, {16, 2, 2}}});
}
}  // namespace

TEST_CASE("the MACs table is exact for every architecture and differentiable in the encoding") {
  const SearchSpace space;
  const OpTableCost macs = OpTableCost::macs(space, {1, 28, 28});
  std::mt19937_64 rng(4);
  for (int i = 0; i < 10; ++i) {
    const Architecture a = space.sample(rng);
    CHECK(macs.cost_of(a) == doctest::Approx(double(nn::total_macs(space.build(a)->describe({1, 28, 28})))));
    const auto e = space.encode(a);
    std::vector<float> g(e.size());
    CHECK(macs.cost(e, g) == doctest::Approx(macs.cost_of(a)));
  }
  const auto [lo, hi] = macs.range(space);
  CHECK(lo < hi);
  Architecture smallest(space.layers(), 0);
  for (size_t l = 0; l < space.layers(); ++l) smallest[l] = space.can_skip(l) ? kSkipOp : 0;
  CHECK(macs.cost_of(smallest) == doctest::Approx(lo));
  CHECK_THROWS_AS(OpTableCost(0, std::vector<double>(5), "x"), Error);
}

TEST_CASE("a tiny search lands near its MACs target") {
  const SearchSpace space = tiny_space();
  const OpTableCost macs = OpTableCost::macs(space, {1, 28, 28});
  const auto [lo, hi] = macs.range(space);
  const Dataset data = load_fashion_mnist("train", kFashionMnistDir, 640);
  for (double where : {0.3, 0.6}) {
    SearchConfig cfg;
    cfg.target = lo + where * (hi - lo);
    cfg.epochs = 6;
    cfg.temperature = {5.0, 0.3, 2};
    cfg.alpha_lr = 0.05;
    cfg.lambda.lr = 0.05;
    cfg.batch = 64;
    nn::manual_seed(3);
    const SearchResult r = search(space, macs, data, cfg);
    CAPTURE(where);
    MESSAGE("target " << cfg.target << " MACs, found " << r.cost << " (" << space.describe(r.architecture) << "), λ "
                      << r.lambda);
    REQUIRE(r.history.size() == 6);
    CHECK(r.cost == doctest::Approx(cfg.target).epsilon(0.15));
    for (const SearchEpoch& e : r.history) {  // the weight steps are timed apart from the α steps
      CHECK(e.weight_seconds > 0);
      CHECK(e.weight_seconds <= e.seconds);
    }
  }
}

TEST_CASE("with a device the search calibrates on it and lands the measured cost in the band") {
  const SearchSpace space = tiny_space();
  const OpTableCost macs = OpTableCost::macs(space, {1, 28, 28});
  const auto [lo, hi] = macs.range(space);
  // The device reads 1.3× the cost and a fixed part the cost does not know.
  std::vector<Architecture> measured;
  const MeasureFn device = [&](const Architecture& a) {
    measured.push_back(a);
    return 1.3 * macs.cost_of(a) + 0.05 * lo;
  };
  const Dataset data = load_fashion_mnist("train", kFashionMnistDir, 640);
  SearchConfig cfg;
  cfg.target = 1.3 * (lo + 0.5 * (hi - lo)) + 0.05 * lo;
  cfg.epochs = 5;
  cfg.temperature = {5.0, 0.3, 2};
  cfg.alpha_lr = 0.05;
  cfg.lambda.lr = 0.05;
  cfg.batch = 64;
  nn::manual_seed(3);
  const SearchResult r = search(space, macs, data, cfg, {}, device);
  MESSAGE("target " << cfg.target << ", searched " << device(r.searched) << ", landed " << *r.measured << " after "
                    << r.landing_edits << " edits");
  REQUIRE(r.measured);
  CHECK(*r.measured <= cfg.target);
  CHECK(*r.measured >= 0.95 * cfg.target);
  // Every α epoch measured its argmax and scaled the cost to the device.
  for (const SearchEpoch& e : r.history) {
    CHECK(e.measured.has_value() == (e.epoch >= 2));
    if (e.measured) CHECK(e.cost == doctest::Approx(*e.measured));
  }
  CHECK(r.scale > 1.3);
}

TEST_CASE("FBNet's sweep moves λ towards the target and counts its searches") {
  const SearchSpace space = tiny_space();
  const OpTableCost macs = OpTableCost::macs(space, {1, 28, 28});
  const auto [lo, hi] = macs.range(space);
  const Dataset data = load_fashion_mnist("train", kFashionMnistDir, 320);
  SearchConfig cfg;
  cfg.target = lo + 0.25 * (hi - lo);
  cfg.epochs = 3;
  cfg.temperature = {5.0, 0.3, 1};
  cfg.alpha_lr = 0.05;
  cfg.batch = 64;
  nn::manual_seed(3);
  FbnetSweep<OpTableCost> sweep(macs, cfg, {}, {.initial_lambda = 1e-3, .factor = 10, .max_searches = 3});
  std::vector<FbnetSweep<OpTableCost>::Attempt> reported;
  sweep.on_attempt([&](const auto& a) { reported.push_back(a); });
  const auto r = sweep.search(space, data);
  CHECK(reported.size() == r.attempts.size());
  REQUIRE(!r.attempts.empty());
  CHECK(r.attempts.size() <= 3);
  CHECK(r.landed == (std::abs(r.attempts.back().result.cost / cfg.target - 1) <= cfg.band));
  // A search that ended over T is followed by a larger λ, one under T by a smaller one.
  for (size_t i = 0; i + 1 < r.attempts.size(); ++i)
    CHECK((r.attempts[i].result.cost > cfg.target) == (r.attempts[i + 1].lambda > r.attempts[i].lambda));
  static_assert(Searcher<FbnetSweep<OpTableCost>> && Searcher<LightNas<OpTableCost>>);

  // Resumed from all its attempts, the sweep replays them without a search and ends the same way.
  FbnetSweep<OpTableCost> again(macs, cfg, {}, {.initial_lambda = 1e-3, .factor = 10, .max_searches = 3});
  int searched = 0;
  again.on_attempt([&](const auto&) { ++searched; });
  again.resume(reported);
  const auto r2 = again.search(space, data);
  CHECK(searched == 0);
  CHECK(r2.landed == r.landed);
  CHECK(r2.architecture == r.architecture);
  CHECK(r2.seconds == doctest::Approx(r.seconds));

  // A search at λ is the same whichever sweep runs it (each starts from the config's seed) ...
  FbnetSweep<OpTableCost> fresh(macs, cfg, {}, {.initial_lambda = 1e-3, .factor = 10, .max_searches = 1});
  nn::manual_seed(99);  // whatever the process did before
  const auto r1 = fresh.search(space, data);
  CHECK(r1.attempts.front().result.architecture == reported.front().result.architecture);
  CHECK(r1.attempts.front().result.cost == doctest::Approx(reported.front().result.cost));
  // ... so a sweep to another target reuses the searches at the λ it shares (a fixed-λ search
  // does not depend on T) and runs only the others.
  SearchConfig far = cfg;
  far.target = lo + 0.9 * (hi - lo);
  FbnetSweep<OpTableCost> other(macs, far, {}, {.initial_lambda = 1e-3, .factor = 10, .max_searches = 2});
  std::vector<double> ran;
  other.on_attempt([&](const auto& a) { ran.push_back(a.lambda); });
  other.resume({reported.front()});
  const auto r3 = other.search(space, data);
  REQUIRE(!r3.attempts.empty());
  CHECK(r3.attempts.front().result.architecture == reported.front().result.architecture);
  CHECK(ran.size() == r3.attempts.size() - 1);
  for (double l : ran) CHECK(l != doctest::Approx(reported.front().lambda));

  // A time budget stops the sweep after the search that spent it.
  FbnetSweep<OpTableCost> brief(macs, far, {}, {.initial_lambda = 1e-3, .factor = 10, .max_searches = 3, .max_seconds = 1e-9});
  brief.resume(reported);
  const auto r4 = brief.search(space, data);
  CHECK(r4.attempts.size() == 1);
  CHECK_THROWS_AS(FbnetSweep<OpTableCost>(macs, far, {}, {.max_seconds = 0}), Error);
}

TEST_CASE("a search killed after an epoch resumes from its checkpoint and ends as if never stopped") {
  const SearchSpace space = tiny_space();
  const OpTableCost macs = OpTableCost::macs(space, {1, 28, 28});
  const auto [lo, hi] = macs.range(space);
  const Dataset data = load_fashion_mnist("train", kFashionMnistDir, 320);
  const MeasureFn device = [&](const Architecture& a) { return 1.2 * macs.cost_of(a); };
  SearchConfig cfg;
  cfg.target = 1.2 * (lo + 0.4 * (hi - lo));
  cfg.epochs = 4;
  cfg.temperature = {5.0, 0.3, 1};
  cfg.alpha_lr = 0.05;
  cfg.lambda.lr = 0.05;
  cfg.batch = 64;
  nn::manual_seed(3);
  const SearchResult whole = search(space, macs, data, cfg, {}, device);

  hwtest::TempDir dir("lightnas_resume");
  cfg.checkpoint = dir.file("search.ckpt");
  struct Killed {};
  nn::manual_seed(3);
  CHECK_THROWS_AS(search(space, macs, data, cfg, [](const SearchEpoch& e) { if (e.epoch == 1) throw Killed{}; }, device),
                  Killed);
  REQUIRE(std::filesystem::exists(cfg.checkpoint));
  std::vector<int> epochs_run;
  nn::manual_seed(99);  // the resumed search's weights come from the checkpoint, not the seed
  const SearchResult resumed = search(space, macs, data, cfg, [&](const SearchEpoch& e) { epochs_run.push_back(e.epoch); }, device);
  CHECK(epochs_run == std::vector<int>{2, 3});
  REQUIRE(resumed.history.size() == whole.history.size());
  for (size_t e = 0; e < whole.history.size(); ++e) {
    CAPTURE(e);
    CHECK(resumed.history[e].lambda == whole.history[e].lambda);
    CHECK(resumed.history[e].cost == whole.history[e].cost);
    CHECK(resumed.history[e].train_accuracy == whole.history[e].train_accuracy);
    CHECK(resumed.history[e].scale == whole.history[e].scale);
    CHECK(resumed.history[e].weight_seconds > 0);  // kept across the checkpoint
  }
  CHECK(resumed.architecture == whole.architecture);
  CHECK(resumed.lambda == whole.lambda);

  SearchConfig other = cfg;  // another target must not pick up this search's state
  other.target *= 1.5;
  CHECK_THROWS_WITH_AS(search(space, macs, data, other, {}, device), doctest::Contains("belongs to another search"), Error);
}
