#pragma once
// Module: the base of every layer and network. Layers with runtime shapes are ordinary objects
// behind a virtual forward (the kernels they call are where the time goes). Every module can
// describe itself layer by layer — type, shapes, channels, kernel, stride, groups, MACs, params —
// which is what the latency models and the pruners read.
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "hwaware/autograd/ops.hpp"

namespace hwaware::nn {

/// One computational layer as the hardware model sees it. Shapes are per image (batch excluded).
struct LayerDesc {
  std::string name;  // hierarchical, e.g. "features.3" or "stage2.conv1"
  std::string type;  // conv2d, batchnorm2d, linear, relu, relu6, sigmoid, max_pool2d, avg_pool2d,
                     // global_avg_pool, flatten, add, concat
  int64_t in_c = 0, in_h = 1, in_w = 1;
  int64_t out_c = 0, out_h = 1, out_w = 1;
  int64_t kernel = 1, stride = 1, padding = 0, groups = 1;
  int64_t macs = 0;    // multiply-accumulates per image
  int64_t params = 0;  // trainable parameters
  bool fused_relu = false;  // batchnorm2d followed by a ReLU fused into it
};

inline Shape out_chw(const LayerDesc& d) { return {d.out_c, d.out_h, d.out_w}; }

using NamedParams = std::vector<std::pair<std::string, Variable*>>;
using NamedBuffers = std::vector<std::pair<std::string, Tensor*>>;

/// Random source of parameter initialisation (seed it with manual_seed for reproducible runs).
inline std::mt19937_64& init_rng() {
  static std::mt19937_64 rng(0x5eed);
  return rng;
}
inline void manual_seed(uint64_t seed) { init_rng().seed(seed); }

class Module {
 public:
  virtual ~Module() = default;
  virtual Variable forward(const Variable& x) = 0;
  /// Appends this module's layers for a per-image input shape (C,H,W); returns the output shape.
  virtual Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const = 0;
  virtual void collect_parameters(NamedParams& /*out*/, const std::string& /*prefix*/) {}
  virtual void collect_buffers(NamedBuffers& /*out*/, const std::string& /*prefix*/) {}
  virtual void set_training(bool training) { training_ = training; }

  Variable operator()(const Variable& x) { return forward(x); }
  bool training() const { return training_; }
  void train() { set_training(true); }
  void eval() { set_training(false); }

  NamedParams parameters() {
    NamedParams p;
    collect_parameters(p, "");
    return p;
  }
  NamedBuffers buffers() {
    NamedBuffers b;
    collect_buffers(b, "");
    return b;
  }
  std::vector<LayerDesc> describe(const Shape& chw) const {
    std::vector<LayerDesc> d;
    describe_layers(chw, d, "");
    return d;
  }
  int64_t parameter_count() {
    int64_t n = 0;
    for (auto& [name, v] : parameters()) n += v->value().numel();
    return n;
  }

 protected:
  static std::string join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
  }
  bool training_ = true;
};

/// Total MACs per image of a description.
inline int64_t total_macs(const std::vector<LayerDesc>& d) {
  int64_t m = 0;
  for (const auto& l : d) m += l.macs;
  return m;
}

}  // namespace hwaware::nn
