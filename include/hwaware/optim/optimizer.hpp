#pragma once
// Optimizers over parameter groups: SGD (momentum, Nesterov, weight decay; PyTorch's update
// rule) and Adam/AdamW. Each step bumps the parameters' storage versions, which is what tells the
// oneDNN backend to re-reorder the weights (once per step).
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "hwaware/nn/module.hpp"
#include "hwaware/optim/adam.hpp"

namespace hwaware::optim {

struct ParamGroup {
  std::vector<Variable*> params;
  std::vector<std::string> names;
  float weight_decay = 0.f;
  float lr_scale = 1.f;
};

/// Groups a module's parameters; with `no_decay_on_norm`, BN scales/shifts and biases get no decay.
inline std::vector<ParamGroup> param_groups(nn::Module& m, float weight_decay, bool no_decay_on_norm = false) {
  ParamGroup decay{{}, {}, weight_decay, 1.f}, plain{{}, {}, 0.f, 1.f};
  for (auto& [name, v] : m.parameters()) {
    ParamGroup& g = (no_decay_on_norm && v->value().rank() == 1) ? plain : decay;
    g.params.push_back(v);
    g.names.push_back(name);
  }
  std::vector<ParamGroup> groups{decay};
  if (!plain.params.empty()) groups.push_back(plain);
  return groups;
}

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {}
  virtual ~Optimizer() = default;
  virtual void step(float lr) = 0;
  /// Named state tensors for checkpoints.
  virtual std::vector<std::pair<std::string, Tensor*>> state() = 0;
  void zero_grad() {
    for (auto& g : groups_)
      for (auto* p : g.params) p->zero_grad();
  }
  std::vector<ParamGroup>& groups() { return groups_; }
  int64_t steps() const { return steps_; }
  void set_steps(int64_t s) { steps_ = s; }

 protected:
  std::vector<ParamGroup> groups_;
  int64_t steps_ = 0;
};

struct SgdOptions {
  float momentum = 0.9f;
  bool nesterov = false;
};

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<ParamGroup> groups, SgdOptions o = {}) : Optimizer(std::move(groups)), opt_(o) {
    for (auto& g : groups_)
      for (auto* p : g.params) buf_.push_back(Tensor::zeros(p->value().shape()));
  }
  /// buf = μ·buf + (g + λ·w);  w -= lr · (nesterov ? g + λw + μ·buf : buf)
  void step(float lr) override {
    size_t k = 0;
    for (auto& g : groups_) {
      const float wd = g.weight_decay, glr = lr * g.lr_scale, mu = opt_.momentum;
      for (auto* p : g.params) {
        Tensor& b = buf_[k++];
        if (!p->grad().defined()) continue;
        const Tensor grad = p->grad().to_plain();
        float* w = p->value().data();
        float* bd = b.data();
        const float* gd = grad.data();
        const int64_t n = p->value().numel();
        const bool first = steps_ == 0;
        for (int64_t i = 0; i < n; ++i) {
          const float d = gd[i] + wd * w[i];
          bd[i] = first ? d : mu * bd[i] + d;
          w[i] -= glr * (opt_.nesterov ? d + mu * bd[i] : (mu > 0 ? bd[i] : d));
        }
        p->value().bump_version();
      }
    }
    ++steps_;
  }
  std::vector<std::pair<std::string, Tensor*>> state() override {
    std::vector<std::pair<std::string, Tensor*>> s;
    size_t k = 0;
    for (auto& g : groups_)
      for (auto& n : g.names) s.emplace_back("sgd.momentum." + n, &buf_[k++]);
    return s;
  }

 private:
  SgdOptions opt_;
  std::vector<Tensor> buf_;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions o = {}) : Optimizer(std::move(groups)), opt_(o) {
    for (auto& g : groups_)
      for (auto* p : g.params) {
        m_.push_back(Tensor::zeros(p->value().shape()));
        v_.push_back(Tensor::zeros(p->value().shape()));
      }
  }
  void step(float lr) override {
    ++steps_;
    size_t k = 0;
    for (auto& g : groups_) {
      const float glr = lr * g.lr_scale;
      for (auto* p : g.params) {
        Tensor& m = m_[k];
        Tensor& v = v_[k++];
        if (!p->grad().defined()) continue;
        const Tensor grad = p->grad().to_plain();
        const size_t n = size_t(p->value().numel());
        adam_step<float>({p->value().data(), n}, {grad.data(), n}, {m.data(), n}, {v.data(), n}, steps_, glr,
                         g.weight_decay, opt_);
        p->value().bump_version();
      }
    }
  }
  std::vector<std::pair<std::string, Tensor*>> state() override {
    std::vector<std::pair<std::string, Tensor*>> s;
    size_t k = 0;
    for (auto& g : groups_)
      for (auto& n : g.names) {
        s.emplace_back("adam.m." + n, &m_[k]);
        s.emplace_back("adam.v." + n, &v_[k++]);
      }
    return s;
  }

 private:
  AdamOptions opt_;
  std::vector<Tensor> m_, v_;
};

}  // namespace hwaware::optim
