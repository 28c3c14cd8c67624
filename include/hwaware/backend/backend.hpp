#pragma once
// Pluggable kernel backends. A backend is a type with the static kernels of the KernelBackend
// concept; the autograd ops call `dispatch`, which hands them the backend selected for this
// thread: oneDNN (fast, the default), reference (plain loops, the oracle in tests) or one added
// with register_backend (backend/registry.hpp).
#include "hwaware/backend/common.hpp"
#include "hwaware/backend/kernel_backend.hpp"
#include "hwaware/backend/onednn/kernels.hpp"
#include "hwaware/backend/reference/kernels.hpp"
#include "hwaware/backend/registry.hpp"

namespace hwaware {

static_assert(KernelBackend<onednn::Backend>);
static_assert(KernelBackend<reference::Backend>);

/// Calls f(B{}) with the current thread's backend type B: onednn::Backend or reference::Backend
/// themselves (static calls, no table), RegisteredBackend for a registered backend. f must return
/// the same type for all three.
template <class F>
decltype(auto) dispatch(F&& f) {
  const BackendId id = current_backend();
  if (id == BackendKind::onednn) return f(onednn::Backend{});
  if (id == BackendKind::reference) return f(reference::Backend{});
  return f(RegisteredBackend{});
}

}  // namespace hwaware
