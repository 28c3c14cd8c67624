#pragma once
// The KernelBackend concept: the static kernels every backend provides. The autograd ops call
// them through `dispatch` (backend/backend.hpp); a type that satisfies this concept can be added
// without editing the library with `register_backend` (backend/registry.hpp).
#include <concepts>
#include <cstdint>

#include "hwaware/backend/params.hpp"
#include "hwaware/core/tensor.hpp"

namespace hwaware {

/// Requires static kernels with these call shapes and result types. Tensors may arrive in any
/// layout (plain, blocked16, nhwc); a kernel converts what it reads and states its output layout
/// through the tensor. Gradients are returned, never accumulated in place.
template <class B>
concept KernelBackend = requires(const Tensor& t, const Shape& s, const Conv2dParams& cp, const Pool2dParams& pp) {
  { B::conv2d_input_layout(int64_t{1}, int64_t{1}) } -> std::same_as<Layout>;
  { B::conv2d_forward(t, t, &t, cp) } -> std::same_as<Tensor>;
  { B::conv2d_forward_add(t, t, &t, cp, t) } -> std::same_as<Tensor>;
  { B::conv2d_backward_data(t, t, s, cp) } -> std::same_as<Tensor>;
  { B::conv2d_backward_weights(t, t, s, true, cp) } -> std::same_as<ConvWeightGrads>;
  { B::batchnorm_forward_train(t, t, t, 1e-5f, true) } -> std::same_as<BatchNormForward>;
  { B::batchnorm_forward_infer(t, t, t, t, t, 1e-5f, true) } -> std::same_as<BatchNormForward>;
  { B::batchnorm_backward(t, t, t, t, t, t, 1e-5f, true, false) } -> std::same_as<BatchNormGrads>;
  { B::activation_forward(t, Activation::relu) } -> std::same_as<Tensor>;
  { B::activation_backward(t, t, Activation::relu) } -> std::same_as<Tensor>;
  { B::pool2d_forward(t, pp, true) } -> std::same_as<PoolForward>;
  { B::pool2d_backward(t, s, Layout::plain, t, pp) } -> std::same_as<Tensor>;
  { B::linear_forward(t, t, &t) } -> std::same_as<Tensor>;
  { B::linear_backward(t, t, t, true) } -> std::same_as<LinearGrads>;
};

}  // namespace hwaware
