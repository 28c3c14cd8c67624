// Tests for hwaware/methods/lightnas/cost_model.hpp and search.hpp: the MACs table adds up to the
// built network's MACs for any architecture; its gradient is the table; a tiny search on real
// Fashion-MNIST images with a MACs target ends near the target from either side.
#include <doctest/doctest.h>

#include "hwaware/data/dataset.hpp"
#include "hwaware/methods/lightnas/search.hpp"

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
  }
}
