#pragma once
// Regression losses on a prediction and a target of the same shape, as autograd ops: the smooth
// L1 (Huber) loss that box regressors train with (Girshick, Fast R-CNN 2015).
#include <cmath>
#include <cstdint>

#include "hwaware/autograd/ops.hpp"

namespace hwaware::ops {

/// mean over all elements of h(p − t), h(d) = d²/(2β) for |d| < β, |d| − β/2 otherwise (β > 0);
/// `target` is a constant. Throws ShapeError when the shapes differ, Error for β ≤ 0.
inline Variable smooth_l1(const Variable& pred, const Tensor& target, float beta = 1.0f) {
  check_shapes(target.defined() && pred.shape() == target.shape(), "smooth_l1", "prediction and target shapes differ",
               pred.shape(), target.defined() ? target.shape() : Shape{});
  if (!(beta > 0)) throw Error("smooth_l1: beta must be positive (got " + std::to_string(beta) + ")");
  const Tensor p = pred.value().to_plain(), t = target.to_plain();
  const int64_t n = p.numel();
  Tensor grad = Tensor::empty(p.shape());
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = p.data()[i] - t.data()[i];
    const bool small = std::abs(d) < beta;
    sum += small ? 0.5 * double(d) * d / beta : std::abs(double(d)) - 0.5 * beta;
    grad.data()[i] = (small ? d / beta : (d > 0 ? 1.0f : -1.0f)) / float(n);
  }
  return make_result(Tensor::full({1}, float(sum / double(n))), {&pred}, "smooth_l1",
                     [g = std::move(grad), l = pred.value().layout()](Node& self) {
                       accumulate_input_grad(self, 0, common::scale(g, self.grad.data()[0]).to_layout(l));
                     });
}

}  // namespace hwaware::ops
