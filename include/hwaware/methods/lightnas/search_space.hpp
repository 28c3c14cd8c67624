#pragma once
// LightNAS's search space (Luo et al., TCAD 2022), sized for small images: a fixed stem and head
// around searchable MBConv layers in stages; each layer chooses one of 7 ops — kernel 3/5/7 ×
// expansion 3/6, or skip where the layer keeps its shape — as in the authors' ImageNet space. The
// space is a value: it samples, encodes (one-hot, 7 per layer) and builds any architecture as an
// ordinary nn::Module.
#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/nn/blocks.hpp"
#include "hwaware/nn/layers.hpp"
#include "hwaware/nn/sequential.hpp"

namespace hwaware::lightnas {

/// One candidate op of a searchable layer.
struct OpChoice {
  int64_t kernel = 0, expansion = 0;  // both 0: skip
  bool skip() const { return kernel == 0; }
  std::string name() const { return skip() ? "skip" : "k" + std::to_string(kernel) + "e" + std::to_string(expansion); }
};

/// The paper's 7 ops, in encoding order: k3e3, k3e6, k5e3, k5e6, k7e3, k7e6, skip.
inline constexpr int kOpsPerLayer = 7;
inline constexpr int kSkipOp = 6;
inline OpChoice op_choice(int op) {
  if (op < 0 || op >= kOpsPerLayer) throw Error("lightnas: op index " + std::to_string(op) + " outside [0, 7)");
  if (op == kSkipOp) return {};
  return {3 + 2 * (op / 2), op % 2 == 0 ? 3 : 6};
}

/// A stage of searchable layers: `layers` layers of output width `width`, the first at `stride`.
struct Stage {
  int64_t width = 16, layers = 1, stride = 1;
};

/// An architecture: one op index per searchable layer.
using Architecture = std::vector<int>;

class SearchSpace;
/// An architecture as text (how samples, results and checkpoints name it): its op indices as digits.
std::string architecture_key(const Architecture& a);
/// The architecture of a key; throws Error naming the key when it is not one of `space`.
Architecture architecture_from_key(const SearchSpace& space, const std::string& key);

class SearchSpace {
 public:
  struct Options {
    int64_t in_channels = 1, classes = 10;
    int64_t stem_width = 16, stem_stride = 1;  ///< stride 2 for 64×64 inputs
    int64_t head_width = 128;                  ///< 1×1 conv before pooling
    std::vector<Stage> stages{{24, 2, 2}, {32, 3, 2}, {64, 4, 1}, {96, 3, 1}};  ///< 12 layers
  };

  SearchSpace() : SearchSpace(Options{}) {}
  explicit SearchSpace(Options o);

  const Options& options() const { return opt_; }
  size_t layers() const { return layer_in_.size(); }
  /// Whether layer `l` may skip: stride 1 and the same width in and out.
  bool can_skip(size_t l) const { return layer_stride_.at(l) == 1 && layer_in_.at(l) == layer_out_.at(l); }
  bool allowed(size_t l, int op) const { return op >= 0 && op < kOpsPerLayer && (op != kSkipOp || can_skip(l)); }
  /// Number of architectures (7 per skippable layer, 6 otherwise), as a double.
  double size() const;

  /// Throws Error naming the layer when `a` is not an architecture of this space.
  void check(const Architecture& a) const;
  /// Uniform over each layer's allowed ops.
  Architecture sample(std::mt19937_64& rng) const;
  /// One-hot [layers × 7], row-major.
  std::vector<float> encode(const Architecture& a) const;
  /// The architecture of a one-hot (or any score) encoding: the largest allowed entry per layer.
  Architecture decode(const std::vector<float>& encoding) const;
  /// "k3e6 skip k5e3 ..."
  std::string describe(const Architecture& a) const;

  /// The network of an architecture: stem conv3×3+BN+ReLU, the chosen MBConv per layer (none for
  /// skip), head conv1×1+BN+ReLU, global average pooling, linear.
  std::unique_ptr<nn::Sequential> build(const Architecture& a) const;

  /// The per-layer geometry the supernet needs.
  int64_t layer_in(size_t l) const { return layer_in_.at(l); }
  int64_t layer_out(size_t l) const { return layer_out_.at(l); }
  int64_t layer_stride(size_t l) const { return layer_stride_.at(l); }
  /// A candidate op of layer `l` as a module (nullptr for skip).
  std::unique_ptr<nn::Module> make_op(size_t l, int op) const;
  std::unique_ptr<nn::Module> make_stem() const;
  /// Head: conv1×1 + BN + ReLU, pooling, linear, as one Sequential.
  std::unique_ptr<nn::Sequential> make_head() const;

 private:
  Options opt_;
  std::vector<int64_t> layer_in_, layer_out_, layer_stride_;
};

// ---------------------------------------------------------------------------------------------
// Implementation

inline SearchSpace::SearchSpace(Options o) : opt_(std::move(o)) {
  check_shapes(opt_.in_channels > 0 && opt_.classes > 0 && opt_.stem_width > 0 && opt_.stem_stride > 0 &&
                   opt_.head_width > 0 && !opt_.stages.empty(),
               "lightnas::SearchSpace", "needs positive widths, classes and strides and at least one stage",
               {opt_.in_channels, opt_.classes, opt_.stem_width, opt_.stem_stride, opt_.head_width});
  int64_t in = opt_.stem_width;
  for (const Stage& s : opt_.stages) {
    check_shapes(s.width > 0 && s.layers > 0 && s.stride > 0, "lightnas::SearchSpace",
                 "a stage needs a positive width, layer count and stride", {s.width, s.layers, s.stride});
    for (int64_t i = 0; i < s.layers; ++i) {
      layer_in_.push_back(in);
      layer_out_.push_back(s.width);
      layer_stride_.push_back(i == 0 ? s.stride : 1);
      in = s.width;
    }
  }
}

inline double SearchSpace::size() const {
  double n = 1;
  for (size_t l = 0; l < layers(); ++l) n *= can_skip(l) ? kOpsPerLayer : kOpsPerLayer - 1;
  return n;
}

inline void SearchSpace::check(const Architecture& a) const {
  if (a.size() != layers())
    throw Error("lightnas: an architecture of this space has " + std::to_string(layers()) + " layers (got " +
                std::to_string(a.size()) + ")");
  for (size_t l = 0; l < a.size(); ++l)
    if (!allowed(l, a[l]))
      throw Error("lightnas: op " + std::to_string(a[l]) + " is not allowed at layer " + std::to_string(l) +
                  (a[l] == kSkipOp ? " (it changes the stride or the width, so it cannot skip)" : ""));
}

inline Architecture SearchSpace::sample(std::mt19937_64& rng) const {
  Architecture a(layers());
  for (size_t l = 0; l < layers(); ++l)
    a[l] = std::uniform_int_distribution<int>(0, can_skip(l) ? kOpsPerLayer - 1 : kOpsPerLayer - 2)(rng);
  return a;
}

inline std::vector<float> SearchSpace::encode(const Architecture& a) const {
  check(a);
  std::vector<float> e(layers() * kOpsPerLayer, 0.0f);
  for (size_t l = 0; l < layers(); ++l) e[l * kOpsPerLayer + size_t(a[l])] = 1.0f;
  return e;
}

inline Architecture SearchSpace::decode(const std::vector<float>& encoding) const {
  if (encoding.size() != layers() * kOpsPerLayer)
    throw Error("lightnas: an encoding of this space has " + std::to_string(layers() * kOpsPerLayer) +
                " entries (got " + std::to_string(encoding.size()) + ")");
  Architecture a(layers());
  for (size_t l = 0; l < layers(); ++l) {
    int best = 0;
    for (int op = 1; op < kOpsPerLayer; ++op)
      if (allowed(l, op) && encoding[l * kOpsPerLayer + size_t(op)] > encoding[l * kOpsPerLayer + size_t(best)])
        best = op;
    a[l] = best;
  }
  return a;
}

inline std::string SearchSpace::describe(const Architecture& a) const {
  std::string s;
  for (size_t l = 0; l < a.size(); ++l) s += (l ? " " : "") + op_choice(a[l]).name();
  return s;
}

inline std::unique_ptr<nn::Module> SearchSpace::make_op(size_t l, int op) const {
  if (!allowed(l, op)) throw Error("lightnas: op " + std::to_string(op) + " is not allowed at layer " + std::to_string(l));
  const OpChoice c = op_choice(op);
  if (c.skip()) return nullptr;
  return std::make_unique<nn::MBConv>(layer_in_[l], layer_out_[l], c.expansion, c.kernel, layer_stride_[l]);
}

inline std::unique_ptr<nn::Module> SearchSpace::make_stem() const {
  return nn::conv_bn(opt_.in_channels, opt_.stem_width, 3, opt_.stem_stride, true);
}

inline std::unique_ptr<nn::Sequential> SearchSpace::make_head() const {
  auto head = std::make_unique<nn::Sequential>();
  head->add(nn::conv_bn(layer_out_.back(), opt_.head_width, 1, 1, true));
  head->emplace<nn::GlobalAvgPool>();
  head->emplace<nn::Linear>(opt_.head_width, opt_.classes);
  return head;
}

inline std::unique_ptr<nn::Sequential> SearchSpace::build(const Architecture& a) const {
  check(a);
  auto net = std::make_unique<nn::Sequential>();
  net->add(make_stem());
  for (size_t l = 0; l < layers(); ++l)
    if (auto op = make_op(l, a[l])) net->add(std::move(op));
  auto head = make_head();
  for (auto& c : head->children) net->add(std::move(c));
  return net;
}

inline std::string architecture_key(const Architecture& a) {
  std::string k;
  for (int op : a) k += char('0' + op);
  return k;
}

inline Architecture architecture_from_key(const SearchSpace& space, const std::string& key) {
  Architecture a;
  for (char c : key) {
    if (c < '0' || c >= '0' + kOpsPerLayer) throw Error("lightnas: '" + key + "' is not an architecture key");
    a.push_back(c - '0');
  }
  space.check(a);
  return a;
}

}  // namespace hwaware::lightnas
