#pragma once
// Backend selection and the registry of backends added from outside the library.
//
// The two built-in backends (BackendKind) are dispatched statically. Any other type satisfying
// KernelBackend is added at run time with register_backend<B>(name), which stores a table of
// function pointers to B's kernels and returns its BackendId. A BackendGuard selects a backend
// for the current thread; for a registered one, `dispatch` hands the ops RegisteredBackend, whose
// static kernels forward through the table of the thread's current backend.
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "hwaware/backend/kernel_backend.hpp"
#include "hwaware/core/error.hpp"

namespace hwaware {

enum class BackendKind : uint8_t { onednn, reference };

namespace detail {
struct BackendIdAccess;
}

/// Names a backend: a built-in one (implicitly from BackendKind) or one from register_backend.
class BackendId {
 public:
  constexpr BackendId(BackendKind kind) : index_(static_cast<uint16_t>(kind)) {}  // NOLINT: implicit on purpose
  constexpr uint16_t index() const { return index_; }
  constexpr bool builtin() const { return index_ < kBuiltinCount; }
  friend constexpr bool operator==(BackendId, BackendId) = default;

  static constexpr uint16_t kBuiltinCount = 2;

 private:
  friend struct detail::BackendIdAccess;
  constexpr explicit BackendId(uint16_t index) : index_(index) {}
  uint16_t index_;
};

/// One function pointer per KernelBackend kernel (same parameters, same results).
struct KernelTable {
  std::string name;
  Layout (*conv2d_input_layout)(int64_t, int64_t);
  Tensor (*conv2d_forward)(const Tensor&, const Tensor&, const Tensor*, const Conv2dParams&);
  Tensor (*conv2d_forward_add)(const Tensor&, const Tensor&, const Tensor*, const Conv2dParams&, const Tensor&);
  Tensor (*conv2d_backward_data)(const Tensor&, const Tensor&, const Shape&, const Conv2dParams&);
  ConvWeightGrads (*conv2d_backward_weights)(const Tensor&, const Tensor&, const Shape&, bool, const Conv2dParams&);
  BatchNormForward (*batchnorm_forward_train)(const Tensor&, const Tensor&, const Tensor&, float, bool);
  BatchNormForward (*batchnorm_forward_infer)(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                              const Tensor&, float, bool);
  BatchNormGrads (*batchnorm_backward)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                       const Tensor&, float, bool, bool);
  Tensor (*activation_forward)(const Tensor&, Activation);
  Tensor (*activation_backward)(const Tensor&, const Tensor&, Activation);
  PoolForward (*pool2d_forward)(const Tensor&, const Pool2dParams&, bool);
  Tensor (*pool2d_backward)(const Tensor&, const Shape&, Layout, const Tensor&, const Pool2dParams&);
  Tensor (*linear_forward)(const Tensor&, const Tensor&, const Tensor*);
  LinearGrads (*linear_backward)(const Tensor&, const Tensor&, const Tensor&, bool);
};

/// The table of B's kernels. Each entry is a captureless lambda calling B, so B's kernels may take
/// their arguments in any form the concept accepts (by value, with defaults).
template <KernelBackend B>
KernelTable make_kernel_table(std::string name);

/// Adds B under a new id usable by BackendGuard from any thread. Thread-safe. Throws Error when
/// `name` is empty or already taken (the built-ins are "onednn" and "reference").
template <KernelBackend B>
BackendId register_backend(const std::string& name);

/// The backend's name: "onednn", "reference" or the registered name.
inline std::string backend_name(BackendId id);

/// The backend selected for this thread (oneDNN unless a BackendGuard says otherwise).
inline BackendId current_backend();

/// Selects a backend for this thread until the guard goes out of scope; guards nest.
class BackendGuard {
 public:
  explicit BackendGuard(BackendId id);
  ~BackendGuard();
  BackendGuard(const BackendGuard&) = delete;
  BackendGuard& operator=(const BackendGuard&) = delete;

 private:
  BackendId saved_id_;
  const KernelTable* saved_table_;
};

/// What `dispatch` hands the ops when a registered backend is selected: every kernel forwards
/// through the current thread's table. Throws Error when called with a built-in backend selected.
struct RegisteredBackend {
  static Layout conv2d_input_layout(int64_t c, int64_t o) { return table().conv2d_input_layout(c, o); }
  static Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p) {
    return table().conv2d_forward(x, w, b, p);
  }
  static Tensor conv2d_forward_add(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p,
                                   const Tensor& residual) {
    return table().conv2d_forward_add(x, w, b, p, residual);
  }
  static Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& xs, const Conv2dParams& p) {
    return table().conv2d_backward_data(dy, w, xs, p);
  }
  static ConvWeightGrads conv2d_backward_weights(const Tensor& dy, const Tensor& x, const Shape& ws, bool bias,
                                                 const Conv2dParams& p) {
    return table().conv2d_backward_weights(dy, x, ws, bias, p);
  }
  static BatchNormForward batchnorm_forward_train(const Tensor& x, const Tensor& g, const Tensor& b, float eps,
                                                  bool relu) {
    return table().batchnorm_forward_train(x, g, b, eps, relu);
  }
  static BatchNormForward batchnorm_forward_infer(const Tensor& x, const Tensor& g, const Tensor& b,
                                                  const Tensor& mean, const Tensor& var, float eps, bool relu) {
    return table().batchnorm_forward_infer(x, g, b, mean, var, eps, relu);
  }
  static BatchNormGrads batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& g, const Tensor& mean,
                                           const Tensor& var, const Tensor& ws, float eps, bool relu,
                                           bool running_stats) {
    return table().batchnorm_backward(dy, x, g, mean, var, ws, eps, relu, running_stats);
  }
  static Tensor activation_forward(const Tensor& x, Activation a) { return table().activation_forward(x, a); }
  static Tensor activation_backward(const Tensor& dy, const Tensor& x, Activation a) {
    return table().activation_backward(dy, x, a);
  }
  static PoolForward pool2d_forward(const Tensor& x, const Pool2dParams& p, bool training) {
    return table().pool2d_forward(x, p, training);
  }
  static Tensor pool2d_backward(const Tensor& dy, const Shape& xs, Layout xl, const Tensor& ws,
                                const Pool2dParams& p) {
    return table().pool2d_backward(dy, xs, xl, ws, p);
  }
  static Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* b) {
    return table().linear_forward(x, w, b);
  }
  static LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool bias) {
    return table().linear_backward(dy, x, w, bias);
  }

 private:
  static const KernelTable& table();
};

static_assert(KernelBackend<RegisteredBackend>);

// ---- implementation -----------------------------------------------------------------------------

namespace detail {

struct BackendIdAccess {
  static constexpr BackendId make(uint16_t index) { return BackendId(index); }
};

/// The thread's selection: its id and, for a registered backend, its table (null for built-ins).
struct CurrentBackend {
  BackendId id = BackendKind::onednn;
  const KernelTable* table = nullptr;
};

inline CurrentBackend& current_backend_slot() {
  thread_local CurrentBackend current;
  return current;
}

/// Registered tables; a deque so a table's address stays valid while others are added.
class BackendRegistry {
 public:
  BackendId add(KernelTable table) {
    std::lock_guard lock(mutex_);
    if (table.name.empty() || table.name == "onednn" || table.name == "reference")
      throw Error("register_backend: the name '" + table.name + "' is empty or a built-in backend's");
    for (const KernelTable& t : tables_)
      if (t.name == table.name) throw Error("register_backend: a backend named '" + table.name + "' exists");
    if (tables_.size() + BackendId::kBuiltinCount > UINT16_MAX) throw Error("register_backend: too many backends");
    tables_.push_back(std::move(table));
    return BackendIdAccess::make(static_cast<uint16_t>(tables_.size() - 1 + BackendId::kBuiltinCount));
  }

  /// The table of a registered id; the id came from add(), so it is in range.
  const KernelTable& table(BackendId id) {
    std::lock_guard lock(mutex_);
    return tables_.at(id.index() - BackendId::kBuiltinCount);
  }

 private:
  std::mutex mutex_;
  std::deque<KernelTable> tables_;
};

inline BackendRegistry& backend_registry() {
  static BackendRegistry registry;
  return registry;
}

}  // namespace detail

template <KernelBackend B>
KernelTable make_kernel_table(std::string name) {
  return KernelTable{
      std::move(name),
      [](int64_t c, int64_t o) -> Layout { return B::conv2d_input_layout(c, o); },
      [](const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p) -> Tensor {
        return B::conv2d_forward(x, w, b, p);
      },
      [](const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p, const Tensor& r) -> Tensor {
        return B::conv2d_forward_add(x, w, b, p, r);
      },
      [](const Tensor& dy, const Tensor& w, const Shape& xs, const Conv2dParams& p) -> Tensor {
        return B::conv2d_backward_data(dy, w, xs, p);
      },
      [](const Tensor& dy, const Tensor& x, const Shape& ws, bool bias, const Conv2dParams& p) -> ConvWeightGrads {
        return B::conv2d_backward_weights(dy, x, ws, bias, p);
      },
      [](const Tensor& x, const Tensor& g, const Tensor& b, float eps, bool relu) -> BatchNormForward {
        return B::batchnorm_forward_train(x, g, b, eps, relu);
      },
      [](const Tensor& x, const Tensor& g, const Tensor& b, const Tensor& m, const Tensor& v, float eps,
         bool relu) -> BatchNormForward { return B::batchnorm_forward_infer(x, g, b, m, v, eps, relu); },
      [](const Tensor& dy, const Tensor& x, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& ws,
         float eps, bool relu, bool running) -> BatchNormGrads {
        return B::batchnorm_backward(dy, x, g, m, v, ws, eps, relu, running);
      },
      [](const Tensor& x, Activation a) -> Tensor { return B::activation_forward(x, a); },
      [](const Tensor& dy, const Tensor& x, Activation a) -> Tensor { return B::activation_backward(dy, x, a); },
      [](const Tensor& x, const Pool2dParams& p, bool training) -> PoolForward {
        return B::pool2d_forward(x, p, training);
      },
      [](const Tensor& dy, const Shape& xs, Layout xl, const Tensor& ws, const Pool2dParams& p) -> Tensor {
        return B::pool2d_backward(dy, xs, xl, ws, p);
      },
      [](const Tensor& x, const Tensor& w, const Tensor* b) -> Tensor { return B::linear_forward(x, w, b); },
      [](const Tensor& dy, const Tensor& x, const Tensor& w, bool bias) -> LinearGrads {
        return B::linear_backward(dy, x, w, bias);
      },
  };
}

template <KernelBackend B>
BackendId register_backend(const std::string& name) {
  return detail::backend_registry().add(make_kernel_table<B>(name));
}

inline std::string backend_name(BackendId id) {
  if (id == BackendKind::onednn) return "onednn";
  if (id == BackendKind::reference) return "reference";
  return detail::backend_registry().table(id).name;
}

inline BackendId current_backend() { return detail::current_backend_slot().id; }

inline BackendGuard::BackendGuard(BackendId id)
    : saved_id_(detail::current_backend_slot().id), saved_table_(detail::current_backend_slot().table) {
  // The table is looked up here, once, so RegisteredBackend's kernels read it without the lock.
  const KernelTable* table = id.builtin() ? nullptr : &detail::backend_registry().table(id);
  detail::current_backend_slot() = {id, table};
}

inline BackendGuard::~BackendGuard() { detail::current_backend_slot() = {saved_id_, saved_table_}; }

inline const KernelTable& RegisteredBackend::table() {
  const KernelTable* t = detail::current_backend_slot().table;
  if (!t)
    throw Error("RegisteredBackend: the thread's backend '" + backend_name(current_backend()) +
                "' is built in, not registered; call its kernels through dispatch");
  return *t;
}

}  // namespace hwaware
