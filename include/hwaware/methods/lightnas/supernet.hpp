#pragma once
// LightNAS's weight-sharing supernet: every candidate op of every layer of a SearchSpace, and the
// architecture logits α. A step runs one sampled path (Gumbel-softmax, straight-through), so it
// costs about as much as training one network of the space; with gates on, each sampled path is
// multiplied by a gate of value 1 whose gradient becomes ∂L/∂α (gumbel.hpp).
#include <array>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "hwaware/autograd/gate.hpp"
#include "hwaware/methods/lightnas/gumbel.hpp"
#include "hwaware/methods/lightnas/search_space.hpp"

namespace hwaware::lightnas {

class Supernet : public nn::Module {
 public:
  explicit Supernet(SearchSpace space);

  const SearchSpace& space() const { return space_; }
  /// α, [layers × 7] row-major; disallowed entries are never sampled nor decoded.
  std::vector<float>& alpha() { return alpha_; }
  const std::vector<float>& alpha() const { return alpha_; }

  /// Draws one op per layer from Gumbel-softmax(α, τ); the following forwards run that path.
  void sample(double tau, std::mt19937_64& rng);
  /// Runs a given architecture (e.g. the argmax) instead of a sample.
  void set_path(const Architecture& a);
  const Architecture& path() const { return path_; }
  /// The architecture α prefers: the largest allowed logit per layer.
  Architecture argmax() const { return space_.decode(alpha_); }

  /// With gates on, forward multiplies each sampled path by a fresh gate (needs a sample()).
  void set_gates(bool on) { gated_ = on; }
  /// After backward through a gated forward: adds the straight-through ∂L/∂α into `dalpha`.
  void accumulate_alpha_grad(std::vector<float>& dalpha) const;

  Variable forward(const Variable& x) override;
  /// Describes the current path's network.
  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const override;
  void collect_parameters(nn::NamedParams& out, const std::string& prefix) override;
  void collect_buffers(nn::NamedBuffers& out, const std::string& prefix) override;
  void set_training(bool training) override;

 private:
  template <class F>
  void for_each_module(F&& f) const;

  SearchSpace space_;
  std::unique_ptr<nn::Module> stem_;
  std::vector<std::array<std::unique_ptr<nn::Module>, kOpsPerLayer>> ops_;  // nullptr: skip or disallowed
  std::unique_ptr<nn::Sequential> head_;
  std::vector<float> alpha_;
  Architecture path_;
  std::vector<GumbelSample> samples_;
  std::vector<Variable> gates_;
  double tau_ = 1;
  bool gated_ = false;
};

// ---------------------------------------------------------------------------------------------
// Implementation

inline Supernet::Supernet(SearchSpace space)
    : space_(std::move(space)), stem_(space_.make_stem()), head_(space_.make_head()) {
  ops_.resize(space_.layers());
  for (size_t l = 0; l < space_.layers(); ++l)
    for (int op = 0; op < kOpsPerLayer; ++op)
      if (space_.allowed(l, op)) ops_[l][size_t(op)] = space_.make_op(l, op);
  alpha_.assign(space_.layers() * kOpsPerLayer, 0.0f);
  path_ = argmax();
}

inline void Supernet::sample(double tau, std::mt19937_64& rng) {
  tau_ = tau;
  samples_.clear();
  path_.assign(space_.layers(), 0);
  for (size_t l = 0; l < space_.layers(); ++l) {
    const std::vector<float> logits(alpha_.begin() + long(l * kOpsPerLayer), alpha_.begin() + long((l + 1) * kOpsPerLayer));
    std::vector<bool> allowed(kOpsPerLayer);
    for (int op = 0; op < kOpsPerLayer; ++op) allowed[size_t(op)] = space_.allowed(l, op);
    samples_.push_back(gumbel_softmax(logits, allowed, tau, rng));
    path_[l] = samples_.back().index;
  }
}

inline void Supernet::set_path(const Architecture& a) {
  space_.check(a);
  path_ = a;
  samples_.clear();
}

inline void Supernet::accumulate_alpha_grad(std::vector<float>& dalpha) const {
  if (samples_.size() != space_.layers() || gates_.size() != space_.layers())
    throw Error("Supernet::accumulate_alpha_grad: needs a sample() and a gated forward and backward first");
  dalpha.resize(alpha_.size(), 0.0f);
  for (size_t l = 0; l < space_.layers(); ++l) {
    if (!gates_[l].grad().defined()) continue;  // the loss did not depend on this layer
    std::vector<float> row(kOpsPerLayer, 0.0f);
    straight_through_grad(samples_[l], tau_, gates_[l].grad().to_plain().data()[0], row);
    for (int op = 0; op < kOpsPerLayer; ++op) dalpha[l * kOpsPerLayer + size_t(op)] += row[size_t(op)];
  }
}

inline Variable Supernet::forward(const Variable& x) {
  if (gated_ && samples_.size() != space_.layers())
    throw Error("Supernet: a gated forward needs a sample() first (set_path runs ungated)");
  gates_.clear();
  Variable h = stem_->forward(x);
  for (size_t l = 0; l < space_.layers(); ++l) {
    nn::Module* op = ops_[l][size_t(path_[l])].get();
    Variable y = op ? op->forward(h) : h;
    if (gated_) {
      gates_.emplace_back(Tensor::full({1}, 1.0f), true);
      y = ops::gate(y, gates_.back());
    }
    h = y;
  }
  return head_->forward(h);
}

inline Shape Supernet::describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const {
  Shape s = stem_->describe_layers(chw, out, join(prefix, "stem"));
  for (size_t l = 0; l < space_.layers(); ++l)
    if (const nn::Module* op = ops_[l][size_t(path_[l])].get())
      s = op->describe_layers(s, out, join(prefix, "layers." + std::to_string(l) + "." + op_choice(path_[l]).name()));
  return head_->describe_layers(s, out, join(prefix, "head"));
}

template <class F>
void Supernet::for_each_module(F&& f) const {
  f(*stem_, std::string("stem"));
  for (size_t l = 0; l < space_.layers(); ++l)
    for (int op = 0; op < kOpsPerLayer; ++op)
      if (ops_[l][size_t(op)]) f(*ops_[l][size_t(op)], "layers." + std::to_string(l) + "." + op_choice(op).name());
  f(*head_, std::string("head"));
}

inline void Supernet::collect_parameters(nn::NamedParams& out, const std::string& prefix) {
  for_each_module([&](nn::Module& m, const std::string& name) { m.collect_parameters(out, join(prefix, name)); });
}

inline void Supernet::collect_buffers(nn::NamedBuffers& out, const std::string& prefix) {
  for_each_module([&](nn::Module& m, const std::string& name) { m.collect_buffers(out, join(prefix, name)); });
}

inline void Supernet::set_training(bool training) {
  Module::set_training(training);
  for_each_module([&](nn::Module& m, const std::string&) { m.set_training(training); });
}

}  // namespace hwaware::lightnas
