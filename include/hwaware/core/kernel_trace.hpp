#pragma once
// A record of the kernels the runtime executes, for checking the runtime plan
// (core/runtime_plan.hpp) against what ran. While a KernelTrace is alive on a thread, the oneDNN
// backend, the shared loops and the tensor's layout conversions append one runtime::Kernel per
// execution on that thread; without one, recording costs a thread-local pointer test.
//
//   runtime::KernelTrace trace;
//   model.forward(x);
//   for (const auto& k : trace.kernels()) std::puts(k.str().c_str());
#include <vector>

#include "hwaware/core/runtime_plan.hpp"

namespace hwaware::runtime {

class KernelTrace {
 public:
  KernelTrace() : outer_(active()) { active() = this; }
  ~KernelTrace() { active() = outer_; }
  KernelTrace(const KernelTrace&) = delete;
  KernelTrace& operator=(const KernelTrace&) = delete;

  const std::vector<Kernel>& kernels() const { return kernels_; }
  void clear() { kernels_.clear(); }

  /// True when a trace is recording on this thread (callers skip building the record otherwise).
  static bool on() { return active() != nullptr; }
  /// Appends `k` to this thread's innermost trace, if any.
  static void record(const Kernel& k) {
    if (KernelTrace* t = active()) t->kernels_.push_back(k);
  }

 private:
  static KernelTrace*& active() {
    thread_local KernelTrace* t = nullptr;
    return t;
  }
  KernelTrace* outer_;
  std::vector<Kernel> kernels_;
};

/// Records a layout conversion (or same-layout copy) of a [batch, c, h, w] tensor.
inline void trace_conversion(KernelKind kind, int64_t batch, int64_t c, int64_t h, int64_t w, Layout from, Layout to) {
  if (!KernelTrace::on()) return;
  Kernel k;
  k.kind = kind, k.op = LayerKind::flatten, k.batch = batch;
  k.in_c = k.out_c = c, k.in_h = k.out_h = h, k.in_w = k.out_w = w;
  k.src = from, k.dst = to, k.work = stored_elems(batch, c, h, w, from);
  KernelTrace::record(k);
}

}  // namespace hwaware::runtime
