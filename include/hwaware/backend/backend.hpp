#pragma once
// Pluggable kernel backends. A backend is a type with the static kernels below (checked by the
// KernelBackend concept); the autograd ops call `dispatch`, which hands them the backend selected
// for this thread: oneDNN (fast, the default) or reference (plain loops, the oracle in tests).
#include <concepts>

#include "hwaware/backend/common.hpp"
#include "hwaware/backend/onednn/kernels.hpp"
#include "hwaware/backend/reference/kernels.hpp"

namespace hwaware {

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

static_assert(KernelBackend<onednn::Backend>);
static_assert(KernelBackend<reference::Backend>);

enum class BackendKind : uint8_t { onednn, reference };

namespace detail {
inline BackendKind& current_backend_slot() {
  thread_local BackendKind kind = BackendKind::onednn;
  return kind;
}
}  // namespace detail

inline BackendKind current_backend() { return detail::current_backend_slot(); }

/// Selects a backend for this thread until the guard goes out of scope.
class BackendGuard {
 public:
  explicit BackendGuard(BackendKind kind) : saved_(current_backend()) { detail::current_backend_slot() = kind; }
  ~BackendGuard() { detail::current_backend_slot() = saved_; }
  BackendGuard(const BackendGuard&) = delete;
  BackendGuard& operator=(const BackendGuard&) = delete;

 private:
  BackendKind saved_;
};

/// Calls f(Backend{}) with the current thread's backend type.
template <class F>
decltype(auto) dispatch(F&& f) {
  if (current_backend() == BackendKind::reference) return f(reference::Backend{});
  return f(onednn::Backend{});
}

}  // namespace hwaware
