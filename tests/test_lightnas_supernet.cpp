// Tests for hwaware/autograd/gate.hpp and hwaware/methods/lightnas/supernet.hpp: the gate's
// gradients by finite differences; a sampled path runs and describes itself as the built network of
// the same architecture; a gated step's α gradient covers the allowed ops and sums to 0 per layer
// (a softmax's); only the sampled path's weights get gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "gradcheck.hpp"
#include "hwaware/methods/lightnas/supernet.hpp"

using namespace hwaware;
using namespace hwaware::lightnas;
using hwtest::check_gradients;

TEST_CASE("gate: gradients by finite differences on both backends") {
  for (BackendKind kind : {BackendKind::reference, BackendKind::onednn}) {
    BackendGuard guard(kind);
    check_gradients([](std::vector<Variable>& v) { return ops::gate(v[0], v[1]); },
                    {hwtest::random_tensor({2, 3, 4, 4}, 1), Tensor::from({1}, {0.7f})}, 1e-2);
  }
  CHECK_THROWS_AS(ops::gate(Variable(Tensor::zeros({2, 2})), Variable(Tensor::zeros({2}))), ShapeError);
}

namespace {
SearchSpace small_space() {
  return SearchSpace(SearchSpace::Options{.stem_width = 8, .head_width = 16, .stages = {{8, 2, 2}, {16, 2, 2}}});
}
}  // namespace

TEST_CASE("a sampled path runs and describes itself as the built network of its architecture") {
  Supernet net(small_space());
  std::mt19937_64 rng(2);
  net.sample(5.0, rng);
  REQUIRE_NOTHROW(net.space().check(net.path()));
  const Variable y = net.forward(Variable(hwtest::random_tensor({3, 1, 28, 28}, 4)));
  CHECK(y.shape() == Shape{3, 10});
  const auto mine = net.describe({1, 28, 28});
  const auto built = net.space().build(net.path())->describe({1, 28, 28});
  REQUIRE(mine.size() == built.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    CHECK(mine[i].kind == built[i].kind);
    CHECK(mine[i].macs == built[i].macs);
  }
  // Every candidate's weights belong to the supernet.
  const auto params = net.parameters();
  std::set<std::string> ops;
  for (auto& [name, p] : params) ops.insert(name.substr(0, name.find(".body")));
  CHECK(ops.count("layers.1.k7e6") == 1);
  CHECK(ops.count("layers.1.skip") == 0);
  CHECK(ops.count("layers.0.k3e3") == 1);
}

TEST_CASE("a gated step: α gradients on the allowed ops, summing to 0 per layer; weights of the path only") {
  for (BackendKind kind : {BackendKind::reference, BackendKind::onednn}) {
    BackendGuard guard(kind);
    Supernet net(small_space());
    std::mt19937_64 rng(7);
    net.alpha()[1 * kOpsPerLayer + 2] = 0.5f;
    net.sample(2.0, rng);
    net.set_gates(true);
    Tensor labels = Tensor::empty({4}, Layout::plain, DType::i32);
    for (int i = 0; i < 4; ++i) labels.idata()[i] = i + 1;
    auto out = ops::cross_entropy(net.forward(Variable(hwtest::random_tensor({4, 1, 28, 28}, 5))), labels);
    out.loss.backward();
    std::vector<float> dalpha;
    net.accumulate_alpha_grad(dalpha);
    REQUIRE(dalpha.size() == net.space().layers() * kOpsPerLayer);
    for (size_t l = 0; l < net.space().layers(); ++l) {
      double sum = 0, mass = 0;
      for (int op = 0; op < kOpsPerLayer; ++op) {
        const float g = dalpha[l * kOpsPerLayer + size_t(op)];
        sum += g, mass += std::abs(g);
        if (!net.space().allowed(l, op)) CHECK(g == 0.0f);
      }
      CHECK(std::abs(sum) < 1e-6 + 1e-4 * mass);
      CHECK(mass > 0);
    }
    for (auto& [name, p] : net.parameters()) {
      const bool on_path = name.rfind("stem", 0) == 0 || name.rfind("head", 0) == 0 || [&] {
        for (size_t l = 0; l < net.space().layers(); ++l)
          if (name.rfind("layers." + std::to_string(l) + "." + op_choice(net.path()[l]).name() + ".", 0) == 0) return true;
        return false;
      }();
      CAPTURE(name);
      CHECK(p->grad().defined() == on_path);
    }
  }
}

TEST_CASE("a gated forward needs a sample; α grads need a gated pass") {
  Supernet net(small_space());
  net.set_gates(true);
  CHECK_THROWS_AS(net.forward(Variable(Tensor::zeros({1, 1, 28, 28}))), Error);
  std::vector<float> d;
  CHECK_THROWS_AS(net.accumulate_alpha_grad(d), Error);
}
