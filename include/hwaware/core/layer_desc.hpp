#pragma once
// The network description the hardware model reads: one LayerDesc per computational layer (its
// kind, shapes, channels, kernel, stride, groups, MACs, params) and NetDesc, a network as the list
// of its layers. Standard library (and core/error.hpp) only, so the latency predictors and their
// data sets build without the kernels, autograd or the modules that produce descriptions.
//
// The kinds' string names ("conv2d", "batchnorm2d", ...) are what the data set and predictor
// files store; to_string and parse_layer_kind convert both ways.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hwaware/core/error.hpp"

namespace hwaware {

/// What a described layer computes.
enum class LayerKind : uint8_t {
  conv2d,
  batchnorm2d,
  linear,
  relu,
  relu6,
  sigmoid,
  max_pool2d,
  avg_pool2d,
  global_avg_pool,
  flatten,
  add,
  concat
};

namespace detail {
inline constexpr std::array<std::pair<LayerKind, std::string_view>, 12> kLayerKindNames{{
    {LayerKind::conv2d, "conv2d"},
    {LayerKind::batchnorm2d, "batchnorm2d"},
    {LayerKind::linear, "linear"},
    {LayerKind::relu, "relu"},
    {LayerKind::relu6, "relu6"},
    {LayerKind::sigmoid, "sigmoid"},
    {LayerKind::max_pool2d, "max_pool2d"},
    {LayerKind::avg_pool2d, "avg_pool2d"},
    {LayerKind::global_avg_pool, "global_avg_pool"},
    {LayerKind::flatten, "flatten"},
    {LayerKind::add, "add"},
    {LayerKind::concat, "concat"},
}};
}  // namespace detail

/// The kind's name as stored in files ("conv2d", "max_pool2d", ...).
inline std::string_view to_string(LayerKind k) {
  for (const auto& [kind, name] : detail::kLayerKindNames)
    if (kind == k) return name;
  return "unknown";
}

/// The kind named `name`; throws Error naming the string and the known names (callers that read
/// files add the file and line).
inline LayerKind parse_layer_kind(std::string_view name) {
  for (const auto& [kind, n] : detail::kLayerKindNames)
    if (n == name) return kind;
  std::string known;
  for (const auto& [kind, n] : detail::kLayerKindNames) known += (known.empty() ? "" : ", ") + std::string(n);
  throw Error("unknown layer kind '" + std::string(name) + "' (known: " + known + ")");
}

/// One computational layer as the hardware model sees it. Shapes are per image (batch excluded).
struct LayerDesc {
  std::string name;  // hierarchical, e.g. "features.3" or "stage2.conv1"
  LayerKind kind = LayerKind::conv2d;
  int64_t in_c = 0, in_h = 1, in_w = 1;
  int64_t out_c = 0, out_h = 1, out_w = 1;
  int64_t kernel = 1, stride = 1, padding = 0, groups = 1;
  int64_t macs = 0;    // multiply-accumulates per image
  int64_t params = 0;  // trainable parameters
  bool fused_relu = false;  // batchnorm2d followed by a ReLU fused into it
};

/// A network as the list of its layers, in execution order.
using NetDesc = std::vector<LayerDesc>;

/// Total MACs per image of a description.
inline int64_t total_macs(const NetDesc& d) {
  int64_t m = 0;
  for (const auto& l : d) m += l.macs;
  return m;
}

}  // namespace hwaware
