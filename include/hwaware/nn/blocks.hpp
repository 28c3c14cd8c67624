#pragma once
// Composite blocks: conv + BN (+ fused ReLU), the CIFAR-style residual basic block, and MBConv
// (MobileNetV2's inverted residual: 1×1 expand, k×k depthwise, 1×1 linear projection).
#include <array>
#include <cmath>

#include "hwaware/nn/layers.hpp"
#include "hwaware/nn/sequential.hpp"

namespace hwaware::nn {

/// BN folded into the conv before it, per output channel o with scale γ/√(var + ε): weight w·scale,
/// bias β + (b − μ)·scale. `w` is the conv's weight in plain layout, `b` its bias (or null);
/// `w_out` takes w.numel() floats, `b_out` one per output channel. The one formula the runtime
/// and the ONNX export use, so a folded export computes what eval mode computes.
inline void fold_batchnorm(const Tensor& w, const Tensor* b, const BatchNorm2d& bn, float* w_out, float* b_out) {
  const int64_t O = w.dim(0), per = w.numel() / O;
  check_shapes(O == bn.channels, "fold_batchnorm", "the conv's output channels differ from the BN's", w.shape(),
               {bn.channels});
  for (int64_t o = 0; o < O; ++o) {
    const float scale = bn.gamma.value().data()[o] / std::sqrt(bn.running_var.data()[o] + bn.eps);
    const float* wo = w.data() + o * per;
    for (int64_t i = 0; i < per; ++i) w_out[o * per + i] = wo[i] * scale;
    const float bias = b ? b->data()[o] : 0.f;
    b_out[o] = bn.beta.value().data()[o] + (bias - bn.running_mean.data()[o]) * scale;
  }
}

/// conv (no bias) → BN, with the ReLU fused into the BN when `relu` is set. In eval mode without
/// gradients the BN is folded into the conv's weights and bias (w·γ/σ, β − μγ/σ) and the ReLU
/// becomes a post-op: one primitive per layer, as a deployment runtime runs it. The folded
/// weights are recomputed only when a weight, γ, β or a running statistic changed (storage versions).
class ConvBn : public Module {
 public:
  ConvBn(int64_t in, int64_t out, int64_t k, int64_t stride, bool relu, int64_t groups = 1)
      : conv(in, out, k, Conv2dOptions{.stride = stride, .groups = groups}), bn(out, relu) {}

  Variable forward(const Variable& x) override {
    if (!folds()) return bn.forward(conv.forward(x));  // gradients need the unfolded graph
    NoGradGuard no_grad;
    refold();
    Conv2dParams p = conv.params();
    p.post_relu = bn.fused_relu;
    return ops::conv2d(x, Variable(folded_w_), folded_b_var_, p);
  }
  /// True when forward runs the folded single-primitive form (eval mode, no gradients).
  bool folds() const { return !training_ && !grad_enabled(); }
  /// Folded inference only: relu?(conv_bn(x) + residual) in one primitive (the block's tail).
  Variable forward_add(const Variable& x, const Variable& residual, bool relu) {
    NoGradGuard no_grad;
    refold();
    Conv2dParams p = conv.params();
    p.post_relu = relu;
    return ops::conv2d_add(x, Variable(folded_w_), folded_b_var_, p, residual);
  }
  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const override {
    return bn.describe_layers(conv.describe_layers(chw, out, join(prefix, "conv")), out, join(prefix, "bn"));
  }
  void collect_parameters(NamedParams& o, const std::string& prefix) override {
    conv.collect_parameters(o, join(prefix, "conv"));
    bn.collect_parameters(o, join(prefix, "bn"));
  }
  void collect_buffers(NamedBuffers& o, const std::string& prefix) override { bn.collect_buffers(o, join(prefix, "bn")); }
  void set_training(bool t) override {
    training_ = t;
    conv.set_training(t);
    bn.set_training(t);
  }

  Conv2d conv;
  BatchNorm2d bn;

 private:
  void refold() {
    const std::array<uint64_t, 5> stamp{conv.weight.value().storage().version, bn.gamma.value().storage().version,
                                        bn.beta.value().storage().version, bn.running_mean.storage().version,
                                        bn.running_var.storage().version};
    const Tensor w = conv.weight.value().to_plain();  // a view for a plain weight
    if (folded_w_.defined() && stamp == stamp_ && folded_w_.shape() == w.shape()) return;
    if (!folded_w_.defined() || folded_w_.shape() != w.shape()) {
      folded_w_ = Tensor::empty(w.shape());
      folded_b_var_ = Variable(Tensor::empty({w.dim(0)}));
    }
    fold_batchnorm(w, conv.bias ? &conv.bias->value() : nullptr, bn, folded_w_.data(), folded_b_var_.value().data());
    folded_w_.bump_version();
    stamp_ = stamp;
  }
  Tensor folded_w_;
  Variable folded_b_var_;
  std::array<uint64_t, 5> stamp_{};
};

inline std::unique_ptr<ConvBn> conv_bn(int64_t in, int64_t out, int64_t k, int64_t stride, bool relu,
                                       int64_t groups = 1) {
  return std::make_unique<ConvBn>(in, out, k, stride, relu, groups);
}

/// relu(body(x) + shortcut(x)); body = conv3×3(s)+BN+ReLU, conv3×3+BN; shortcut = identity, or
/// conv1×1(s)+BN when the stride or the width changes (He et al. 2016, option B).
class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in, int64_t mid, int64_t out, int64_t stride) : in(in), out(out), stride(stride) {
    body.add(conv_bn(in, mid, 3, stride, true)).add(conv_bn(mid, out, 3, 1, false));
    if (stride != 1 || in != out) shortcut = conv_bn(in, out, 1, stride, false);
  }
  Variable forward(const Variable& x) override {
    Variable s = shortcut ? shortcut->forward(x) : x;
    auto* tail = dynamic_cast<ConvBn*>(body.children[1].get());
    if (tail && tail->folds() && !tail->bn.fused_relu) return tail->forward_add(body.children[0]->forward(x), s, true);
    return ops::relu(ops::add(body.forward(x), s));
  }
  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& d, const std::string& prefix) const override {
    Shape y = body.describe_layers(chw, d, join(prefix, "body"));
    if (shortcut) shortcut->describe_layers(chw, d, join(prefix, "shortcut"));
    describe_same(LayerKind::add, y, d, join(prefix, "add"));
    return describe_same(LayerKind::relu, y, d, join(prefix, "relu"));
  }
  void collect_parameters(NamedParams& o, const std::string& prefix) override {
    body.collect_parameters(o, join(prefix, "body"));
    if (shortcut) shortcut->collect_parameters(o, join(prefix, "shortcut"));
  }
  void collect_buffers(NamedBuffers& o, const std::string& prefix) override {
    body.collect_buffers(o, join(prefix, "body"));
    if (shortcut) shortcut->collect_buffers(o, join(prefix, "shortcut"));
  }
  void set_training(bool t) override {
    training_ = t;
    body.set_training(t);
    if (shortcut) shortcut->set_training(t);
  }

  int64_t in, out, stride;
  Sequential body;
  std::unique_ptr<ConvBn> shortcut;
};

/// Inverted residual: [1×1 expand + BN + ReLU6] → k×k depthwise(s) + BN + ReLU6 → 1×1 project + BN,
/// plus the input when stride is 1 and the widths match (Sandler et al. 2018).
class MBConv : public Module {
 public:
  MBConv(int64_t in, int64_t out, int64_t expand_ratio, int64_t kernel, int64_t stride)
      : MBConv(in, in * expand_ratio, out, kernel, stride, expand_ratio != 1) {}
  /// Explicit hidden width (for pruned or searched networks).
  MBConv(int64_t in, int64_t hidden, int64_t out, int64_t kernel, int64_t stride, bool expand)
      : in(in), hidden(hidden), out(out), kernel(kernel), stride(stride), has_residual(stride == 1 && in == out) {
    if (expand) {
      body.add(conv_bn(in, hidden, 1, 1, false));
      body.emplace<Act>(Activation::relu6);
    }
    body.add(conv_bn(hidden, hidden, kernel, stride, false, hidden));
    body.emplace<Act>(Activation::relu6);
    body.add(conv_bn(hidden, out, 1, 1, false));
  }
  /// Fixed at construction: pruning keeps the residual's channels tied, so it never appears or vanishes.
  bool residual() const { return has_residual; }
  Variable forward(const Variable& x) override {
    auto* tail = dynamic_cast<ConvBn*>(body.children.back().get());
    if (!residual() || !tail || !tail->folds() || tail->bn.fused_relu) {
      Variable y = body.forward(x);
      return residual() ? ops::add(y, x) : y;
    }
    Variable h = x;  // folded inference: the projection conv adds the input in its primitive
    for (size_t i = 0; i + 1 < body.children.size(); ++i) h = body.children[i]->forward(h);
    return tail->forward_add(h, x, false);
  }
  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& d, const std::string& prefix) const override {
    Shape y = body.describe_layers(chw, d, join(prefix, "body"));
    return residual() ? describe_same(LayerKind::add, y, d, join(prefix, "add")) : y;
  }
  void collect_parameters(NamedParams& o, const std::string& prefix) override { body.collect_parameters(o, join(prefix, "body")); }
  void collect_buffers(NamedBuffers& o, const std::string& prefix) override { body.collect_buffers(o, join(prefix, "body")); }
  void set_training(bool t) override {
    training_ = t;
    body.set_training(t);
  }

  int64_t in, hidden, out, kernel, stride;
  bool has_residual;
  Sequential body;
};

}  // namespace hwaware::nn
