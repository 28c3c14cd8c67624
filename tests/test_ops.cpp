// Finite-difference gradient checks for every autograd op on both backends.
#include "gradcheck.hpp"
#include "hwaware/autograd/ops.hpp"

using namespace hwaware;
using hwtest::check_gradients;
using hwtest::random_tensor;

namespace {
const BackendKind kBackends[] = {BackendKind::reference, BackendKind::onednn};
std::string name_of(BackendKind k) { return k == BackendKind::onednn ? "onednn" : "reference"; }
}  // namespace

TEST_CASE("conv2d gradients: stride, padding, dilation, groups, bias") {
  struct Case { Shape x, w; Conv2dParams p; bool bias; };
  const Case cases[] = {
      {{2, 3, 6, 6}, {4, 3, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, false},
      {{1, 4, 7, 7}, {6, 2, 3, 3}, {2, 2, 1, 1, 1, 1, 2}, true},
      {{2, 17, 5, 5}, {17, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 17}, false},  // depthwise, odd channels
      {{1, 5, 8, 8}, {3, 5, 3, 3}, {1, 1, 2, 2, 2, 2, 1}, true},      // dilation 2
      {{1, 8, 4, 4}, {16, 8, 1, 1}, {1, 1, 0, 0, 1, 1, 1}, false},    // pointwise
  };
  for (auto kind : kBackends)
    for (const auto& c : cases) {
      const std::string backend = name_of(kind);
      CAPTURE(backend);
      CAPTURE(shape_str(c.w));
      BackendGuard g(kind);
      std::vector<Tensor> in{random_tensor(c.x, 1), random_tensor(c.w, 2)};
      if (c.bias) in.push_back(random_tensor({c.w[0]}, 3));
      check_gradients([&](std::vector<Variable>& v) {
        return ops::conv2d(v[0], v[1], c.bias ? std::optional(v[2]) : std::nullopt, c.p);
      }, in);
    }
}

TEST_CASE("batchnorm2d gradients, train and eval, with and without fused relu") {
  for (auto kind : kBackends)
    for (bool training : {true, false})
      for (bool relu : {false, true}) {
        const std::string backend = name_of(kind);
      CAPTURE(backend);
        CAPTURE(training);
        CAPTURE(relu);
        BackendGuard g(kind);
        Tensor rm = random_tensor({5}, 7, -0.2f, 0.2f), rv = random_tensor({5}, 8, 0.5f, 1.5f);
        check_gradients([&](std::vector<Variable>& v) {
          Tensor m = rm.clone(), var = rv.clone();  // running stats must not drift between evaluations
          return ops::batchnorm2d(v[0], v[1], v[2], {&m, &var, 0.1f, 1e-5f}, training, relu);
        }, {random_tensor({3, 5, 3, 3}, 4, -2, 2), random_tensor({5}, 5, 0.5f, 1.5f), random_tensor({5}, 6)},
                        2e-3, 5e-2);
      }
}

TEST_CASE("activation gradients") {
  for (auto kind : kBackends)
    for (auto a : {Activation::relu, Activation::relu6, Activation::sigmoid}) {
      const std::string backend = name_of(kind);
      CAPTURE(backend);
      CAPTURE(std::string(activation_name(a)));
      BackendGuard g(kind);
      // values away from the kinks at 0 and 6 so central differences are exact
      Tensor x = random_tensor({2, 20, 3, 3}, 11, -8, 8);
      for (int64_t i = 0; i < x.numel(); ++i)
        if (std::abs(x.data()[i]) < 0.05f || std::abs(x.data()[i] - 6) < 0.05f) x.data()[i] += 0.2f;
      check_gradients([&](std::vector<Variable>& v) { return ops::activation(v[0], a); }, {x});
    }
}

TEST_CASE("pooling gradients: max, avg, padding, overlapping windows") {
  const Pool2dParams cases[] = {{PoolKind::max, 2, 2, 2, 2, 0, 0},
                                {PoolKind::avg, 2, 2, 2, 2, 0, 0},
                                {PoolKind::max, 3, 3, 2, 2, 1, 1},
                                {PoolKind::avg, 3, 3, 1, 1, 1, 1}};
  for (auto kind : kBackends)
    for (const auto& p : cases) {
      const std::string backend = name_of(kind);
      CAPTURE(backend);
      CAPTURE(p.kernel_h);
      BackendGuard g(kind);
      check_gradients([&](std::vector<Variable>& v) { return ops::pool2d(v[0], p); },
                      {hwtest::distinct_tensor({2, 18, 6, 6}, 12)}, 2e-3);
    }
}

TEST_CASE("linear, flatten, global average pool, add, mul, concat gradients") {
  for (auto kind : kBackends) {
    const std::string backend = name_of(kind);
    CAPTURE(backend);
    BackendGuard g(kind);
    check_gradients([](std::vector<Variable>& v) { return ops::linear(v[0], v[1], v[2]); },
                    {random_tensor({4, 7}, 1), random_tensor({3, 7}, 2), random_tensor({3}, 3)});
    check_gradients([](std::vector<Variable>& v) { return ops::linear(ops::flatten(v[0]), v[1], std::nullopt); },
                    {random_tensor({2, 3, 2, 2}, 4), random_tensor({5, 12}, 5)});
    check_gradients([](std::vector<Variable>& v) { return ops::global_avg_pool(v[0]); }, {random_tensor({2, 20, 3, 3}, 6)});
    check_gradients([](std::vector<Variable>& v) { return ops::add(v[0], ops::mul(v[0], v[1])); },
                    {random_tensor({2, 3, 4, 4}, 7), random_tensor({2, 3, 4, 4}, 8)});
    check_gradients([](std::vector<Variable>& v) { return ops::concat({v[0], v[1]}); },
                    {random_tensor({2, 3, 2, 2}, 9), random_tensor({2, 5, 2, 2}, 10)});
  }
}

TEST_CASE("scale, add_scalar and the scalar operators: gradients and values") {
  for (auto kind : kBackends) {
    const std::string backend = name_of(kind);
    CAPTURE(backend);
    BackendGuard g(kind);
    check_gradients([](std::vector<Variable>& v) { return ops::scale(v[0], -1.7f); }, {random_tensor({2, 3, 2, 2}, 1)});
    check_gradients([](std::vector<Variable>& v) { return ops::add_scalar(v[0], 0.4f); }, {random_tensor({4, 5}, 2)});
    check_gradients([](std::vector<Variable>& v) { return ops::mul(2.f * v[0] - 0.5f, v[0] * 3.f + 1.f); },
                    {random_tensor({3, 4}, 3)});
  }
  const Tensor x = Tensor::from({3}, {1, -2, 0.5f});
  const Variable v(x);
  const std::vector<std::pair<Variable, std::vector<float>>> cases = {
      {v * 2.f, {2, -4, 1}}, {-0.5f * v, {-0.5f, 1, -0.25f}}, {v + 1.5f, {2.5f, -0.5f, 2}}, {v - 1.f, {0, -3, -0.5f}}};
  for (const auto& [y, want] : cases)
    for (int64_t i = 0; i < 3; ++i) CHECK(y.value().data()[i] == doctest::Approx(want[size_t(i)]));
}

TEST_CASE("scalar ops on a blocked oneDNN activation keep the channel padding zero") {
  BackendGuard g(BackendKind::onednn);
  const onednn::BlockedConvsScope blocked(true);  // below AVX-512 convs run nhwc; blocked is what is tested
  Conv2dParams p{1, 1, 0, 0, 1, 1, 1};
  check_gradients([&](std::vector<Variable>& v) {
    Variable a = ops::conv2d(v[0], v[1], std::nullopt, p);  // 16 → 20 channels: blocked, padded to 32
    Variable b = ops::add_scalar(ops::scale(a, 0.5f), 0.25f);
    CHECK(b.value().layout() == Layout::blocked16);
    const float* raw = b.value().raw_data();  // channels 20..31 of the second block: padding
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < 16; ++i)
        for (int64_t c = 4; c < kChannelBlock; ++c) CHECK(raw[((n * 2 + 1) * 16 + i) * kChannelBlock + c] == 0.f);
    return ops::global_avg_pool(b);
  }, {random_tensor({2, 16, 4, 4}, 21), random_tensor({20, 16, 1, 1}, 22)});
}

TEST_CASE("slice0: rows of a batch, with the gradient back into those rows only") {
  for (auto kind : kBackends) {
    const std::string backend = name_of(kind);
    CAPTURE(backend);
    BackendGuard g(kind);
    check_gradients([](std::vector<Variable>& v) { return ops::slice0(v[0], 1, 3); }, {random_tensor({4, 3, 2, 2}, 1)});
    check_gradients([](std::vector<Variable>& v) {
      Variable a = ops::conv2d(v[0], v[1], std::nullopt, {1, 1, 1, 1, 1, 1, 1});  // nhwc on oneDNN
      return ops::global_avg_pool(ops::slice0(a, 2, 3));
    }, {random_tensor({3, 5, 4, 4}, 2), random_tensor({20, 5, 3, 3}, 3)});
    Variable x(random_tensor({4, 3}, 4), true);
    Variable y = ops::slice0(x, 1, 2);
    CHECK(y.shape() == Shape{1, 3});
    CHECK(y.value().data()[2] == x.value().data()[5]);
    y.backward(Tensor::full({1, 3}, 1.f));
    for (int64_t i = 0; i < 12; ++i) CHECK(x.grad().data()[i] == (i >= 3 && i < 6 ? 1.f : 0.f));
    CHECK_THROWS_AS(ops::slice0(x, 3, 5), ShapeError);
  }
}

TEST_CASE("ops on oneDNN's blocked layout: gradients through conv -> add -> pool -> gap") {
  BackendGuard g(BackendKind::onednn);
  Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
  check_gradients([&](std::vector<Variable>& v) {
    Variable a = ops::conv2d(v[0], v[1], std::nullopt, p);  // 20 channels: blocked, padded to 32
    Variable b = ops::add(a, ops::mul(a, a));
    Variable c = ops::concat({b, a});
    return ops::global_avg_pool(ops::pool2d(c, {PoolKind::avg, 2, 2, 2, 2, 0, 0}));
  }, {random_tensor({2, 6, 4, 4}, 21), random_tensor({20, 6, 3, 3}, 22)});
}

TEST_CASE("cross entropy with label smoothing: gradient and value") {
  const Tensor labels = Tensor::from({3}, std::vector<int32_t>{0, 2, 1});
  CHECK(labels.dtype() == DType::i32);
  CHECK(labels.idata()[1] == 2);
  CHECK_THROWS_AS(Tensor::from({2}, std::vector<int32_t>{1, 2, 3}), ShapeError);
  for (float eps : {0.f, 0.1f})
    check_gradients([&](std::vector<Variable>& v) { return ops::cross_entropy(v[0], labels, eps).loss; },
                    {random_tensor({3, 4}, 5, -3, 3)});
  // uniform logits: loss = log K whatever the smoothing
  Variable z(Tensor::zeros({2, 5}));
  Tensor l2 = Tensor::zeros({2}, Layout::plain, DType::i32);
  CHECK(ops::cross_entropy(z, l2, 0.1f).loss.value().data()[0] == doctest::Approx(std::log(5.f)).epsilon(1e-5));
}

TEST_CASE("errors name the op and the shapes") {
  Variable x(Tensor::zeros({1, 3, 8, 8})), w(Tensor::zeros({4, 2, 3, 3}));
  try {
    ops::conv2d(x, w, std::nullopt, {});
    FAIL("expected a ShapeError");
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    CHECK(m.find("conv2d") != std::string::npos);
    CHECK(m.find("[1, 3, 8, 8]") != std::string::npos);
    CHECK(m.find("[4, 2, 3, 3]") != std::string::npos);
  }
  CHECK_THROWS_AS(ops::add(Variable(Tensor::zeros({2, 3})), Variable(Tensor::zeros({3, 2}))), ShapeError);
}

TEST_CASE("a second backward through an already used graph is refused, not silently partial") {
  Variable w(Tensor::full({1, 4}, 0.5f), true);
  Variable x(hwtest::random_tensor({2, 4}, 3));
  Variable h = ops::linear(x, w, std::nullopt);
  Variable loss1 = ops::cross_entropy(ops::relu(h), Tensor::zeros({2}, Layout::plain, DType::i32)).loss;
  loss1.backward();
  CHECK(w.grad().defined());
  Variable loss2 = ops::cross_entropy(ops::sigmoid(h), Tensor::zeros({2}, Layout::plain, DType::i32)).loss;
  CHECK_THROWS_WITH_AS(loss2.backward(), doctest::Contains("already used by an earlier backward"), Error);
}

namespace {
/// f(x) = ½ xᵀAx + bᵀx + (Σx)³/30 over x's plain elements with a fixed non-symmetric A: nonlinear,
/// every element coupled. Its gradient: ½(A + Aᵀ)x + b + (Σx)²/10.
double external_quadratic(const Tensor& x, Tensor& grad) {
  const int64_t n = x.numel();
  const Tensor A = random_tensor({n, n}, 31), b = random_tensor({n}, 32);
  double f = 0, sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    double ax = 0, atx = 0;
    for (int64_t j = 0; j < n; ++j) {
      ax += double(A.data()[i * n + j]) * x.data()[j];
      atx += double(A.data()[j * n + i]) * x.data()[j];
    }
    f += 0.5 * x.data()[i] * ax + double(b.data()[i]) * x.data()[i];
    grad.data()[i] = float(0.5 * (ax + atx) + b.data()[i]);
    sum += x.data()[i];
  }
  for (int64_t i = 0; i < n; ++i) grad.data()[i] += float(sum * sum / 10);
  return f + sum * sum * sum / 30;
}
}  // namespace

TEST_CASE("external_scalar: gradient of an outside function, alone and composed with ordinary ops") {
  check_gradients([](std::vector<Variable>& v) { return ops::external_scalar(v[0], external_quadratic); },
                  {random_tensor({2, 3, 2, 2}, 33)}, 1e-2, 1e-2);
  // loss = cross entropy + λ·external, λ a constant: gradients reach both the logits' weights and x
  const Tensor labels = Tensor::from({3}, std::vector<int32_t>{1, 0, 3});
  const Variable lambda(Tensor::full({1}, 0.3f));
  auto loss = [&](std::vector<Variable>& v) {
    Variable ce = ops::cross_entropy(ops::linear(v[0], v[1], std::nullopt), labels).loss;
    return ops::add(ce, ops::mul(ops::external_scalar(v[1], external_quadratic), lambda));
  };
  check_gradients(loss, {random_tensor({3, 5}, 34), random_tensor({4, 5}, 35)}, 1e-2, 1e-2);
  std::vector<Variable> v{Variable(random_tensor({3, 5}, 34)), Variable(random_tensor({4, 5}, 35))};
  Tensor unused = Tensor::zeros({4, 5});
  const double want = ops::cross_entropy(ops::linear(v[0], v[1], std::nullopt), labels).loss.value().data()[0] +
                      0.3 * external_quadratic(v[1].value(), unused);
  CHECK(loss(v).value().data()[0] == doctest::Approx(want).epsilon(1e-5));
}

TEST_CASE("external_scalar on a blocked oneDNN activation: f sees plain values, the gradient returns blocked") {
  BackendGuard g(BackendKind::onednn);
  check_gradients([](std::vector<Variable>& v) {
    Variable a = ops::conv2d(v[0], v[1], std::nullopt, {1, 1, 1, 1, 1, 1, 1});  // 20 channels: blocked
    return ops::external_scalar(a, [](const Tensor& x, Tensor& grad) {
      CHECK(x.layout() == Layout::plain);
      double f = 0;
      for (int64_t i = 0; i < x.numel(); ++i) f += std::sin(double(x.data()[i])) * (i % 7);
      for (int64_t i = 0; i < x.numel(); ++i) grad.data()[i] = float(std::cos(double(x.data()[i])) * (i % 7));
      return f;
    });
  }, {random_tensor({1, 3, 3, 3}, 36), random_tensor({20, 3, 3, 3}, 37)}, 1e-2, 2e-2);
}

TEST_CASE("external_scalar refuses a gradient of the wrong shape and a non-finite value") {
  Variable x(random_tensor({2, 3}, 38), true);
  CHECK_THROWS_WITH_AS(ops::external_scalar(x, [](const Tensor&, Tensor& grad) {
                         grad = Tensor::zeros({6});
                         return 1.0;
                       }),
                       doctest::Contains("external_scalar"), ShapeError);
  CHECK_THROWS_WITH_AS(ops::external_scalar(x, [](const Tensor&, Tensor&) { return std::nan(""); }),
                       doctest::Contains("external_scalar"), Error);
}
