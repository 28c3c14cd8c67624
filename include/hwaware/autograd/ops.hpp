#pragma once
// Differentiable ops: each runs its forward kernel on the current backend and records a backward
// closure that captures only the tensors its backward kernel reads, and the backend it ran on.
// Weights and parameters are read by their logical values: a conv weight in another layout is
// converted to plain, batch-norm parameters must be [C] vectors (always plain).
#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <vector>

#include "hwaware/autograd/variable.hpp"
#include "hwaware/backend/backend.hpp"

namespace hwaware::ops {

namespace detail {
/// An optional input as the pointer make_result takes: null when absent (or undefined).
inline const Variable* optional_input(const std::optional<Variable>& v) { return v && v->defined() ? &*v : nullptr; }

/// Refuses a bias that is not an [O] vector for a weight [O, ...] (a vector is always plain).
inline void check_bias(const Variable* bias, const Variable& w, const char* op) {
  if (bias) check_shapes(bias->shape() == Shape{w.shape().at(0)}, op, "bias must be [O] for weight [O, ...]",
                         bias->shape(), w.shape());
}
}  // namespace detail

/// y = conv(x, w) + bias with x [N,C,H,W], w [O,C/groups,KH,KW], bias [O] or std::nullopt. The
/// output is in the backend's layout (oneDNN: blocked16 or nhwc; read it through to_plain()).
inline Variable conv2d(const Variable& x, const Variable& w, const std::optional<Variable>& bias_in,
                       const Conv2dParams& p) {
  const Variable* bias = detail::optional_input(bias_in);
  const BackendId kind = current_backend();
  if (p.post_relu && grad_enabled() && (x.requires_grad() || w.requires_grad()))
    throw Error("conv2d: a fused post-ReLU is for inference only; run under NoGradGuard");
  conv2d_out_shape(x.shape(), w.shape(), p);  // names the op and both shapes before any conversion
  detail::check_bias(bias, w, "conv2d");
  // The input in the layout the kernel reads, converted once: the backward reuses it.
  const Tensor xin = dispatch([&](auto B) {
    return x.value().to_layout(B.conv2d_input_layout(x.value().dim(1), w.value().dim(0)));
  });
  const Tensor wv = w.value().to_plain();  // a view when plain, as parameters are
  Tensor y = dispatch([&](auto B) { return B.conv2d_forward(xin, wv, bias ? &bias->value() : nullptr, p); });
  const Layout y_layout = y.layout();
  return make_result(std::move(y), {&x, &w, bias}, "conv2d",
                     [xv = xin, wv, has_bias = bias != nullptr, p, kind, y_layout](Node& self) {
                       BackendGuard guard(kind);
                       // dy in the output's layout, once for both backward kernels
                       const Tensor dy = self.grad.to_layout(y_layout);
                       dispatch([&](auto B) {
                         if (input_requires_grad(self, 0))
                           accumulate_grad(*self.inputs[0], B.conv2d_backward_data(dy, wv, xv.shape(), p));
                         if (input_requires_grad(self, 1) || (has_bias && input_requires_grad(self, 2))) {
                           auto g = B.conv2d_backward_weights(dy, xv, wv.shape(), has_bias, p);
                           accumulate_input_grad(self, 1, std::move(g.dw));
                           if (has_bias) accumulate_input_grad(self, 2, std::move(g.db));
                         }
                       });
                     });
}

/// Inference only: conv2d(x) + residual, then a ReLU when p.post_relu, in one kernel call (a
/// residual block's tail as a deployment runtime fuses it). Throws when gradients are wanted.
inline Variable conv2d_add(const Variable& x, const Variable& w, const std::optional<Variable>& bias_in,
                           const Conv2dParams& p, const Variable& residual) {
  const Variable* bias = detail::optional_input(bias_in);
  if (grad_enabled() && (x.requires_grad() || w.requires_grad() || residual.requires_grad()))
    throw Error("conv2d_add: the fused residual conv is for inference only; run under NoGradGuard");
  conv2d_out_shape(x.shape(), w.shape(), p);
  detail::check_bias(bias, w, "conv2d_add");
  return Variable(dispatch([&](auto B) {
    return B.conv2d_forward_add(x.value(), w.value().to_plain(), bias ? &bias->value() : nullptr, p, residual.value());
  }));
}

struct BatchNormState {
  Tensor* running_mean;
  Tensor* running_var;
  float momentum = 0.1f;  // running = (1 - m)·running + m·batch (PyTorch's convention)
  float eps = 1e-5f;
};

/// Batch norm over (N, H, W) per channel, optionally followed by a fused ReLU. In training mode
/// it normalises with the batch statistics and updates the running ones (unbiased variance, as
/// PyTorch does); otherwise it uses the running statistics.
inline Variable batchnorm2d(const Variable& x, const Variable& gamma, const Variable& beta, BatchNormState st,
                            bool training, bool fuse_relu) {
  const Shape c{x.value().rank() == 4 ? x.value().dim(1) : -1};
  check_shapes(c[0] >= 0 && gamma.shape() == c && beta.shape() == c && st.running_mean->shape() == c &&
                   st.running_var->shape() == c,
               "batchnorm2d", "input must be [N,C,H,W]; gamma, beta and the running statistics [C]", x.shape(),
               gamma.shape());
  const BackendId kind = current_backend();
  BatchNormForward f = dispatch([&](auto B) {
    return training ? B.batchnorm_forward_train(x.value(), gamma.value(), beta.value(), st.eps, fuse_relu)
                    : B.batchnorm_forward_infer(x.value(), gamma.value(), beta.value(), *st.running_mean,
                                                *st.running_var, st.eps, fuse_relu);
  });
  if (training) {
    const int64_t m = x.value().dim(0) * x.value().dim(2) * x.value().dim(3);
    const float unbias = m > 1 ? float(m) / float(m - 1) : 1.f;
    float* rm = st.running_mean->data();
    float* rv = st.running_var->data();
    for (int64_t c = 0; c < f.mean.numel(); ++c) {
      rm[c] = (1 - st.momentum) * rm[c] + st.momentum * f.mean.data()[c];
      rv[c] = (1 - st.momentum) * rv[c] + st.momentum * f.var.data()[c] * unbias;
    }
    st.running_mean->bump_version();  // invalidates BN folded into conv weights for inference
    st.running_var->bump_version();
  }
  return make_result(std::move(f.y), {&x, &gamma, &beta}, fuse_relu ? "batchnorm2d+relu" : "batchnorm2d",
                     [xv = x.value(), gv = gamma.value(), mean = f.mean, var = f.var, ws = f.workspace, eps = st.eps,
                      fuse_relu, training, kind](Node& self) {
                       BackendGuard guard(kind);
                       auto g = dispatch([&](auto B) {
                         return B.batchnorm_backward(self.grad, xv, gv, mean, var, ws, eps, fuse_relu, !training);
                       });
                       accumulate_input_grad(self, 0, std::move(g.dx));
                       accumulate_input_grad(self, 1, std::move(g.dgamma));
                       accumulate_input_grad(self, 2, std::move(g.dbeta));
                     });
}

inline Variable activation(const Variable& x, Activation a) {
  const BackendId kind = current_backend();
  Tensor y = dispatch([&](auto B) { return B.activation_forward(x.value(), a); });
  return make_result(std::move(y), {&x}, activation_name(a), [xv = x.value(), a, kind](Node& self) {
    BackendGuard guard(kind);
    accumulate_input_grad(self, 0, dispatch([&](auto B) { return B.activation_backward(self.grad, xv, a); }));
  });
}

inline Variable relu(const Variable& x) { return activation(x, Activation::relu); }
inline Variable relu6(const Variable& x) { return activation(x, Activation::relu6); }
inline Variable sigmoid(const Variable& x) { return activation(x, Activation::sigmoid); }

inline Variable pool2d(const Variable& x, const Pool2dParams& p) {
  const BackendId kind = current_backend();
  const bool training = grad_enabled() && x.requires_grad();
  PoolForward f = dispatch([&](auto B) { return B.pool2d_forward(x.value(), p, training); });
  return make_result(std::move(f.y), {&x}, p.kind == PoolKind::max ? "max_pool2d" : "avg_pool2d",
                     [xs = x.shape(), xl = x.value().layout(), ws = f.workspace, p, kind](Node& self) {
                       BackendGuard guard(kind);
                       accumulate_input_grad(self, 0,
                                             dispatch([&](auto B) { return B.pool2d_backward(self.grad, xs, xl, ws, p); }));
                     });
}

/// [N,C,H,W] → [N,C]
inline Variable global_avg_pool(const Variable& x) {
  Tensor y = common::global_avg_pool_forward(x.value());
  return make_result(std::move(y), {&x}, "global_avg_pool", [xs = x.shape(), l = x.value().layout()](Node& self) {
    accumulate_input_grad(self, 0, common::global_avg_pool_backward(self.grad, xs, l));
  });
}

/// [N, ...] → [N, prod(...)] in plain layout.
inline Variable flatten(const Variable& x) {
  const Shape& s = x.shape();
  Tensor y = x.value().to_plain().reshape({s[0], x.value().numel() / s[0]});
  return make_result(std::move(y), {&x}, "flatten", [xs = s, l = x.value().layout()](Node& self) {
    accumulate_input_grad(self, 0, self.grad.to_plain().reshape(xs).to_layout(l));
  });
}

/// y = x·wᵀ + b with x [N,I], w [O,I], bias [O] or std::nullopt.
inline Variable linear(const Variable& x, const Variable& w, const std::optional<Variable>& bias_in) {
  const Variable* bias = detail::optional_input(bias_in);
  check_shapes(w.value().rank() == 2, "linear", "weight must be [O,I]", w.shape(), x.shape());
  detail::check_bias(bias, w, "linear");
  const BackendId kind = current_backend();
  Tensor y = dispatch([&](auto B) { return B.linear_forward(x.value(), w.value(), bias ? &bias->value() : nullptr); });
  return make_result(std::move(y), {&x, &w, bias}, "linear",
                     [xv = x.value(), wv = w.value(), has_bias = bias != nullptr, kind](Node& self) {
                       BackendGuard guard(kind);
                       auto g = dispatch([&](auto B) { return B.linear_backward(self.grad, xv, wv, has_bias); });
                       accumulate_input_grad(self, 0, std::move(g.dx));
                       accumulate_input_grad(self, 1, std::move(g.dw));
                       if (has_bias) accumulate_input_grad(self, 2, std::move(g.db));
                     });
}

/// Elementwise a + b (residual connections); the result has a's layout.
inline Variable add(const Variable& a, const Variable& b) {
  return make_result(common::add(a.value(), b.value()), {&a, &b}, "add", [](Node& self) {
    accumulate_input_grad(self, 0, self.grad);
    accumulate_input_grad(self, 1, self.grad);
  });
}

/// Elementwise a * b (masks, gates).
inline Variable mul(const Variable& a, const Variable& b) {
  return make_result(common::mul(a.value(), b.value()), {&a, &b}, "mul",
                     [av = a.value(), bv = b.value()](Node& self) {
                       if (input_requires_grad(self, 0)) accumulate_input_grad(self, 0, common::mul(self.grad, bv));
                       if (input_requires_grad(self, 1)) accumulate_input_grad(self, 1, common::mul(self.grad, av));
                     });
}

/// x · s elementwise; the result has x's layout.
inline Variable scale(const Variable& x, float s) {
  return make_result(common::scale(x.value(), s), {&x}, "scale",
                     [s](Node& self) { accumulate_input_grad(self, 0, common::scale(self.grad, s)); });
}

/// x + s elementwise; the result has x's layout.
inline Variable add_scalar(const Variable& x, float s) {
  return make_result(common::add_scalar(x.value(), s), {&x}, "add_scalar",
                     [](Node& self) { accumulate_input_grad(self, 0, self.grad); });
}

/// Rows [begin, end) of x along dimension 0 (a part of a batch), plain; the gradient flows back
/// into those rows of x only. Throws ShapeError when the range is not inside [0, x.dim(0)].
inline Variable slice0(const Variable& x, int64_t begin, int64_t end) {
  check_shapes(x.value().rank() >= 1, "slice0", "needs a tensor of rank 1 or more", x.shape());
  Tensor y = x.value().to_plain().slice0(begin, end);
  return make_result(std::move(y), {&x}, "slice0", [xs = x.shape(), begin, end](Node& self) {
    Tensor dx = Tensor::zeros(xs);
    const Tensor g = self.grad.to_plain();
    std::copy_n(g.data(), g.numel(), dx.slice0(begin, end).data());
    accumulate_input_grad(self, 0, std::move(dx));
  });
}

/// Concatenation along channels.
inline Variable concat(const std::vector<Variable>& xs) {
  std::vector<Tensor> values;
  std::vector<int64_t> channels;
  std::vector<Layout> layouts;
  for (const auto& x : xs) {
    values.push_back(x.value());
    channels.push_back(x.value().dim(1));
    layouts.push_back(x.value().layout());
  }
  auto node = std::make_shared<Node>();
  node->value = common::concat_channels(values);
  node->op = "concat";
  if (grad_enabled()) {
    for (const auto& x : xs) node->requires_grad = node->requires_grad || x.requires_grad();
    if (node->requires_grad) {
      for (const auto& x : xs) node->inputs.push_back(x.node());
      node->backward_fn = [channels, layouts](Node& self) {
        int64_t c0 = 0;
        for (size_t i = 0; i < channels.size(); ++i) {
          if (input_requires_grad(self, i))
            accumulate_input_grad(self, i, common::slice_channels(self.grad, c0, channels[i], layouts[i]));
          c0 += channels[i];
        }
      };
    }
  }
  return Variable(std::move(node));
}

/// A scalar function of a tensor computed outside autograd (a latency predictor, a cost model):
/// returns f(x) for x in plain layout and writes ∂f/∂x into grad_out.
using ExternalScalarFn = std::function<double(const Tensor& x_plain, Tensor& grad_out)>;

/// Brings an outside function into the graph: a [1] Variable whose value is f(x) and whose
/// backward adds upstream · grad_out to x's gradient. f is called once, here, with x's value in
/// plain NCHW layout and grad_out a zero-filled plain tensor of x's shape; it returns f(x) and
/// fills grad_out with ∂f/∂x (eagerly, since predictors produce value and gradient in one pass;
/// grad_out may be replaced by a tensor of the same shape in any layout). f must not keep the
/// references. Throws ShapeError when grad_out comes back with another shape, Error when f(x) is
/// not finite; exceptions from f pass through.
inline Variable external_scalar(const Variable& x, const ExternalScalarFn& f) {
  Tensor grad_out = Tensor::zeros(x.shape());
  const double value = f(x.value().to_plain(), grad_out);
  check_shapes(grad_out.defined() && grad_out.shape() == x.shape(), "external_scalar",
               "f must leave grad_out with x's shape", grad_out.defined() ? grad_out.shape() : Shape{}, x.shape());
  if (!std::isfinite(value))
    throw Error("external_scalar: f returned " + std::to_string(value) + " for x of shape " + shape_str(x.shape()));
  return make_result(Tensor::full({1}, float(value)), {&x}, "external_scalar",
                     [g = std::move(grad_out), l = x.value().layout()](Node& self) {
                       accumulate_input_grad(self, 0, common::scale(g, self.grad.data()[0]).to_layout(l));
                     });
}

struct LossResult {
  Variable loss;       // scalar, mean over the batch
  int64_t correct = 0;  // predictions equal to the label
};

/// Softmax cross-entropy with label smoothing on logits [N,K] and int32 labels [N].
inline LossResult cross_entropy(const Variable& logits, const Tensor& labels, float smoothing = 0.f) {
  common::CrossEntropy ce = common::softmax_cross_entropy(logits.value(), labels, smoothing);
  Variable loss = make_result(Tensor::full({1}, ce.loss), {&logits}, "cross_entropy",
                              [d = ce.dlogits](Node& self) {
                                accumulate_input_grad(self, 0, common::scale(d, self.grad.data()[0]));
                              });
  return {loss, ce.correct};
}

}  // namespace hwaware::ops

namespace hwaware {

/// x · s, s · x, x + s and x − s for a Variable x and a scalar s (ops::scale, ops::add_scalar).
inline Variable operator*(const Variable& x, float s) { return ops::scale(x, s); }
inline Variable operator*(float s, const Variable& x) { return ops::scale(x, s); }
inline Variable operator+(const Variable& x, float s) { return ops::add_scalar(x, s); }
inline Variable operator-(const Variable& x, float s) { return ops::add_scalar(x, -s); }

}  // namespace hwaware
