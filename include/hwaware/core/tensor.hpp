#pragma once
// Tensor: a shape, a dtype, a memory layout and a reference-counted, 64-byte-aligned storage that
// comes from a size-keyed pool, so the steady-state training step reuses buffers instead of
// calling malloc. Views (reshape of plain data, a batch slice) share the storage.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hwaware/core/channel_padding.hpp"
#include "hwaware/core/error.hpp"
#include "hwaware/core/kernel_trace.hpp"
#include "hwaware/core/layout.hpp"

namespace hwaware {

enum class DType : uint8_t { f32, i32 };

inline const char* dtype_name(DType dtype) { return dtype == DType::f32 ? "f32" : "i32"; }

namespace detail {

/// Pool of aligned buffers keyed by byte size. Returned buffers are kept for reuse.
class BufferPool {
 public:
  static BufferPool& instance() {
    static BufferPool* pool = new BufferPool();  // never destroyed: outlives static tensors
    return *pool;
  }
  void* acquire(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        return p;
      }
    }
    fresh_allocations_.fetch_add(1, std::memory_order_relaxed);
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void release(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[bytes].push_back(p);
  }
  /// Number of buffers obtained from the system so far (tests check it stays flat in a loop).
  uint64_t fresh_allocations() const { return fresh_allocations_.load(); }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::atomic<uint64_t> fresh_allocations_{0};
};

}  // namespace detail

/// The memory behind one or more tensors.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  /// Changed whenever the contents change in place (optimizer steps), so backends can cache
  /// derived forms (e.g. weights reordered for a primitive) and know when they are stale. Drawn
  /// from one process-wide counter, so two storages never share a version.
  uint64_t version = next_version();
  /// Backend-owned cache attached to this storage (freed with it).
  std::shared_ptr<void> aux;

  explicit Storage(size_t nbytes) : bytes(round_up(nbytes)) {
    data = detail::BufferPool::instance().acquire(bytes);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() { detail::BufferPool::instance().release(data, bytes); }

  static uint64_t next_version() {
    static std::atomic<uint64_t> counter{0};
    return ++counter;
  }
  static size_t round_up(size_t n) { return std::max<size_t>(64, (n + 63) / 64 * 64); }
};

using Shape = std::vector<int64_t>;

inline int64_t numel_of(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>());
}

class Tensor {
 public:
  Tensor() = default;

  /// Uninitialised tensor (contents undefined; padding of blocked layouts is zeroed).
  static Tensor empty(const Shape& shape, Layout layout = Layout::plain, DType dtype = DType::f32) {
    Tensor t;
    t.shape_ = shape;
    t.layout_ = layout;
    t.dtype_ = dtype;
    if (layout != Layout::plain)
      check_shapes(shape.size() == 4, "Tensor", "blocked16 and nhwc layouts need a 4-D shape", shape);
    t.storage_ = std::make_shared<Storage>(t.storage_elems() * 4);
    if (layout == Layout::blocked16 && shape[1] % kChannelBlock != 0) t.zero_();
    return t;
  }
  static Tensor zeros(const Shape& shape, Layout layout = Layout::plain, DType dtype = DType::f32) {
    Tensor t = empty(shape, layout, dtype);
    t.zero_();
    return t;
  }
  /// Plain f32 tensor filled with `value`.
  static Tensor full(const Shape& shape, float value) {
    Tensor t = empty(shape);
    std::fill_n(t.data(), t.numel(), value);
    return t;
  }
  /// Plain f32 tensor holding `values` in row-major order; throws ShapeError on a count mismatch.
  /// A braced list of numbers, integers included, makes an f32 tensor.
  static Tensor from(const Shape& shape, std::initializer_list<float> values) {
    return from(shape, std::vector<float>(values));
  }
  static Tensor from(const Shape& shape, const std::vector<float>& values) {
    check_value_count(shape, values.size());
    Tensor t = empty(shape);
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }
  /// Plain i32 tensor holding `values` in row-major order, e.g. class labels for cross_entropy:
  /// Tensor::from({3}, std::vector<int32_t>{2, 0, 1}). Throws ShapeError on a count mismatch.
  static Tensor from(const Shape& shape, const std::vector<int32_t>& values) {
    check_value_count(shape, values.size());
    Tensor t = empty(shape, Layout::plain, DType::i32);
    std::copy(values.begin(), values.end(), t.idata());
    return t;
  }

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return numel_of(shape_); }
  Layout layout() const { return layout_; }
  DType dtype() const { return dtype_; }

  /// Number of elements the layout occupies in storage (≥ numel for padded blocked layouts).
  int64_t storage_elems() const {
    if (layout_ == Layout::blocked16) return shape_[0] * padded_channels(shape_[1]) * shape_[2] * shape_[3];
    return numel();
  }

  /// The elements as row-major (NCHW) f32 values. Throws LayoutError when the tensor is not plain
  /// (oneDNN returns activations in its own layouts: read those through to_plain() or at()) or
  /// does not hold f32, so no caller can read them in the wrong order.
  float* data() {
    check_readable(DType::f32, "Tensor::data()");
    return raw_data();
  }
  const float* data() const {
    check_readable(DType::f32, "Tensor::data()");
    return raw_data();
  }
  /// The elements as row-major i32 values (labels, argmax indices); throws LayoutError unless the
  /// tensor is plain and holds i32.
  int32_t* idata() {
    check_readable(DType::i32, "Tensor::idata()");
    return reinterpret_cast<int32_t*>(raw_data());
  }
  const int32_t* idata() const {
    check_readable(DType::i32, "Tensor::idata()");
    return reinterpret_cast<const int32_t*>(raw_data());
  }

  /// The storage as it lies in memory, in layout() with its channel padding (storage_elems()
  /// 4-byte elements), unchecked: for kernels that index by layout or copy bytes.
  float* raw_data() { return static_cast<float*>(storage_->data) + offset_; }
  const float* raw_data() const { return static_cast<const float*>(storage_->data) + offset_; }

  /// Throws LayoutError, naming `reader`, the layout, the dtype and the shape, unless the tensor
  /// is plain and holds `dtype`.
  void check_readable(DType dtype, std::string_view reader) const {
    if (layout_ != Layout::plain || dtype_ != dtype) throw_unreadable(dtype, reader);
  }

  Storage& storage() const { return *storage_; }
  bool shares_storage_with(const Tensor& o) const { return storage_ == o.storage_; }
  /// True when no other tensor refers to this storage (safe to update in place).
  bool storage_unique() const { return storage_.use_count() == 1; }
  void bump_version() { storage_->version = Storage::next_version(); }

  void zero_() { std::memset(raw_data(), 0, storage_elems() * 4); }

  /// Deep copy with the same layout.
  Tensor clone() const {
    Tensor t = empty(shape_, layout_, dtype_);
    std::memcpy(t.raw_data(), raw_data(), storage_elems() * 4);
    return t;
  }

  /// View with another shape over the same plain data.
  Tensor reshape(const Shape& shape) const {
    check_shapes(layout_ == Layout::plain, "reshape", "needs a plain tensor; call to_plain() first", shape_);
    check_shapes(numel_of(shape) == numel(), "reshape", "element count differs", shape_, shape);
    Tensor t = *this;
    t.shape_ = shape;
    return t;
  }

  /// View of rows [begin, end) along dimension 0 (plain layout only).
  Tensor slice0(int64_t begin, int64_t end) const {
    check_shapes(layout_ == Layout::plain && begin >= 0 && begin <= end && end <= shape_.at(0), "slice0",
                 "range out of bounds or blocked layout", shape_, {begin, end});
    Tensor t = *this;
    int64_t row = numel() / std::max<int64_t>(shape_[0], 1);
    t.offset_ += begin * row;
    t.shape_[0] = end - begin;
    return t;
  }

  /// Same values in plain NCHW layout (a view when already plain).
  Tensor to_plain() const {
    if (layout_ == Layout::plain) return *this;
    trace_conversion(Layout::plain);
    return plain_copy();
  }

  /// Same values in the given layout (the tensor itself when already in it).
  Tensor to_layout(Layout layout) const {
    if (layout == layout_) return *this;
    trace_conversion(layout);
    if (layout == Layout::plain) return plain_copy();
    return (layout_ == Layout::plain ? *this : plain_copy()).from_plain(layout);
  }

  /// Element access by logical NCHW index in any layout (slow; tests and tools only). Throws
  /// LayoutError for an i32 tensor.
  float at(const Shape& idx) const {
    if (dtype_ != DType::f32) throw_unreadable(DType::f32, "Tensor::at()");
    if (layout_ == Layout::nhwc)
      return raw_data()[((idx[0] * shape_[2] + idx[2]) * shape_[3] + idx[3]) * shape_[1] + idx[1]];
    if (layout_ == Layout::blocked16) {
      const int64_t C = shape_[1], H = shape_[2], W = shape_[3], CB = padded_channels(C) / kChannelBlock;
      return raw_data()[(((idx[0] * CB + idx[1] / kChannelBlock) * H + idx[2]) * W + idx[3]) * kChannelBlock +
                        idx[1] % kChannelBlock];
    }
    int64_t off = 0;
    for (size_t i = 0; i < shape_.size(); ++i) off = off * shape_[i] + idx[i];
    return raw_data()[off];
  }

 private:
  /// One conversion for a recording KernelTrace (the two passes through plain count as one).
  void trace_conversion(Layout to) const {
    if (runtime::KernelTrace::on() && shape_.size() == 4)
      runtime::trace_conversion(runtime::KernelKind::reorder, shape_[0], shape_[1], shape_[2], shape_[3], layout_, to);
  }

  /// This non-plain tensor's values in plain NCHW (element type kept).
  Tensor plain_copy() const {
    Tensor t = empty(shape_, Layout::plain, dtype_);
    const float* s = raw_data();
    float* d = t.raw_data();
    if (layout_ == Layout::nhwc) {
      const int64_t N = shape_[0], C = shape_[1], HW = shape_[2] * shape_[3];
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i)
          for (int64_t c = 0; c < C; ++c) d[(n * C + c) * HW + i] = s[(n * HW + i) * C + c];
      return t;
    }
    const int64_t N = shape_[0], C = shape_[1], HW = shape_[2] * shape_[3], CB = padded_channels(C) / kChannelBlock;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const float* src = s + ((n * CB + c / kChannelBlock) * HW) * kChannelBlock + c % kChannelBlock;
        float* dst = d + (n * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) dst[i] = src[i * kChannelBlock];
      }
    return t;
  }

  /// This plain tensor converted to nhwc or blocked16 (element type kept).
  Tensor from_plain(Layout layout) const {
    Tensor t = empty(shape_, layout, dtype_);
    const float* s = raw_data();
    float* d = t.raw_data();
    if (layout == Layout::nhwc) {
      const int64_t N = shape_[0], C = shape_[1], HW = shape_[2] * shape_[3];
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < HW; ++i) d[(n * HW + i) * C + c] = s[(n * C + c) * HW + i];
      return t;
    }
    const int64_t N = shape_[0], C = shape_[1], HW = shape_[2] * shape_[3], CB = padded_channels(C) / kChannelBlock;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const float* src = s + (n * C + c) * HW;
        float* dst = d + ((n * CB + c / kChannelBlock) * HW) * kChannelBlock + c % kChannelBlock;
        for (int64_t i = 0; i < HW; ++i) dst[i * kChannelBlock] = src[i];
      }
    return t;
  }

  static void check_value_count(const Shape& shape, size_t count) {
    check_shapes(numel_of(shape) == static_cast<int64_t>(count), "Tensor::from", "value count does not match the shape",
                 shape, {static_cast<int64_t>(count)});
  }

  [[noreturn]] void throw_unreadable(DType dtype, std::string_view reader) const {
    std::string msg = std::string(reader) + ": the tensor " + shape_str(shape_);
    if (layout_ != Layout::plain)
      msg += " is in " + std::string(layout_name(layout_)) +
             " layout, not plain NCHW (oneDNN keeps activations and their gradients in its own layouts); "
             "read it through to_plain() or at()";
    else
      msg += " holds " + std::string(dtype_name(dtype_)) + ", not " + dtype_name(dtype) + "; read it with " +
             (dtype_ == DType::i32 ? "idata()" : "data()");
    throw LayoutError(msg);
  }

  Shape shape_;
  Layout layout_ = Layout::plain;
  DType dtype_ = DType::f32;
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;
};

}  // namespace hwaware
