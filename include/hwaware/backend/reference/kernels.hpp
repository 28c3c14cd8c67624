#pragma once
// The reference backend: every kernel as plain loops over plain NCHW data, written for obvious
// correctness, not speed. It is the oracle the oneDNN backend is tested against.
// Inputs in any layout are accepted (converted to plain, weights included); outputs are plain.
// Every loop reads converted or freshly made plain tensors, so each uses the checked data().
#include <algorithm>
#include <cmath>
#include <limits>

#include "hwaware/backend/params.hpp"
#include "hwaware/core/tensor.hpp"

namespace hwaware::reference {

struct Backend {
  static constexpr const char* name = "reference";

  static Layout conv2d_input_layout(int64_t, int64_t) { return Layout::plain; }

  static Tensor conv2d_forward(const Tensor& xin, const Tensor& win, const Tensor* bias, const Conv2dParams& p) {
    const Tensor x = xin.to_plain(), w = win.to_plain();
    const Shape ys = conv2d_out_shape(x.shape(), w.shape(), p);
    Tensor y = Tensor::empty(ys);
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    const int64_t O = ys[1], OH = ys[2], OW = ys[3], KH = w.dim(2), KW = w.dim(3);
    const int64_t cg = C / p.groups, og = O / p.groups;
    const float *xd = x.data(), *wd = w.data();
    float* yd = y.data();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) {
        const int64_t g = o / og;
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            double acc = bias ? bias->data()[o] : 0.0;
            for (int64_t c = 0; c < cg; ++c)
              for (int64_t kh = 0; kh < KH; ++kh) {
                const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
                if (ih < 0 || ih >= H) continue;
                for (int64_t kw = 0; kw < KW; ++kw) {
                  const int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                  if (iw < 0 || iw >= W) continue;
                  acc += double(xd[((n * C + g * cg + c) * H + ih) * W + iw]) * wd[((o * cg + c) * KH + kh) * KW + kw];
                }
              }
            yd[((n * O + o) * OH + oh) * OW + ow] = static_cast<float>(p.post_relu ? std::max(acc, 0.0) : acc);
          }
      }
    return y;
  }

  /// Inference: conv2d(x) + residual, then the ReLU when p.post_relu (a block's tail in one call).
  static Tensor conv2d_forward_add(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p,
                                   const Tensor& residual) {
    Conv2dParams linear = p;
    linear.post_relu = false;
    Tensor y = conv2d_forward(x, w, bias, linear);
    check_shapes(y.shape() == residual.shape(), "conv2d + residual", "the residual must have the output's shape",
                 y.shape(), residual.shape());
    const Tensor r = residual.to_plain();
    for (int64_t i = 0; i < y.numel(); ++i) {
      const float v = y.data()[i] + r.data()[i];
      y.data()[i] = p.post_relu ? std::max(v, 0.f) : v;
    }
    return y;
  }

  static Tensor conv2d_backward_data(const Tensor& dyin, const Tensor& win, const Shape& xs, const Conv2dParams& p) {
    const Tensor dy = dyin.to_plain(), w = win.to_plain();
    Tensor dx = Tensor::zeros(xs);
    const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
    const int64_t O = dy.dim(1), OH = dy.dim(2), OW = dy.dim(3), KH = w.dim(2), KW = w.dim(3);
    const int64_t cg = C / p.groups, og = O / p.groups;
    const float *dyd = dy.data(), *wd = w.data();
    float* dxd = dx.data();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) {
        const int64_t g = o / og;
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            const float gy = dyd[((n * O + o) * OH + oh) * OW + ow];
            for (int64_t c = 0; c < cg; ++c)
              for (int64_t kh = 0; kh < KH; ++kh) {
                const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
                if (ih < 0 || ih >= H) continue;
                for (int64_t kw = 0; kw < KW; ++kw) {
                  const int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                  if (iw < 0 || iw >= W) continue;
                  dxd[((n * C + g * cg + c) * H + ih) * W + iw] += gy * wd[((o * cg + c) * KH + kh) * KW + kw];
                }
              }
          }
      }
    return dx;
  }

  static ConvWeightGrads conv2d_backward_weights(const Tensor& dyin, const Tensor& xin, const Shape& ws, bool bias,
                                                 const Conv2dParams& p) {
    const Tensor dy = dyin.to_plain(), x = xin.to_plain();
    ConvWeightGrads r{Tensor::zeros(ws), bias ? Tensor::zeros({ws[0]}) : Tensor()};
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    const int64_t O = dy.dim(1), OH = dy.dim(2), OW = dy.dim(3), KH = ws[2], KW = ws[3];
    const int64_t cg = C / p.groups, og = O / p.groups;
    const float *dyd = dy.data(), *xd = x.data();
    float* dwd = r.dw.data();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) {
        const int64_t g = o / og;
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            const float gy = dyd[((n * O + o) * OH + oh) * OW + ow];
            if (bias) r.db.data()[o] += gy;
            for (int64_t c = 0; c < cg; ++c)
              for (int64_t kh = 0; kh < KH; ++kh) {
                const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
                if (ih < 0 || ih >= H) continue;
                for (int64_t kw = 0; kw < KW; ++kw) {
                  const int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                  if (iw < 0 || iw >= W) continue;
                  dwd[((o * cg + c) * KH + kh) * KW + kw] += gy * xd[((n * C + g * cg + c) * H + ih) * W + iw];
                }
              }
          }
      }
    return r;
  }

  /// Training-mode batch norm: normalises with the batch statistics; optional fused ReLU.
  static BatchNormForward batchnorm_forward_train(const Tensor& xin, const Tensor& gamma, const Tensor& beta,
                                                  float eps, bool fuse_relu) {
    const Tensor x = xin.to_plain();
    const int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
    BatchNormForward r{Tensor::empty(x.shape()), Tensor::empty({C}), Tensor::empty({C}), Tensor()};
    for (int64_t c = 0; c < C; ++c) {
      double s = 0, ss = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) s += x.data()[(n * C + c) * HW + i];
      const double mean = s / double(N * HW);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const double d = x.data()[(n * C + c) * HW + i] - mean;
          ss += d * d;
        }
      r.mean.data()[c] = float(mean);
      r.var.data()[c] = float(ss / double(N * HW));
    }
    apply_bn(x, gamma, beta, r.mean, r.var, eps, fuse_relu, r.y);
    if (fuse_relu) r.workspace = r.y;
    return r;
  }

  static BatchNormForward batchnorm_forward_infer(const Tensor& xin, const Tensor& gamma, const Tensor& beta,
                                                  const Tensor& mean, const Tensor& var, float eps, bool fuse_relu) {
    const Tensor x = xin.to_plain();
    Tensor y = Tensor::empty(x.shape());
    apply_bn(x, gamma, beta, mean, var, eps, fuse_relu, y);
    return {y, mean, var, fuse_relu ? y : Tensor()};
  }

  /// Backward of batch norm. global_stats = true when the forward used fixed (running) statistics.
  static BatchNormGrads batchnorm_backward(const Tensor& dyin, const Tensor& xin, const Tensor& gamma,
                                           const Tensor& mean, const Tensor& var, const Tensor& workspace,
                                           float eps, bool fuse_relu, bool global_stats) {
    const Tensor x = xin.to_plain(), dy0 = dyin.to_plain();
    const int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
    const double M = double(N * HW);
    BatchNormGrads r{Tensor::empty(x.shape()), Tensor::empty({C}), Tensor::empty({C})};
    // With a fused ReLU the workspace is the forward output y; the mask is y > 0.
    check_shapes(!fuse_relu || workspace.defined(), "batchnorm2d backward", "a fused ReLU needs the forward's workspace",
                 x.shape());
    const Tensor y = fuse_relu ? workspace.to_plain() : Tensor();
    for (int64_t c = 0; c < C; ++c) {
      const double inv = 1.0 / std::sqrt(double(var.data()[c]) + eps), mu = mean.data()[c];
      double sdy = 0, sdyx = 0;
      auto g = [&](int64_t idx) { return (fuse_relu && y.data()[idx] <= 0.f) ? 0.0 : double(dy0.data()[idx]); };
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t idx = (n * C + c) * HW + i;
          sdy += g(idx);
          sdyx += g(idx) * (x.data()[idx] - mu) * inv;
        }
      r.dbeta.data()[c] = float(sdy);
      r.dgamma.data()[c] = float(sdyx);
      const double gm = gamma.data()[c];
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t idx = (n * C + c) * HW + i;
          const double xhat = (x.data()[idx] - mu) * inv;
          r.dx.data()[idx] = global_stats ? float(gm * inv * g(idx))
                                          : float(gm * inv / M * (M * g(idx) - sdy - xhat * sdyx));
        }
    }
    return r;
  }

  static Tensor activation_forward(const Tensor& xin, Activation a) {
    const Tensor x = xin.to_plain();
    Tensor y = Tensor::empty(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float v = x.data()[i];
      y.data()[i] = a == Activation::relu    ? std::max(v, 0.f)
                    : a == Activation::relu6 ? std::clamp(v, 0.f, 6.f)
                                             : 1.f / (1.f + std::exp(-v));
    }
    return y;
  }

  static Tensor activation_backward(const Tensor& dyin, const Tensor& xin, Activation a) {
    const Tensor x = xin.to_plain(), dy = dyin.to_plain();
    Tensor dx = Tensor::empty(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float v = x.data()[i], g = dy.data()[i];
      if (a == Activation::relu) dx.data()[i] = v > 0 ? g : 0.f;
      else if (a == Activation::relu6) dx.data()[i] = (v > 0 && v < 6) ? g : 0.f;
      else {
        const float s = 1.f / (1.f + std::exp(-v));
        dx.data()[i] = g * s * (1 - s);
      }
    }
    return dx;
  }

  static PoolForward pool2d_forward(const Tensor& xin, const Pool2dParams& p, bool training) {
    const Tensor x = xin.to_plain();
    const Shape ys = pool2d_out_shape(x.shape(), p);
    PoolForward r{Tensor::empty(ys), Tensor()};
    const bool keep_argmax = training && p.kind == PoolKind::max;
    if (keep_argmax) r.workspace = Tensor::empty(ys, Layout::plain, DType::i32);
    const int64_t NC = ys[0] * ys[1], H = x.dim(2), W = x.dim(3), OH = ys[2], OW = ys[3];
    for (int64_t nc = 0; nc < NC; ++nc)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          int32_t arg = -1;
          double sum = 0;
          for (int64_t kh = 0; kh < p.kernel_h; ++kh)
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t ih = oh * p.stride_h - p.pad_h + kh, iw = ow * p.stride_w - p.pad_w + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const float v = x.data()[(nc * H + ih) * W + iw];
              sum += v;
              if (v > best) best = v, arg = int32_t(ih * W + iw);
            }
          const int64_t o = (nc * OH + oh) * OW + ow;
          r.y.data()[o] = p.kind == PoolKind::max ? best : float(sum / double(p.kernel_h * p.kernel_w));
          if (keep_argmax) r.workspace.idata()[o] = arg;
        }
    return r;
  }

  static Tensor pool2d_backward(const Tensor& dyin, const Shape& xs, Layout /*plain always*/, const Tensor& workspace,
                                const Pool2dParams& p) {
    const Tensor dy = dyin.to_plain();
    Tensor dx = Tensor::zeros(xs);
    const int64_t NC = xs[0] * xs[1], H = xs[2], W = xs[3], OH = dy.dim(2), OW = dy.dim(3);
    for (int64_t nc = 0; nc < NC; ++nc)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t o = (nc * OH + oh) * OW + ow;
          if (p.kind == PoolKind::max) {
            dx.data()[nc * H * W + workspace.idata()[o]] += dy.data()[o];
            continue;
          }
          const float g = dy.data()[o] / float(p.kernel_h * p.kernel_w);
          for (int64_t kh = 0; kh < p.kernel_h; ++kh)
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t ih = oh * p.stride_h - p.pad_h + kh, iw = ow * p.stride_w - p.pad_w + kw;
              if (ih >= 0 && ih < H && iw >= 0 && iw < W) dx.data()[(nc * H + ih) * W + iw] += g;
            }
        }
    return dx;
  }

  /// y [N,O] = x [N,I] · wᵀ + b, with w [O,I].
  static Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias) {
    check_linear(x, w);
    const int64_t N = x.dim(0), I = x.dim(1), O = w.dim(0);
    Tensor y = Tensor::empty({N, O});
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) {
        double acc = bias ? bias->data()[o] : 0.0;
        for (int64_t i = 0; i < I; ++i) acc += double(x.data()[n * I + i]) * w.data()[o * I + i];
        y.data()[n * O + o] = float(acc);
      }
    return y;
  }

  static LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool bias) {
    const int64_t N = x.dim(0), I = x.dim(1), O = w.dim(0);
    LinearGrads r{Tensor::zeros({N, I}), Tensor::zeros({O, I}), bias ? Tensor::zeros({O}) : Tensor()};
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) {
        const float g = dy.data()[n * O + o];
        if (bias) r.db.data()[o] += g;
        for (int64_t i = 0; i < I; ++i) {
          r.dx.data()[n * I + i] += g * w.data()[o * I + i];
          r.dw.data()[o * I + i] += g * x.data()[n * I + i];
        }
      }
    return r;
  }

  static void check_linear(const Tensor& x, const Tensor& w) {
    check_shapes(x.rank() == 2 && w.rank() == 2 && x.dim(1) == w.dim(1), "linear",
                 "input must be [N,I] and weight [O,I]", x.shape(), w.shape());
  }

 private:
  static void apply_bn(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean, const Tensor& var,
                       float eps, bool relu, Tensor& y) {
    const int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const float inv = 1.f / std::sqrt(var.data()[c] + eps);
        const float a = gamma.data()[c] * inv, b = beta.data()[c] - mean.data()[c] * a;
        for (int64_t i = 0; i < HW; ++i) {
          const float v = x.data()[(n * C + c) * HW + i] * a + b;
          y.data()[(n * C + c) * HW + i] = relu ? std::max(v, 0.f) : v;
        }
      }
  }
};

}  // namespace hwaware::reference
