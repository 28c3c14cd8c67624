#pragma once
// Per-kernel features of the per-kernel latency model: one vector per kernel of the runtime plan
// (core/runtime_plan.hpp), so the model sees what the device decides and a per-layer model cannot —
// BN folded into the conv, a residual block's add and ReLU fused into its last conv, the layout a
// conv runs in (and the channel padding only nChw16c pays), the reorders between layouts, and the
// thread count each kernel gets from the serial-work rule.
//
// Features (kKernelFeatureCount = 37), in this order:
//   [0, 13)  log1p of: in_h·in_w, in_c, out_c, in_c stored, out_c stored (padded to the vector
//            block only in nChw16c), out_h·out_w, kernel, MACs (conv and linear; 0 for others),
//            weights (conv: O·I/g·k² + O, the folded bias; linear: O·I + O; batchnorm: 4·C),
//            bytes moved = 4·(stored source + stored destination + weights, + the destination
//            again for conv_add, which reads the residual there), work per thread, batch, and
//            the whole network's parameters (the context: a kernel of a network whose weights
//            outgrow the caches runs slower than the same kernel measured alone)
//   13, 14   stored/actual − 1 of in_c and out_c (the padding waste)
//   15       stride
//   16       threads
//   17       ReLU post-op (conv, conv_add) or fused ReLU (batchnorm)
//   18, 19   depthwise conv (groups == in_c > 1), grouped conv (1 < groups < in_c)
//   [20, 31) one-hot kernel kind (runtime::KernelKind, `other` included)
//   [31, 34) one-hot source layout (plain, nChw16c, nhwc); [34, 37) destination layout
#include <Eigen/Dense>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hwaware/core/channel_padding.hpp"
#include "hwaware/core/runtime_plan.hpp"
#include "hwaware/hw/fingerprint.hpp"

namespace hwaware::hw {

inline constexpr int kKernelFeatureCount = 37;
inline constexpr int kKernelLogFeatureCount = 13;  // features [0, 13) are log1p of a raw quantity

namespace kernel_feature {
enum : int {
  in_hw, in_c, out_c, in_c_stored, out_c_stored, out_hw, kernel, macs, weights, bytes, work_per_thread, batch,
  net_params, in_c_waste, out_c_waste, stride, threads, relu, depthwise, grouped, kind, src_layout = kind + runtime::kKernelKindCount,
  dst_layout = src_layout + 3
};
}  // namespace kernel_feature
static_assert(kernel_feature::dst_layout + 3 == kKernelFeatureCount);
static_assert(kernel_feature::net_params + 1 == kKernelLogFeatureCount);
inline constexpr int kKernelDenseFeatureCount = kernel_feature::relu;  // then the 0/1 features

/// Names of the features in order (the predictor file stores and checks them).
inline const std::array<std::string_view, kKernelFeatureCount>& kernel_feature_names() {
  static const std::array<std::string_view, kKernelFeatureCount> names = {
      "log1p_in_hw", "log1p_in_c", "log1p_out_c", "log1p_in_c_stored", "log1p_out_c_stored", "log1p_out_hw",
      "log1p_kernel", "log1p_macs", "log1p_weights", "log1p_bytes", "log1p_work_per_thread", "log1p_batch",
      "log1p_net_params",
      "in_c_waste", "out_c_waste", "stride", "threads", "relu", "is_depthwise", "is_grouped",
      "is_conv", "is_conv_add", "is_batchnorm", "is_eltwise", "is_pool", "is_global_pool", "is_linear", "is_add",
      "is_reorder", "is_copy", "is_other",
      "src_plain", "src_nChw16c", "src_nhwc", "dst_plain", "dst_nChw16c", "dst_nhwc"};
  return names;
}

/// Weights a kernel reads (fp32 values).
inline int64_t kernel_weights(const runtime::Kernel& k) {
  using runtime::KernelKind;
  if (k.kind == KernelKind::conv || k.kind == KernelKind::conv_add)
    return k.out_c * (k.in_c / std::max<int64_t>(1, k.groups)) * k.kernel * k.kernel + k.out_c;
  if (k.kind == KernelKind::linear) return k.out_c * k.in_c + k.out_c;
  if (k.kind == KernelKind::batchnorm) return 4 * k.in_c;
  return 0;
}

/// The network context of its kernels' features: its parameters (weights and biases of every layer).
inline double network_params(const NetDesc& net) {
  int64_t p = 0;
  for (const auto& l : net) p += l.params;
  return double(p);
}

/// Writes a kernel's dense features [0, kKernelDenseFeatureCount) with [0, kKernelLogFeatureCount)
/// left raw (the batched predictor applies one vectorised log1p, and folds the 0/1 features into
/// a per-category bias: kernel_category), at out[i·stride]. `block`: the vector block nChw16c pads
/// to; `net_params`: network_params of the network the kernel belongs to.
template <class T>
inline void write_raw_kernel_dense(const runtime::Kernel& k, int block, double net_params, T* out,
                                   std::ptrdiff_t stride = 1) {
  using runtime::KernelKind;
  namespace f = kernel_feature;
  auto put = [&](int i, double v) { out[i * stride] = static_cast<T>(v); };
  auto stored = [&](int64_t c, Layout l) { return double(l == Layout::blocked16 ? padded_channels(c, block) : c); };
  const double ci = double(k.in_c), co = double(k.out_c), si = stored(k.in_c, k.src), so = stored(k.out_c, k.dst);
  const double in_hw = double(k.in_h * k.in_w), out_hw = double(k.out_h * k.out_w), b = double(k.batch);
  const bool conv = k.kind == KernelKind::conv || k.kind == KernelKind::conv_add;
  const double weights = double(kernel_weights(k));
  const double macs = conv || k.kind == KernelKind::linear ? double(k.work) : 0.0;
  const double dst_bytes = b * so * out_hw * (k.kind == KernelKind::conv_add ? 2.0 : 1.0);
  put(f::in_hw, in_hw), put(f::in_c, ci), put(f::out_c, co), put(f::in_c_stored, si), put(f::out_c_stored, so);
  put(f::out_hw, out_hw), put(f::kernel, double(k.kernel)), put(f::macs, macs), put(f::weights, weights);
  put(f::bytes, 4.0 * (b * si * in_hw + dst_bytes + weights));
  put(f::work_per_thread, double(k.work) / double(std::max(1, k.threads))), put(f::batch, b);
  put(f::net_params, net_params);
  put(f::in_c_waste, ci > 0 ? si / ci - 1.0 : 0.0), put(f::out_c_waste, co > 0 ? so / co - 1.0 : 0.0);
  put(f::stride, double(k.stride)), put(f::threads, double(k.threads));
}

/// The category of a kernel's 0/1 features [kKernelDenseFeatureCount, kKernelFeatureCount): its
/// kind, source layout, destination layout, ReLU, depthwise and grouped bits.
inline constexpr int kKernelCategoryCount = runtime::kKernelKindCount * 3 * 3 * 8;
inline int kernel_category(const runtime::Kernel& k) {
  const bool conv = k.kind == runtime::KernelKind::conv || k.kind == runtime::KernelKind::conv_add;
  const int kind = (int(k.kind) * 3 + int(k.src)) * 3 + int(k.dst);
  const int depthwise = conv && k.groups > 1 && k.groups == k.in_c, grouped = conv && k.groups > 1 && k.groups < k.in_c;
  return ((kind * 2 + int(k.post_relu)) * 2 + depthwise) * 2 + grouped;
}

/// The features each category sets to 1 (build_kernel_weights folds them into layer 0).
inline const std::vector<std::vector<int>>& kernel_category_hot() {
  static const std::vector<std::vector<int>> hot = [] {
    namespace f = kernel_feature;
    std::vector<std::vector<int>> h(kKernelCategoryCount);
    for (int c = 0; c < kKernelCategoryCount; ++c) {
      auto& on = h[size_t(c)];
      if (c & 4) on.push_back(f::relu);
      if (c & 2) on.push_back(f::depthwise);
      if (c & 1) on.push_back(f::grouped);
      const int kind = c / 8;  // (kind · 3 + src) · 3 + dst
      on.insert(on.end(), {f::kind + kind / 9, f::src_layout + kind / 3 % 3, f::dst_layout + kind % 3});
    }
    return h;
  }();
  return hot;
}

/// All of a kernel's features, [0, kKernelLogFeatureCount) raw, at out[i·stride].
template <class T>
inline void write_raw_kernel_features(const runtime::Kernel& k, int block, double net_params, T* out,
                                      std::ptrdiff_t stride = 1) {
  write_raw_kernel_dense(k, block, net_params, out, stride);
  for (int i = kKernelDenseFeatureCount; i < kKernelFeatureCount; ++i) out[i * stride] = T(0);
  for (int i : kernel_category_hot()[size_t(kernel_category(k))]) out[i * stride] = T(1);
}

/// The runtime rules a device with this fingerprint ran under: its threads and batch, the
/// serial-work threshold its runtime string names ("serial<N>,..."; the default when absent), and
/// whether its convolutions ran nChw16c (not when the string names "nhwc-convs").
inline runtime::RuntimeConfig runtime_config_of(const Fingerprint& fp) {
  runtime::RuntimeConfig c{fp.threads, fp.batch, runtime::kDefaultSerialWork,
                           fp.runtime.find("nhwc-convs") == std::string::npos};
  const auto at = fp.runtime.find("serial<");
  if (at != std::string::npos) {
    try {
      c.serial_work = std::stoll(fp.runtime.substr(at + 7));
    } catch (const std::exception&) {
    }
  }
  return c;
}

/// The features of every planned kernel of a network: kKernelFeatureCount × kernels, log1p applied.
inline Eigen::MatrixXd network_kernel_features(const NetDesc& net, const runtime::RuntimeConfig& config, int block) {
  std::vector<double> raw;
  const double params = network_params(net);
  runtime::for_each_planned_kernel(net, config, [&](const runtime::Kernel& k) {
    raw.resize(raw.size() + kKernelFeatureCount);
    write_raw_kernel_features(k, block, params, raw.data() + raw.size() - kKernelFeatureCount);
  });
  Eigen::MatrixXd x = Eigen::Map<Eigen::MatrixXd>(raw.data(), kKernelFeatureCount,
                                                  Eigen::Index(raw.size() / kKernelFeatureCount));
  x.topRows(kKernelLogFeatureCount) = x.topRows(kKernelLogFeatureCount).array().log1p().matrix();
  return x;
}

}  // namespace hwaware::hw
