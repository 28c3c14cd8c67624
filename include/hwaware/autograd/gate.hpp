#pragma once
// A tensor times a learned scalar, as an autograd op: y = s · x with s a [1] Variable. The gate of a
// sampled path in a weight-sharing supernet (value 1, its gradient ∂L/∂s = Σ ∂L/∂y ⊙ x is how the
// architecture logits learn), and any scalar-weighted branch.
#include <cstdint>

#include "hwaware/autograd/ops.hpp"

namespace hwaware::ops {

/// s · x for x of any shape and layout and s of shape [1]. Throws ShapeError when s is not [1].
inline Variable gate(const Variable& x, const Variable& s) {
  check_shapes(s.shape() == Shape{1}, "gate", "the gate must have shape [1]", s.shape(), x.shape());
  const float sv = s.value().to_plain().data()[0];
  return make_result(common::scale(x.value(), sv), {&x, &s}, "gate", [xv = x.value(), sv](Node& self) {
    if (input_requires_grad(self, 0)) accumulate_input_grad(self, 0, common::scale(self.grad, sv));
    if (input_requires_grad(self, 1)) {
      const Tensor g = self.grad.to_plain(), xp = xv.to_plain();
      double dot = 0;
      for (int64_t i = 0; i < g.numel(); ++i) dot += double(g.data()[i]) * xp.data()[i];
      accumulate_input_grad(self, 1, Tensor::full({1}, float(dot)));
    }
  });
}

}  // namespace hwaware::ops
