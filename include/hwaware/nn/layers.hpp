#pragma once
// The basic layers: Conv2d, BatchNorm2d (optionally with a fused ReLU), Linear, activations,
// pooling, global average pooling and flatten.
#include <optional>

#include "hwaware/nn/init.hpp"
#include "hwaware/nn/module.hpp"

namespace hwaware::nn {

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = -1;  // -1: "same" for odd kernels, (k - 1) / 2 · dilation
  int64_t dilation = 1;
  int64_t groups = 1;
  bool bias = false;
  Init init = Init::kaiming_uniform_default;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, Conv2dOptions o = {})
      : in_channels(in), out_channels(out), kernel(kernel), opt(o) {
    if (opt.padding < 0) opt.padding = (kernel - 1) / 2 * opt.dilation;
    check_shapes(in > 0 && out > 0 && in % o.groups == 0 && out % o.groups == 0, "Conv2d",
                 "channel counts must be positive and divisible by groups", {in, out}, {o.groups});
    Tensor w = Tensor::empty({out, in / o.groups, kernel, kernel});
    const int64_t fan_in = in / o.groups * kernel * kernel, fan_out = out / o.groups * kernel * kernel;
    init_weight(w, fan_in, fan_out, o.init);
    weight = Variable(w, true);
    if (o.bias) {
      Tensor b = Tensor::empty({out});
      init_uniform(b, 1.f / std::sqrt(float(fan_in)));
      bias = Variable(b, true);
    }
  }

  Conv2dParams params() const {
    return {opt.stride, opt.stride, opt.padding, opt.padding, opt.dilation, opt.dilation, opt.groups};
  }

  Variable forward(const Variable& x) override {
    return ops::conv2d(x, weight, bias, params());
  }

  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const override {
    check_shapes(chw.size() == 3 && chw[0] == in_channels, "Conv2d::describe", "input channels differ from the layer's",
                 chw, {in_channels});
    LayerDesc d{prefix, LayerKind::conv2d, chw[0], chw[1], chw[2], out_channels};
    d.out_h = window_out(chw[1], kernel, opt.stride, opt.padding, opt.dilation);
    d.out_w = window_out(chw[2], kernel, opt.stride, opt.padding, opt.dilation);
    d.kernel = kernel, d.stride = opt.stride, d.padding = opt.padding, d.groups = opt.groups;
    // from the metadata, not the tensors, so a description can be taken of a resized layer
    d.params = out_channels * (in_channels / opt.groups) * kernel * kernel + (bias ? out_channels : 0);
    d.macs = d.out_h * d.out_w * out_channels * (in_channels / opt.groups) * kernel * kernel;
    out.push_back(d);
    return out_chw(d);
  }

  void collect_parameters(NamedParams& out, const std::string& prefix) override {
    out.emplace_back(join(prefix, "weight"), &weight);
    if (bias) out.emplace_back(join(prefix, "bias"), &*bias);
  }

  int64_t in_channels, out_channels, kernel;
  Conv2dOptions opt;
  Variable weight;
  std::optional<Variable> bias;  // present when Conv2dOptions::bias was set
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, bool fused_relu = false, float momentum = 0.1f, float eps = 1e-5f)
      : channels(channels), fused_relu(fused_relu), momentum(momentum), eps(eps),
        gamma(Tensor::full({channels}, 1.f), true), beta(Tensor::zeros({channels}), true),
        running_mean(Tensor::zeros({channels})), running_var(Tensor::full({channels}, 1.f)) {}

  Variable forward(const Variable& x) override {
    return ops::batchnorm2d(x, gamma, beta, {&running_mean, &running_var, momentum, eps}, training_, fused_relu);
  }

  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const override {
    check_shapes(chw.size() == 3 && chw[0] == channels, "BatchNorm2d::describe", "input channels differ", chw, {channels});
    LayerDesc d{prefix, LayerKind::batchnorm2d, chw[0], chw[1], chw[2], chw[0], chw[1], chw[2]};
    d.params = 2 * channels;
    d.macs = chw[0] * chw[1] * chw[2];
    d.fused_relu = fused_relu;
    out.push_back(d);
    return chw;
  }

  void collect_parameters(NamedParams& out, const std::string& prefix) override {
    out.emplace_back(join(prefix, "weight"), &gamma);
    out.emplace_back(join(prefix, "bias"), &beta);
  }
  void collect_buffers(NamedBuffers& out, const std::string& prefix) override {
    out.emplace_back(join(prefix, "running_mean"), &running_mean);
    out.emplace_back(join(prefix, "running_var"), &running_var);
  }

  int64_t channels;
  bool fused_relu;
  float momentum, eps;
  Variable gamma, beta;
  Tensor running_mean, running_var;
};

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool with_bias = true) : in_features(in), out_features(out) {
    Tensor w = Tensor::empty({out, in});
    init_uniform(w, 1.f / std::sqrt(float(in)));
    weight = Variable(w, true);
    if (with_bias) {
      Tensor b = Tensor::empty({out});
      init_uniform(b, 1.f / std::sqrt(float(in)));
      bias = Variable(b, true);
    }
  }

  Variable forward(const Variable& x) override { return ops::linear(x, weight, bias); }

  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const override {
    check_shapes(numel_of(chw) == in_features, "Linear::describe", "input features differ", chw, {in_features});
    LayerDesc d{prefix, LayerKind::linear, in_features, 1, 1, out_features};
    d.params = in_features * out_features + (bias ? out_features : 0);
    d.macs = in_features * out_features;
    out.push_back(d);
    return {out_features};
  }

  void collect_parameters(NamedParams& out, const std::string& prefix) override {
    out.emplace_back(join(prefix, "weight"), &weight);
    if (bias) out.emplace_back(join(prefix, "bias"), &*bias);
  }

  int64_t in_features, out_features;
  Variable weight;
  std::optional<Variable> bias;  // present unless constructed with with_bias = false
};

/// Describes a layer that keeps the shape (activations, add).
inline Shape describe_same(LayerKind kind, const Shape& chw, std::vector<LayerDesc>& out,
                           const std::string& prefix) {
  LayerDesc d{prefix, kind, chw[0], chw.size() > 1 ? chw[1] : 1, chw.size() > 2 ? chw[2] : 1};
  d.out_c = d.in_c, d.out_h = d.in_h, d.out_w = d.in_w;
  d.macs = numel_of(chw);
  out.push_back(d);
  return chw;
}

/// The described kind of an activation (backend/params.hpp).
using hwaware::layer_kind_of;

class Act : public Module {
 public:
  explicit Act(Activation a) : kind(a) {}
  Variable forward(const Variable& x) override { return ops::activation(x, kind); }
  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const override {
    return describe_same(layer_kind_of(kind), chw, out, prefix);
  }
  Activation kind;
};

class Pool2d : public Module {
 public:
  explicit Pool2d(Pool2dParams p) : p(p) {}
  static Pool2d max(int64_t k, int64_t stride = 0) { return Pool2d({PoolKind::max, k, k, stride ? stride : k, stride ? stride : k, 0, 0}); }
  Variable forward(const Variable& x) override { return ops::pool2d(x, p); }
  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const override {
    const Shape o = pool2d_out_shape({1, chw[0], chw[1], chw[2]}, p);
    LayerDesc d{prefix, p.kind == PoolKind::max ? LayerKind::max_pool2d : LayerKind::avg_pool2d, chw[0], chw[1], chw[2], o[1], o[2], o[3]};
    d.kernel = p.kernel_h, d.stride = p.stride_h, d.padding = p.pad_h;
    d.macs = o[1] * o[2] * o[3] * p.kernel_h * p.kernel_w;
    out.push_back(d);
    return {o[1], o[2], o[3]};
  }
  Pool2dParams p;
};

class GlobalAvgPool : public Module {
 public:
  Variable forward(const Variable& x) override { return ops::global_avg_pool(x); }
  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const override {
    LayerDesc d{prefix, LayerKind::global_avg_pool, chw[0], chw[1], chw[2], chw[0], 1, 1};
    d.kernel = chw[1];
    d.macs = numel_of(chw);
    out.push_back(d);
    return {chw[0]};
  }
};

class Flatten : public Module {
 public:
  Variable forward(const Variable& x) override { return x.value().rank() == 2 ? x : ops::flatten(x); }
  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>&, const std::string&) const override {
    return {numel_of(chw)};
  }
};

}  // namespace hwaware::nn
