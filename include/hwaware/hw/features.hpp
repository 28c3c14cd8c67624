#pragma once
// Per-layer features of the learned latency models: what a layer's latency on a CPU depends on —
// its type, sizes, channel counts and their padding to the device's vector block (oneDNN's
// nChw16c layout computes a width of 17 as 32), work (MACs), parameters, memory traffic, and
// where it sits in the network. One feature vector per LayerDesc; a network is the list of its
// layers' vectors (the MLP predictor sums per-layer latencies).
//
// Features (kLayerFeatureCount = 25), in this order:
//   [0, 10)  log1p of: in_h·in_w, in_c, out_c, in_c padded, out_c padded (to the vector block),
//            out_h·out_w, kernel, MACs, params, traffic bytes = 4·(in_c·in_h·in_w +
//            out_c·out_h·out_w + params)   (fp32 activations in and out, and the weights)
//   10, 11   padding waste of in_c and out_c: padded/actual − 1
//   12       stride
//   13       relative position in the network: index / layer count
//   14       fused_relu (1 or 0)
//   [15, 25) one-hot layer kind: conv2d dense, conv2d depthwise (groups == in_c > 1), conv2d
//            grouped, linear, batchnorm2d, activation (relu, relu6, sigmoid), pooling (max/avg),
//            global_avg_pool, add, concat. Other types (flatten) have no bit set.
//
// Channels as continuous variables (for width-searching methods): layer_features_at() evaluates
// the features at real-valued channel counts (ci, co) around a description, and
// layer_feature_jacobian() gives ∂features/∂ci and ∂features/∂co. The continuous extension:
//   - MACs and params scale as powers of the counts they depend on: MACs ∝ ci·co for dense and
//     grouped convs and linear layers, ∝ co for depthwise convs (ci/groups stays 1), ∝ ci for
//     channel-preserving layers (batchnorm, activations, pools, add, concat); params likewise;
//   - the padded count is treated as a smooth function with the derivative of the unrounded
//     value: padded(c) = c + (pad(n) − n), n the description's integer count, so ∂padded/∂c = 1
//     (the staircase's true derivative, 0 almost everywhere, would hide the cost of width from a
//     searcher); the waste feature follows: ∂(padded/c − 1)/∂c = −(pad(n) − n)/c².
// At the description's own counts the extension equals layer_features() exactly.
#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "hwaware/core/channel_padding.hpp"
#include "hwaware/hw/samples.hpp"

namespace hwaware::hw {

/// The layer classes the feature vector tells apart (one-hot). `other` sets no bit.
enum class FeatureKind : uint8_t {
  conv_dense,
  conv_depthwise,
  conv_grouped,
  linear,
  batchnorm,
  activation,
  pool,
  global_pool,
  add,
  concat,
  other
};
inline constexpr int kFeatureKindCount = 10;  // one-hot width (`other` excluded)

inline constexpr int kLayerFeatureCount = 25;
inline constexpr int kLogFeatureCount = 10;  // features [0, 10) are log1p of a raw quantity
inline constexpr int kOneHotBegin = 15;

/// Indices of the features (see the header comment).
namespace feature {
enum : int {
  in_hw,
  in_c,
  out_c,
  in_c_padded,
  out_c_padded,
  out_hw,
  kernel,
  macs,
  params,
  traffic_bytes,
  in_c_waste,
  out_c_waste,
  stride,
  position,
  fused_relu,
  one_hot
};
}  // namespace feature
static_assert(feature::one_hot == kOneHotBegin && kOneHotBegin + kFeatureKindCount == kLayerFeatureCount);

/// Names of the features in order (used in the predictor file format).
inline const std::array<std::string_view, kLayerFeatureCount>& layer_feature_names() {
  static const std::array<std::string_view, kLayerFeatureCount> names = {
      "log1p_in_hw",    "log1p_in_c",      "log1p_out_c",    "log1p_in_c_padded", "log1p_out_c_padded",
      "log1p_out_hw",   "log1p_kernel",    "log1p_macs",     "log1p_params",      "log1p_traffic_bytes",
      "in_c_waste",     "out_c_waste",     "stride",         "position",          "fused_relu",
      "is_conv_dense",  "is_conv_depthwise", "is_conv_grouped", "is_linear",       "is_batchnorm",
      "is_activation",  "is_pool",         "is_global_pool", "is_add",            "is_concat"};
  return names;
}

/// Classifies a description by its kind (and groups, for convolutions).
inline FeatureKind feature_kind(const LayerDesc& d) {
  switch (d.kind) {
    case LayerKind::conv2d:
      if (d.groups <= 1) return FeatureKind::conv_dense;
      return d.groups == d.in_c ? FeatureKind::conv_depthwise : FeatureKind::conv_grouped;
    case LayerKind::batchnorm2d: return FeatureKind::batchnorm;
    case LayerKind::relu:
    case LayerKind::relu6:
    case LayerKind::sigmoid: return FeatureKind::activation;
    case LayerKind::linear: return FeatureKind::linear;
    case LayerKind::max_pool2d:
    case LayerKind::avg_pool2d: return FeatureKind::pool;
    case LayerKind::global_avg_pool: return FeatureKind::global_pool;
    case LayerKind::add: return FeatureKind::add;
    case LayerKind::concat: return FeatureKind::concat;
    case LayerKind::flatten: return FeatureKind::other;
  }
  return FeatureKind::other;
}

inline bool is_conv(FeatureKind k) {
  return k == FeatureKind::conv_dense || k == FeatureKind::conv_depthwise || k == FeatureKind::conv_grouped;
}

/// Exponents of (ci, co) in the power laws that extend MACs and params to continuous channels.
struct ChannelExponents {
  int in, out;
};
inline ChannelExponents channel_exponents(FeatureKind k) {
  switch (k) {
    case FeatureKind::conv_dense:
    case FeatureKind::conv_grouped:
    case FeatureKind::linear: return {1, 1};
    case FeatureKind::conv_depthwise: return {0, 1};
    default: return {1, 0};
  }
}

/// index / count: 0 for the first layer, approaching 1 for the last.
inline double layer_position(size_t index, size_t count) {
  return count ? double(index) / double(count) : 0.0;
}

/// Writes a layer's dense features [0, feature::fused_relu) with [0, kLogFeatureCount) left as
/// raw quantities (not yet log1p-transformed), at out[i·stride]. The batched predictor writes a
/// block of layers this way, applies one vectorised log1p to it and folds the 0/1 features into a
/// per-category bias (layer_category); layer_features() is the complete version.
template <class T>
inline void write_raw_layer_dense(const LayerDesc& d, double position, int block, T* out, std::ptrdiff_t stride = 1) {
  const double ci = double(d.in_c), co = double(d.out_c);
  const double pi = double(padded_channels(d.in_c, block)), po = double(padded_channels(d.out_c, block));
  const double in_hw = double(d.in_h * d.in_w), out_hw = double(d.out_h * d.out_w);
  auto put = [&](int i, double v) { out[i * stride] = static_cast<T>(v); };
  put(feature::in_hw, in_hw);
  put(feature::in_c, ci);
  put(feature::out_c, co);
  put(feature::in_c_padded, pi);
  put(feature::out_c_padded, po);
  put(feature::out_hw, out_hw);
  put(feature::kernel, double(d.kernel));
  put(feature::macs, double(d.macs));
  put(feature::params, double(d.params));
  put(feature::traffic_bytes, 4.0 * (ci * in_hw + co * out_hw + double(d.params)));
  put(feature::in_c_waste, ci > 0 ? pi / ci - 1.0 : 0.0);
  put(feature::out_c_waste, co > 0 ? po / co - 1.0 : 0.0);
  put(feature::stride, double(d.stride));
  put(feature::position, position);
}
inline constexpr int kLayerDenseFeatureCount = feature::fused_relu;  // then the 0/1 features

/// The category of a layer's 0/1 features: its FeatureKind (`other` sets no one-hot bit) and
/// whether its ReLU is fused.
inline constexpr int kLayerCategoryCount = (kFeatureKindCount + 1) * 2;
inline int layer_category(const LayerDesc& d) { return int(feature_kind(d)) * 2 + int(d.fused_relu); }

/// The features each category sets to 1 (build_kernel_weights folds them into layer 0).
inline const std::vector<std::vector<int>>& layer_category_hot() {
  static const std::vector<std::vector<int>> hot = [] {
    std::vector<std::vector<int>> h(kLayerCategoryCount);
    for (int c = 0; c < kLayerCategoryCount; ++c) {
      if (c & 1) h[size_t(c)].push_back(feature::fused_relu);
      if (c / 2 < kFeatureKindCount) h[size_t(c)].push_back(kOneHotBegin + c / 2);
    }
    return h;
  }();
  return hot;
}

/// All of a layer's features, [0, kLogFeatureCount) raw, at out[i·stride].
template <class T>
inline void write_raw_layer_features(const LayerDesc& d, double position, int block, T* out,
                                     std::ptrdiff_t stride = 1) {
  write_raw_layer_dense(d, position, block, out, stride);
  for (int i = kLayerDenseFeatureCount; i < kLayerFeatureCount; ++i) out[i * stride] = T(0);
  for (int i : layer_category_hot()[size_t(layer_category(d))]) out[i * stride] = T(1);
}

/// The feature vector of one layer (kLayerFeatureCount values at out).
template <class T>
inline void layer_features(const LayerDesc& d, double position, int block, T* out) {
  write_raw_layer_features(d, position, block, out);
  for (int i = 0; i < kLogFeatureCount; ++i) out[i] = static_cast<T>(std::log1p(double(out[i])));
}

namespace detail {

/// Features at continuous channel counts and, when d_in/d_out are given, their derivatives.
inline void continuous_layer_features(const LayerDesc& d, double ci, double co, double position, int block,
                                      double* out, double* d_in, double* d_out) {
  const FeatureKind kind = feature_kind(d);
  const ChannelExponents e = channel_exponents(kind);
  const double ci0 = d.in_c > 0 ? double(d.in_c) : 1.0, co0 = d.out_c > 0 ? double(d.out_c) : 1.0;
  const double scale = (e.in ? ci / ci0 : 1.0) * (e.out ? co / co0 : 1.0);
  const double macs = double(d.macs) * scale, params = double(d.params) * scale;
  // ∂x/∂ci for x ∝ ci^e.in: e.in·x/ci (zero when the law does not involve ci).
  const double dmacs_i = e.in ? macs / ci : 0.0, dmacs_o = e.out ? macs / co : 0.0;
  const double dparams_i = e.in ? params / ci : 0.0, dparams_o = e.out ? params / co : 0.0;
  const double off_i = double(padded_channels(d.in_c, block) - d.in_c);
  const double off_o = double(padded_channels(d.out_c, block) - d.out_c);
  const double pi = ci + off_i, po = co + off_o;
  const double in_hw = double(d.in_h * d.in_w), out_hw = double(d.out_h * d.out_w);
  const double bytes = 4.0 * (ci * in_hw + co * out_hw + params);

  out[feature::in_hw] = std::log1p(in_hw);
  out[feature::in_c] = std::log1p(ci);
  out[feature::out_c] = std::log1p(co);
  out[feature::in_c_padded] = std::log1p(pi);
  out[feature::out_c_padded] = std::log1p(po);
  out[feature::out_hw] = std::log1p(out_hw);
  out[feature::kernel] = std::log1p(double(d.kernel));
  out[feature::macs] = std::log1p(macs);
  out[feature::params] = std::log1p(params);
  out[feature::traffic_bytes] = std::log1p(bytes);
  out[feature::in_c_waste] = ci > 0 ? pi / ci - 1.0 : 0.0;
  out[feature::out_c_waste] = co > 0 ? po / co - 1.0 : 0.0;
  out[feature::stride] = double(d.stride);
  out[feature::position] = position;
  out[feature::fused_relu] = d.fused_relu ? 1.0 : 0.0;
  for (int k = 0; k < kFeatureKindCount; ++k) out[kOneHotBegin + k] = int(kind) == k ? 1.0 : 0.0;

  if (!d_in || !d_out) return;
  for (int i = 0; i < kLayerFeatureCount; ++i) d_in[i] = d_out[i] = 0.0;
  d_in[feature::in_c] = 1.0 / (1.0 + ci);
  d_out[feature::out_c] = 1.0 / (1.0 + co);
  d_in[feature::in_c_padded] = 1.0 / (1.0 + pi);
  d_out[feature::out_c_padded] = 1.0 / (1.0 + po);
  d_in[feature::macs] = dmacs_i / (1.0 + macs);
  d_out[feature::macs] = dmacs_o / (1.0 + macs);
  d_in[feature::params] = dparams_i / (1.0 + params);
  d_out[feature::params] = dparams_o / (1.0 + params);
  d_in[feature::traffic_bytes] = 4.0 * (in_hw + dparams_i) / (1.0 + bytes);
  d_out[feature::traffic_bytes] = 4.0 * (out_hw + dparams_o) / (1.0 + bytes);
  d_in[feature::in_c_waste] = ci > 0 ? -off_i / (ci * ci) : 0.0;
  d_out[feature::out_c_waste] = co > 0 ? -off_o / (co * co) : 0.0;
}

}  // namespace detail

/// Features of a layer whose channel counts are changed to the real values (ci, co); the
/// description supplies everything else (see the header comment for the extension's rules).
inline void layer_features_at(const LayerDesc& d, double ci, double co, double position, int block,
                              double* out) {
  detail::continuous_layer_features(d, ci, co, position, block, out, nullptr, nullptr);
}

/// ∂features/∂ci (d_in) and ∂features/∂co (d_out) at (ci, co), kLayerFeatureCount values each.
/// For channel-preserving layers (in_c == out_c by construction), a caller that varies one width
/// adds both columns.
inline void layer_feature_jacobian(const LayerDesc& d, double ci, double co, double position, int block,
                                   double* d_in, double* d_out) {
  std::array<double, kLayerFeatureCount> f;
  detail::continuous_layer_features(d, ci, co, position, block, f.data(), d_in, d_out);
}

/// The features of every layer of a network: a kLayerFeatureCount × layers matrix (one column
/// per layer).
inline Eigen::MatrixXd network_features(const NetDesc& net, int block) {
  Eigen::MatrixXd x(kLayerFeatureCount, Eigen::Index(net.size()));
  for (size_t i = 0; i < net.size(); ++i)
    layer_features(net[i], layer_position(i, net.size()), block, x.col(Eigen::Index(i)).data());
  return x;
}

/// Per-feature standardisation x' = (x − mean) / scale, fitted on training layers. Constant
/// features (one-hot bits never set, a stride that never varies) get scale 1.
struct FeatureScaling {
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(kLayerFeatureCount);
  Eigen::VectorXd scale = Eigen::VectorXd::Ones(kLayerFeatureCount);

  /// Fits on the columns of x (features × layers).
  static FeatureScaling fit(const Eigen::MatrixXd& x) {
    FeatureScaling s;
    if (x.cols() == 0) return s;
    s.mean = x.rowwise().mean();
    const Eigen::MatrixXd centered = x.colwise() - s.mean;
    s.scale = (centered.array().square().rowwise().sum() / double(x.cols())).sqrt().matrix();
    for (Eigen::Index i = 0; i < s.scale.size(); ++i)
      if (!(s.scale[i] > 1e-12)) s.scale[i] = 1.0;
    return s;
  }
  Eigen::MatrixXd apply(const Eigen::MatrixXd& x) const {
    return (x.colwise() - mean).array().colwise() / scale.array();
  }
};

}  // namespace hwaware::hw
