// Gradients of intermediate variables: retain_grad() keeps a non-leaf's gradient (plain layout)
// and register_hook() sees the total gradient flowing into a variable, on both backends, without
// changing the gradients any other variable receives.
#include <cmath>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "hwaware/autograd/ops.hpp"

using namespace hwaware;
using hwtest::random_tensor;

namespace {

const BackendKind kBackends[] = {BackendKind::reference, BackendKind::onednn};
std::string name_of(BackendKind k) { return k == BackendKind::onednn ? "onednn" : "reference"; }

const Conv2dParams kConv{1, 1, 1, 1, 1, 1, 1};
const Pool2dParams kPool{PoolKind::max, 2, 2, 2, 2, 0, 0};

/// What follows the intermediate `a` in the chain conv → a → relu → max pool → linear.
Variable head(const Variable& a, const Variable& w2) {
  return ops::linear(ops::flatten(ops::pool2d(ops::relu(a), kPool)), w2, std::nullopt);
}

/// Σ out · r, the scalar whose gradient the tests take.
double project(const Tensor& out, const Tensor& r) {
  const Tensor p = out.to_plain();
  double s = 0;
  for (int64_t i = 0; i < p.numel(); ++i) s += double(p.data()[i]) * r.data()[i];
  return s;
}

/// True when moving element i of a [N,C,H,W] plain tensor by ±step can cross the ReLU's kink or
/// reorder its 2×2 max-pool window: central differences are not the derivative there.
bool near_kink(const Tensor& a, int64_t i, double step) {
  const float* p = a.data();
  if (std::abs(p[i]) < 4 * step) return true;
  const int64_t W = a.dim(3), H = a.dim(2);
  const int64_t w = i % W, h = (i / W) % H, plane = i - h * W - w;
  for (int64_t dh = 0; dh < 2; ++dh)
    for (int64_t dw = 0; dw < 2; ++dw) {
      const int64_t j = plane + (h / 2 * 2 + dh) * W + (w / 2 * 2 + dw);
      if (j != i && std::abs(std::max(p[j], 0.f) - std::max(p[i], 0.f)) < 4 * step) return true;
    }
  return false;
}

struct Chain {
  Variable x, w1, w2, a, y;
};

/// conv(x, w1) = a (an intermediate), y = head(a); all three leaves require gradients.
Chain build_chain() {
  Chain c{Variable(random_tensor({2, 3, 6, 6}, 1), true), Variable(random_tensor({20, 3, 3, 3}, 2), true),
          Variable(random_tensor({5, 20 * 3 * 3}, 3), true), {}, {}};
  c.a = ops::conv2d(c.x, c.w1, std::nullopt, kConv);  // 20 channels: blocked and padded on oneDNN
  c.y = head(c.a, c.w2);
  return c;
}

}  // namespace

TEST_CASE("the retained gradient of an intermediate equals central differences, on both backends") {
  for (auto kind : kBackends) {
    const std::string backend = name_of(kind);
    CAPTURE(backend);
    BackendGuard g(kind);
    Chain c = build_chain();
    c.a.retain_grad();
    const Tensor r = random_tensor(c.y.shape(), 4);
    c.y.backward(r);
    REQUIRE(c.a.grad().defined());
    CHECK(c.a.grad().layout() == Layout::plain);
    CHECK(c.a.grad().shape() == c.a.shape());

    const Tensor a0 = c.a.value().to_plain();
    const double step = 1e-3;
    int64_t checked = 0;
    for (int64_t i = 0; i < a0.numel(); ++i) {
      if (near_kink(a0, i, step)) continue;
      auto eval = [&](double delta) {
        Tensor t = a0.clone();
        t.data()[i] += float(delta);
        NoGradGuard ng;
        return project(head(Variable(t), c.w2).value(), r);
      };
      const double numeric = (eval(step) - eval(-step)) / (2 * step), analytic = c.a.grad().data()[i];
      INFO("element " << i << ": analytic " << analytic << " numeric " << numeric);
      CHECK(std::abs(analytic - numeric) <= 1e-2 * (1 + std::abs(numeric)));
      ++checked;
    }
    CHECK(checked > a0.numel() / 2);
  }
}

TEST_CASE("a hook sees the retained gradient, once, before the inputs get theirs") {
  for (auto kind : kBackends) {
    const std::string backend = name_of(kind);
    CAPTURE(backend);
    BackendGuard g(kind);
    Chain c = build_chain();
    c.a.retain_grad();
    std::vector<Tensor> seen;
    bool w1_had_grad = true;
    c.a.register_hook([&](const Tensor& grad) {
      seen.push_back(grad);
      w1_had_grad = c.w1.grad().defined();
    });
    c.y.backward(random_tensor(c.y.shape(), 4));
    REQUIRE(seen.size() == 1);
    CHECK(!w1_had_grad);
    CHECK(seen[0].layout() == Layout::plain);
    CHECK(hwtest::closeness(seen[0], c.a.grad(), 0, 0) == 0);
  }
}

TEST_CASE("hooks and retain_grad leave every leaf gradient as it was") {
  for (auto kind : kBackends) {
    const std::string backend = name_of(kind);
    CAPTURE(backend);
    BackendGuard g(kind);
    const Tensor r = random_tensor({2, 5}, 4);
    Chain plain = build_chain();
    plain.y.backward(r);

    Chain hooked = build_chain();
    hooked.a.retain_grad();
    int calls = 0;
    hooked.a.register_hook([&](const Tensor&) { ++calls; });
    Tensor w1_seen;
    hooked.w1.register_hook([&](const Tensor& grad) { w1_seen = grad; });
    hooked.y.backward(r);
    CHECK(calls == 1);
    for (auto [got, want] : {std::pair{&hooked.x, &plain.x}, {&hooked.w1, &plain.w1}, {&hooked.w2, &plain.w2}})
      CHECK(hwtest::closeness(got->grad(), want->grad(), 1e-6, 1e-6) <= 1.0);
    CHECK(hwtest::closeness(w1_seen, plain.w1.grad(), 1e-6, 1e-6) <= 1.0);

    // A second pass: the leaf hook sees that pass's gradient alone, the leaf holds the sum.
    const Tensor first = hooked.w1.grad().clone();
    hooked.a = ops::conv2d(hooked.x, hooked.w1, std::nullopt, kConv);
    hooked.y = head(hooked.a, hooked.w2);
    hooked.y.backward(r);
    CHECK(hwtest::closeness(w1_seen, first, 1e-6, 1e-6) <= 1.0);
    CHECK(hwtest::closeness(hooked.w1.grad(), common::scale(first, 2.f), 1e-6, 1e-6) <= 1.0);
  }
}

TEST_CASE("a variable used twice: its hook and retained gradient get the sum of both uses") {
  for (auto kind : kBackends) {
    const std::string backend = name_of(kind);
    CAPTURE(backend);
    BackendGuard g(kind);
    Variable x(random_tensor({3, 4}, 1), true), w(random_tensor({6, 4}, 2), true);
    Variable a = ops::linear(x, w, std::nullopt);
    a.retain_grad();
    std::vector<Tensor> seen;
    a.register_hook([&](const Tensor& grad) { seen.push_back(grad.clone()); });
    Variable y = ops::add(a, ops::mul(a, a));  // dy/da = 1 + 2a
    const Tensor r = random_tensor(y.shape(), 3);
    y.backward(r);
    REQUIRE(seen.size() == 1);
    Tensor want = Tensor::empty(a.shape());
    for (int64_t i = 0; i < want.numel(); ++i) want.data()[i] = r.data()[i] * (1 + 2 * a.value().data()[i]);
    CHECK(hwtest::closeness(seen[0], want, 1e-5, 1e-5) <= 1.0);
    CHECK(hwtest::closeness(a.grad(), want, 1e-5, 1e-5) <= 1.0);
  }
}

TEST_CASE("a hooked leaf used twice sees 2·v·r; retain and hooks need a variable that requires a gradient") {
  Variable v(random_tensor({3, 4}, 5), true);
  Tensor v_seen;
  int calls = 0;
  v.register_hook([&](const Tensor& grad) { v_seen = grad, ++calls; });
  const Tensor r = random_tensor({3, 4}, 6);
  ops::mul(v, v).backward(r);
  REQUIRE(calls == 1);
  Tensor want = common::scale(common::mul(v.value(), r), 2.f);
  CHECK(hwtest::closeness(v_seen, want, 1e-6, 1e-6) <= 1.0);
  CHECK(hwtest::closeness(v.grad(), want, 1e-6, 1e-6) <= 1.0);

  Variable constant(random_tensor({2}, 7));
  CHECK_THROWS_WITH_AS(constant.retain_grad(), doctest::Contains("retain_grad"), Error);
  CHECK_THROWS_WITH_AS(constant.register_hook([](const Tensor&) {}), doctest::Contains("register_hook"), Error);
  // a leaf's retain_grad is allowed and changes nothing
  v.retain_grad();
  v.zero_grad();
  ops::mul(v, v).backward(r);
  CHECK(hwtest::closeness(v.grad(), want, 1e-6, 1e-6) <= 1.0);
}

TEST_CASE("a throwing hook propagates and leaves the leaves' earlier gradients in place") {
  Chain c = build_chain();
  const Tensor r = random_tensor(c.y.shape(), 4);
  c.y.backward(r);
  const Tensor first = c.w1.grad().clone();
  int w1_calls = 0;
  c.w1.register_hook([&](const Tensor&) { ++w1_calls; });  // its gradient is set aside for the pass
  c.a = ops::conv2d(c.x, c.w1, std::nullopt, kConv);
  c.y = head(c.a, c.w2);
  c.a.register_hook([](const Tensor&) { throw Error("hook failed"); });
  CHECK_THROWS_WITH_AS(c.y.backward(r), "hook failed", Error);
  CHECK(w1_calls == 0);
  REQUIRE(c.w1.grad().defined());
  CHECK(hwtest::closeness(c.w1.grad(), first, 0, 0) == 0);
}
