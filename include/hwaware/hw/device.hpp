#pragma once
// Devices: what runs a network and reports its latency. OnednnCpuDevice measures inference on
// this CPU through oneDNN with a protocol built for noisy shared machines (a naive median of one
// burst varies by several percent across fresh processes):
//   - warm-up until both a run count and a time are reached (caches, primitive creation, JIT);
//   - timed blocks of k back-to-back runs (k sized so a block lasts ≥ block_ms, so the clock's
//     resolution and one-off interrupts average out), one block per network per round;
//   - rounds interleave the networks in a fresh random order, so slow phases of the machine hit
//     every network alike instead of whichever was being measured at the time;
//   - outliers beyond median ± 3·MAD (scaled to σ) are dropped; the median of the rest is the
//     latency, with its interquartile range and coefficient of variation.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <memory>
#include <numeric>
#include <random>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "hwaware/hw/device_concept.hpp"
#include "hwaware/hw/fingerprint.hpp"
#include "hwaware/hw/measurement.hpp"
#include "hwaware/hw/samples.hpp"
#include "hwaware/backend/onednn/context.hpp"
#include "hwaware/nn/blocks.hpp"

namespace hwaware::hw {

inline std::string onednn_isa_name() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::sse41: return "sse41";
    default: return "other";
  }
}

/// The inference runtime's execution policy, part of the fingerprint: latencies measured under
/// another policy (another serial-op threshold, no fused residual tails, convolutions all nhwc)
/// are not evidence here. "nhwc-convs" marks a runtime whose convolutions never run nChw16c.
inline std::string onednn_runtime_name() {
  return "serial<" + std::to_string(onednn::serial_work_threshold()) + ">,fused-residual" +
         (onednn::blocked_convs() ? "" : ",nhwc-convs");
}

/// Fingerprint of this machine's CPU as the oneDNN device sees it.
inline Fingerprint onednn_cpu_fingerprint(int threads, int batch) {
  const dnnl_version_t* v = dnnl::version();
  return {"onednn-cpu",
          cpu_model_name(),
          onednn_isa_name(),
          std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch),
          kLibraryVersion,
          onednn_runtime_name(),
          threads,
          batch};
}

/// Options of OnednnCpuDevice's protocol (see the top of this header).
struct ProtocolOptions {
  int warmup_runs = 10;
  double warmup_ms = 15;
  int rounds = 21;
  double block_ms = 2.0;
  int max_block_runs = 400;
  double reject_mads = 3.0;
  uint64_t seed = 1;
};

/// This CPU through oneDNN: inference (eval mode, BN folded, no autograd) at a batch size and
/// thread count.
class OnednnCpuDevice {
 public:
  explicit OnednnCpuDevice(int threads = 2, int batch = 1, ProtocolOptions o = {})
      : threads_(threads), batch_(batch), opt_(o) {}

  Fingerprint fingerprint() const { return onednn_cpu_fingerprint(threads_, batch_); }
  const ProtocolOptions& options() const { return opt_; }

  Measurement measure(nn::Module& m, const Shape& chw) { return measure_many({&m}, chw)[0]; }

  /// Measures several networks (same input shape) with interleaved rounds.
  std::vector<Measurement> measure_many(const std::vector<nn::Module*>& nets, const Shape& chw) {
    std::vector<Shape> shapes(nets.size(), chw);
    return measure_many(nets, shapes);
  }

  /// Measures several networks, each with its own per-image input shape, interleaved.
  std::vector<Measurement> measure_many(const std::vector<nn::Module*>& nets, const std::vector<Shape>& chws) {
    onednn::set_num_threads(threads_);
    NoGradGuard no_grad;
    using clk = std::chrono::steady_clock;
    const size_t n = nets.size();
    std::vector<Variable> inputs;
    std::vector<int> block(n, 1);
    for (size_t i = 0; i < n; ++i) {
      Shape s{batch_};
      s.insert(s.end(), chws[i].begin(), chws[i].end());
      Tensor x = Tensor::empty(s);
      std::mt19937 rng(7);
      std::normal_distribution<float> g;
      for (int64_t k = 0; k < x.numel(); ++k) x.data()[k] = g(rng);
      inputs.emplace_back(x);
      nets[i]->eval();
      // Warm-up: both enough runs and enough time (first calls create primitives and JIT code).
      auto t0 = clk::now();
      int runs = 0;
      double ms = 0;
      while (runs < opt_.warmup_runs || ms < opt_.warmup_ms) {
        nets[i]->forward(inputs[i]);
        ++runs;
        ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
      }
      // The pace after warm-up sizes the timed blocks.
      const int pace_runs = std::max(1, runs / 2);
      t0 = clk::now();
      for (int k = 0; k < pace_runs; ++k) nets[i]->forward(inputs[i]);
      const double per_run = std::chrono::duration<double, std::milli>(clk::now() - t0).count() / pace_runs;
      block[i] = std::clamp(int(std::ceil(opt_.block_ms / std::max(per_run, 1e-6))), 1, opt_.max_block_runs);
    }
    std::vector<std::vector<double>> times(n);
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(opt_.seed);
    for (int r = 0; r < opt_.rounds; ++r) {
      std::shuffle(order.begin(), order.end(), rng);
      for (size_t i : order) {
        const auto t0 = clk::now();
        for (int k = 0; k < block[i]; ++k) nets[i]->forward(inputs[i]);
        times[i].push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count() / block[i]);
      }
    }
    std::vector<Measurement> out;
    for (auto& t : times) out.push_back(summarize(t, opt_.reject_mads));
    return out;
  }

 private:
  int threads_, batch_;
  ProtocolOptions opt_;
};

static_assert(InterleavingDevice<OnednnCpuDevice> && ShapedInterleavingDevice<OnednnCpuDevice>);

/// relu(x + x): the residual add and the ReLU after it, as a block's tail runs them.
class ResidualTailProbe : public nn::Module {
 public:
  Variable forward(const Variable& x) override { return ops::relu(ops::add(x, x)); }
  Shape describe_layers(const Shape& chw, std::vector<nn::LayerDesc>& out, const std::string& prefix) const override {
    nn::describe_same(LayerKind::add, chw, out, join(prefix, "add"));
    return nn::describe_same(LayerKind::relu, chw, out, join(prefix, "relu"));
  }
};

}  // namespace hwaware::hw
