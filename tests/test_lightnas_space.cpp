// Tests for hwaware/methods/lightnas/search_space.hpp: encode/decode/build round trips, skip only
// where the shape is kept, the size of the space, clear errors for foreign architectures.
#include <doctest/doctest.h>

#include "hwaware/methods/lightnas/search_space.hpp"

using namespace hwaware;
using namespace hwaware::lightnas;

TEST_CASE("the paper's 7 ops in encoding order") {
  CHECK(op_choice(0).name() == "k3e3");
  CHECK(op_choice(1).name() == "k3e6");
  CHECK(op_choice(4).name() == "k7e3");
  CHECK(op_choice(5).name() == "k7e6");
  CHECK(op_choice(kSkipOp).skip());
  CHECK_THROWS_AS(op_choice(7), Error);
}

TEST_CASE("the default space: 12 layers, skip only where stride and width are kept") {
  SearchSpace space;
  REQUIRE(space.layers() == 12);
  int skippable = 0;
  for (size_t l = 0; l < space.layers(); ++l) {
    skippable += space.can_skip(l);
    CHECK(space.can_skip(l) == (space.layer_stride(l) == 1 && space.layer_in(l) == space.layer_out(l)));
  }
  CHECK(skippable == 8);  // every layer but the first of each of the 4 stages
  CHECK(space.size() == doctest::Approx(std::pow(7.0, 8) * std::pow(6.0, 4)));
  CHECK_FALSE(space.can_skip(0));
  CHECK(space.can_skip(1));
}

TEST_CASE("sample, encode, decode and build round trips") {
  SearchSpace space;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20; ++i) {
    const Architecture a = space.sample(rng);
    REQUIRE_NOTHROW(space.check(a));
    const auto e = space.encode(a);
    REQUIRE(e.size() == 12 * 7);
    CHECK(space.decode(e) == a);
  }
  const Architecture a = space.sample(rng);
  auto net = space.build(a);
  net->eval();
  NoGradGuard no_grad;
  const Variable y = net->forward(Variable(Tensor::zeros({2, 1, 28, 28})));
  CHECK(y.shape() == Shape{2, 10});
  // One module per non-skip layer between the stem and the head's three.
  int ops = 0;
  for (int op : a) ops += op != kSkipOp;
  CHECK(net->children.size() == size_t(1 + ops + 3));
  // decode picks the best allowed entry: a skip score at an unskippable layer is ignored
  std::vector<float> scores(12 * 7, 0.0f);
  scores[0 * 7 + kSkipOp] = 9.0f;
  scores[0 * 7 + 3] = 1.0f;
  CHECK(space.decode(scores)[0] == 3);
}

TEST_CASE("foreign architectures are refused with the layer named") {
  SearchSpace space;
  Architecture a(12, 0);
  a[0] = kSkipOp;
  CHECK_THROWS_WITH_AS(space.check(a), doctest::Contains("layer 0"), Error);
  CHECK_THROWS_WITH_AS(space.build(Architecture(5, 0)), doctest::Contains("12 layers"), Error);
  CHECK_THROWS_AS(space.decode(std::vector<float>(3)), Error);
  CHECK_THROWS_AS(SearchSpace(SearchSpace::Options{.stages = {}}), Error);
}

TEST_CASE("a 64×64 space with a stride-2 stem builds") {
  SearchSpace space(SearchSpace::Options{.stem_stride = 2});
  std::mt19937_64 rng(1);
  auto net = space.build(space.sample(rng));
  const auto layers = net->describe({1, 64, 64});
  CHECK(layers.front().out_h == 32);
}
