#pragma once
// The model zoo, exactly as ../shared/baselines/pytorch_cnn.py builds them (input 1×28×28,
// 10 classes), plus mobilenetv2-tiny for the search work. Each takes a width multiplier and/or
// explicit per-layer channel counts, so pruned and searched variants are ordinary zoo networks.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "hwaware/core/precompiled.hpp"
#include "hwaware/nn/blocks.hpp"

namespace hwaware::models {

struct ModelOptions {
  double width = 1.0;             // multiplies the default channel counts (rounded, ≥ 1)
  std::vector<int64_t> channels;  // explicit per-layer widths; overrides `width` when non-empty
  int64_t in_channels = 1;
  int64_t classes = 10;
};

/// Default per-layer widths of each model (what `channels` replaces), in order of the layers.
inline std::vector<int64_t> default_channels(const std::string& name) {
  if (name == "ref-cnn") return {32, 64, 128};
  if (name == "vgg-small") return {64, 64, 128, 128, 256, 256};
  // stem, then per stage: the block's inner width and its output width
  if (name == "resnet-8") return {16, 16, 16, 32, 32, 64, 64};
  // stem, per MBConv block the output width (expansion 1 for the first, 6 after), head conv
  if (name == "mobilenetv2-tiny") return {16, 16, 24, 24, 32, 32, 64, 128};
  throw Error("unknown model '" + name + "' (choose ref-cnn, vgg-small, resnet-8 or mobilenetv2-tiny)");
}

inline std::vector<std::string> model_names() { return {"ref-cnn", "vgg-small", "resnet-8", "mobilenetv2-tiny"}; }

inline std::vector<int64_t> resolve_channels(const std::string& name, const ModelOptions& o) {
  std::vector<int64_t> c = default_channels(name);
  if (!o.channels.empty()) {
    check_shapes(o.channels.size() == c.size(), "models::" + name, "wrong number of per-layer channel counts",
                 {static_cast<int64_t>(o.channels.size())}, {static_cast<int64_t>(c.size())});
    for (auto v : o.channels) check_shapes(v > 0, "models::" + name, "channel counts must be positive", o.channels);
    return o.channels;
  }
  for (auto& v : c) v = std::max<int64_t>(1, std::llround(double(v) * o.width));
  return c;
}

inline void add_head(nn::Sequential& s, int64_t channels, int64_t classes) {
  s.emplace<nn::GlobalAvgPool>();
  s.emplace<nn::Linear>(channels, classes);
}

/// conv3×3(1→32)+BN+ReLU, conv3×3(32→64, s2)+BN+ReLU, conv3×3(64→128, s2)+BN+ReLU, GAP, linear.
inline std::unique_ptr<nn::Sequential> ref_cnn(const ModelOptions& o = {}) {
  auto c = resolve_channels("ref-cnn", o);
  auto s = std::make_unique<nn::Sequential>();
  s->add(nn::conv_bn(o.in_channels, c[0], 3, 1, true));
  s->add(nn::conv_bn(c[0], c[1], 3, 2, true));
  s->add(nn::conv_bn(c[1], c[2], 3, 2, true));
  add_head(*s, c[2], o.classes);
  return s;
}

/// VGG-style [64, 64, M, 128, 128, M, 256, 256, M], 3×3 conv+BN+ReLU, GAP, linear.
inline std::unique_ptr<nn::Sequential> vgg_small(const ModelOptions& o = {}) {
  auto c = resolve_channels("vgg-small", o);
  auto s = std::make_unique<nn::Sequential>();
  int64_t in = o.in_channels;
  for (size_t i = 0; i < c.size(); ++i) {
    s->add(nn::conv_bn(in, c[i], 3, 1, true));
    in = c[i];
    if (i % 2 == 1) s->emplace<nn::Pool2d>(nn::Pool2d::max(2));
  }
  add_head(*s, in, o.classes);
  return s;
}

/// CIFAR-style ResNet-8: stem conv3×3(16), 3 stages × 1 basic block (16/32/64, stride 2 at stages
/// 2 and 3), GAP, linear.
inline std::unique_ptr<nn::Sequential> resnet8(const ModelOptions& o = {}) {
  auto c = resolve_channels("resnet-8", o);
  auto s = std::make_unique<nn::Sequential>();
  s->add(nn::conv_bn(o.in_channels, c[0], 3, 1, true));
  s->emplace<nn::BasicBlock>(c[0], c[1], c[2], 1);
  s->emplace<nn::BasicBlock>(c[2], c[3], c[4], 2);
  s->emplace<nn::BasicBlock>(c[4], c[5], c[6], 2);
  add_head(*s, c[6], o.classes);
  return s;
}

/// A MobileNetV2 for 28×28 inputs: stem conv3×3(16), MBConv blocks (expansion 1, then 6) with
/// strides 1,2,1,2,1,1, a 1×1 head conv, GAP, linear.
inline std::unique_ptr<nn::Sequential> mobilenetv2_tiny(const ModelOptions& o = {}) {
  auto c = resolve_channels("mobilenetv2-tiny", o);
  auto s = std::make_unique<nn::Sequential>();
  s->add(nn::conv_bn(o.in_channels, c[0], 3, 1, true));
  const int64_t strides[] = {1, 2, 1, 2, 1, 1};
  int64_t in = c[0];
  for (int b = 0; b < 6; ++b) {
    s->emplace<nn::MBConv>(in, c[b + 1], b == 0 ? 1 : 6, 3, strides[b]);
    in = c[b + 1];
  }
  s->add(nn::conv_bn(in, c[7], 1, 1, true));
  add_head(*s, c[7], o.classes);
  return s;
}

/// The shape of a CIFAR-style ResNet with SmartScissor's knobs: depth as basic blocks per stage,
/// width as a multiplier of the stage widths 16/32/64; resolution is the input's own side.
struct ResNetShape {
  int64_t blocks = 3;        ///< basic blocks per stage (3 → ResNet-20)
  double width = 1.0;        ///< multiplies 16/32/64 (rounded, ≥ 1)
  int64_t stem_stride = 2;   ///< 2 halves a 64×64 input before the first stage
  int64_t in_channels = 1;
  int64_t classes = 10;
};

/// stem conv3×3(16w, stride stem_stride)+BN+ReLU, three stages of `blocks` basic blocks (16w, 32w,
/// 64w; stride 2 at the first block of stages 2 and 3), GAP, linear (He et al. 2016, CIFAR form).
inline std::unique_ptr<nn::Sequential> scalable_resnet(const ResNetShape& shape) {
  check_shapes(shape.blocks >= 1 && shape.width > 0 && shape.stem_stride >= 1 && shape.in_channels >= 1 &&
                   shape.classes >= 1,
               "models::scalable_resnet", "needs blocks, stem stride, channels and classes >= 1 and width > 0",
               {shape.blocks, shape.stem_stride, shape.in_channels, shape.classes});
  const auto w = [&](int64_t c) { return std::max<int64_t>(1, std::llround(double(c) * shape.width)); };
  auto s = std::make_unique<nn::Sequential>();
  s->add(nn::conv_bn(shape.in_channels, w(16), 3, shape.stem_stride, true));
  int64_t in = w(16);
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t out = w(int64_t(16) << stage);
    for (int64_t b = 0; b < shape.blocks; ++b) {
      s->emplace<nn::BasicBlock>(in, out, out, stage > 0 && b == 0 ? 2 : 1);
      in = out;
    }
  }
  add_head(*s, in, shape.classes);
  return s;
}

/// Builds a zoo model by name (compiled once under hwaware::precompiled: core/precompiled.hpp).
HWAWARE_ENTRY std::unique_ptr<nn::Sequential> make_model(const std::string& name, const ModelOptions& o = {});

#if HWAWARE_ENTRY_DEFINITIONS
HWAWARE_ENTRY std::unique_ptr<nn::Sequential> make_model(const std::string& name, const ModelOptions& o) {
  if (name == "ref-cnn") return ref_cnn(o);
  if (name == "vgg-small") return vgg_small(o);
  if (name == "resnet-8") return resnet8(o);
  if (name == "mobilenetv2-tiny") return mobilenetv2_tiny(o);
  default_channels(name);  // throws with the list of names
  return nullptr;
}
#endif

}  // namespace hwaware::models
