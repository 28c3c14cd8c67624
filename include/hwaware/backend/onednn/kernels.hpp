#pragma once
// The oneDNN backend: conv, batch norm (with fused ReLU), eltwise, pooling and matmul through
// oneDNN primitives. Activations live in nChw16c from the first conv to the last; convolutions
// with fewer than 16 channels on either side run in nhwc instead (oneDNN 2.6 falls back to its
// reference kernels for such convolutions in nChw16c or mixed layouts; measured with
// DNNL_VERBOSE), and so does every convolution on a host below AVX-512 (blocked_convs()). Batch
// norm over nhwc with channels not a multiple of 8 reorders to a blocked layout and back around
// its primitive (BnRunLayout). Weights stay plain (the optimizer's view) and are reordered once per optimizer
// step through the storage-attached cache in context.hpp; a weight given in another layout is
// converted to plain first, and batch-norm parameters must be [C] vectors.
#include <algorithm>
#include <cstring>

#include "hwaware/backend/onednn/context.hpp"
#include "hwaware/backend/params.hpp"

namespace hwaware::onednn {

// The layout and thread rules are the runtime plan's (core/runtime_plan.hpp).
using runtime::ConvLayouts;
using runtime::kPlainMaxChannels;

/// The layouts a convolution runs in on this host (runtime::conv_layouts under blocked_convs()).
inline ConvLayouts conv_layouts(int64_t in_channels, int64_t out_channels) {
  return runtime::conv_layouts(in_channels, out_channels, blocked_convs());
}

/// The layout a convolution's input gradient comes out in: its source layout, except that no
/// JIT backward-data kernel of oneDNN 2.6 writes the plain first-layer source (its reference code
/// is ~20× slower than the nhwc JIT kernel: docs/decisions.md).
inline Layout conv_input_grad_layout(int64_t in_channels, int64_t out_channels) {
  const Layout src = conv_layouts(in_channels, out_channels).src;
  return src == Layout::plain ? Layout::nhwc : src;
}

/// The layout a convolution's weight gradient reads its source and output gradient in: its
/// own, except for depthwise kernels above 3×3, which oneDNN 2.6's blocked depthwise JIT does not
/// cover: blocked, they fall to reference code ~80× slower; nhwc gets a JIT kernel (docs/decisions.md).
inline Layout conv_weight_grad_layout(Layout src, const Shape& ws, int64_t groups) {
  const bool depthwise = groups > 1 && ws[1] == 1;
  return depthwise && (ws[2] > 3 || ws[3] > 3) ? Layout::nhwc : src;
}

namespace detail {

enum OpId : int64_t { kConvFwd = 1, kConvBwdData, kConvBwdWeights, kBnFwd, kBnBwd, kElt, kEltBwd, kPool, kPoolBwd,
                      kMatmul, kMatmulBwdData, kMatmulBwdWeights };

inline memory::dims conv_weight_dims(const Shape& w, int64_t groups) {
  if (groups == 1) return to_dims(w);
  return {groups, w[0] / groups, w[1], w[2], w[3]};
}
inline memory::desc conv_weight_plain_md(const Shape& w, int64_t groups) {
  return memory::desc(conv_weight_dims(w, groups), dt::f32, groups == 1 ? tag::oihw : tag::goihw);
}

struct ConvFwdEntry {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  memory::desc w_plain;
  BoundArgs args{};
};

/// MACs of a convolution (the same for its forward and both backward passes).
inline int64_t conv_work(const Shape& xs, const Shape& ws, const Conv2dParams& p) {
  const Shape ys = conv2d_out_shape(xs, ws, p);
  return runtime::conv_work(ys[0], ys[1], ys[2], ys[3], ws[1], ws[2], ws[3]);
}

/// Records an execution on this thread's KernelTrace (call only when one is on): x → y shapes
/// ([N,C,H,W] or [N,F]), their layouts, and the thread count it ran on.
inline void trace(runtime::KernelKind kind, LayerKind op, const Shape& xs, Layout xl, const Shape& ys, Layout yl,
                  int64_t work, runtime::Kernel k = {}) {
  k.kind = kind, k.op = op, k.batch = xs[0], k.src = xl, k.dst = yl, k.work = work, k.threads = num_threads();
  k.in_c = xs[1], k.out_c = ys[1];
  if (xs.size() == 4) k.in_h = xs[2], k.in_w = xs[3];
  if (ys.size() == 4) k.out_h = ys[2], k.out_w = ys[3];
  runtime::KernelTrace::record(k);
}

inline CacheKey conv_key(int64_t op, const Shape& xs, Layout xl, const Shape& ws, bool bias, const Conv2dParams& p) {
  CacheKey k;
  k.add(num_threads());  // the thread split is fixed at creation (see ThreadScope)
  k.add(op).add(xs).add(static_cast<int64_t>(xl)).add(ws).add(bias).add(p.stride_h).add(p.stride_w).add(p.pad_h);
  k.add(p.pad_w).add(p.dilation_h).add(p.dilation_w).add(p.groups).add(p.post_relu);
  return k;
}

/// `sum`: the destination is accumulated into (post-op sum before the ReLU), for a fused residual add.
inline ConvFwdEntry& conv_fwd_entry(const Shape& xs, Layout xl, const Shape& ws, bool bias, const Conv2dParams& p,
                                    bool sum = false) {
  CacheKey key = conv_key(kConvFwd, xs, xl, ws, bias, p);
  key.add(sum);
  return PrimitiveCache::get().find_or_make<ConvFwdEntry>(key, [&] {
    return guarded("conv2d forward", xs, ws, [&] {
      const Shape ys = conv2d_out_shape(xs, ws, p);
      auto wd = memory::desc(conv_weight_dims(ws, p.groups), dt::f32, tag::any);
      auto bd = bias ? memory::desc({ws[0]}, dt::f32, tag::a) : memory::desc();
      auto d = dnnl::convolution_forward::desc(
          p.post_relu || sum ? dnnl::prop_kind::forward_inference : dnnl::prop_kind::forward_training,
          dnnl::algorithm::convolution_direct, md_of(xs, xl), wd, bd,
          md_of(ys, conv_layouts(xs[1], ws[0]).dst), {p.stride_h, p.stride_w}, {p.dilation_h - 1, p.dilation_w - 1},
          {p.pad_h, p.pad_w}, {p.pad_h, p.pad_w});
      dnnl::primitive_attr attr;
      dnnl::post_ops po;
      if (sum) po.append_sum(1.f);
      if (p.post_relu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      if (sum || p.post_relu) attr.set_post_ops(po);
      dnnl::convolution_forward::primitive_desc pd(d, attr, Context::get().engine());
      return ConvFwdEntry{pd, dnnl::convolution_forward(pd), conv_weight_plain_md(ws, p.groups)};
    });
  });
}

struct ConvBwdDataEntry {
  dnnl::convolution_backward_data::primitive_desc pd;
  dnnl::convolution_backward_data prim;
};

struct ConvBwdWeightsEntry {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights prim;
  memory::desc w_plain;
  Tensor dw_buffer;  // diff weights in the primitive's layout, reordered to plain after each call
  dnnl::reorder to_plain;
  bool needs_reorder = false;
};

/// The layout a batch norm's primitive runs in: its tensor's, or a blocked one between reorders
/// where oneDNN 2.6 would pick its generic nhwc kernel (channels not a multiple of 8), which took
/// 5-7x the blocked JIT kernel's time forward and 8-20x backward, each reorder about one JIT call's
/// (docs/decisions.md, batch normalisation over odd nhwc widths).
struct BnRunLayout {
  memory::desc md;                 ///< the primitive's source, destination and gradients
  bool reorders = false;           ///< md differs from the tensor's layout
  dnnl::reorder to_run, from_run;  ///< tensor layout → md, md → tensor layout

  /// `x` in the run layout: itself, or a reordered copy held in `buffer`.
  memory in(const Tensor& x, Tensor& buffer) const {
    if (!reorders) return mem(x);
    buffer = tensor_for(md);
    memory from = mem(x), m = mem(md, buffer.raw_data());
    to_run.execute(Context::get().stream(), from, m);
    return m;
  }
  /// Where a result for `y` is written: y itself, or `buffer` (copied to y by out()).
  memory result(const Tensor& y, Tensor& buffer) const {
    if (!reorders) return mem(y);
    buffer = tensor_for(md);
    return mem(md, buffer.raw_data());
  }
  /// Copies a result written where result() said into `y` (nothing to do without reorders).
  void out(memory result, const Tensor& y) const {
    if (!reorders) return;
    memory to = mem(y);
    from_run.execute(Context::get().stream(), result, to);
  }
};

/// Whether oneDNN chose its generic nhwc batch norm (the implementation name it reports).
inline bool generic_nhwc_bn(const char* impl) { return std::string(impl).rfind("nspc_bnorm:any", 0) == 0; }
/// Whether a batch-norm implementation is one of oneDNN's JIT kernels (bnorm_jit, bnorm_tbb_jit).
inline bool jit_bn(const char* impl) { return std::string(impl).find("jit") != std::string::npos; }

struct BnFwdEntry {
  dnnl::batch_normalization_forward::primitive_desc pd;
  dnnl::batch_normalization_forward prim;
  BnRunLayout run;
};
struct BnBwdEntry {
  dnnl::batch_normalization_backward::primitive_desc pd;
  dnnl::batch_normalization_backward prim;
  bool serial = false;  // runs on one thread (see batchnorm_backward)
  BnRunLayout run;      // the forward's
};

inline dnnl::normalization_flags bn_flags(bool fuse_relu, bool global_stats) {
  auto f = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  if (fuse_relu) f = f | dnnl::normalization_flags::fuse_norm_relu;
  if (global_stats) f = f | dnnl::normalization_flags::use_global_stats;
  return f;
}

inline BnFwdEntry& bn_fwd_entry(const Tensor& x, float eps, bool fuse_relu, bool global_stats) {
  CacheKey k;
  k.add(num_threads()).add(kBnFwd).add(x.shape()).add(static_cast<int64_t>(x.layout())).add(fuse_relu).add(global_stats);
  k.add(static_cast<int64_t>(eps * 1e9));
  return PrimitiveCache::get().find_or_make<BnFwdEntry>(k, [&] {
    return guarded("batchnorm2d forward", x.shape(), {}, [&] {
      const auto& eng = Context::get().engine();
      const auto make = [&](const memory::desc& md) {
        auto d = dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_training, md, eps,
                                                          bn_flags(fuse_relu, global_stats));
        return dnnl::batch_normalization_forward::primitive_desc(d, eng);
      };
      const memory::desc own = md_of(x);
      BnFwdEntry e{make(own), {}, {own}};
      if (generic_nhwc_bn(e.pd.impl_info_str()))
        for (tag t : {tag::nChw16c, tag::nChw8c}) {
          const memory::desc blocked(to_dims(x.shape()), dt::f32, t);
          auto pd = make(blocked);
          if (!jit_bn(pd.impl_info_str())) continue;
          e.pd = pd;
          e.run = {blocked, true, dnnl::reorder(dnnl::reorder::primitive_desc(eng, own, eng, blocked)),
                   dnnl::reorder(dnnl::reorder::primitive_desc(eng, blocked, eng, own))};
          break;
        }
      e.prim = dnnl::batch_normalization_forward(e.pd);
      return e;
    });
  });
}

struct EltEntry {
  dnnl::eltwise_forward::primitive_desc pd;
  dnnl::eltwise_forward prim;
  BoundArgs args{};
};
struct EltBwdEntry {
  dnnl::eltwise_backward::primitive_desc pd;
  dnnl::eltwise_backward prim;
};

inline dnnl::algorithm elt_alg(Activation a) {
  switch (a) {
    case Activation::relu: return dnnl::algorithm::eltwise_relu;
    case Activation::relu6: return dnnl::algorithm::eltwise_clip_v2;
    case Activation::sigmoid: return dnnl::algorithm::eltwise_logistic;
  }
  return dnnl::algorithm::eltwise_relu;
}
inline float elt_beta(Activation a) { return a == Activation::relu6 ? 6.f : 0.f; }

inline EltEntry& elt_entry(const Tensor& x, Activation a) {
  CacheKey k;
  k.add(num_threads()).add(kElt).add(x.shape()).add(static_cast<int64_t>(x.layout())).add(static_cast<int64_t>(a));
  return PrimitiveCache::get().find_or_make<EltEntry>(k, [&] {
    return guarded(std::string(activation_name(a)) + " forward", x.shape(), {}, [&] {
      auto d = dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, elt_alg(a), md_of(x), 0.f, elt_beta(a));
      dnnl::eltwise_forward::primitive_desc pd(d, Context::get().engine());
      return EltEntry{pd, dnnl::eltwise_forward(pd)};
    });
  });
}

struct PoolEntry {
  dnnl::pooling_forward::primitive_desc pd;
  dnnl::pooling_forward prim;
  BoundArgs args{};
};
struct PoolBwdEntry {
  dnnl::pooling_backward::primitive_desc pd;
  dnnl::pooling_backward prim;
};

inline dnnl::algorithm pool_alg(const Pool2dParams& p) {
  return p.kind == PoolKind::max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_include_padding;
}

inline PoolEntry& pool_entry(const Shape& xs, Layout xl, const Pool2dParams& p, bool training) {
  CacheKey k;
  k.add(num_threads()).add(kPool).add(xs).add(static_cast<int64_t>(xl)).add(static_cast<int64_t>(p.kind)).add(p.kernel_h);
  k.add(p.kernel_w).add(p.stride_h).add(p.stride_w).add(p.pad_h).add(p.pad_w).add(training);
  return PrimitiveCache::get().find_or_make<PoolEntry>(k, [&] {
    return guarded("pool2d forward", xs, {p.kernel_h, p.kernel_w}, [&] {
      const Shape ys = pool2d_out_shape(xs, p);
      // Right padding so that oneDNN's output size formula matches floor((H + 2p - k) / s) + 1.
      auto d = dnnl::pooling_forward::desc(
          training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, pool_alg(p),
          md_of(xs, xl), md_of(ys, xl), {p.stride_h, p.stride_w}, {p.kernel_h, p.kernel_w}, {p.pad_h, p.pad_w},
          {(ys[2] - 1) * p.stride_h + p.kernel_h - xs[2] - p.pad_h, (ys[3] - 1) * p.stride_w + p.kernel_w - xs[3] - p.pad_w});
      dnnl::pooling_forward::primitive_desc pd(d, Context::get().engine());
      return PoolEntry{pd, dnnl::pooling_forward(pd)};
    });
  });
}

struct MatmulEntry {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  BoundArgs args{};
};

/// C[M,N] = A[M,K]·B[K,N] (+ bias[1,N]); each operand described by its strides.
inline MatmulEntry& matmul_entry(int64_t op, int64_t M, int64_t K, int64_t N, memory::dims sa, memory::dims sb,
                                 bool bias) {
  CacheKey k;
  k.add(num_threads()).add(kMatmul).add(op).add(M).add(K).add(N).add(sa[0]).add(sa[1]).add(sb[0]).add(sb[1]).add(bias);
  return PrimitiveCache::get().find_or_make<MatmulEntry>(k, [&] {
    return guarded("linear", {M, K}, {K, N}, [&] {
      auto d = dnnl::matmul::desc(memory::desc({M, K}, dt::f32, sa), memory::desc({K, N}, dt::f32, sb),
                                  bias ? memory::desc({1, N}, dt::f32, tag::ab) : memory::desc(),
                                  memory::desc({M, N}, dt::f32, tag::ab));
      dnnl::matmul::primitive_desc pd(d, Context::get().engine());
      return MatmulEntry{pd, dnnl::matmul(pd)};
    });
  });
}

inline Tensor pool_workspace_tensor(const memory::desc& md) {
  return md.get_size() ? tensor_for(md) : Tensor();
}

}  // namespace detail

struct Backend {
  static constexpr const char* name = "onednn";

  /// The layout conv2d reads its input in (callers convert once and keep it for the backward).
  static Layout conv2d_input_layout(int64_t in_channels, int64_t out_channels) {
    return conv_layouts(in_channels, out_channels).src;
  }


  static Tensor conv2d_forward(const Tensor& xin, const Tensor& w, const Tensor* bias, const Conv2dParams& p) {
    const Shape ys = conv2d_out_shape(xin.shape(), w.shape(), p);  // validates before oneDNN sees the shapes
    Tensor y = Tensor::empty(ys, conv_layouts(xin.dim(1), w.dim(0)).dst);
    run_conv_forward(xin, w, bias, p, y, false);
    return y;
  }

  /// Inference: conv2d(x) + residual, then the ReLU when p.post_relu — one primitive (post-ops
  /// sum and eltwise) instead of a conv, an add and a ReLU, as deployment runtimes fuse a block's tail.
  static Tensor conv2d_forward_add(const Tensor& xin, const Tensor& w, const Tensor* bias, const Conv2dParams& p,
                                   const Tensor& residual) {
    const Shape ys = conv2d_out_shape(xin.shape(), w.shape(), p);
    check_shapes(ys == residual.shape(), "conv2d + residual", "the residual must have the output's shape", ys,
                 residual.shape());
    // The destination starts as the residual; never the caller's own storage, which it may reuse.
    Tensor y = residual.to_layout(conv_layouts(xin.dim(1), w.dim(0)).dst);
    if (y.shares_storage_with(residual)) {
      y = y.clone();
      runtime::trace_conversion(runtime::KernelKind::copy, ys[0], ys[1], ys[2], ys[3], y.layout(), y.layout());
    }
    run_conv_forward(xin, w, bias, p, y, true);
    return y;
  }

  static Tensor conv2d_backward_data(const Tensor& dyin, const Tensor& win, const Shape& xs, const Conv2dParams& p) {
    const Tensor w = win.to_plain();
    const ConvLayouts l = conv_layouts(xs[1], w.dim(0));
    const Layout xl = conv_input_grad_layout(xs[1], w.dim(0));
    const Tensor dy = dyin.to_layout(xl == l.src ? l.dst : xl);  // nhwc in and out where plain has no kernel
    ThreadScope threads(threads_for(detail::conv_work(xs, w.shape(), p)));
    CacheKey k = detail::conv_key(detail::kConvBwdData, xs, xl, w.shape(), false, p);
    auto& e = PrimitiveCache::get().find_or_make<detail::ConvBwdDataEntry>(k, [&] {
      auto& fwd = detail::conv_fwd_entry(xs, xl, w.shape(), false, p);
      return guarded("conv2d backward data", xs, w.shape(), [&] {
        auto d = dnnl::convolution_backward_data::desc(
            dnnl::algorithm::convolution_direct, md_of(xs, xl),
            memory::desc(detail::conv_weight_dims(w.shape(), p.groups), dt::f32, tag::any), md_of(dy),
            {p.stride_h, p.stride_w}, {p.dilation_h - 1, p.dilation_w - 1}, {p.pad_h, p.pad_w}, {p.pad_h, p.pad_w});
        dnnl::convolution_backward_data::primitive_desc pd(d, Context::get().engine(), fwd.pd);
        return detail::ConvBwdDataEntry{pd, dnnl::convolution_backward_data(pd)};
      });
    });
    Tensor dx = Tensor::empty(xs, xl);
    auto& s = Context::get().stream();
    e.prim.execute(s, {{DNNL_ARG_DIFF_DST, mem(dy)},
                       {DNNL_ARG_WEIGHTS, weights_as(w, detail::conv_weight_plain_md(w.shape(), p.groups),
                                                     e.pd.weights_desc())},
                       {DNNL_ARG_DIFF_SRC, mem(dx)}});
    s.wait();
    return dx;
  }

  static ConvWeightGrads conv2d_backward_weights(const Tensor& dyin, const Tensor& xin, const Shape& ws, bool bias,
                                                 const Conv2dParams& p) {
    const ConvLayouts l = conv_layouts(xin.dim(1), ws[0]);
    const Layout own = conv_weight_grad_layout(l.src, ws, p.groups);
    const Tensor x = xin.to_layout(own);
    const Tensor dy = dyin.to_layout(own == l.src ? l.dst : own);
    ThreadScope threads(threads_for(detail::conv_work(x.shape(), ws, p)));
    CacheKey k = detail::conv_key(detail::kConvBwdWeights, x.shape(), x.layout(), ws, bias, p);
    auto& e = PrimitiveCache::get().find_or_make<detail::ConvBwdWeightsEntry>(k, [&] {
      auto& fwd = detail::conv_fwd_entry(x.shape(), l.src, ws, bias, p);
      return guarded("conv2d backward weights", x.shape(), ws, [&] {
        auto d = dnnl::convolution_backward_weights::desc(
            dnnl::algorithm::convolution_direct, md_of(x),
            memory::desc(detail::conv_weight_dims(ws, p.groups), dt::f32, tag::any),
            bias ? memory::desc({ws[0]}, dt::f32, tag::a) : memory::desc(), md_of(dy), {p.stride_h, p.stride_w},
            {p.dilation_h - 1, p.dilation_w - 1}, {p.pad_h, p.pad_w}, {p.pad_h, p.pad_w});
        dnnl::convolution_backward_weights::primitive_desc pd(d, Context::get().engine(), fwd.pd);
        detail::ConvBwdWeightsEntry ent{pd, dnnl::convolution_backward_weights(pd),
                                        detail::conv_weight_plain_md(ws, p.groups), Tensor(), dnnl::reorder(), false};
        ent.needs_reorder = pd.diff_weights_desc() != ent.w_plain;
        if (ent.needs_reorder) {
          ent.dw_buffer = tensor_for(pd.diff_weights_desc());
          ent.to_plain = dnnl::reorder(mem(pd.diff_weights_desc(), ent.dw_buffer.raw_data()),
                                       memory(ent.w_plain, Context::get().engine(), nullptr));
        }
        return ent;
      });
    });
    ConvWeightGrads r{Tensor::empty(ws), bias ? Tensor::empty({ws[0]}) : Tensor()};
    auto& s = Context::get().stream();
    auto dw_mem = e.needs_reorder ? mem(e.pd.diff_weights_desc(), e.dw_buffer.raw_data()) : mem(e.w_plain, r.dw.data());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(x)}, {DNNL_ARG_DIFF_DST, mem(dy)},
                                         {DNNL_ARG_DIFF_WEIGHTS, dw_mem}};
    if (bias) args.emplace(DNNL_ARG_DIFF_BIAS, mem(r.db));
    e.prim.execute(s, args);
    if (e.needs_reorder) {
      auto dw_plain = mem(e.w_plain, r.dw.data());
      e.to_plain.execute(s, dw_mem, dw_plain);
    }
    s.wait();
    return r;
  }

  static BatchNormForward batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                                                  bool fuse_relu) {
    check_bn(x, gamma);
    auto& e = detail::bn_fwd_entry(x, eps, fuse_relu, false);
    const int64_t C = x.dim(1);
    BatchNormForward r{Tensor::empty(x.shape(), x.layout()), Tensor::empty({C}), Tensor::empty({C}), Tensor()};
    auto& s = Context::get().stream();
    Tensor xb, yb;
    const memory dst = e.run.result(r.y, yb);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.run.in(x, xb)}, {DNNL_ARG_DST, dst},
                                         {DNNL_ARG_SCALE, mem(gamma)},   {DNNL_ARG_SHIFT, mem(beta)},
                                         {DNNL_ARG_MEAN, mem(r.mean)},   {DNNL_ARG_VARIANCE, mem(r.var)}};
    if (fuse_relu) {
      r.workspace = tensor_for(e.pd.workspace_desc());
      args.emplace(DNNL_ARG_WORKSPACE, mem(e.pd.workspace_desc(), r.workspace.raw_data()));
    }
    e.prim.execute(s, args);
    e.run.out(dst, r.y);
    s.wait();
    return r;
  }

  /// Batch norm with fixed (running) statistics; the workspace is kept for a fused ReLU's backward.
  static BatchNormForward batchnorm_forward_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                                  const Tensor& mean, const Tensor& var, float eps, bool fuse_relu) {
    check_bn(x, gamma);
    auto& e = detail::bn_fwd_entry(x, eps, fuse_relu, true);
    Tensor y = Tensor::empty(x.shape(), x.layout());
    if (runtime::KernelTrace::on()) {
      runtime::Kernel k;
      k.post_relu = fuse_relu;
      detail::trace(runtime::KernelKind::batchnorm, LayerKind::batchnorm2d, x.shape(), x.layout(), x.shape(),
                    x.layout(), x.numel(), k);
    }
    auto& s = Context::get().stream();
    Tensor xb, yb;
    const memory dst = e.run.result(y, yb);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.run.in(x, xb)}, {DNNL_ARG_DST, dst},
                                         {DNNL_ARG_SCALE, mem(gamma)},   {DNNL_ARG_SHIFT, mem(beta)},
                                         {DNNL_ARG_MEAN, mem(mean)},     {DNNL_ARG_VARIANCE, mem(var)}};
    Tensor ws;
    if (fuse_relu) {
      ws = tensor_for(e.pd.workspace_desc());
      args.emplace(DNNL_ARG_WORKSPACE, mem(e.pd.workspace_desc(), ws.raw_data()));
    }
    e.prim.execute(s, args);
    e.run.out(dst, y);
    s.wait();
    return {y, mean, var, ws};
  }

  static BatchNormGrads batchnorm_backward(const Tensor& dyin, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                           const Tensor& var, const Tensor& workspace, float eps, bool fuse_relu,
                                           bool global_stats) {
    const Tensor dy = dyin.to_layout(x.layout());
    CacheKey k;
    k.add(num_threads()).add(detail::kBnBwd).add(x.shape()).add(static_cast<int64_t>(x.layout())).add(fuse_relu).add(global_stats);
    k.add(static_cast<int64_t>(eps * 1e9));
    auto& e = PrimitiveCache::get().find_or_make<detail::BnBwdEntry>(k, [&] {
      auto& fwd = detail::bn_fwd_entry(x, eps, fuse_relu, global_stats);
      return guarded("batchnorm2d backward", x.shape(), {}, [&] {
        const memory::desc& md = fwd.run.md;
        auto d = dnnl::batch_normalization_backward::desc(dnnl::prop_kind::backward, md, md, eps,
                                                           detail::bn_flags(fuse_relu, global_stats));
        dnnl::batch_normalization_backward::primitive_desc pd(d, Context::get().engine(), fwd.pd);
        // Where no blocked kernel replaced it (BnRunLayout), oneDNN 2.6's generic nhwc kernel is
        // ~4x slower on two threads than on one (21 vs ~5 ms per call in a ResNet-20 x0.46 at batch 128).
        const bool serial = detail::generic_nhwc_bn(pd.impl_info_str());
        if (!serial) return detail::BnBwdEntry{pd, dnnl::batch_normalization_backward(pd), false, fwd.run};
        ThreadScope one(1);
        dnnl::batch_normalization_backward::primitive_desc pd1(d, Context::get().engine(), fwd.pd);
        return detail::BnBwdEntry{pd1, dnnl::batch_normalization_backward(pd1), true, fwd.run};
      });
    });
    ThreadScope threads(e.serial ? 1 : omp_get_max_threads());
    const int64_t C = x.dim(1);
    BatchNormGrads r{Tensor::empty(x.shape(), x.layout()), Tensor::empty({C}), Tensor::empty({C})};
    check_shapes(!fuse_relu || workspace.defined(), "batchnorm2d backward",
                 "a fused ReLU needs the forward's workspace", x.shape());
    auto& s = Context::get().stream();
    const detail::BnRunLayout& run = e.run;
    Tensor xb, dyb, dxb;
    const memory dx = run.result(r.dx, dxb);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, run.in(x, xb)},    {DNNL_ARG_DIFF_DST, run.in(dy, dyb)}, {DNNL_ARG_MEAN, mem(mean)},
        {DNNL_ARG_VARIANCE, mem(var)},    {DNNL_ARG_SCALE, mem(gamma)},         {DNNL_ARG_DIFF_SRC, dx},
        {DNNL_ARG_SHIFT, mem(gamma)},  // oneDNN 2.6 checks its presence when use_shift is set; backward never reads it
        {DNNL_ARG_DIFF_SCALE, mem(r.dgamma)}, {DNNL_ARG_DIFF_SHIFT, mem(r.dbeta)}};
    if (fuse_relu) args.emplace(DNNL_ARG_WORKSPACE, mem(e.pd.workspace_desc(), workspace.raw_data()));
    e.prim.execute(s, args);
    run.out(dx, r.dx);
    s.wait();
    return r;
  }

  static Tensor activation_forward(const Tensor& x, Activation a) {
    ThreadScope threads(threads_for(x.numel()));
    auto& e = detail::elt_entry(x, a);
    Tensor y = Tensor::empty(x.shape(), x.layout());
    execute(e.prim, {{DNNL_ARG_SRC, &e.args.bind(DNNL_ARG_SRC, x)}, {DNNL_ARG_DST, &e.args.bind(DNNL_ARG_DST, y)}});
    if (runtime::KernelTrace::on())
      detail::trace(runtime::KernelKind::eltwise, layer_kind_of(a), x.shape(), x.layout(), x.shape(),
                    x.layout(), x.numel());
    return y;
  }

  static Tensor activation_backward(const Tensor& dyin, const Tensor& x, Activation a) {
    const Tensor dy = dyin.to_layout(x.layout());
    ThreadScope threads(threads_for(x.numel()));
    CacheKey k;
    k.add(num_threads()).add(detail::kEltBwd).add(x.shape()).add(static_cast<int64_t>(x.layout())).add(static_cast<int64_t>(a));
    auto& e = PrimitiveCache::get().find_or_make<detail::EltBwdEntry>(k, [&] {
      auto& fwd = detail::elt_entry(x, a);
      return guarded(std::string(activation_name(a)) + " backward", x.shape(), {}, [&] {
        auto d = dnnl::eltwise_backward::desc(detail::elt_alg(a), md_of(x), md_of(x), 0.f, detail::elt_beta(a));
        dnnl::eltwise_backward::primitive_desc pd(d, Context::get().engine(), fwd.pd);
        return detail::EltBwdEntry{pd, dnnl::eltwise_backward(pd)};
      });
    });
    Tensor dx = Tensor::empty(x.shape(), x.layout());
    auto& s = Context::get().stream();
    e.prim.execute(s, {{DNNL_ARG_SRC, mem(x)}, {DNNL_ARG_DIFF_DST, mem(dy)}, {DNNL_ARG_DIFF_SRC, mem(dx)}});
    s.wait();
    return dx;
  }

  static PoolForward pool2d_forward(const Tensor& x, const Pool2dParams& p, bool training) {
    const Shape ys = pool2d_out_shape(x.shape(), p);
    ThreadScope threads(threads_for(x.numel()));
    auto& e = detail::pool_entry(x.shape(), x.layout(), p, training);
    PoolForward r{Tensor::empty(ys, x.layout()), Tensor()};
    const memory* ws = nullptr;
    if (training && p.kind == PoolKind::max) {
      r.workspace = detail::pool_workspace_tensor(e.pd.workspace_desc());
      ws = &e.args.bind(DNNL_ARG_WORKSPACE, e.pd.workspace_desc(), r.workspace.raw_data());
    }
    execute(e.prim, {{DNNL_ARG_SRC, &e.args.bind(DNNL_ARG_SRC, x)},
                     {DNNL_ARG_DST, &e.args.bind(DNNL_ARG_DST, r.y)},
                     {DNNL_ARG_WORKSPACE, ws}});
    if (runtime::KernelTrace::on()) {
      runtime::Kernel k;
      k.kernel = p.kernel_h, k.stride = p.stride_h;
      detail::trace(runtime::KernelKind::pool, p.kind == PoolKind::max ? LayerKind::max_pool2d : LayerKind::avg_pool2d,
                    x.shape(), x.layout(), ys, x.layout(), x.numel(), k);
    }
    return r;
  }

  /// xl: the layout the forward's input had (the workspace is laid out to match it).
  static Tensor pool2d_backward(const Tensor& dyin, const Shape& xs, Layout xl, const Tensor& workspace,
                                const Pool2dParams& p) {
    const Tensor dy = dyin.to_layout(xl);
    ThreadScope threads(threads_for(numel_of(xs)));
    CacheKey k;
    k.add(num_threads()).add(detail::kPoolBwd).add(xs).add(static_cast<int64_t>(xl)).add(static_cast<int64_t>(p.kind)).add(p.kernel_h);
    k.add(p.kernel_w).add(p.stride_h).add(p.stride_w).add(p.pad_h).add(p.pad_w);
    auto& fwd = detail::pool_entry(xs, xl, p, true);
    auto& e = PrimitiveCache::get().find_or_make<detail::PoolBwdEntry>(k, [&] {
      return guarded("pool2d backward", xs, {p.kernel_h, p.kernel_w}, [&] {
        const Shape ys = pool2d_out_shape(xs, p);
        auto d = dnnl::pooling_backward::desc(
            detail::pool_alg(p), md_of(xs, xl), md_of(ys, xl), {p.stride_h, p.stride_w}, {p.kernel_h, p.kernel_w},
            {p.pad_h, p.pad_w},
            {(ys[2] - 1) * p.stride_h + p.kernel_h - xs[2] - p.pad_h, (ys[3] - 1) * p.stride_w + p.kernel_w - xs[3] - p.pad_w});
        dnnl::pooling_backward::primitive_desc pd(d, Context::get().engine(), fwd.pd);
        return detail::PoolBwdEntry{pd, dnnl::pooling_backward(pd)};
      });
    });
    Tensor dx = Tensor::empty(xs, xl);
    auto& s = Context::get().stream();
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, mem(dy)}, {DNNL_ARG_DIFF_SRC, mem(dx)}};
    if (p.kind == PoolKind::max) args.emplace(DNNL_ARG_WORKSPACE, mem(e.pd.workspace_desc(), workspace.raw_data()));
    e.prim.execute(s, args);
    s.wait();
    return dx;
  }

  static Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias) {
    check_shapes(x.rank() == 2 && w.rank() == 2 && x.dim(1) == w.dim(1), "linear", "input must be [N,I] and weight [O,I]",
                 x.shape(), w.shape());
    const int64_t N = x.dim(0), I = x.dim(1), O = w.dim(0);
    ThreadScope threads(threads_for(N * I * O));
    // y[N,O] = x[N,I] · wᵀ, wᵀ read through strides {1, I}.
    auto& e = detail::matmul_entry(0, N, I, O, {I, 1}, {1, I}, bias != nullptr);
    Tensor y = Tensor::empty({N, O});
    const memory* b =
        bias ? &e.args.bind_with(DNNL_ARG_BIAS, bias->data(), [&] { return memory::desc({1, O}, dt::f32, tag::ab); })
             : nullptr;
    execute(e.prim, {{DNNL_ARG_SRC, &e.args.bind_with(DNNL_ARG_SRC, x.data(), [&] { return e.pd.src_desc(); })},
                     {DNNL_ARG_WEIGHTS, &e.args.bind_with(DNNL_ARG_WEIGHTS, w.data(), [&] { return e.pd.weights_desc(); })},
                     {DNNL_ARG_BIAS, b},
                     {DNNL_ARG_DST, &e.args.bind_with(DNNL_ARG_DST, y.data(), [&] { return e.pd.dst_desc(); })}});
    if (runtime::KernelTrace::on())
      detail::trace(runtime::KernelKind::linear, LayerKind::linear, x.shape(), Layout::plain, y.shape(), Layout::plain,
                    N * I * O);
    return y;
  }

  static LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool bias) {
    const int64_t N = x.dim(0), I = x.dim(1), O = w.dim(0);
    ThreadScope threads(threads_for(N * I * O));
    LinearGrads r{Tensor::empty({N, I}), Tensor::empty({O, I}), bias ? Tensor::zeros({O}) : Tensor()};
    auto& s = Context::get().stream();
    auto& ed = detail::matmul_entry(1, N, O, I, {O, 1}, {I, 1}, false);  // dx = dy · w
    ed.prim.execute(s, {{DNNL_ARG_SRC, mem(ed.pd.src_desc(), dy.data())},
                        {DNNL_ARG_WEIGHTS, mem(ed.pd.weights_desc(), w.data())},
                        {DNNL_ARG_DST, mem(ed.pd.dst_desc(), r.dx.data())}});
    auto& ew = detail::matmul_entry(2, O, N, I, {1, O}, {I, 1}, false);  // dw = dyᵀ · x
    ew.prim.execute(s, {{DNNL_ARG_SRC, mem(ew.pd.src_desc(), dy.data())},
                        {DNNL_ARG_WEIGHTS, mem(ew.pd.weights_desc(), x.data())},
                        {DNNL_ARG_DST, mem(ew.pd.dst_desc(), r.dw.data())}});
    s.wait();
    if (bias)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o) r.db.data()[o] += dy.data()[n * O + o];
    return r;
  }

 private:
  /// Runs the forward conv into `y` (already in the destination layout); `sum` accumulates into it.
  static void run_conv_forward(const Tensor& xin, const Tensor& win, const Tensor* bias, const Conv2dParams& p,
                               Tensor& y, bool sum) {
    const Tensor w = win.to_plain();
    const Tensor x = xin.to_layout(conv_layouts(xin.dim(1), w.dim(0)).src);
    ThreadScope threads(threads_for(detail::conv_work(x.shape(), w.shape(), p)));
    auto& e = detail::conv_fwd_entry(x.shape(), x.layout(), w.shape(), bias != nullptr, p, sum);
    const memory wm = weights_as(w, e.w_plain, e.pd.weights_desc());
    execute(e.prim, {{DNNL_ARG_SRC, &e.args.bind(DNNL_ARG_SRC, x)},
                     {DNNL_ARG_WEIGHTS, &wm},
                     {DNNL_ARG_BIAS, bias ? &e.args.bind(DNNL_ARG_BIAS, *bias) : nullptr},
                     {DNNL_ARG_DST, &e.args.bind(DNNL_ARG_DST, y)}});
    if (runtime::KernelTrace::on()) {
      runtime::Kernel k;
      k.kernel = w.dim(2), k.stride = p.stride_h, k.groups = p.groups, k.post_relu = p.post_relu;
      detail::trace(sum ? runtime::KernelKind::conv_add : runtime::KernelKind::conv, LayerKind::conv2d, x.shape(),
                    x.layout(), y.shape(), y.layout(), detail::conv_work(x.shape(), w.shape(), p), k);
    }
  }

  /// Refuses parameters other than [C] vectors (which are always plain), so none is misread.
  static void check_bn(const Tensor& x, const Tensor& gamma) {
    check_shapes(x.rank() == 4 && gamma.shape() == Shape{x.dim(1)}, "batchnorm2d",
                 "input [N,C,H,W] needs a [C] scale", x.shape(), gamma.shape());
  }
};

}  // namespace hwaware::onednn
