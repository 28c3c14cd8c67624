// Tests for hwaware/autograd/regression_loss.hpp: smooth L1 on known numbers on both sides of β,
// its gradient against finite differences, and shape errors.
#include <doctest/doctest.h>

#include "gradcheck.hpp"
#include "hwaware/autograd/regression_loss.hpp"

using namespace hwaware;
using hwtest::check_gradients;

TEST_CASE("smooth_l1 on known numbers") {
  Variable p(Tensor::from({1, 4}, {0.0f, 0.5f, 2.0f, -3.0f}), true);
  const Tensor t = Tensor::from({1, 4}, {0.0f, 0.0f, 0.0f, 0.0f});
  Variable l = ops::smooth_l1(p, t, 1.0f);
  // h = 0, 0.125, 1.5, 2.5 → mean 1.03125
  CHECK(l.value().data()[0] == doctest::Approx(1.03125));
  l.backward();
  const float want[] = {0.0f, 0.125f, 0.25f, -0.25f};  // d/4, sign/4
  for (int i = 0; i < 4; ++i) CHECK(p.grad().data()[i] == doctest::Approx(want[i]));
}

TEST_CASE("smooth_l1 gradient by finite differences") {
  for (BackendKind kind : {BackendKind::reference, BackendKind::onednn}) {
    BackendGuard guard(kind);
    const Tensor target = hwtest::random_tensor({3, 4}, 5);
    check_gradients([&](std::vector<Variable>& v) { return ops::smooth_l1(v[0], target, 0.3f); },
                    {hwtest::distinct_tensor({3, 4}, 6, 0.13f)}, 1e-3);
  }
}

TEST_CASE("smooth_l1 refuses mismatched shapes and a non-positive beta") {
  Variable p(Tensor::zeros({2, 4}), true);
  CHECK_THROWS_WITH_AS(ops::smooth_l1(p, Tensor::zeros({2, 3})), doctest::Contains("smooth_l1"), ShapeError);
  CHECK_THROWS_AS(ops::smooth_l1(p, Tensor::zeros({2, 4}), 0.0f), Error);
}
