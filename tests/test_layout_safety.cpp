// Layouts are safe at the user boundary: oneDNN keeps activations and gradients in its own
// layouts (nChw16c, nhwc) while the reference backend returns plain NCHW, so
//  - data() / idata() refuse a tensor that is not plain (or not of their dtype) with a LayoutError
//    naming the reader, the layout and the shape; raw_data() is the layout-aware accessor;
//  - gradients of leaf Variables are plain after backward() on both backends;
//  - conv, linear and batch norm read a weight given in another layout by its values, or refuse
//    a parameter they cannot read, never misread it;
//  - both backends give the user the same values through the same calls.
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "hwaware/autograd/ops.hpp"

using namespace hwaware;
using hwtest::closeness;
using hwtest::random_tensor;

namespace {

const BackendKind kBackends[] = {BackendKind::reference, BackendKind::onednn};
std::string name_of(BackendKind k) { return k == BackendKind::onednn ? "onednn" : "reference"; }

const Conv2dParams kSame{1, 1, 1, 1, 1, 1, 1};  // 3×3, stride 1, padding 1
const Pool2dParams kPool{PoolKind::max, 2, 2, 2, 2, 0, 0};

/// The message of the LayoutError `f` throws ("" when it throws none).
template <class F>
std::string layout_error_of(F&& f) {
  try {
    f();
  } catch (const LayoutError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// conv 3 → 20 → relu → conv 20 → 20 → max pool → linear → Σ·r, with every tensor a leaf that
/// requires a gradient: on oneDNN the first conv's input gradient comes back nhwc and the second
/// conv's (and its input's) blocked and padded.
struct Net {
  Variable x, w1, h, w2, w3;
  Variable y;
};

Net run_net(BackendKind kind) {
  BackendGuard guard(kind);
  Net n{Variable(random_tensor({2, 3, 6, 6}, 1), true), Variable(random_tensor({20, 3, 3, 3}, 2), true),
        Variable(random_tensor({2, 20, 6, 6}, 3), true), Variable(random_tensor({20, 20, 3, 3}, 4), true),
        Variable(random_tensor({5, 20 * 3 * 3}, 5), true), {}};
  Variable a = ops::relu(ops::conv2d(n.x, n.w1, std::nullopt, kSame));
  Variable b = ops::conv2d(ops::add(a, n.h), n.w2, std::nullopt, kSame);
  n.y = ops::linear(ops::flatten(ops::pool2d(b, kPool)), n.w3, std::nullopt);
  n.y.backward(random_tensor(n.y.shape(), 6));
  return n;
}

}  // namespace

TEST_CASE("data() and idata() refuse a tensor they would misread, naming the reader, layout and shape") {
  for (Layout l : {Layout::blocked16, Layout::nhwc}) {
    const Tensor t = random_tensor({2, 20, 3, 3}, 1).to_layout(l);
    const std::string msg = layout_error_of([&] { (void)t.data(); });
    CAPTURE(msg);
    CHECK(contains(msg, "Tensor::data()"));
    CHECK(contains(msg, layout_name(l)));
    CHECK(contains(msg, "[2, 20, 3, 3]"));
    CHECK(contains(msg, "to_plain()"));
    CHECK(t.raw_data() != nullptr);  // the layout-aware accessor
    CHECK(t.to_plain().data()[8] == t.at({0, 0, 2, 2}));
  }
  const Tensor labels = Tensor::from({3}, std::vector<int32_t>{2, 0, 1});
  CHECK(contains(layout_error_of([&] { (void)labels.data(); }), "holds i32, not f32"));
  CHECK(contains(layout_error_of([&] { (void)labels.at({0}); }), "Tensor::at()"));
  const Tensor f = Tensor::zeros({3});
  CHECK(contains(layout_error_of([&] { (void)f.idata(); }), "Tensor::idata()"));
  CHECK(f.data()[0] == 0.f);
  CHECK(labels.idata()[0] == 2);
}

TEST_CASE("a conv's output reads the same through to_plain() and at() on both backends") {
  const Tensor x = random_tensor({2, 3, 6, 6}, 1), w = random_tensor({20, 3, 3, 3}, 2);
  std::vector<Tensor> outputs;
  for (auto kind : kBackends) {
    CAPTURE(name_of(kind));
    BackendGuard guard(kind);
    NoGradGuard no_grad;
    const Tensor y = ops::conv2d(Variable(x), Variable(w), std::nullopt, kSame).value();
    if (y.layout() == Layout::plain) CHECK(y.data() != nullptr);
    else CHECK_THROWS_AS((void)y.data(), LayoutError);
    CHECK(y.to_plain().data()[7] == y.at({0, 0, 1, 1}));
    outputs.push_back(y.to_plain());
  }
  CHECK(closeness(outputs[0], outputs[1], 1e-4, 1e-4) <= 1.0);
}

TEST_CASE("gradients of leaf Variables are plain after backward() on both backends, and agree") {
  const Net ref = run_net(BackendKind::reference), dnn = run_net(BackendKind::onednn);
  const std::pair<const Variable*, const Variable*> leaves[] = {
      {&ref.x, &dnn.x}, {&ref.w1, &dnn.w1}, {&ref.h, &dnn.h}, {&ref.w2, &dnn.w2}, {&ref.w3, &dnn.w3}};
  for (auto [r, d] : leaves) {
    CAPTURE(shape_str(r->shape()));
    REQUIRE(r->grad().defined());
    REQUIRE(d->grad().defined());
    CHECK(r->grad().layout() == Layout::plain);
    CHECK(d->grad().layout() == Layout::plain);
    CHECK(d->grad().shape() == r->shape());
    // Read as a user would: data() as NCHW.
    double worst = 0;
    for (int64_t i = 0; i < r->grad().numel(); ++i)
      worst = std::max(worst, double(std::abs(d->grad().data()[i] - r->grad().data()[i])));
    CHECK(worst < 1e-3);
  }
}

TEST_CASE("a leaf gradient stays plain when it accumulates over passes and when the leaf's value is not") {
  for (auto kind : kBackends) {
    CAPTURE(name_of(kind));
    BackendGuard guard(kind);
    Variable w(random_tensor({20, 20, 3, 3}, 2), true);
    Tensor blocked_value;
    {
      NoGradGuard no_grad;
      blocked_value = ops::conv2d(Variable(random_tensor({2, 3, 6, 6}, 1)), Variable(random_tensor({20, 3, 3, 3}, 3)),
                                  std::nullopt, kSame)
                          .value();
    }
    Variable h(blocked_value, true);  // on oneDNN a leaf holding a blocked value
    for (int pass = 0; pass < 2; ++pass) {
      Variable y = ops::conv2d(h, w, std::nullopt, kSame);
      y.backward(random_tensor(y.shape(), 4).to_layout(y.value().layout()));
      CHECK(h.grad().layout() == Layout::plain);
      CHECK(w.grad().layout() == Layout::plain);
    }
    // Two identical passes: the held gradient is twice one pass's.
    Variable h1(blocked_value, true);
    Variable y1 = ops::conv2d(h1, w, std::nullopt, kSame);
    y1.backward(random_tensor(y1.shape(), 4));
    CHECK(closeness(h.grad(), common::scale(h1.grad(), 2.f), 1e-5, 1e-5) <= 1.0);
  }
}

TEST_CASE("conv reads a weight given in nhwc or blocked16 by its values, on both backends") {
  const Tensor x = random_tensor({2, 20, 6, 6}, 1), w = random_tensor({16, 20, 3, 3}, 2);
  const Tensor r = random_tensor({2, 16, 6, 6}, 3);
  for (auto kind : kBackends) {
    CAPTURE(name_of(kind));
    BackendGuard guard(kind);
    Variable wp(w, true);
    Variable yp = ops::conv2d(Variable(x), wp, std::nullopt, kSame);
    yp.backward(r.to_layout(yp.value().layout()));
    for (Layout l : {Layout::nhwc, Layout::blocked16}) {
      CAPTURE(layout_name(l));
      Variable wl(w.to_layout(l), true);
      Variable y = ops::conv2d(Variable(x), wl, std::nullopt, kSame);
      CHECK(closeness(y.value(), yp.value(), 1e-5, 1e-5) <= 1.0);
      y.backward(r.to_layout(y.value().layout()));
      CHECK(wl.grad().layout() == Layout::plain);
      CHECK(closeness(wl.grad(), wp.grad(), 1e-5, 1e-5) <= 1.0);
      NoGradGuard no_grad;  // the fused inference kernel, and the kernels called directly
      const Variable residual(random_tensor({2, 16, 6, 6}, 4));
      const Tensor fused = ops::conv2d_add(Variable(x), wl, std::nullopt, kSame, residual).value();
      const Tensor want = ops::add(ops::conv2d(Variable(x), wp, std::nullopt, kSame), residual).value();
      CHECK(closeness(fused, want, 1e-5, 1e-5) <= 1.0);
      const Tensor direct = dispatch([&](auto B) { return B.conv2d_forward(x, w.to_layout(l), nullptr, kSame); });
      CHECK(closeness(direct, yp.value(), 1e-5, 1e-5) <= 1.0);
      const Tensor dx = dispatch([&](auto B) { return B.conv2d_backward_data(r, w.to_layout(l), x.shape(), kSame); });
      const Tensor dx_plain = dispatch([&](auto B) { return B.conv2d_backward_data(r, w, x.shape(), kSame); });
      CHECK(closeness(dx, dx_plain, 1e-5, 1e-5) <= 1.0);
    }
  }
}

TEST_CASE("batch norm, linear and biases refuse parameters they cannot read, with the op and the shapes") {
  const Tensor x = random_tensor({2, 4, 3, 3}, 1);
  for (auto kind : kBackends) {
    CAPTURE(name_of(kind));
    BackendGuard guard(kind);
    Tensor mean = Tensor::zeros({4}), var = Tensor::full({4}, 1.f);
    // γ as [4,1,1,1] blocked16: 4 values spread over padded blocks; read as [4] it would be wrong.
    const Variable gamma(Tensor::full({4, 1, 1, 1}, 1.f).to_layout(Layout::blocked16), true);
    const Variable beta(Tensor::zeros({4}), true);
    try {
      ops::batchnorm2d(Variable(x), gamma, beta, {&mean, &var}, true, false);
      FAIL("batchnorm2d accepted a [4,1,1,1] blocked gamma");
    } catch (const ShapeError& e) {
      CHECK(contains(e.what(), "batchnorm2d"));
      CHECK(contains(e.what(), "[4, 1, 1, 1]"));
    }
    const Variable w4(random_tensor({5, 36, 1, 1}, 2).to_layout(Layout::nhwc), true);
    try {
      ops::linear(ops::flatten(Variable(x)), w4, std::nullopt);
      FAIL("linear accepted a 4-D nhwc weight");
    } catch (const ShapeError& e) {
      CHECK(contains(e.what(), "linear"));
      CHECK(contains(e.what(), "[5, 36, 1, 1]"));
    }
    // A bias that is not an [O] vector: refused by conv2d and linear alike.
    const Variable b4(Tensor::zeros({1, 5, 1, 1}).to_layout(Layout::nhwc), true);
    CHECK_THROWS_WITH_AS(ops::linear(ops::flatten(Variable(x)), Variable(random_tensor({5, 36}, 3)), b4),
                         doctest::Contains("linear: bias must be [O]"), ShapeError);
    CHECK_THROWS_WITH_AS(ops::conv2d(Variable(x), Variable(random_tensor({5, 4, 3, 3}, 4)), b4, kSame),
                         doctest::Contains("conv2d: bias must be [O]"), ShapeError);
  }
}
