#pragma once
// Memory-bound ops shared by both backends: plain loops over storage that respect the layout
// (blocked tensors keep their zero channel padding). oneDNN would add a primitive call each
// for these without doing less work. Loops that index by layout read raw_data(); loops over
// tensors known to be plain read data(), whose check states that.
#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include <omp.h>

#include "hwaware/core/kernel_trace.hpp"
#include "hwaware/core/tensor.hpp"

namespace hwaware::common {

/// f(a, b) elementwise over the storage; b is converted to a's layout, the result has a's layout.
/// Blocked padding stays zero for any f with f(0, 0) = 0 (add, mul).
template <class F>
Tensor elementwise(const char* op, const Tensor& a, const Tensor& bin, F f) {
  check_shapes(a.shape() == bin.shape(), op, "operands must have the same shape", a.shape(), bin.shape());
  const Tensor b = bin.to_layout(a.layout());
  Tensor y = Tensor::empty(a.shape(), a.layout());
  const int64_t n = a.storage_elems();
  const float *pa = a.raw_data(), *pb = b.raw_data();
  float* py = y.raw_data();
  if (runtime::KernelTrace::on() && a.rank() == 4 && std::string_view(op) == "add") {
    runtime::Kernel k;
    k.kind = runtime::KernelKind::add, k.op = LayerKind::add, k.batch = a.dim(0);
    k.in_c = k.out_c = a.dim(1), k.in_h = k.out_h = a.dim(2), k.in_w = k.out_w = a.dim(3);
    k.src = k.dst = a.layout(), k.work = n, k.threads = runtime::elementwise_threads(n, omp_get_max_threads());
    runtime::KernelTrace::record(k);
  }
#pragma omp parallel for simd schedule(static) if (n > runtime::kElementwiseParallelElems)
  for (int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i]);
  return y;
}

/// a + b elementwise; the result has a's layout.
inline Tensor add(const Tensor& a, const Tensor& b) {
  return elementwise("add", a, b, [](float x, float y) { return x + y; });
}

/// a * b elementwise; the result has a's layout.
inline Tensor mul(const Tensor& a, const Tensor& b) {
  return elementwise("mul", a, b, [](float x, float y) { return x * y; });
}

/// dst += src (src converted to dst's layout).
inline void accumulate(Tensor& dst, const Tensor& srcin) {
  check_shapes(dst.shape() == srcin.shape(), "gradient accumulation", "shapes differ", dst.shape(), srcin.shape());
  const Tensor src = srcin.to_layout(dst.layout());
  const int64_t n = dst.storage_elems();
  float* pd = dst.raw_data();
  const float* ps = src.raw_data();
#pragma omp parallel for simd schedule(static) if (n > runtime::kElementwiseParallelElems)
  for (int64_t i = 0; i < n; ++i) pd[i] += ps[i];
}

/// x * s for a scalar s; the result has x's layout (blocked padding stays zero).
inline Tensor scale(const Tensor& x, float s) {
  Tensor y = Tensor::empty(x.shape(), x.layout());
  const float* px = x.raw_data();
  float* py = y.raw_data();
  for (int64_t i = 0; i < x.storage_elems(); ++i) py[i] = px[i] * s;
  return y;
}

/// x + s for a scalar s; the result has x's layout, and the channel padding of a blocked one
/// stays zero (the next primitive reads it).
inline Tensor add_scalar(const Tensor& x, float s) {
  Tensor y = Tensor::empty(x.shape(), x.layout());
  const float* px = x.raw_data();
  float* py = y.raw_data();
  const int64_t n = x.storage_elems();
  for (int64_t i = 0; i < n; ++i) py[i] = px[i] + s;
  if (x.layout() == Layout::blocked16 && x.dim(1) % kChannelBlock != 0) {
    const int64_t C = x.dim(1), HW = x.dim(2) * x.dim(3), CB = padded_channels(C) / kChannelBlock;
    for (int64_t i = 0; i < n; ++i)
      if ((i / (HW * kChannelBlock)) % CB * kChannelBlock + i % kChannelBlock >= C) py[i] = 0.f;
  }
  return y;
}

/// [N,C,H,W] (either layout) → [N,C] plain: mean over H and W.
inline Tensor global_avg_pool_forward(const Tensor& x) {
  check_shapes(x.rank() == 4, "global_avg_pool", "input must be [N,C,H,W]", x.shape());
  const int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  Tensor y = Tensor::empty({N, C});
  const float inv = 1.f / float(HW);
  const float* px = x.raw_data();  // indexed by x's layout below
  float* py = y.data();
  if (runtime::KernelTrace::on()) {
    runtime::Kernel k;
    k.kind = runtime::KernelKind::global_pool, k.op = LayerKind::global_avg_pool, k.batch = N;
    k.in_c = k.out_c = C, k.in_h = x.dim(2), k.in_w = x.dim(3), k.src = x.layout(), k.work = x.numel();
    runtime::KernelTrace::record(k);
  }
  if (x.layout() == Layout::nhwc) {
    for (int64_t n = 0; n < N; ++n) {
      float* yn = py + n * C;
      std::fill_n(yn, C, 0.f);
      for (int64_t i = 0; i < HW; ++i)
        for (int64_t c = 0; c < C; ++c) yn[c] += px[(n * HW + i) * C + c];
      for (int64_t c = 0; c < C; ++c) yn[c] *= inv;
    }
    return y;
  }
  if (x.layout() == Layout::plain) {
    for (int64_t nc = 0; nc < N * C; ++nc) {
      float s = 0;
      for (int64_t i = 0; i < HW; ++i) s += px[nc * HW + i];
      py[nc] = s * inv;
    }
    return y;
  }
  const int64_t CB = padded_channels(C) / kChannelBlock;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t cb = 0; cb < CB; ++cb) {
      float acc[kChannelBlock] = {};
      const float* p = px + (n * CB + cb) * HW * kChannelBlock;
      for (int64_t i = 0; i < HW; ++i)
#pragma omp simd
        for (int64_t j = 0; j < kChannelBlock; ++j) acc[j] += p[i * kChannelBlock + j];
      for (int64_t j = 0; j < kChannelBlock && cb * kChannelBlock + j < C; ++j)
        py[n * C + cb * kChannelBlock + j] = acc[j] * inv;
    }
  return y;
}

/// dy [N,C] (plain) → dx [N,C,H,W] in the given layout.
inline Tensor global_avg_pool_backward(const Tensor& dy, const Shape& xs, Layout layout) {
  const int64_t N = xs[0], C = xs[1], HW = xs[2] * xs[3];
  Tensor dx = Tensor::empty(xs, layout);
  const float inv = 1.f / float(HW);
  const float* pdy = dy.data();
  float* pdx = dx.raw_data();  // indexed by the layout below
  if (layout == Layout::nhwc) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i)
        for (int64_t c = 0; c < C; ++c) pdx[(n * HW + i) * C + c] = pdy[n * C + c] * inv;
    return dx;
  }
  if (layout == Layout::plain) {
    for (int64_t nc = 0; nc < N * C; ++nc) std::fill_n(pdx + nc * HW, HW, pdy[nc] * inv);
    return dx;
  }
  const int64_t CB = padded_channels(C) / kChannelBlock;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t cb = 0; cb < CB; ++cb) {
      float g[kChannelBlock] = {};
      for (int64_t j = 0; j < kChannelBlock && cb * kChannelBlock + j < C; ++j)
        g[j] = pdy[n * C + cb * kChannelBlock + j] * inv;
      float* p = pdx + (n * CB + cb) * HW * kChannelBlock;
      for (int64_t i = 0; i < HW; ++i) std::copy_n(g, kChannelBlock, p + i * kChannelBlock);
    }
  return dx;
}

/// Concatenation along channels; the result has the first input's layout.
inline Tensor concat_channels(const std::vector<Tensor>& xs) {
  check_shapes(!xs.empty() && xs[0].rank() == 4, "concat", "needs at least one [N,C,H,W] input",
               xs.empty() ? Shape{} : xs[0].shape());
  Shape out = xs[0].shape();
  out[1] = 0;
  for (const auto& x : xs) {
    check_shapes(x.rank() == 4 && x.dim(0) == out[0] && x.dim(2) == out[2] && x.dim(3) == out[3], "concat",
                 "inputs must agree in N, H and W", xs[0].shape(), x.shape());
    out[1] += x.dim(1);
  }
  Tensor y = Tensor::empty(out);
  const int64_t HW = out[2] * out[3];
  int64_t c0 = 0;
  for (const auto& xin : xs) {
    const Tensor x = xin.to_plain();
    for (int64_t n = 0; n < out[0]; ++n)
      std::copy_n(x.data() + n * x.dim(1) * HW, x.dim(1) * HW, y.data() + (n * out[1] + c0) * HW);
    c0 += x.dim(1);
  }
  return y.to_layout(xs[0].layout());
}

/// Channels [c0, c0 + c) of x, in the given layout.
inline Tensor slice_channels(const Tensor& xin, int64_t c0, int64_t c, Layout layout) {
  const Tensor x = xin.to_plain();
  const int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  Tensor y = Tensor::empty({N, c, x.dim(2), x.dim(3)});
  for (int64_t n = 0; n < N; ++n) std::copy_n(x.data() + (n * C + c0) * HW, c * HW, y.data() + n * c * HW);
  return y.to_layout(layout);
}

struct CrossEntropy {
  float loss = 0;     // mean over the batch
  int64_t correct = 0;  // argmax == label
  Tensor dlogits;     // gradient of the mean loss w.r.t. the logits
};

/// Softmax cross-entropy with label smoothing ε: the target is (1-ε)·onehot + ε/K.
inline CrossEntropy softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float smoothing = 0.f) {
  check_shapes(logits.rank() == 2 && labels.rank() == 1 && labels.dim(0) == logits.dim(0) &&
                   labels.dtype() == DType::i32,
               "cross_entropy", "logits must be [N,K] and labels int32 [N]", logits.shape(), labels.shape());
  const int64_t N = logits.dim(0), K = logits.dim(1);
  CrossEntropy r{0.f, 0, Tensor::empty({N, K})};
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* z = logits.data() + n * K;
    const int32_t y = labels.idata()[n];
    if (y < 0 || y >= K) throw ShapeError("cross_entropy: label " + std::to_string(y) + " at row " + std::to_string(n) +
                                          " is outside [0, " + std::to_string(K) + ")");
    const float zmax = *std::max_element(z, z + K);
    if (std::max_element(z, z + K) - z == y) ++r.correct;
    double sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += std::exp(double(z[k] - zmax));
    const double lse = std::log(sum) + zmax;
    float* g = r.dlogits.data() + n * K;
    for (int64_t k = 0; k < K; ++k) {
      const double target = (k == y ? 1.0 - smoothing : 0.0) + smoothing / double(K);
      total -= target * (double(z[k]) - lse);
      g[k] = float((std::exp(double(z[k]) - lse) - target) / double(N));
    }
  }
  r.loss = float(total / double(N));
  return r;
}

}  // namespace hwaware::common
