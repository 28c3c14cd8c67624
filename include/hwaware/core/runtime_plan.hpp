#pragma once
// The inference runtime's plan: the rules the oneDNN backend follows when it runs a network
// (the thread count an op gets, the layouts a convolution runs in) and plan_kernels, the list of
// kernels a network's folded inference forward executes under those rules. The backend calls these
// same functions, so a latency model that reads the plan sees the decisions the device makes;
// tests/test_runtime_plan.cpp checks the plan against a trace of the kernels that ran
// (core/kernel_trace.hpp). Standard library and core only.
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "hwaware/core/channel_padding.hpp"
#include "hwaware/core/layer_desc.hpp"
#include "hwaware/core/layout.hpp"

namespace hwaware::runtime {

/// Ops with less work than this (in MACs, or elements for element-wise ops) run on one thread:
/// splitting an op across cores costs an OpenMP fork/join of a few µs, which small ops do not win
/// back (the measurements behind 4 M MACs are in docs/decisions.md).
inline constexpr int64_t kDefaultSerialWork = 1 << 22;

/// Inputs with at most this many channels feeding a wide conv stay plain (oneDNN's first-layer
/// kernels read nchw). oneDNN 2.6 has JIT backward-weights kernels for that only up to 3 input
/// channels; above, its reference code is 100× slower (docs/decisions.md).
inline constexpr int64_t kPlainMaxChannels = 3;

/// The shared element-wise loops (backend/common.hpp: add, accumulate) go parallel above this
/// many stored elements (an OpenMP `if` clause, not the MAC threshold above).
inline constexpr int64_t kElementwiseParallelElems = 65536;

/// The thread count an op of `work` runs on: 1 below `serial_work`, else `threads`.
constexpr int threads_for(int64_t work, int threads, int64_t serial_work) {
  return work < serial_work ? 1 : threads;
}

/// The thread count of a shared element-wise loop over `stored_elems` floats.
constexpr int elementwise_threads(int64_t stored_elems, int threads) {
  return stored_elems > kElementwiseParallelElems ? threads : 1;
}

struct ConvLayouts {
  Layout src, dst;
};

/// The source and destination layouts a convolution runs in, from its channel counts: nChw16c
/// when both sides have a full block, a plain source for a first layer of ≤ kPlainMaxChannels,
/// else nhwc on both sides (oneDNN 2.6 falls back to reference kernels for convolutions with fewer
/// than 16 channels in nChw16c or mixed layouts; measured with DNNL_VERBOSE). Without `blocked`
/// (a host below AVX-512, where oneDNN 2.6 has no nChw16c JIT kernel at all: its reference code
/// ran resnet-8 ~1200× slower than nhwc on AVX2) every convolution runs nhwc.
constexpr ConvLayouts conv_layouts(int64_t in_channels, int64_t out_channels, bool blocked) {
  if (!blocked) return {Layout::nhwc, Layout::nhwc};
  if (out_channels >= kChannelBlock && in_channels <= kPlainMaxChannels) return {Layout::plain, Layout::blocked16};
  if (out_channels >= kChannelBlock && in_channels >= kChannelBlock) return {Layout::blocked16, Layout::blocked16};
  return {Layout::nhwc, Layout::nhwc};
}

/// MACs of a convolution over a batch (the work threads_for reads).
constexpr int64_t conv_work(int64_t batch, int64_t out_c, int64_t out_h, int64_t out_w, int64_t in_c_per_group,
                            int64_t kernel_h, int64_t kernel_w) {
  return batch * out_c * out_h * out_w * in_c_per_group * kernel_h * kernel_w;
}

/// Floats a [batch, c, h, w] tensor stores in `layout` (blocked16 pads c to the block).
constexpr int64_t stored_elems(int64_t batch, int64_t c, int64_t h, int64_t w, Layout layout) {
  return batch * (layout == Layout::blocked16 ? padded_channels(c) : c) * h * w;
}

/// What the runtime runs: the folded kernels of inference and the layout conversions between them.
enum class KernelKind : uint8_t {
  conv,         // conv with BN folded in, optionally a ReLU post-op
  conv_add,     // a residual block's tail: conv + BN folded + residual sum (+ ReLU) in one primitive
  batchnorm,    // a BN that no conv precedes (inference statistics), optionally with a fused ReLU
  eltwise,      // an activation on its own (op: relu, relu6, sigmoid)
  pool,         // max or average pooling (op)
  global_pool,  // global average pooling (a plain loop, one thread)
  linear,       // matmul + bias
  add,          // an unfused element-wise add (shared loop)
  reorder,      // a layout conversion (plain loops, one thread)
  copy,         // a same-layout copy (the fused tail's destination starting as the residual)
  other         // a described layer the plan does not model (concat); costed by its description
};

inline std::string_view to_string(KernelKind k) {
  constexpr std::string_view names[] = {"conv", "conv_add", "batchnorm", "eltwise", "pool", "global_pool",
                                        "linear", "add", "reorder", "copy", "other"};
  return names[static_cast<int>(k)];
}
inline constexpr int kKernelKindCount = 11;

/// One kernel execution. Shapes are per image; `batch` the images per call.
struct Kernel {
  KernelKind kind = KernelKind::other;
  LayerKind op = LayerKind::conv2d;  // eltwise: the activation; pool: max or avg; other: the layer's kind
  int64_t batch = 1;
  int64_t in_c = 0, in_h = 1, in_w = 1;
  int64_t out_c = 0, out_h = 1, out_w = 1;
  int64_t kernel = 1, stride = 1, groups = 1;
  Layout src = Layout::plain, dst = Layout::plain;
  bool post_relu = false;  // conv, conv_add: ReLU post-op; batchnorm: fused ReLU
  int threads = 1;
  int64_t work = 0;        // what the thread rule read: MACs (conv, linear) or elements
  int layer = -1;          // plan only: the index of the described layer it runs (the conv's, for fused ones)

  /// The same execution (everything but `layer`).
  bool same_execution(const Kernel& o) const {
    return kind == o.kind && op == o.op && batch == o.batch && in_c == o.in_c && in_h == o.in_h && in_w == o.in_w &&
           out_c == o.out_c && out_h == o.out_h && out_w == o.out_w && kernel == o.kernel && stride == o.stride &&
           groups == o.groups && src == o.src && dst == o.dst && post_relu == o.post_relu && threads == o.threads &&
           work == o.work;
  }
  /// One line: kind, shapes, layouts, threads (test messages, tools).
  std::string str() const {
    auto s = std::string(to_string(kind)) + " " + std::to_string(batch) + "x" + std::to_string(in_c) + "x" +
             std::to_string(in_h) + "x" + std::to_string(in_w) + " -> " + std::to_string(out_c) + "x" +
             std::to_string(out_h) + "x" + std::to_string(out_w) + " k" + std::to_string(kernel) + " s" +
             std::to_string(stride) + " g" + std::to_string(groups) + " " + layout_name(src) + "->" +
             layout_name(dst) + (post_relu ? " +relu" : "") + " t" + std::to_string(threads) + " work " +
             std::to_string(work);
    return layer < 0 ? s : s + " [layer " + std::to_string(layer) + "]";
  }
};

using KernelPlan = std::vector<Kernel>;

/// What the plan depends on besides the network: the thread count, the batch, the serial-work
/// threshold the runtime runs with, and whether its convolutions may run nChw16c (conv_layouts).
struct RuntimeConfig {
  int threads = 2;
  int64_t batch = 1;
  int64_t serial_work = kDefaultSerialWork;
  bool blocked = true;
};

/// The kernels a network's folded inference forward executes (eval mode, no gradients, on a plain
/// input), in execution order. Residual blocks are recognised by the names nn::BasicBlock and
/// nn::MBConv give their layers: `<block>.body.*`, `<block>.shortcut.*`, `<block>.add`, then
/// optionally `<block>.relu`; an `add` outside such a block runs unfused.
KernelPlan plan_kernels(const NetDesc& net, const RuntimeConfig& config = {});

/// The same kernels passed one at a time to `sink(const Kernel&)`, allocating nothing per kernel
/// (the per-kernel latency model's batched path).
template <class Sink>
void for_each_planned_kernel(const NetDesc& net, const RuntimeConfig& config, Sink&& sink);

// ---- implementation ----------------------------------------------------------------------------

namespace detail {

/// Walks a description, tracking the layout of the current activation, and passes each kernel to
/// the sink.
template <class Sink>
class Planner {
 public:
  Planner(const NetDesc& net, const RuntimeConfig& c, Sink& sink) : net_(net), c_(c), sink_(sink) {}

  void run() {
    for (size_t i = 0; i < net_.size();) {
      const size_t end = residual_end(i);
      i = end ? block(i, end) : unit(i, cur_);
    }
  }

 private:
  /// When a residual block starts at layer i: one past its last layer (the add, or the ReLU after
  /// it); else 0.
  size_t residual_end(size_t i) {
    while (next_add_ < net_.size() && (next_add_ < i || net_[next_add_].kind != LayerKind::add)) ++next_add_;
    if (next_add_ >= net_.size()) return 0;
    const size_t a = next_add_;  // the first add at or after i
    const std::string_view p = block_prefix(a);
    if (p.empty() || !in(i, p)) return 0;
    if (i > 0 && in(i - 1, p)) return 0;  // not the block's first layer
    const bool relu = a + 1 < net_.size() && net_[a + 1].kind == LayerKind::relu && in(a + 1, p, "relu") &&
                      net_[a + 1].name.size() == p.size() + 4;
    return relu ? a + 2 : a + 1;
  }
  /// "<block>." of the add at index a ("" for a top-level add).
  std::string_view block_prefix(size_t a) const {
    const std::string_view n = net_[a].name;
    return n.size() > 4 && n.ends_with(".add") ? n.substr(0, n.size() - 3) : std::string_view();
  }
  /// True when layer i's name is `prefix` followed by `then`.
  bool in(size_t i, std::string_view prefix, std::string_view then = {}) const {
    const std::string_view n = net_[i].name;
    return n.starts_with(prefix) && n.substr(prefix.size()).starts_with(then);
  }
  /// A conv described with a BN right after it (nn::ConvBn): one folded kernel.
  bool conv_bn_at(size_t i) const {
    return net_[i].kind == LayerKind::conv2d && i + 1 < net_.size() && net_[i + 1].kind == LayerKind::batchnorm2d;
  }

  size_t block(size_t begin, size_t end);
  size_t unit(size_t i, Layout& cur);
  void conv(const LayerDesc& d, bool relu, Layout& cur, bool residual, Layout residual_layout);
  void reorder(const LayerDesc& shape_of, bool out_side, Layout from, Layout to, bool copy = false);
  Kernel base(KernelKind kind, const LayerDesc& d) const;

  const NetDesc& net_;
  RuntimeConfig c_;
  Sink& sink_;
  Layout cur_ = Layout::plain;
  size_t next_add_ = 0;  // the walk only moves forward, so the search for the next add does too
};

template <class Sink>
Kernel Planner<Sink>::base(KernelKind kind, const LayerDesc& d) const {
  Kernel k;
  k.kind = kind, k.op = d.kind, k.batch = c_.batch, k.layer = int(&d - net_.data());
  k.in_c = d.in_c, k.in_h = d.in_h, k.in_w = d.in_w, k.out_c = d.out_c, k.out_h = d.out_h, k.out_w = d.out_w;
  return k;
}

/// A conversion of the layer's input (out_side false) or output tensor from one layout to another.
template <class Sink>
void Planner<Sink>::reorder(const LayerDesc& d, bool out_side, Layout from, Layout to, bool copy) {
  Kernel k = base(copy ? KernelKind::copy : KernelKind::reorder, d);
  k.op = LayerKind::flatten;
  if (out_side) k.in_c = d.out_c, k.in_h = d.out_h, k.in_w = d.out_w;
  k.out_c = k.in_c, k.out_h = k.in_h, k.out_w = k.in_w;
  k.src = from, k.dst = to;
  k.work = stored_elems(k.batch, k.in_c, k.in_h, k.in_w, from);
  sink_(k);
}

/// The conv (BN folded, `relu` as a post-op), after converting its input; with `residual`, the
/// destination first starts as the residual (reordered, or copied when already in place).
template <class Sink>
void Planner<Sink>::conv(const LayerDesc& d, bool relu, Layout& cur, bool residual, Layout residual_layout) {
  const ConvLayouts l = conv_layouts(d.in_c, d.out_c, c_.blocked);
  if (residual) reorder(d, true, residual_layout, l.dst, residual_layout == l.dst);
  if (cur != l.src) reorder(d, false, cur, l.src);
  Kernel k = base(residual ? KernelKind::conv_add : KernelKind::conv, d);
  k.kernel = d.kernel, k.stride = d.stride, k.groups = d.groups;
  k.src = l.src, k.dst = l.dst, k.post_relu = relu;
  k.work = conv_work(c_.batch, d.out_c, d.out_h, d.out_w, d.in_c / std::max<int64_t>(1, d.groups), d.kernel, d.kernel);
  k.threads = threads_for(k.work, c_.threads, c_.serial_work);
  sink_(k);
  cur = l.dst;
}

/// One layer (a conv with its BN counts as one); returns the index after it.
template <class Sink>
size_t Planner<Sink>::unit(size_t i, Layout& cur) {
  const LayerDesc& d = net_[i];
  if (conv_bn_at(i) || d.kind == LayerKind::conv2d) {
    conv(d, conv_bn_at(i) && net_[i + 1].fused_relu, cur, false, cur);
    return conv_bn_at(i) ? i + 2 : i + 1;
  }
  Kernel k = base(KernelKind::other, d);
  k.src = k.dst = cur;
  const int64_t in_elems = c_.batch * d.in_c * d.in_h * d.in_w;
  switch (d.kind) {
    case LayerKind::batchnorm2d:  // no thread rule: runs on the configured count
      k.kind = KernelKind::batchnorm, k.post_relu = d.fused_relu, k.threads = c_.threads, k.work = in_elems;
      break;
    case LayerKind::relu:
    case LayerKind::relu6:
    case LayerKind::sigmoid:
      k.kind = KernelKind::eltwise, k.work = in_elems, k.threads = threads_for(in_elems, c_.threads, c_.serial_work);
      break;
    case LayerKind::max_pool2d:
    case LayerKind::avg_pool2d:
      k.kind = KernelKind::pool, k.kernel = d.kernel, k.stride = d.stride, k.work = in_elems;
      k.threads = threads_for(in_elems, c_.threads, c_.serial_work);
      break;
    case LayerKind::global_avg_pool:
      k.kind = KernelKind::global_pool, k.dst = Layout::plain, k.work = in_elems;
      break;
    case LayerKind::linear:
      if (cur != Layout::plain && i > 0) reorder(net_[i - 1], true, cur, Layout::plain);  // flatten's to_plain
      k.kind = KernelKind::linear, k.src = k.dst = Layout::plain, k.work = c_.batch * d.in_c * d.out_c;
      k.threads = threads_for(k.work, c_.threads, c_.serial_work);
      break;
    case LayerKind::add:  // both operands are the current activation (a probe's x + x)
      k.kind = KernelKind::add, k.work = stored_elems(c_.batch, d.in_c, d.in_h, d.in_w, cur);
      k.threads = elementwise_threads(k.work, c_.threads);
      break;
    default: k.work = in_elems;
  }
  sink_(k);
  cur = k.dst;
  return i + 1;
}

/// A residual block [begin, end): the shortcut first, then the body; the body's last conv+BN adds
/// the residual in its primitive (+ the ReLU after the add) when its BN has no ReLU of its own.
template <class Sink>
size_t Planner<Sink>::block(size_t begin, size_t end) {
  const bool relu_after = net_[end - 1].kind == LayerKind::relu;
  const size_t add = relu_after ? end - 2 : end - 1;
  const std::string_view p = block_prefix(add);
  const Layout input = cur_;
  Layout residual = input;
  for (size_t i = begin; i < add;) i = in(i, p, "shortcut.") ? unit(i, residual) : i + 1;
  size_t tail = add;
  for (size_t i = begin; i < add; ++i)
    if (in(i, p, "body.") && conv_bn_at(i)) tail = i;
  const bool fused = tail < add && !net_[tail + 1].fused_relu;
  Layout cur = input;
  for (size_t i = begin; i < add;) {
    if (!in(i, p, "body.")) {
      ++i;
    } else if (fused && i == tail) {
      conv(net_[i], relu_after, cur, true, residual);
      i += 2;
    } else {
      i = unit(i, cur);
    }
  }
  if (!fused) {  // add(body, shortcut): the shortcut converted to the body's layout, then the ReLU
    if (residual != cur) reorder(net_[add], false, residual, cur);
    cur_ = cur;
    for (size_t i = add; i < end; ++i) unit(i, cur_);
    return end;
  }
  cur_ = cur;
  return end;
}

}  // namespace detail

template <class Sink>
void for_each_planned_kernel(const NetDesc& net, const RuntimeConfig& config, Sink&& sink) {
  detail::Planner<std::remove_reference_t<Sink>>(net, config, sink).run();
}

inline KernelPlan plan_kernels(const NetDesc& net, const RuntimeConfig& config) {
  KernelPlan plan;
  for_each_planned_kernel(net, config, [&](const Kernel& k) { plan.push_back(k); });
  return plan;
}

}  // namespace hwaware::runtime
