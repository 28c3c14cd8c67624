#pragma once
// MlpLatencyPredictor: a learned latency model. A small MLP maps each layer's standardised
// features (features.hpp) to that layer's latency; a network's latency is the sum over its
// layers (ZeroBN's predictor is per conv layer, nn-Meter's per fused kernel). Because the sum is
// over layers, one model serves every depth and every family, and a 1-layer network (a layer
// sample) is just a short network.
//
//   per layer:  ms_l = exp(w_out · relu(W_k … relu(W_1 · (x_l − mean)/scale + b_1) …) + b_out)
//   network:    ms   = Σ_l ms_l + exp(κ)      (κ: a learned per-inference constant — the input and
//                                             output reorders and the stream's fixed cost)
//   loss:       Σ_s weight_s · (log ms_s − log measured_median_s)² / Σ_s weight_s
//
// Choices and why:
//   - ReLU hidden units (as LightNAS's predictor): cheap in the batched path; the width gradient
//     is piecewise smooth, which is what a searcher's gradient step needs.
//   - exp on the output: latency spans four decades across layers (a 1 µs ReLU to a 1 ms conv);
//     exp makes log-latency roughly linear in the log features, the easy case for an MLP, and
//     keeps every layer's latency positive.
//   - Log-space loss: the metric that matters is relative error (nn-Meter's ±10%), and a 40%
//     slower machine session scales every label alike.
//   - Layer samples weigh 0.1 by default: measured alone, a layer keeps its weights and input in
//     cache and runs ~10% faster than inside a network, so they shape the per-layer function
//     where whole networks are few without pulling the sums (0.1 beat 1 and 0 on held-out
//     networks: docs/decisions.md).
//   - Default sizes 25 → 32 → 16 → 1: small enough for ≥ 1 M predictions/s of 20-layer networks
//     on one thread (bench_predictor), large enough to learn the padding steps.
//
// Precision: fitting and predict_with_grad run in double (Eigen); predict_ms and
// predict_batch_ms run a float kernel (the standardisation folded into the first layer,
// vectorised with AVX-512 or AVX2 when the CPU has them, chosen at run time, whatever the
// compiler flags). The two agree to ~1e-5 relative; predict_ms(n) == predict_batch_ms(b)[i]
// exactly for n == b[i].
//
// File format (text, version 1; every number in its shortest exact decimal form, so a save → load
// round trip reproduces the predictions bit for bit; readable from any language):
//   hwaware-mlp-latency 1
//   {"device":...,"cpu_model":...}          the Fingerprint, one JSON line
//   vector_block 16
//   features 25 log1p_in_hw log1p_in_c ...  count, then the names in order (features.hpp)
//   activations relu exp                    hidden units, output
//   network_log_ms -7.2                     κ: every non-empty network adds exp(κ) ms
//   sizes 4 25 32 16 1                      number of sizes, then input, hidden…, output
//   scaling_mean <25 numbers>               x' = (x − mean) / scale
//   scaling_scale <25 numbers>
//   weight 0 32 25                          layer index, rows, cols; then `rows` lines of `cols`
//   <32 lines of 25 numbers>                numbers (row-major: output unit × input)
//   bias 0 32 <32 numbers>
//   weight 1 16 32 …, bias 1 16 …, weight 2 1 16 …, bias 2 1 …
//   end
#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "hwaware/core/atomic_file.hpp"
#include "hwaware/core/error.hpp"
#include "hwaware/hw/dense_mlp.hpp"
#include "hwaware/hw/detail/text_model_io.hpp"
#include "hwaware/hw/features.hpp"
#include "hwaware/hw/predictor_concept.hpp"
#include "hwaware/optim/adam.hpp"

namespace hwaware::hw {

/// How MlpLatencyPredictor::fit trains.
struct MlpFitOptions {
  std::vector<int> hidden = {32, 16};        // hidden layer widths
  int epochs = 600;                          // passes over the samples
  int batch_size = 32;                       // networks per Adam step
  double learning_rate = 3e-3;               // Adam, cosine-decayed to lr · final_lr_fraction
  double final_lr_fraction = 0.05;
  double weight_decay = 0.0;                 // L2 on the weights (not the biases)
  double layer_sample_weight = 0.1;          // loss weight of samples of kind "layer" (see above)
  uint64_t seed = 1;                         // initialisation and shuffling
};

/// What a fit did.
struct MlpFitReport {
  size_t samples = 0, layers = 0;  // networks and layers trained on
  int steps = 0;                   // Adam steps
  double final_loss = 0;           // weighted mean squared log error over all samples at the end
  double rms_relative_error = 0;   // sqrt(mean((pred/measured − 1)²)) over the training samples
};

namespace detail {

using ::hwaware::hw::DenseMlp;

// ---- the float kernel of the batched path ------------------------------------------------------

inline constexpr int kMlpChunk = 128;  // rows (layers or kernels) per kernel call, at most

/// The MLP in float, row-major weights (out × in), the standardisation folded into layer 0 and
/// the one-hot inputs folded out of it: inputs [dense, sizes[0]) are one-hot groups, so a row
/// writes only [0, dense) and layer 0 starts from its category's bias (layer 0's bias plus the
/// columns of the inputs the category sets to 1) — no multiply and no store for the rest.
struct MlpKernelWeights {
  std::vector<int> sizes;               // inputs (all of them), hidden…, 1
  int log_features = kLogFeatureCount;  // inputs [0, log_features) arrive raw and get log1p
  int dense = 0;                        // inputs a row writes; w[0] is sizes[1] × dense
  std::vector<std::vector<float>> w, b;
  std::vector<std::vector<float>> category_bias;  // layer 0's bias for each category
  int max_width() const { return sizes.empty() ? 0 : *std::max_element(sizes.begin() + 1, sizes.end()); }
};

/// log(1 + x) for x ≥ 0, ~1 ulp, written so the compiler vectorises it (no libm call).
[[gnu::always_inline]] inline float mlp_log1p(float x) {
  const float y = (x > 0.f ? x : 0.f) + 1.f;
  const int32_t bits = std::bit_cast<int32_t>(y);
  int32_t e = ((bits >> 23) & 0xff) - 127;
  float m = std::bit_cast<float>((bits & 0x7fffff) | 0x3f800000);  // [1, 2)
  const bool high = m > 1.41421356f;
  m = high ? m * 0.5f : m;  // [√½, √2)
  e = high ? e + 1 : e;
  const float f = m - 1.f, s = f / (2.f + f), s2 = s * s;
  // log(m) = 2·atanh(s) = 2s + s·(2/3 s² + 2/5 s⁴ + …) (Cephes logf's series, minimax-adjusted)
  const float p = s2 * (0.66666662f + s2 * (0.40000972f + s2 * (0.28498787f + s2 * 0.24279079f)));
  return float(e) * 0.693147180f + 2.f * s + s * p;
}

/// exp(x) clamped to [e^−80, e^80], ~2 ulp, vectorisable.
[[gnu::always_inline]] inline float mlp_exp(float x) {
  x = x < -80.f ? -80.f : (x > 80.f ? 80.f : x);
  const float t = x * 1.44269504f;
  // 2^x = 2^n · 2^f, n = t rounded (half away from zero, by a conversion every vector ISA has),
  // f ∈ [−½, ½]
  const float n = float(int32_t(t + (t >= 0.f ? 0.5f : -0.5f))), f = t - n;
  const float p =
      1.f + f * (0.693147182f + f * (0.240226507f + f * (0.0555041087f + f * (0.00961812911f +
                                                                              f * (0.00133335581f + f * 0.000154035304f)))));
  return std::bit_cast<float>(std::bit_cast<int32_t>(p) + (int32_t(n) << 23));
}

// Vectors of Bytes/4 floats (GCC/Clang vector extension), sized to the target each kernel
// variant is compiled for: 64 bytes for AVX-512, 32 for AVX2, 16 for the x86-64 baseline (SSE2).
// (GCC ignores vector_size on a dependent alias, hence one specialisation per size.)
template <int Bytes>
struct MlpVecOf;
template <>
struct MlpVecOf<16> {
  typedef float type __attribute__((vector_size(16)));
};
template <>
struct MlpVecOf<32> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct MlpVecOf<64> {
  typedef float type __attribute__((vector_size(64)));
};
template <int Bytes>
using MlpVec = typename MlpVecOf<Bytes>::type;

// Loads and stores through references and pointers only: a vector passed by value would change
// the calling convention between the targets (the helpers are always inlined anyway).
template <class V>
[[gnu::always_inline]] inline void mlp_load(V& v, const float* p) {
  std::memcpy(&v, p, sizeof v);
}
template <class V>
[[gnu::always_inline]] inline void mlp_store(float* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}
template <class V>
[[gnu::always_inline]] inline void mlp_store_relu(float* p, const V& v) {
  const V r = v > 0.f ? v : V{};
  std::memcpy(p, &r, sizeof r);
}

/// Rows [r0, r1) of a chunk (r1 − r0 a multiple of NV·Bytes/4): x holds the rows' raw dense
/// features (feature f of row c at x[f·kMlpChunk + c]); writes each row's latency (ms) to out[c].
/// s1, s2: max_width · kMlpChunk floats each; bias0: layer 0's bias of the rows' category.
/// Rows are the vector dimension: the accumulators of four output units × NV vectors of rows stay
/// in registers while the input rows stream past (NV = 4 where 32 vector registers hold them, 2
/// otherwise: each weight then feeds 4 FMAs, so the loads no longer bound the loop). Every row
/// goes through the same operations in the same order whatever NV and its place in the chunk, so
/// a row's latency does not depend on the rows beside it.
template <int Bytes, int NV>
[[gnu::always_inline]] inline void mlp_rows_body(const MlpKernelWeights& k, const float* __restrict bias0,
                                                 float* __restrict x, float* __restrict s1, float* __restrict s2,
                                                 float* __restrict out, int r0, int r1) {
  using V = MlpVec<Bytes>;
  constexpr int C = kMlpChunk, L = Bytes / 4, B = NV * L;
  static_assert(sizeof(V) == Bytes && C % B == 0);
  for (int f = 0; f < k.log_features; ++f)
    for (int c = r0; c < r1; ++c) x[f * C + c] = mlp_log1p(x[f * C + c]);
  const float* in = x;
  float* bufs[2] = {s1, s2};
  const size_t depth = k.w.size();
  for (size_t l = 0; l < depth; ++l) {
    const bool last = l + 1 == depth;  // the output unit: out = exp(w · h + b) (its first, if several)
    const int ni = l == 0 ? k.dense : k.sizes[l], no = last ? 1 : k.sizes[l + 1];
    const float* __restrict W = k.w[l].data();
    const float* __restrict bias = l == 0 ? bias0 : k.b[l].data();
    float* __restrict o = last ? out : bufs[l & 1];
    for (int cb = r0; cb < r1; cb += B) {
      int j = 0;
      for (; j + 4 <= no; j += 4) {  // (the output layer has one unit: never here)
        const float* __restrict w = W + j * ni;
        V acc[4][NV];
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[r][v] = V{} + bias[j + r];
        for (int f = 0; f < ni; ++f) {
          V u[NV];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) mlp_load(u[v], in + f * C + cb + v * L);
#pragma GCC unroll 4
          for (int r = 0; r < 4; ++r) {
            const float wr = w[r * ni + f];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[r][v] += wr * u[v];
          }
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) mlp_store_relu(o + (j + r) * C + cb + v * L, acc[r][v]);
      }
      for (; j < no; ++j) {
        V acc[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[v] = V{} + bias[j];
        for (int f = 0; f < ni; ++f) {
          const float wf = W[j * ni + f];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) {
            V u;
            mlp_load(u, in + f * C + cb + v * L);
            acc[v] += wf * u;
          }
        }
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          if (last)
            mlp_store(o + j * C + cb + v * L, acc[v]);
          else
            mlp_store_relu(o + j * C + cb + v * L, acc[v]);
        }
      }
    }
    in = o;
  }
  for (int c = r0; c < r1; ++c) out[c] = mlp_exp(out[c]);
}

/// Rows [0, rows) of a chunk whose rows all have `category` (rows ≤ kMlpChunk): blocks of NV
/// vectors, then the tail one vector at a time (a lone network's few rows cost a vector, not a
/// chunk).
template <int Bytes, int NV>
[[gnu::always_inline]] inline void mlp_chunk_rows(const MlpKernelWeights& k, int category, int rows, float* x,
                                                  float* s1, float* s2, float* out) {
  constexpr int L = Bytes / 4, B = NV * L;
  const float* bias0 = k.category_bias[size_t(category)].data();
  const int full = rows / B * B, end = (rows + L - 1) / L * L;
  if (full > 0) mlp_rows_body<Bytes, NV>(k, bias0, x, s1, s2, out, 0, full);
  if (end > full) mlp_rows_body<Bytes, 1>(k, bias0, x, s1, s2, out, full, end);
}

using MlpChunkFn = void (*)(const MlpKernelWeights&, int category, int rows, float* x, float* s1, float* s2,
                            float* out);

inline void mlp_chunk_baseline(const MlpKernelWeights& k, int category, int rows, float* x, float* s1, float* s2,
                               float* out) {
  mlp_chunk_rows<16, 2>(k, category, rows, x, s1, s2, out);
}

#if defined(__GNUC__) && defined(__x86_64__)
// The same body compiled for wider vectors; picked at run time, so the speed does not depend on
// the flags the user compiles with (the default x86-64 target has only SSE2).
[[gnu::target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]] inline void mlp_chunk_avx512(
    const MlpKernelWeights& k, int category, int rows, float* x, float* s1, float* s2, float* out) {
  mlp_chunk_rows<64, 4>(k, category, rows, x, s1, s2, out);
}
[[gnu::target("avx2,fma")]] inline void mlp_chunk_avx2(const MlpKernelWeights& k, int category, int rows, float* x,
                                                       float* s1, float* s2, float* out) {
  mlp_chunk_rows<32, 2>(k, category, rows, x, s1, s2, out);
}
#endif

/// The widest kernel this CPU runs.
inline MlpChunkFn mlp_chunk_kernel() {
  static const MlpChunkFn fn = [] {
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
      return MlpChunkFn(&mlp_chunk_avx512);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return MlpChunkFn(&mlp_chunk_avx2);
#endif
    return MlpChunkFn(&mlp_chunk_baseline);
  }();
  return fn;
}

/// One category's pending rows: their dense features and each row's place in the segment.
struct MlpBucket {
  std::vector<float> x;        // feature f of row c at x[f·kMlpChunk + c]
  std::vector<uint32_t> slot;  // row c's place in the segment
  int filled = 0;
  bool active = false;  // listed in MlpWorkspace::active
};

/// Per-thread buffers of the batched path (allocated once per thread, grown on demand).
struct MlpWorkspace {
  std::vector<MlpBucket> buckets;   // one per category
  std::vector<uint32_t> active;     // the categories with rows since the segment began
  std::vector<float> s1, s2, out;
  std::vector<float> row_ms;        // the segment's rows' latencies, network after network
  std::vector<uint32_t> first_row;  // each segment network's first row in row_ms, then the end
  size_t categories = 0;            // the running weights' (buckets may hold more: other weights')

  /// Sized for kw; drops whatever a call that threw left pending.
  void begin(const MlpKernelWeights& kw) {
    categories = kw.category_bias.size();
    buckets.resize(std::max(buckets.size(), categories));
    for (uint32_t c : active) buckets[c].filled = 0, buckets[c].active = false;
    active.clear();
    const size_t n = size_t(std::max(kw.max_width(), 1)) * kMlpChunk;
    if (s1.size() < n) s1.assign(n, 0.f), s2.assign(n, 0.f);
    if (out.empty()) out.assign(kMlpChunk, 0.f);
    row_ms.clear(), first_row.clear();
  }
  /// The bucket of a category, listed as active, its buffers allocated on first use.
  MlpBucket& bucket(int category, int dense) {
    if (size_t(category) >= categories) [[unlikely]]  // a negative category wraps round too
      bad_category(category);
    MlpBucket& b = buckets[size_t(category)];
    if (!b.active) {
      if (b.x.size() < size_t(dense) * kMlpChunk) b.x.assign(size_t(dense) * kMlpChunk, 0.f);
      if (b.slot.empty()) b.slot.assign(kMlpChunk, 0);
      active.push_back(uint32_t(category));  // listed before marked: begin() resets what is listed
      b.active = true;
    }
    return b;
  }
  bool busy = false;  // a batch is running on this thread (run_mlp_batch is not re-entrant)

 private:
  [[noreturn, gnu::cold, gnu::noinline]] void bad_category(int category) const {
    throw Error("run_mlp_batch: row category " + std::to_string(category) + " outside the weights' " +
                std::to_string(categories) + " categories");
  }
};

inline MlpWorkspace& mlp_workspace() {
  thread_local MlpWorkspace ws;
  return ws;
}

/// Sums exp(net_log_ms) and the MLP's per-row latencies of n networks into result[0..n) (0 for a
/// network without rows). `rows(k, put)` calls put(category, write) once per row of network k,
/// where write(float* out, ptrdiff_t stride) stores the row's raw dense features. Rows wait in
/// their category's bucket until it holds a chunk; at the first network boundary after 32768
/// rows (and at the end) the partial buckets run too and the segment's networks are summed, each
/// in its own row order (so a network's latency is the same alone or in any batch). Not
/// re-entrant: `rows` must not run another MLP predictor's batch on the same thread (refused).
template <class Rows>
void run_mlp_batch(const MlpKernelWeights& kw, double net_log_ms, size_t n, Rows&& rows, double* result) {
  constexpr int C = kMlpChunk;
  constexpr size_t kSegmentRows = size_t(1) << 15;
  const MlpChunkFn kernel = mlp_chunk_kernel();
  MlpWorkspace& ws = mlp_workspace();
  if (ws.busy) throw Error("run_mlp_batch: an MLP predictor was called from inside another's batch on this thread");
  ws.busy = true;
  struct Busy {
    bool& b;
    ~Busy() { b = false; }
  } busy{ws.busy};
  ws.begin(kw);
  const double net_ms = std::exp(net_log_ms);
  auto flush = [&](size_t category) {
    MlpBucket& b = ws.buckets[category];
    kernel(kw, int(category), b.filled, b.x.data(), ws.s1.data(), ws.s2.data(), ws.out.data());
    for (int c = 0; c < b.filled; ++c) ws.row_ms[b.slot[size_t(c)]] = ws.out[size_t(c)];
    b.filled = 0;
  };
  size_t segment = 0;  // the segment's first network
  auto finish = [&](size_t end) {
    for (uint32_t c : ws.active) {
      if (ws.buckets[c].filled) flush(c);
      ws.buckets[c].active = false;
    }
    ws.active.clear();
    ws.first_row.push_back(uint32_t(ws.row_ms.size()));
    for (size_t k = segment; k < end; ++k) {
      const uint32_t a = ws.first_row[k - segment], e = ws.first_row[k - segment + 1];
      double sum = a < e ? net_ms : 0.0;  // the constant first, then the rows in order
      for (uint32_t r = a; r < e; ++r) sum += double(ws.row_ms[r]);
      result[k] = sum;
    }
    ws.row_ms.clear(), ws.first_row.clear();
    segment = end;
  };
  for (size_t k = 0; k < n; ++k) {
    ws.first_row.push_back(uint32_t(ws.row_ms.size()));
    rows(k, [&](int category, auto&& write) {
      MlpBucket& b = ws.bucket(category, kw.dense);
      write(b.x.data() + b.filled, std::ptrdiff_t(C));
      b.slot[size_t(b.filled)] = uint32_t(ws.row_ms.size());
      ws.row_ms.push_back(0.f);
      if (++b.filled == C) flush(size_t(category));
    });
    if (ws.row_ms.size() >= kSegmentRows) finish(k + 1);
  }
  finish(n);
}

/// The float kernel's weights: the standardisation folded into layer 0,
/// W·((x − mean)/scale) + b = (W / scale)·x + (b − (W / scale)·mean), and the one-hot inputs
/// [dense, inputs) folded into one layer-0 bias per category: hot[c] lists the inputs category c
/// sets to 1 (all others of the range are 0). Without categories every input is dense.
inline MlpKernelWeights build_kernel_weights(const DenseMlp& mlp, const FeatureScaling& scaling, int log_features,
                                             int dense = -1, const std::vector<std::vector<int>>& hot = {}) {
  MlpKernelWeights kw;
  kw.log_features = log_features;
  const int inputs = int(mlp.w[0].cols());
  kw.dense = dense < 0 || hot.empty() ? inputs : dense;
  kw.sizes.push_back(inputs);
  auto floats = [](const auto& m) {  // row-major
    std::vector<float> f(size_t(m.size()));
    for (Eigen::Index r = 0; r < m.rows(); ++r)
      for (Eigen::Index c = 0; c < m.cols(); ++c) f[size_t(r * m.cols() + c)] = float(m(r, c));
    return f;
  };
  for (size_t l = 0; l < mlp.depth(); ++l) {
    Eigen::MatrixXd w = mlp.w[l];
    Eigen::VectorXd b = mlp.b[l];
    if (l == 0) {
      w = w.array().rowwise() / scaling.scale.transpose().array();
      b = b - w * scaling.mean;
      for (const auto& h : hot.empty() ? std::vector<std::vector<int>>{{}} : hot) {
        Eigen::VectorXd cb = b;
        for (int i : h) {
          if (i < kw.dense || i >= inputs)
            throw Error("build_kernel_weights: one-hot input " + std::to_string(i) + " outside [" +
                        std::to_string(kw.dense) + ", " + std::to_string(inputs) + ")");
          cb += w.col(i);
        }
        kw.category_bias.push_back(floats(cb));
      }
      w = w.leftCols(kw.dense).eval();
    }
    kw.sizes.push_back(int(w.rows()));
    kw.w.push_back(floats(w));
    kw.b.push_back(floats(b));
  }
  return kw;
}

}  // namespace detail

/// Latency predictor: an MLP over per-layer features, summed over layers (see the header comment).
/// Satisfies DifferentiablePredictor.
class MlpLatencyPredictor {
 public:
  using FitOptions = MlpFitOptions;
  static constexpr const char* kFormat = "hwaware-mlp-latency";
  static constexpr int kFormatVersion = 1;

  /// An unfitted predictor for a device; `vector_block` is the channel block the features pad to.
  explicit MlpLatencyPredictor(Fingerprint fingerprint = {}, int vector_block = 16)
      : fingerprint_(std::move(fingerprint)), block_(vector_block) {
    if (block_ < 1) throw Error("MlpLatencyPredictor: vector_block must be ≥ 1 (got " + std::to_string(block_) + ")");
  }

  /// Trains on measured samples (kind "network" and/or "layer"; a layer sample is a short
  /// network). Deterministic for a given seed. Replaces any previous fit.
  MlpFitReport fit(const std::vector<const LatencySample*>& samples, const FitOptions& options = {});

  /// Latency (ms) of a network; 0 for an empty description.
  double predict_ms(const NetDesc& net) const {
    double r = 0;
    run_batch(1, [&](size_t) -> const NetDesc& { return net; }, &r);
    return r;
  }

  /// Latencies (ms) of many networks: their layers run through the float kernel in chunks of up
  /// to 128 of one category (detail::run_mlp_batch).
  std::vector<double> predict_batch_ms(const std::vector<NetDesc>& nets) const {
    std::vector<double> r(nets.size());
    run_batch(nets.size(), [&](size_t i) -> const NetDesc& { return nets[i]; }, r.data());
    return r;
  }

  /// Latency (ms, double precision) and ∂ms/∂in_c, ∂ms/∂out_c of every layer, channels taken as
  /// continuous (features.hpp explains the continuous extension, including the padding).
  double predict_with_grad(const NetDesc& net, WidthGradient& grad) const {
    std::vector<double> ci(net.size()), co(net.size());
    for (size_t i = 0; i < net.size(); ++i) ci[i] = double(net[i].in_c), co[i] = double(net[i].out_c);
    return predict_continuous_ms(net, ci, co, &grad);
  }

  /// Latency (ms, double) of the network with layer i's channel counts replaced by the real
  /// values in_c[i], out_c[i]; fills `grad` (∂ms/∂in_c[i], ∂ms/∂out_c[i]) when given.
  double predict_continuous_ms(const NetDesc& net, const std::vector<double>& in_c, const std::vector<double>& out_c,
                               WidthGradient* grad = nullptr) const;

  /// Writes the model (text format in the header comment) atomically: temp file + rename.
  void save(const std::string& path) const;

  /// Reads a model; refuses a file fitted under another fingerprint than `expected` (when given),
  /// naming the field, and a corrupt or truncated file with FileError naming the file and line.
  static MlpLatencyPredictor load(const std::string& path, const Fingerprint* expected = nullptr);

  std::string name() const { return "mlp"; }
  bool fitted() const { return mlp_.depth() > 0; }
  const Fingerprint& fingerprint() const { return fingerprint_; }
  void set_fingerprint(Fingerprint f) { fingerprint_ = std::move(f); }
  int vector_block() const { return block_; }
  /// The per-inference constant every non-empty network adds (ms).
  double network_constant_ms() const { return std::exp(net_log_ms_); }
  /// Layer sizes: features, hidden…, 1 (empty before fitting).
  std::vector<int> sizes() const { return kernel_.sizes; }

 private:
  void require_fitted(const char* what) const {
    if (!fitted()) throw Error(std::string("MlpLatencyPredictor::") + what + ": the predictor is not fitted (call fit or load)");
  }
  void build_kernel();

  template <class NetAt>
  void run_batch(size_t n, NetAt&& net_at, double* result) const;

  Fingerprint fingerprint_;
  int block_ = 16;
  FeatureScaling scaling_;
  detail::DenseMlp mlp_;
  detail::MlpKernelWeights kernel_;
  double net_log_ms_ = -30;  // log of the per-network constant (ms)
};

static_assert(DifferentiablePredictor<MlpLatencyPredictor>);

// ---- implementation ----------------------------------------------------------------------------

template <class NetAt>
void MlpLatencyPredictor::run_batch(size_t n, NetAt&& net_at, double* result) const {
  require_fitted("predict");
  auto rows = [&](size_t k, auto&& put) {
    const NetDesc& net = net_at(k);
    const size_t count = net.size();
    for (size_t i = 0; i < count; ++i)
      put(layer_category(net[i]), [&](float* out, std::ptrdiff_t stride) {
        write_raw_layer_dense(net[i], layer_position(i, count), block_, out, stride);
      });
  };
  detail::run_mlp_batch(kernel_, net_log_ms_, n, rows, result);
}

inline void MlpLatencyPredictor::build_kernel() {
  kernel_ = detail::build_kernel_weights(mlp_, scaling_, kLogFeatureCount, kLayerDenseFeatureCount, layer_category_hot());
}

inline double MlpLatencyPredictor::predict_continuous_ms(const NetDesc& net, const std::vector<double>& in_c,
                                                         const std::vector<double>& out_c, WidthGradient* grad) const {
  require_fitted("predict_continuous_ms");
  const size_t L = net.size();
  if (in_c.size() != L || out_c.size() != L)
    throw ShapeError("MlpLatencyPredictor::predict_continuous_ms: " + std::to_string(L) + " layers but " +
                     std::to_string(in_c.size()) + " in_c and " + std::to_string(out_c.size()) + " out_c values");
  if (grad) grad->d_in_c.assign(L, 0.0), grad->d_out_c.assign(L, 0.0);
  if (L == 0) return 0.0;
  Eigen::MatrixXd x(kLayerFeatureCount, Eigen::Index(L)), j_in, j_out;
  if (grad) j_in.resize(kLayerFeatureCount, Eigen::Index(L)), j_out.resize(kLayerFeatureCount, Eigen::Index(L));
  for (size_t i = 0; i < L; ++i) {
    const auto c = Eigen::Index(i);
    detail::continuous_layer_features(net[i], in_c[i], out_c[i], layer_position(i, L), block_, x.col(c).data(),
                                      grad ? j_in.col(c).data() : nullptr, grad ? j_out.col(c).data() : nullptr);
  }
  std::vector<Eigen::MatrixXd> z, a;
  const Eigen::RowVectorXd ms = mlp_.forward(scaling_.apply(x), z, a).array().exp().matrix();
  if (grad) {
    Eigen::MatrixXd dx;
    mlp_.backward(z, a, ms, nullptr, nullptr, &dx);  // ∂(Σ exp o)/∂o = exp o
    const Eigen::MatrixXd df = dx.array().colwise() / scaling_.scale.array();
    for (size_t i = 0; i < L; ++i) {
      const auto c = Eigen::Index(i);
      grad->d_in_c[i] = df.col(c).dot(j_in.col(c));
      grad->d_out_c[i] = df.col(c).dot(j_out.col(c));
    }
  }
  return ms.sum() + std::exp(net_log_ms_);
}

namespace detail {

/// What an MLP predictor's fit trains on: the raw features of every row (layer or kernel) of every
/// sample (sample s owns columns begin[s] .. begin[s + 1]), each sample's log latency and loss weight.
struct MlpTrainingSet {
  std::vector<Eigen::Index> begin;
  Eigen::MatrixXd raw;
  std::vector<double> log_y, weight;
  Eigen::Index cols(size_t s) const { return begin[s + 1] - begin[s]; }
};

/// `features(sample)`: its rows' raw features, one column per row. `who` names the fit in errors.
/// Throws Error for a sample without rows or without a positive latency.
template <class Features>
MlpTrainingSet mlp_training_set(const std::vector<const LatencySample*>& samples, double layer_sample_weight,
                                Features&& features, const std::string& who) {
  const size_t n = samples.size();
  MlpTrainingSet t;
  t.begin.assign(n + 1, 0);
  std::vector<Eigen::MatrixXd> x(n);
  for (size_t s = 0; s < n; ++s) {
    const LatencySample& smp = *samples[s];
    if (smp.layers.empty()) throw Error(who + ": sample '" + smp.name + "' has no layers");
    if (!(smp.m.median_ms > 0)) throw Error(who + ": sample '" + smp.name + "' has a non-positive latency");
    x[s] = features(smp);
    if (x[s].cols() == 0) throw Error(who + ": sample '" + smp.name + "' has no rows to predict");
    t.begin[s + 1] = t.begin[s] + x[s].cols();
  }
  t.raw.resize(n ? x[0].rows() : 0, t.begin[n]);
  t.log_y.assign(n, 0.0);
  t.weight.assign(n, 0.0);
  for (size_t s = 0; s < n; ++s) {
    t.raw.middleCols(t.begin[s], t.cols(s)) = x[s];
    t.log_y[s] = std::log(samples[s]->m.median_ms);
    t.weight[s] = samples[s]->kind == "layer" ? layer_sample_weight : 1.0;
  }
  return t;
}

/// He initialisation for the ReLU layers and a small output layer whose bias starts at the mean
/// per-layer log-latency of `t`. Draws the weights from `rng`, layer by layer.
inline DenseMlp init_mlp(const std::vector<int>& hidden, const MlpTrainingSet& t, std::mt19937_64& rng) {
  std::vector<int> sizes{int(t.raw.rows())};
  sizes.insert(sizes.end(), hidden.begin(), hidden.end());
  sizes.push_back(1);
  DenseMlp mlp = DenseMlp::he_init(sizes, rng);
  const size_t n = t.log_y.size();
  double mean_log_layer = 0;
  for (size_t s = 0; s < n; ++s) mean_log_layer += t.log_y[s] - std::log(double(t.cols(s)));
  mlp.b.back()[0] = mean_log_layer / double(n);
  return mlp;
}

/// Adam's state of every MLP parameter (DenseMlpAdam) and of the per-network constant κ.
struct MlpAdamState : DenseMlpAdam {
  double m_net = 0, v_net = 0;
  using DenseMlpAdam::DenseMlpAdam;
};

/// The columns of the samples order[b0 .. b1), side by side.
inline Eigen::MatrixXd mlp_batch_columns(const Eigen::MatrixXd& x, const MlpTrainingSet& t,
                                         const std::vector<size_t>& order, size_t b0, size_t b1) {
  Eigen::Index cols = 0;
  for (size_t k = b0; k < b1; ++k) cols += t.cols(order[k]);
  Eigen::MatrixXd xb(x.rows(), cols);
  Eigen::Index c = 0;
  for (size_t k = b0; k < b1; ++k) {
    const Eigen::Index len = t.cols(order[k]);
    xb.middleCols(c, len) = x.middleCols(t.begin[order[k]], len);
    c += len;
  }
  return xb;
}

/// Gradients of the loss on the samples order[b0 .. b1): the MLP's into st.gw/st.gb, κ's into
/// *g_net. Returns false (no step) when the batch's weights sum to 0.
///   loss = Σ w_s r_s² / Σ w_s, r_s = log(Σ_l e_l + e^κ) − log y_s;
///   ∂loss/∂o_l = 2 w_s r_s e_l / (Σ w · total_s), ∂loss/∂κ = Σ_s 2 w_s r_s e^κ / (Σ w · total_s)
inline bool mlp_batch_gradient(const DenseMlp& mlp, double net_log_ms, const Eigen::MatrixXd& x,
                               const MlpTrainingSet& t, const std::vector<size_t>& order, size_t b0, size_t b1,
                               MlpAdamState& st, double* g_net) {
  std::vector<Eigen::MatrixXd> z, a;
  const Eigen::RowVectorXd e = mlp.forward(mlp_batch_columns(x, t, order, b0, b1), z, a).array().exp().matrix();
  const double net_ms = std::exp(net_log_ms);
  *g_net = 0;
  double wsum = 0;
  for (size_t k = b0; k < b1; ++k) wsum += t.weight[order[k]];
  if (!(wsum > 0)) return false;
  Eigen::RowVectorXd d_out(e.size());
  Eigen::Index c = 0;
  for (size_t k = b0; k < b1; ++k) {
    const size_t s = order[k];
    const Eigen::Index len = t.cols(s);
    const double total = e.segment(c, len).sum() + net_ms;
    const double r = std::log(total) - t.log_y[s];
    d_out.segment(c, len) = e.segment(c, len) * (2.0 * t.weight[s] * r / (wsum * total));
    *g_net += 2.0 * t.weight[s] * r * net_ms / (wsum * total);
    c += len;
  }
  mlp.backward(z, a, d_out, &st.gw, &st.gb, nullptr);
  return true;
}

/// One Adam step (β = (0.9, 0.999)) at `lr` on the MLP, with L2 decay on the weights and none on
/// the biases, and on κ.
inline void mlp_adam_step(DenseMlp& mlp, double& net_log_ms, double g_net, MlpAdamState& st, int step, double lr,
                          double weight_decay) {
  st.step(mlp, step, lr, weight_decay);
  const optim::AdamOptions adam{.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .decoupled = false};
  optim::adam_step<double>({&net_log_ms, 1}, {&g_net, 1}, {&st.m_net, 1}, {&st.v_net, 1}, step, lr, 0.0, adam);
}

/// Trains `mlp` and κ = `net_log_ms` by Adam (Kingma & Ba 2015) over `o.epochs` passes in
/// shuffled batches (shuffled by `rng`), the learning rate cosine-decayed from o.learning_rate to
/// o.learning_rate · o.final_lr_fraction. Returns the number of steps taken.
inline int train_mlp(DenseMlp& mlp, double& net_log_ms, const Eigen::MatrixXd& x, const MlpTrainingSet& t,
                     const MlpFitOptions& o, std::mt19937_64& rng) {
  const size_t n = t.log_y.size();
  MlpAdamState st(mlp);
  const size_t batch = std::min<size_t>(size_t(o.batch_size), n);
  const size_t steps_per_epoch = (n + batch - 1) / batch;
  const double total_steps = double(steps_per_epoch) * o.epochs;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  int step = 0;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t b0 = 0; b0 < n; b0 += batch) {
      double g_net = 0;
      if (!mlp_batch_gradient(mlp, net_log_ms, x, t, order, b0, std::min(n, b0 + batch), st, &g_net)) continue;
      ++step;
      const double progress = double(step - 1) / std::max(1.0, total_steps - 1);
      const double lr = o.learning_rate * (o.final_lr_fraction + (1 - o.final_lr_fraction) * 0.5 *
                                                                     (1 + std::cos(3.14159265358979323846 * progress)));
      mlp_adam_step(mlp, net_log_ms, g_net, st, step, lr, o.weight_decay);
    }
  }
  return step;
}

/// The fit's report: the weighted loss and RMS relative error over all training samples.
inline MlpFitReport mlp_fit_report(const DenseMlp& mlp, double net_log_ms, const Eigen::MatrixXd& x,
                                   const MlpTrainingSet& t, const std::vector<const LatencySample*>& samples,
                                   int steps) {
  const size_t n = samples.size();
  MlpFitReport rep;
  rep.samples = n;
  rep.layers = size_t(t.begin[n]);
  rep.steps = steps;
  std::vector<Eigen::MatrixXd> z, a;
  const Eigen::RowVectorXd e = mlp.forward(x, z, a).array().exp().matrix();
  double loss = 0, wsum = 0, rel = 0;
  for (size_t s = 0; s < n; ++s) {
    const double total = e.segment(t.begin[s], t.cols(s)).sum() + std::exp(net_log_ms);
    const double r = std::log(total) - t.log_y[s];
    loss += t.weight[s] * r * r, wsum += t.weight[s];
    const double q = total / samples[s]->m.median_ms - 1;
    rel += q * q;
  }
  rep.final_loss = wsum > 0 ? loss / wsum : 0;
  rep.rms_relative_error = std::sqrt(rel / double(n));
  return rep;
}

}  // namespace detail

namespace detail {

/// What a fitted MLP predictor holds besides its fingerprint: the standardisation, the MLP and κ.
struct MlpModel {
  FeatureScaling scaling;
  DenseMlp mlp;
  double net_log_ms = -30;  // log of the per-network constant (ms)
};

/// The fit every MLP predictor runs: `features(sample)` gives a sample's rows (one column each),
/// standardised on all training rows; then initialisation and Adam (train_mlp). `who` names the
/// predictor in errors.
template <class Features>
MlpFitReport fit_mlp(const std::vector<const LatencySample*>& samples, const MlpFitOptions& o, Features&& features,
                     const std::string& who, MlpModel& m) {
  if (samples.empty()) throw Error(who + ": no samples");
  if (o.epochs < 1 || o.batch_size < 1 || !(o.learning_rate > 0))
    throw Error(who + ": epochs, batch_size and learning_rate must be positive");
  for (int h : o.hidden)
    if (h < 1) throw Error(who + ": hidden widths must be ≥ 1");
  const EigenSingleThread single;
  const MlpTrainingSet t = mlp_training_set(samples, o.layer_sample_weight, features, who);
  m.scaling = FeatureScaling::fit(t.raw);
  const Eigen::MatrixXd x = m.scaling.apply(t.raw);
  std::mt19937_64 rng(o.seed);
  m.mlp = init_mlp(o.hidden, t, rng);
  m.net_log_ms = std::log(1e-3);
  const int steps = train_mlp(m.mlp, m.net_log_ms, x, t, o, rng);
  return mlp_fit_report(m.mlp, m.net_log_ms, x, t, samples, steps);
}

/// Writes an MLP predictor file (the format in the header comment; `format` and `version` on its
/// first line, `names` the feature set) atomically.
inline void save_mlp_model(const std::string& path, std::string_view format, int version, const Fingerprint& fp,
                           int block, std::span<const std::string_view> names, const MlpModel& m) {
  write_file_atomically(path, [&](std::ostream& out) {
    std::string s = std::string(format) + " " + std::to_string(version) + "\n";
    s += fp.to_json().dump() + "\n";
    s += "vector_block " + std::to_string(block) + "\n";
    s += "features " + std::to_string(names.size());
    for (auto name : names) s += " " + std::string(name);
    s += "\nactivations relu exp\nnetwork_log_ms " + detail::shortest(m.net_log_ms);
    s += "\nsizes " + std::to_string(m.mlp.depth() + 1) + " " + std::to_string(m.mlp.w[0].cols());
    for (const auto& w : m.mlp.w) s += " " + std::to_string(w.rows());
    s += "\nscaling_mean ";
    append_numbers(s, m.scaling.mean.data(), size_t(m.scaling.mean.size()));
    s += "\nscaling_scale ";
    append_numbers(s, m.scaling.scale.data(), size_t(m.scaling.scale.size()));
    s += "\n";
    for (size_t l = 0; l < m.mlp.depth(); ++l) {
      const Eigen::MatrixXd& w = m.mlp.w[l];
      s += "weight " + std::to_string(l) + " " + std::to_string(w.rows()) + " " + std::to_string(w.cols()) + "\n";
      std::vector<double> row(size_t(w.cols()));
      for (Eigen::Index r = 0; r < w.rows(); ++r) {
        for (Eigen::Index c = 0; c < w.cols(); ++c) row[size_t(c)] = w(r, c);
        append_numbers(s, row.data(), row.size());
        s += "\n";
      }
      s += "bias " + std::to_string(l) + " " + std::to_string(m.mlp.b[l].size()) + " ";
      append_numbers(s, m.mlp.b[l].data(), size_t(m.mlp.b[l].size()));
      s += "\n";
    }
    s += "end\n";
    out << s;
  });
}

/// Reads the `vector_block` line (1 ≤ block ≤ 4096).
inline int read_vector_block(TextModelReader& in) {
  auto t = in.next_tokens("vector_block");
  if (t.size() != 2) in.fail("expected 'vector_block <n>'");
  const int64_t block = in.to_int(t[1]);
  if (block < 1 || block > 4096) in.fail("vector_block out of range: " + t[1]);
  return int(block);
}

/// Reads the `sizes` line: the input count must be names.size(), the output 1.
inline std::vector<int64_t> read_mlp_sizes(TextModelReader& in, size_t inputs) {
  auto t = in.next_tokens("sizes");
  if (t.size() < 2) in.fail("expected 'sizes <count> <sizes…>'");
  const int64_t count = in.to_int(t[1]);
  if (count < 2 || count > 64 || t.size() != size_t(count) + 2) in.fail("bad layer size list");
  std::vector<int64_t> sizes;
  for (int64_t i = 0; i < count; ++i) {
    sizes.push_back(in.to_int(t[size_t(i) + 2]));
    if (sizes.back() < 1 || sizes.back() > 65536) in.fail("layer size out of range: " + t[size_t(i) + 2]);
  }
  if (sizes.front() != int64_t(inputs) || sizes.back() != 1)
    in.fail("sizes must start with " + std::to_string(inputs) + " and end with 1");
  return sizes;
}

/// Reads the weight and bias blocks of an MLP of the given sizes.
inline DenseMlp read_mlp_weights(TextModelReader& in, const std::vector<int64_t>& sizes) {
  DenseMlp mlp;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    auto t = in.next_tokens("weight");
    if (t.size() != 4 || in.to_int(t[1]) != int64_t(l) || in.to_int(t[2]) != sizes[l + 1] ||
        in.to_int(t[3]) != sizes[l])
      in.fail("expected 'weight " + std::to_string(l) + " " + std::to_string(sizes[l + 1]) + " " +
              std::to_string(sizes[l]) + "'");
    Eigen::MatrixXd w(sizes[l + 1], sizes[l]);
    for (Eigen::Index r = 0; r < w.rows(); ++r) {
      const auto row = in.next_numbers(size_t(w.cols()));
      for (Eigen::Index c = 0; c < w.cols(); ++c) w(r, c) = row[size_t(c)];
    }
    t = in.next_tokens("bias");
    if (t.size() != size_t(sizes[l + 1]) + 3 || in.to_int(t[1]) != int64_t(l) || in.to_int(t[2]) != sizes[l + 1])
      in.fail("expected 'bias " + std::to_string(l) + " " + std::to_string(sizes[l + 1]) + "' and " +
              std::to_string(sizes[l + 1]) + " numbers");
    Eigen::VectorXd b(sizes[l + 1]);
    for (Eigen::Index r = 0; r < b.size(); ++r) b[r] = in.to_double(t[size_t(r) + 3]);
    mlp.w.push_back(std::move(w));
    mlp.b.push_back(std::move(b));
  }
  return mlp;
}

/// Reads an MLP predictor file after its vector_block line: the feature names (which must be
/// `names`, this build's feature set), activations, κ, sizes, standardisation, weights and `end`.
inline MlpModel read_mlp_model(TextModelReader& in, std::span<const std::string_view> names) {
  const size_t n = names.size();
  auto t = in.next_tokens("features");
  if (t.size() < 2 || in.to_int(t[1]) != int64_t(n) || t.size() != n + 2)
    in.fail("expected " + std::to_string(n) + " features (this build's feature set)");
  for (size_t i = 0; i < n; ++i)
    if (t[i + 2] != names[i])
      in.fail("feature " + std::to_string(i) + " is '" + t[i + 2] + "', this build expects '" + std::string(names[i]) + "'");
  t = in.next_tokens("activations");
  if (t.size() != 3 || t[1] != "relu" || t[2] != "exp") in.fail("expected 'activations relu exp'");
  t = in.next_tokens("network_log_ms");
  if (t.size() != 2) in.fail("expected 'network_log_ms <number>'");
  MlpModel m;
  m.net_log_ms = in.to_double(t[1]);
  const std::vector<int64_t> sizes = read_mlp_sizes(in, n);
  auto mean = in.next_numbers(n, "scaling_mean");
  auto scale = in.next_numbers(n, "scaling_scale");
  m.scaling.mean = Eigen::Map<Eigen::VectorXd>(mean.data(), Eigen::Index(n));
  m.scaling.scale = Eigen::Map<Eigen::VectorXd>(scale.data(), Eigen::Index(n));
  for (size_t i = 0; i < n; ++i)
    if (!(m.scaling.scale[Eigen::Index(i)] > 0)) in.fail("scaling_scale must be positive");
  m.mlp = read_mlp_weights(in, sizes);
  in.next_tokens("end");
  return m;
}

}  // namespace detail

inline MlpFitReport MlpLatencyPredictor::fit(const std::vector<const LatencySample*>& samples,
                                             const FitOptions& o) {
  detail::MlpModel m;
  const auto rep = detail::fit_mlp(
      samples, o, [&](const LatencySample& s) { return network_features(s.layers, block_); },
      "MlpLatencyPredictor::fit", m);
  scaling_ = std::move(m.scaling), mlp_ = std::move(m.mlp), net_log_ms_ = m.net_log_ms;
  build_kernel();
  return rep;
}

inline void MlpLatencyPredictor::save(const std::string& path) const {
  require_fitted("save");
  detail::save_mlp_model(path, kFormat, kFormatVersion, fingerprint_, block_, layer_feature_names(),
                         {scaling_, mlp_, net_log_ms_});
}

inline MlpLatencyPredictor MlpLatencyPredictor::load(const std::string& path, const Fingerprint* expected) {
  detail::TextModelReader in(path, "mlp latency predictor");
  const Fingerprint fp = in.read_header(kFormat, kFormatVersion);
  in.check_fingerprint(fp, expected);
  MlpLatencyPredictor p(fp, detail::read_vector_block(in));
  detail::MlpModel m = detail::read_mlp_model(in, layer_feature_names());
  p.scaling_ = std::move(m.scaling), p.mlp_ = std::move(m.mlp), p.net_log_ms_ = m.net_log_ms;
  p.build_kernel();
  return p;
}

}  // namespace hwaware::hw
