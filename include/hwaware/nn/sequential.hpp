#pragma once
// Sequential container: runs its children in order.
#include <memory>
#include <vector>

#include "hwaware/nn/module.hpp"

namespace hwaware::nn {

class Sequential : public Module {
 public:
  /// Appends a module constructed in place; returns a reference to it.
  template <class M, class... Args>
  M& emplace(Args&&... args) {
    auto m = std::make_unique<M>(std::forward<Args>(args)...);
    M& ref = *m;
    children.push_back(std::move(m));
    return ref;
  }
  Sequential& add(std::unique_ptr<Module> m) {
    children.push_back(std::move(m));
    return *this;
  }

  Variable forward(const Variable& x) override {
    Variable h = x;
    for (auto& c : children) h = c->forward(h);
    return h;
  }
  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>& out, const std::string& prefix) const override {
    Shape s = chw;
    for (size_t i = 0; i < children.size(); ++i) s = children[i]->describe_layers(s, out, join(prefix, std::to_string(i)));
    return s;
  }
  void collect_parameters(NamedParams& out, const std::string& prefix) override {
    for (size_t i = 0; i < children.size(); ++i) children[i]->collect_parameters(out, join(prefix, std::to_string(i)));
  }
  void collect_buffers(NamedBuffers& out, const std::string& prefix) override {
    for (size_t i = 0; i < children.size(); ++i) children[i]->collect_buffers(out, join(prefix, std::to_string(i)));
  }
  void set_training(bool t) override {
    training_ = t;
    for (auto& c : children) c->set_training(t);
  }

  std::vector<std::unique_ptr<Module>> children;
};

}  // namespace hwaware::nn
