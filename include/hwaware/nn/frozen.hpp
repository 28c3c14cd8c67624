#pragma once
// Freezes a module's parameters for a scope: gradients then flow to inputs and gates only, no
// weight-gradient kernel runs and the parameters' gradients stay as they were. For steps that
// train something other than the weights (architecture logits, an explanation of the input).
#include <vector>

#include "hwaware/nn/module.hpp"

namespace hwaware::nn {

class FrozenParameters {
 public:
  explicit FrozenParameters(Module& m) : params_(m.parameters()) {
    for (auto& [name, v] : params_) {
      requires_.push_back(v->requires_grad());
      v->set_requires_grad(false);
    }
  }
  ~FrozenParameters() {
    for (size_t i = 0; i < params_.size(); ++i) params_[i].second->set_requires_grad(requires_[i]);
  }
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  NamedParams params_;
  std::vector<bool> requires_;
};

}  // namespace hwaware::nn
