#pragma once
// oneDNN context: the engine and stream, the primitive cache (primitive descriptors *and*
// primitives, keyed by shape and parameters), the weight-reorder cache, and error translation.
// oneDNN caches only primitives and says "could not create a primitive descriptor" on failure;
// here every failure is rethrown with the op name and the shapes.
#include <omp.h>

#include <array>
#include <functional>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>

#include "hwaware/core/error.hpp"
#include "hwaware/core/kernel_trace.hpp"
#include "hwaware/core/runtime_plan.hpp"
#include "hwaware/core/tensor.hpp"

namespace hwaware::onednn {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

/// Engine + stream of the CPU device (one per process).
class Context {
 public:
  static Context& get() {
    static Context ctx;
    return ctx;
  }
  dnnl::engine& engine() { return engine_; }
  dnnl::stream& stream() { return stream_; }

 private:
  Context() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}
  dnnl::engine engine_;
  dnnl::stream stream_;
};

/// Number of threads oneDNN (OpenMP) uses.
inline void set_num_threads(int n) { omp_set_num_threads(n); }
inline int num_threads() { return omp_get_max_threads(); }

/// Ops with less work than this run on one thread (the rule and its measurements live in the
/// runtime plan, which the latency models read too).
inline constexpr int64_t kDefaultSerialWork = runtime::kDefaultSerialWork;
inline int64_t& serial_work_threshold() {
  static int64_t t = kDefaultSerialWork;
  return t;
}
inline void set_serial_work_threshold(int64_t work) { serial_work_threshold() = work; }

/// The thread count an op of `work` runs on: 1 below the threshold, else the configured count.
inline int threads_for(int64_t work) { return runtime::threads_for(work, num_threads(), serial_work_threshold()); }

/// Whether convolutions run nChw16c where their channels allow (runtime::conv_layouts): only where
/// oneDNN dispatches to AVX-512 (DNNL_MAX_CPU_ISA respected). Below it oneDNN 2.6 has no JIT
/// kernel for nChw16c and runs its reference code (resnet-8 at batch 1 under
/// DNNL_MAX_CPU_ISA=AVX2: 294 ms, against 0.24 ms all nhwc), while nhwc gets JIT kernels on every ISA.
inline bool& blocked_convs() {
  static bool b = [] {
    const int avx512_core = int(dnnl::cpu_isa::avx512_core);
    return (int(dnnl::get_effective_cpu_isa()) & avx512_core) == avx512_core;
  }();
  return b;
}
/// Forces the choice (tests run the nhwc-only runtime on an AVX-512 host).
inline void set_blocked_convs(bool on) { blocked_convs() = on; }

/// Sets blocked_convs() for a scope and restores it after.
class BlockedConvsScope {
 public:
  explicit BlockedConvsScope(bool on) : saved_(blocked_convs()) { set_blocked_convs(on); }
  ~BlockedConvsScope() { set_blocked_convs(saved_); }
  BlockedConvsScope(const BlockedConvsScope&) = delete;
  BlockedConvsScope& operator=(const BlockedConvsScope&) = delete;

 private:
  bool saved_;
};

/// The rules the runtime runs under now, for runtime::plan_kernels.
inline runtime::RuntimeConfig runtime_config(int64_t batch) {
  return {num_threads(), batch, serial_work_threshold(), blocked_convs()};
}

/// Runs the enclosed primitive creation and execution on `n` threads, then restores the count.
/// oneDNN's kernels fix their thread split when the primitive is created, so the thread count is
/// part of every cache key.
class ThreadScope {
 public:
  explicit ThreadScope(int n) : saved_(omp_get_max_threads()), n_(n) {
    if (n_ != saved_) omp_set_num_threads(n_);
  }
  ~ThreadScope() {
    if (n_ != saved_) omp_set_num_threads(saved_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;
  int threads() const { return n_; }

 private:
  int saved_, n_;
};

/// Fixed-capacity integer key: building it allocates nothing, so a cache hit is allocation-free.
struct CacheKey {
  std::array<int64_t, 40> v{};
  int n = 0;
  CacheKey& add(int64_t x) {
    if (n == static_cast<int>(v.size())) throw Error("CacheKey: too many fields");
    v[n++] = x;
    return *this;
  }
  CacheKey& add(const Shape& s) {
    add(static_cast<int64_t>(s.size()));
    for (auto d : s) add(d);
    return *this;
  }
  bool operator==(const CacheKey& o) const { return n == o.n && std::equal(v.begin(), v.begin() + n, o.v.begin()); }
};

struct CacheKeyHash {
  size_t operator()(const CacheKey& k) const {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < k.n; ++i) h = (h ^ static_cast<uint64_t>(k.v[i])) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

/// Cache of op entries (a struct holding primitive descriptors and primitives) by key.
class PrimitiveCache {
 public:
  static PrimitiveCache& get() {
    static PrimitiveCache cache;
    return cache;
  }
  /// Returns the entry for `key`, creating it with `make()` on a miss.
  template <class Entry, class Make>
  Entry& find_or_make(const CacheKey& key, Make&& make) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      ++misses_;
      it = entries_.emplace(key, std::shared_ptr<void>(std::make_shared<Entry>(make()))).first;
    }
    return *static_cast<Entry*>(it->second.get());
  }
  size_t size() const { return entries_.size(); }
  uint64_t misses() const { return misses_; }
  void clear() { entries_.clear(); }

 private:
  std::unordered_map<CacheKey, std::shared_ptr<void>, CacheKeyHash> entries_;
  uint64_t misses_ = 0;
};

/// Rethrows a oneDNN error with the op name and shapes.
template <class F>
auto guarded(const std::string& op, const Shape& a, const Shape& b, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    throw ShapeError(op + ": oneDNN failed (" + e.what() + ") for shapes " + shape_str(a) + " and " + shape_str(b));
  }
}

inline memory::dims to_dims(const Shape& s) { return memory::dims(s.begin(), s.end()); }

/// Memory descriptor of a tensor as it lies in memory.
inline memory::desc md_of(const Shape& s, Layout layout) {
  if (layout == Layout::blocked16) return memory::desc(to_dims(s), dt::f32, tag::nChw16c);
  if (layout == Layout::nhwc) return memory::desc(to_dims(s), dt::f32, tag::nhwc);
  switch (s.size()) {
    case 1: return memory::desc(to_dims(s), dt::f32, tag::a);
    case 2: return memory::desc(to_dims(s), dt::f32, tag::ab);
    case 4: return memory::desc(to_dims(s), dt::f32, tag::nchw);
    default: throw ShapeError("onednn: unsupported rank for a memory descriptor " + shape_str(s));
  }
}
inline memory::desc md_of(const Tensor& t) { return md_of(t.shape(), t.layout()); }

inline memory mem(const memory::desc& md, const void* p) {
  return memory(md, Context::get().engine(), const_cast<void*>(p));
}
/// Memory of a tensor in its own layout (md_of describes it, so the raw storage is right).
inline memory mem(const Tensor& t) { return mem(md_of(t), t.raw_data()); }

/// The memory objects of one cached primitive's arguments, created on first use and re-pointed at
/// each call's buffers. Creating a dnnl::memory costs an aligned allocation; with the argument
/// map, that was a fifth of a batch-1 resnet-8 forward (perf). A primitive's argument
/// descriptors are fixed by its cache key, so only the data pointers change.
class BoundArgs {
 public:
  /// The memory for argument `arg`, now pointing at `p`; `md()` gives its descriptor, called
  /// only the first time.
  template <class MdFn>
  const memory& bind_with(int arg, const void* p, MdFn&& md) {
    for (int i = 0; i < n_; ++i)
      if (ids_[i] == arg) {
        if (mems_[i].get_data_handle() != p) mems_[i].set_data_handle(const_cast<void*>(p));
        return mems_[i];
      }
    if (n_ == kMax) throw Error("BoundArgs: more than 8 primitive arguments");
    ids_[n_] = arg;
    mems_[n_] = mem(md(), p);
    return mems_[n_++];
  }
  const memory& bind(int arg, const memory::desc& md, const void* p) {
    return bind_with(arg, p, [&] { return md; });
  }
  const memory& bind(int arg, const Tensor& t) {
    return bind_with(arg, t.raw_data(), [&] { return md_of(t); });
  }

 private:
  static constexpr int kMax = 8;
  std::array<int, kMax> ids_{};
  std::array<memory, kMax> mems_;
  int n_ = 0;
};

/// Executes `prim` on the stream and waits, passing the arguments as a plain array (oneDNN's C++
/// overload takes an unordered_map, which allocates a node per argument).
inline void execute(const dnnl::primitive& prim, std::initializer_list<std::pair<int, const memory*>> args) {
  std::array<dnnl_exec_arg_t, 10> a{};
  int n = 0;
  for (const auto& [id, m] : args) {
    if (!m) continue;
    if (n == static_cast<int>(a.size())) throw Error("onednn::execute: more than 10 primitive arguments");
    a[n++] = {id, m->get()};
  }
  auto& s = Context::get().stream();
  if (dnnl_primitive_execute(prim.get(), s.get(), n, a.data()) != dnnl_success)
    throw Error("onednn: executing a primitive failed");
  s.wait();
}

/// Tensor whose storage can hold `md` (in floats, rounded up).
inline Tensor tensor_for(const memory::desc& md) {
  return Tensor::empty({static_cast<int64_t>((md.get_size() + 3) / 4)});
}

/// Weights kept in the layouts primitives want, re-derived only when the weight's storage version
/// changes (once per optimizer step), not per call.
struct ReorderedWeights {
  struct Entry {
    memory::desc want;
    uint64_t version = ~0ull;
    Tensor buffer;
    memory m;
    dnnl::reorder reorder;
  };
  std::vector<Entry> entries;
};

/// Memory of weight tensor `w` (plain, described by `plain_md`) in the layout `want`. Callers
/// convert a weight to plain first; data() refuses any other layout.
inline memory weights_as(const Tensor& w, const memory::desc& plain_md, const memory::desc& want) {
  if (want == plain_md) return mem(plain_md, w.data());
  Storage& st = w.storage();
  if (!st.aux) st.aux = std::make_shared<ReorderedWeights>();
  auto& cache = *static_cast<ReorderedWeights*>(st.aux.get());
  ReorderedWeights::Entry* e = nullptr;
  for (auto& c : cache.entries)
    if (c.want == want) e = &c;
  if (!e) {
    cache.entries.push_back({want, ~0ull, tensor_for(want), memory(), dnnl::reorder()});
    e = &cache.entries.back();
    e->m = mem(want, e->buffer.raw_data());
    e->reorder = dnnl::reorder(mem(plain_md, w.data()), e->m);
  }
  if (e->version != st.version) {
    auto src = mem(plain_md, w.data());
    e->reorder.execute(Context::get().stream(), src, e->m);
    e->version = st.version;
  }
  return e->m;
}

}  // namespace hwaware::onednn
