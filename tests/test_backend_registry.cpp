// A backend defined outside the library plugs in through register_backend: a counting wrapper
// over the reference kernels, selected by a guard, runs a small network's forward and backward
// (every kernel it uses is called) and gives the reference backend's outputs and gradients.
#include <array>
#include <atomic>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "hwaware/autograd/ops.hpp"
#include "hwaware/nn/layers.hpp"
#include "hwaware/nn/sequential.hpp"

using namespace hwaware;
using Ref = hwaware::reference::Backend;

namespace {

enum Kernel : size_t {
  k_conv_layout, k_conv_fwd, k_conv_fwd_add, k_conv_bwd_data, k_conv_bwd_weights, k_bn_train, k_bn_infer,
  k_bn_bwd, k_act_fwd, k_act_bwd, k_pool_fwd, k_pool_bwd, k_linear_fwd, k_linear_bwd, k_count
};
const char* const kKernelNames[k_count] = {
    "conv2d_input_layout", "conv2d_forward", "conv2d_forward_add", "conv2d_backward_data",
    "conv2d_backward_weights", "batchnorm_forward_train", "batchnorm_forward_infer", "batchnorm_backward",
    "activation_forward", "activation_backward", "pool2d_forward", "pool2d_backward", "linear_forward",
    "linear_backward"};

/// The reference kernels, each call counted. Some take their arguments by value or with another
/// spelling than the library's backends: the registry must not depend on exact signatures.
struct CountingReference {
  static inline std::array<std::atomic<int64_t>, k_count> calls{};
  static void reset() {
    for (auto& c : calls) c = 0;
  }

  static Layout conv2d_input_layout(int64_t c, int64_t o) {
    return ++calls[k_conv_layout], Ref::conv2d_input_layout(c, o);
  }
  static Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b, Conv2dParams p) {
    return ++calls[k_conv_fwd], Ref::conv2d_forward(x, w, b, p);
  }
  static Tensor conv2d_forward_add(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p,
                                   const Tensor& r) {
    return ++calls[k_conv_fwd_add], Ref::conv2d_forward_add(x, w, b, p, r);
  }
  static Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, Shape xs, const Conv2dParams& p) {
    return ++calls[k_conv_bwd_data], Ref::conv2d_backward_data(dy, w, xs, p);
  }
  static ConvWeightGrads conv2d_backward_weights(const Tensor& dy, const Tensor& x, const Shape& ws, bool bias,
                                                 const Conv2dParams& p) {
    return ++calls[k_conv_bwd_weights], Ref::conv2d_backward_weights(dy, x, ws, bias, p);
  }
  static BatchNormForward batchnorm_forward_train(const Tensor& x, const Tensor& g, const Tensor& b, float eps,
                                                  bool relu) {
    return ++calls[k_bn_train], Ref::batchnorm_forward_train(x, g, b, eps, relu);
  }
  static BatchNormForward batchnorm_forward_infer(const Tensor& x, const Tensor& g, const Tensor& b,
                                                  const Tensor& m, const Tensor& v, float eps, bool relu) {
    return ++calls[k_bn_infer], Ref::batchnorm_forward_infer(x, g, b, m, v, eps, relu);
  }
  static BatchNormGrads batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& g, const Tensor& m,
                                           const Tensor& v, const Tensor& ws, float eps, bool relu, bool running) {
    return ++calls[k_bn_bwd], Ref::batchnorm_backward(dy, x, g, m, v, ws, eps, relu, running);
  }
  static Tensor activation_forward(const Tensor& x, Activation a) {
    return ++calls[k_act_fwd], Ref::activation_forward(x, a);
  }
  static Tensor activation_backward(const Tensor& dy, const Tensor& x, Activation a) {
    return ++calls[k_act_bwd], Ref::activation_backward(dy, x, a);
  }
  static PoolForward pool2d_forward(const Tensor& x, const Pool2dParams& p, bool training) {
    return ++calls[k_pool_fwd], Ref::pool2d_forward(x, p, training);
  }
  static Tensor pool2d_backward(const Tensor& dy, const Shape& xs, Layout l, const Tensor& ws, const Pool2dParams& p) {
    return ++calls[k_pool_bwd], Ref::pool2d_backward(dy, xs, l, ws, p);
  }
  static Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* b) {
    return ++calls[k_linear_fwd], Ref::linear_forward(x, w, b);
  }
  static LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool bias) {
    return ++calls[k_linear_bwd], Ref::linear_backward(dy, x, w, bias);
  }
};
static_assert(KernelBackend<CountingReference>);

/// Registered once per process (names are unique in the registry).
BackendId counting_backend() {
  static const BackendId id = register_backend<CountingReference>("counting-reference");
  return id;
}

/// conv → batchnorm → relu → max pool → flatten → linear, the same weights for every seed.
nn::Sequential small_net() {
  nn::manual_seed(11);
  nn::Sequential net;
  net.emplace<nn::Conv2d>(3, 4, 3, nn::Conv2dOptions{.bias = true});
  net.emplace<nn::BatchNorm2d>(4);
  net.emplace<nn::Act>(Activation::relu);
  net.emplace<nn::Pool2d>(Pool2dParams{PoolKind::max, 2, 2, 2, 2, 0, 0});
  net.emplace<nn::Flatten>();
  net.emplace<nn::Linear>(4 * 3 * 3, 5);
  return net;
}

struct NetRun {
  Tensor y, dx;
  std::vector<Tensor> grads;         // one per parameter, in parameter order
  std::vector<Tensor> running_stats;  // the BN buffers after the training-mode forward
};

/// Forward under `backend` in training mode, backward outside the guard: the graph's closures
/// must run the backward on the backend the forward ran on.
NetRun run_net(BackendId backend) {
  nn::Sequential net = small_net();
  net.set_training(true);
  Variable x(hwtest::distinct_tensor({2, 3, 6, 6}, 5), true);
  Variable y;
  {
    BackendGuard g(backend);
    y = net.forward(x);
  }
  y.backward(hwtest::random_tensor(y.shape(), 6));
  NetRun r{y.value().to_plain(), x.grad().to_plain(), {}, {}};
  for (auto& [name, p] : net.parameters()) r.grads.push_back(p->grad().to_plain());
  for (auto& [name, t] : net.buffers()) r.running_stats.push_back(t->clone());
  return r;
}

void check_equal(const char* what, const Tensor& got, const Tensor& want) {
  INFO(what);
  REQUIRE(got.defined());
  CHECK(hwtest::closeness(got, want, 0.0, 0.0) == 0.0);  // the same kernels: bit for bit
}

}  // namespace

TEST_CASE("a registered backend runs a network's forward and backward and matches the reference backend") {
  const BackendId counting = counting_backend();
  CHECK(backend_name(counting) == "counting-reference");
  CHECK(!counting.builtin());
  CountingReference::reset();
  const NetRun got = run_net(counting);
  for (Kernel k : {k_conv_layout, k_conv_fwd, k_conv_bwd_data, k_conv_bwd_weights, k_bn_train, k_bn_bwd, k_act_fwd,
                   k_act_bwd, k_pool_fwd, k_pool_bwd, k_linear_fwd, k_linear_bwd}) {
    INFO(kKernelNames[k]);
    CHECK(CountingReference::calls[k] > 0);
  }
  CHECK(CountingReference::calls[k_bn_infer] == 0);

  CountingReference::reset();
  const NetRun want = run_net(BackendKind::reference);
  for (const auto& c : CountingReference::calls) CHECK(c == 0);  // the built-in one is not the wrapper

  check_equal("output", got.y, want.y);
  check_equal("input gradient", got.dx, want.dx);
  REQUIRE(got.grads.size() == want.grads.size());
  for (size_t i = 0; i < got.grads.size(); ++i) check_equal("parameter gradient", got.grads[i], want.grads[i]);
  for (size_t i = 0; i < got.running_stats.size(); ++i)
    check_equal("running statistics", got.running_stats[i], want.running_stats[i]);
}

TEST_CASE("a registered backend serves the inference kernels: BN with running statistics, fused residual conv") {
  nn::Sequential net = small_net();
  net.set_training(false);
  const Tensor x = hwtest::random_tensor({2, 3, 6, 6}, 7);
  NoGradGuard ng;
  CountingReference::reset();
  Tensor got, want;
  {
    BackendGuard g(counting_backend());
    got = net.forward(Variable(x)).value();
  }
  CHECK(CountingReference::calls[k_bn_infer] > 0);
  CHECK(CountingReference::calls[k_bn_train] == 0);
  {
    BackendGuard g(BackendKind::reference);
    want = net.forward(Variable(x)).value();
  }
  check_equal("eval-mode output", got, want);

  const Variable w(hwtest::random_tensor({3, 3, 3, 3}, 8)), r(hwtest::random_tensor({2, 3, 6, 6}, 9));
  const Conv2dParams p{1, 1, 1, 1, 1, 1, 1, true};
  {
    BackendGuard g(counting_backend());
    got = ops::conv2d_add(Variable(x), w, std::nullopt, p, r).value();
  }
  CHECK(CountingReference::calls[k_conv_fwd_add] == 1);
  {
    BackendGuard g(BackendKind::reference);
    want = ops::conv2d_add(Variable(x), w, std::nullopt, p, r).value();
  }
  check_equal("fused residual conv", got, want);
}

TEST_CASE("guards nest and restore the previous backend, registered or built in") {
  const BackendId counting = counting_backend();
  CountingReference::reset();
  const Variable x(hwtest::random_tensor({2, 4}, 1)), w(hwtest::random_tensor({3, 4}, 2));
  REQUIRE(current_backend() == BackendKind::onednn);
  {
    BackendGuard outer(counting);
    CHECK(current_backend() == counting);
    {
      BackendGuard inner(BackendKind::reference);
      CHECK(current_backend() == BackendKind::reference);
      ops::linear(x, w, std::nullopt);
      CHECK(CountingReference::calls[k_linear_fwd] == 0);
      {
        BackendGuard innermost(counting);
        ops::linear(x, w, std::nullopt);
        CHECK(CountingReference::calls[k_linear_fwd] == 1);
      }
      CHECK(current_backend() == BackendKind::reference);
    }
    CHECK(current_backend() == counting);
    ops::linear(x, w, std::nullopt);
    CHECK(CountingReference::calls[k_linear_fwd] == 2);
  }
  CHECK(current_backend() == BackendKind::onednn);
  ops::linear(x, w, std::nullopt);
  CHECK(CountingReference::calls[k_linear_fwd] == 2);
}

TEST_CASE("registration refuses taken names; the adapter refuses calls without a registered backend") {
  counting_backend();
  CHECK_THROWS_WITH_AS(register_backend<CountingReference>("counting-reference"), doctest::Contains("exists"), Error);
  CHECK_THROWS_AS(register_backend<CountingReference>("reference"), Error);
  CHECK_THROWS_AS(register_backend<CountingReference>(""), Error);
  CHECK(backend_name(BackendKind::onednn) == "onednn");
  CHECK(backend_name(BackendKind::reference) == "reference");
  BackendGuard g(BackendKind::reference);
  CHECK_THROWS_WITH_AS(RegisteredBackend::activation_forward(Tensor::zeros({1, 1, 1, 1}), Activation::relu),
                       doctest::Contains("not registered"), Error);
}
