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
#include "hwaware/core/layer_desc.hpp"

namespace hwaware::nn {

/// The per-layer description lives in core (the hardware model reads it without nn).
using hwaware::LayerDesc;
using hwaware::total_macs;

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

}  // namespace hwaware::nn
