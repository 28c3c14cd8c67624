#pragma once
// AnalyticPredictor: architecture-aware latency and energy (the seed's open challenge, in the
// spirit of Timeloop/Accelergy/MAESTRO/ANNETTE): derived from a description of the accelerator
// instead of learned, so it ports to hardware nobody has measured, and it explains itself — every
// layer is reported as compute- or memory-bound.
//
// Per layer (shapes per image, batch 1):
//   compute_s = κ_c · work / (peak_macs_per_s · efficiency)
//       work = the layer's MACs (element operations for batchnorm, activations, pools, add);
//       efficiency = how much of the parallel hardware the layer's shape can fill:
//         - simd_cores (a CPU): channels padded to the vector width (oneDNN's nChw16c computes
//           17 channels as 32: c / (⌈c/16⌉·16), for out_c and — when ≥ 4 — in_c/groups), times
//           the thread split (work items ⌈out_c/16⌉·out_h over pe_rows cores, ⌈items/cores⌉
//           rounds);
//         - row_stationary (Eyeriss, Chen et al. ISCA 2016): a logical PE set of k filter rows ×
//           out_h output rows; ⌊pe_rows/k⌋ sets stacked for different output channels (channel
//           quantisation ⌈c/sets⌉), output rows folded onto pe_cols (⌈out_h/pe_cols⌉ passes);
//           a linear layer is a 1×1 conv with one output row (1/pe_cols of the columns used);
//           element-wise layers and pools run at full rate (a simplification: they are small);
//   memory_s = κ_m · bytes / bandwidth of the innermost memory level the working set fits in
//       bytes = bytes_per_value · (in_c·in_h·in_w + out_c·out_h·out_w + params)
//   seconds = max(compute_s, memory_s) + overhead (one runtime call / one reconfiguration)
//   energy  = MACs · energy_pj_per_mac + bytes · Σ energy_pj_per_byte of the levels from the
//             innermost to the one the working set fits in (data passes through each once)
// A batchnorm2d directly after a conv2d is folded into it at inference (as the oneDNN device and
// any inference accelerator do): it costs nothing (LayerEstimate::fused).
// κ_c = κ_m = 1 and overhead = layer_overhead_s until calibrate() fits them (at most 20
// measurements, the rule).
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/hw/features.hpp"
#include "hwaware/hw/predictor_concept.hpp"

namespace hwaware::hw {

/// One level of the memory hierarchy, innermost first; the last level holds anything.
struct MemoryLevel {
  std::string name;
  double size_bytes = 0;             // capacity the working set must fit in (last level: ignored)
  double bandwidth_bytes_per_s = 0;  // sustained, to the compute units
  double energy_pj_per_byte = 0;     // per byte read or written at this level
};

/// How layers are mapped onto the processing elements.
enum class Dataflow {
  simd_cores,      // cores (pe_rows) × FMA pipes (pe_cols) × vector lanes (vector_width)
  row_stationary,  // Eyeriss: a pe_rows × pe_cols array, one MAC per PE per cycle
};

/// What the analytic model knows about a device. Constants carry their source (or "estimate").
struct AcceleratorDesc {
  std::string name;
  double peak_macs_per_s = 0;
  int pe_rows = 1, pe_cols = 1;
  int vector_width = 1;
  std::vector<MemoryLevel> memory;  // innermost first
  double energy_pj_per_mac = 0;
  double layer_overhead_s = 0;
  Dataflow dataflow = Dataflow::simd_cores;
  int bytes_per_value = 4;

  /// A 2-core AVX-512 server CPU running fp32 through oneDNN (the class of host the library is
  /// measured on): peak 2 cores × 2 FMA pipes × 16 lanes × 3.5 GHz, estimated cache sizes and
  /// bandwidths, Horowitz's 45 nm energies. Estimates for comparisons; calibrate() fits the
  /// throughput and overhead to a device's measurements. Sources: docs/decisions.md.
  static AcceleratorDesc this_cpu() {
    AcceleratorDesc d;
    d.name = "this-cpu";
    d.peak_macs_per_s = 2 * 2 * 16 * 3.5e9;
    d.pe_rows = 2;  // cores (threads)
    d.pe_cols = 2;  // FMA pipes per core
    d.vector_width = 16;
    d.bytes_per_value = 4;
    d.dataflow = Dataflow::simd_cores;
    // Per level: size (both cores), bandwidth (load paths at 3.5 GHz), pJ per 4-byte value.
    d.memory = {{"L1", 96.0 * 1024, 2 * 128 * 3.5e9, 20.0 / 4},
                {"L2", 2.0 * 1024 * 1024, 2 * 64 * 3.5e9, 100.0 / 4},
                {"L3", 32.0 * 1024 * 1024, 2 * 32 * 3.5e9, 2 * 100.0 / 4},
                {"DRAM", std::numeric_limits<double>::infinity(), 30e9, 1950.0 / 8}};
    d.energy_pj_per_mac = 3.7 + 0.9;  // fp32 multiply + add
    d.layer_overhead_s = 2.5e-6;
    return d;
  }

  /// An Eyeriss-like edge accelerator (Chen et al., ISSCC 2016 / JSSC 2017, 65 nm).
  static AcceleratorDesc eyeriss_like() {
    AcceleratorDesc d;
    d.name = "eyeriss-like";
    // 12 × 14 = 168 PEs, one 16-bit MAC per PE per cycle, 200 MHz core clock (JSSC 2017).
    d.pe_rows = 12;
    d.pe_cols = 14;
    d.peak_macs_per_s = 168 * 200e6;
    d.vector_width = 1;
    d.bytes_per_value = 2;  // 16-bit fixed point (JSSC 2017)
    d.dataflow = Dataflow::row_stationary;
    // MAC energy: estimate for a 16-bit fixed-point MAC from Horowitz ISSCC 2014 (45 nm): an 8-bit
    // multiply 0.2 pJ and a 32-bit one 3.1 pJ, ~quadratic in width → ~0.8 pJ, plus a 16-bit add
    // ~0.05 pJ.
    d.energy_pj_per_mac = 0.85;
    const double mac = d.energy_pj_per_mac;
    // Storage energies per 16-bit access relative to a MAC (Chen et al., ISCA 2016, Eyeriss's
    // normalised costs): register file (spad) 1×, global buffer 6×, DRAM 200×; per byte: ÷ 2.
    // Sizes (JSSC 2017): per-PE spads 0.5 KB (12 × 16 b ifmap, 224 × 16 b filter, 24 × 16 b psum)
    // × 168 PEs; 108 KB global buffer. Bandwidths are estimates: spads one 16-bit read of each of
    // 3 operands per PE per cycle; global buffer 64 B per cycle; DRAM a 64-bit bus at a 60 MHz
    // link clock (≈ 0.48 GB/s).
    d.memory = {{"spad", 168 * 512.0, 168 * 3 * 2 * 200e6, 1 * mac / 2},
                {"global_buffer", 108.0 * 1024, 64 * 200e6, 6 * mac / 2},
                {"DRAM", std::numeric_limits<double>::infinity(), 8 * 60e6, 200 * mac / 2}};
    // Estimate: per-layer reconfiguration (Eyeriss loads each layer's configuration through a
    // scan chain) and pipeline fill, ~2 µs.
    d.layer_overhead_s = 2e-6;
    return d;
  }
};

/// The model's account of one layer.
struct LayerEstimate {
  double seconds = 0;          // max(compute_s, memory_s) + overhead; 0 when fused
  bool compute_bound = false;  // compute_s ≥ memory_s
  double compute_s = 0, memory_s = 0;
  double efficiency = 1;       // share of the peak the layer's shape can use
  double bytes = 0;            // working set moved
  int memory_level = 0;        // index into AcceleratorDesc::memory
  double energy_mj = 0;
  bool fused = false;          // folded into the previous layer (batchnorm2d after conv2d)
};

/// What calibrate() fitted.
struct AnalyticCalibration {
  double compute_scale = 1, memory_scale = 1, overhead_s = 0;
  double rms_relative_error = 0;  // on the calibration samples, after the fit
  int iterations = 0;
};

/// Roofline-per-layer latency and energy from an AcceleratorDesc. Satisfies Predictor and
/// EnergyPredictor.
class AnalyticPredictor {
 public:
  static constexpr size_t kMaxCalibrationSamples = 20;

  explicit AnalyticPredictor(AcceleratorDesc accelerator)
      : acc_(std::move(accelerator)), overhead_s_(acc_.layer_overhead_s) {
    if (!(acc_.peak_macs_per_s > 0) || acc_.pe_rows < 1 || acc_.pe_cols < 1 || acc_.vector_width < 1 ||
        acc_.memory.empty() || acc_.bytes_per_value < 1)
      throw Error("AnalyticPredictor: accelerator '" + acc_.name +
                  "' needs a positive peak, PE array, vector width, bytes per value and ≥ 1 memory level");
    for (const auto& m : acc_.memory)
      if (!(m.bandwidth_bytes_per_s > 0))
        throw Error("AnalyticPredictor: memory level '" + m.name + "' of '" + acc_.name + "' needs a positive bandwidth");
  }

  /// Per-layer estimates (same order as the description).
  std::vector<LayerEstimate> explain(const NetDesc& net) const {
    std::vector<LayerEstimate> r(net.size());
    for (size_t i = 0; i < net.size(); ++i) {
      const Base b = base(net, i);
      LayerEstimate& e = r[i];
      e.fused = b.fused;
      if (b.fused) continue;
      e.compute_s = compute_scale_ * b.compute_s;
      e.memory_s = memory_scale_ * b.memory_s;
      e.compute_bound = e.compute_s >= e.memory_s;
      e.seconds = std::max(e.compute_s, e.memory_s) + overhead_s_;
      e.efficiency = b.efficiency, e.bytes = b.bytes, e.memory_level = b.level, e.energy_mj = b.energy_mj;
    }
    return r;
  }

  double predict_ms(const NetDesc& net) const {
    double s = 0;
    for (const auto& e : explain(net)) s += e.seconds;
    return 1e3 * s;
  }
  std::vector<double> predict_batch_ms(const std::vector<NetDesc>& nets) const {
    std::vector<double> r;
    r.reserve(nets.size());
    for (const auto& n : nets) r.push_back(predict_ms(n));
    return r;
  }
  /// Energy per inference (mJ): MACs and data movement (not calibrated: no measured energy).
  double predict_mj(const NetDesc& net) const {
    double mj = 0;
    for (size_t i = 0; i < net.size(); ++i) mj += base(net, i).energy_mj;
    return mj;
  }

  /// Fits κ_c, κ_m and the per-layer overhead to at most 20 measured samples: relative least
  /// squares, bounded below, by damped Gauss–Newton (with every layer's bound fixed the model is
  /// linear in the three; the step is halved until the true objective improves). Starts from the
  /// current values. Throws for more than 20 samples or none.
  AnalyticCalibration calibrate(const std::vector<const LatencySample*>& at_most_20);

  std::string name() const { return "analytic"; }
  const AcceleratorDesc& accelerator() const { return acc_; }
  double compute_scale() const { return compute_scale_; }
  double memory_scale() const { return memory_scale_; }
  double overhead_s() const { return overhead_s_; }

 private:
  struct Base {  // unscaled times of one layer
    bool fused = false;
    double compute_s = 0, memory_s = 0, efficiency = 1, bytes = 0, energy_mj = 0;
    int level = 0;
  };
  double efficiency(const LayerDesc& d) const;
  Base base(const NetDesc& net, size_t i) const;

  AcceleratorDesc acc_;
  double compute_scale_ = 1, memory_scale_ = 1, overhead_s_ = 0;
};

static_assert(Predictor<AnalyticPredictor>);
static_assert(EnergyPredictor<AnalyticPredictor>);

// ---- implementation ----------------------------------------------------------------------------

inline double AnalyticPredictor::efficiency(const LayerDesc& d) const {
  const FeatureKind kind = feature_kind(d);
  auto quantised = [](double used, double unit) {  // used / (⌈used/unit⌉·unit)
    if (used <= 0 || unit <= 0) return 1.0;
    return used / (std::ceil(used / unit) * unit);
  };
  const double ci = double(std::max<int64_t>(d.in_c, 1)), co = double(std::max<int64_t>(d.out_c, 1));
  if (acc_.dataflow == Dataflow::simd_cores) {
    const double v = acc_.vector_width, cores = acc_.pe_rows;
    double vec = 1.0, items = 1.0;
    const double ci_g = ci / double(std::max<int64_t>(d.groups, 1));
    switch (kind) {
      case FeatureKind::conv_dense:
      case FeatureKind::conv_grouped:
        vec = quantised(co, v) * (ci_g >= 4 ? quantised(ci_g, v) : 1.0);
        items = std::ceil(co / v) * double(d.out_h);
        break;
      case FeatureKind::linear:
        vec = quantised(co, v) * (ci >= 4 ? quantised(ci, v) : 1.0);
        items = std::ceil(co / v);
        break;
      default:  // depthwise convs, element-wise layers, pools: vectorised over channels
        vec = quantised(co, v);
        items = std::ceil(co / v) * double(d.out_h);
        break;
    }
    return vec * quantised(items, cores);
  }
  // row_stationary
  const double rows = acc_.pe_rows, cols = acc_.pe_cols;
  double k = double(d.kernel), out_rows = double(d.out_h);
  if (kind == FeatureKind::linear) k = 1, out_rows = 1;
  else if (!is_conv(kind)) return 1.0;
  double row_use;
  if (k <= rows) {
    const double sets = std::floor(rows / k);
    row_use = (k * sets / rows) * quantised(co, sets);
  } else {
    row_use = k / (std::ceil(k / rows) * rows);
  }
  return row_use * quantised(out_rows, cols);
}

inline AnalyticPredictor::Base AnalyticPredictor::base(const NetDesc& net, size_t i) const {
  const LayerDesc& d = net[i];
  Base b;
  if (d.kind == LayerKind::flatten ||
      (d.kind == LayerKind::batchnorm2d && i > 0 && net[i - 1].kind == LayerKind::conv2d)) {
    b.fused = true;
    return b;
  }
  b.efficiency = efficiency(d);
  b.compute_s = double(d.macs) / (acc_.peak_macs_per_s * b.efficiency);
  b.bytes = double(acc_.bytes_per_value) *
            double(d.in_c * d.in_h * d.in_w + d.out_c * d.out_h * d.out_w + d.params);
  double pj_per_byte = 0;
  for (size_t l = 0; l < acc_.memory.size(); ++l) {
    b.level = int(l);
    pj_per_byte += acc_.memory[l].energy_pj_per_byte;
    if (b.bytes <= acc_.memory[l].size_bytes) break;
  }
  b.memory_s = b.bytes / acc_.memory[size_t(b.level)].bandwidth_bytes_per_s;
  b.energy_mj = 1e-9 * (double(d.macs) * acc_.energy_pj_per_mac + b.bytes * pj_per_byte);
  return b;
}

namespace detail {

/// The unscaled compute and memory seconds of one unfused layer.
struct AnalyticLayerTimes {
  double c, m;
};
using AnalyticCalibrationSet = std::vector<std::vector<AnalyticLayerTimes>>;  // per sample, its layers

/// Σ_s (pred_s(θ)/y_s − 1)², θ = (κ_c, κ_m, overhead), y in seconds.
inline double analytic_calibration_objective(const Eigen::Vector3d& t, const AnalyticCalibrationSet& layers,
                                             const std::vector<double>& y) {
  double sum = 0;
  for (size_t s = 0; s < y.size(); ++s) {
    double p = 0;
    for (const AnalyticLayerTimes& l : layers[s]) p += std::max(t[0] * l.c, t[1] * l.m) + t[2];
    sum += (p / y[s] - 1) * (p / y[s] - 1);
  }
  return sum;
}

/// With the bound of every layer fixed as at θ, pred_s is linear in θ: the rows of A θ ≈ 1
/// (each divided by y_s).
inline Eigen::MatrixXd analytic_linearisation(const Eigen::Vector3d& theta, const AnalyticCalibrationSet& layers,
                                              const std::vector<double>& y) {
  const size_t n = y.size();
  Eigen::MatrixXd a(Eigen::Index(n), 3);
  for (size_t s = 0; s < n; ++s) {
    double c = 0, m = 0;
    for (const AnalyticLayerTimes& l : layers[s]) {
      if (theta[0] * l.c >= theta[1] * l.m) c += l.c;
      else m += l.m;
    }
    a.row(Eigen::Index(s)) << c / y[s], m / y[s], double(layers[s].size()) / y[s];
  }
  return a;
}

/// The least-squares solution of A θ ≈ 1 over the variables in `free`, the others held at their
/// lower bound; false when it is not finite or falls below a bound.
inline bool solve_with_free_variables(const Eigen::MatrixXd& a, const Eigen::Vector3d& lower,
                                      const std::vector<Eigen::Index>& free, Eigen::Vector3d& t) {
  const auto n = a.rows();
  const Eigen::VectorXd ones = Eigen::VectorXd::Ones(n);
  // Columns scaled to unit norm: the overhead column (layers / seconds) is ~1e5 times the
  // others, which a rank-revealing solver would otherwise treat as rank deficiency.
  Eigen::MatrixXd af(n, Eigen::Index(free.size()));
  Eigen::VectorXd norm(Eigen::Index(free.size()));
  Eigen::VectorXd rhs = ones - a * lower;
  for (size_t k = 0; k < free.size(); ++k) {
    const auto kk = Eigen::Index(k);
    rhs += a.col(free[k]) * lower[free[k]];
    norm[kk] = a.col(free[k]).norm();
    if (!(norm[kk] > 0)) norm[kk] = 1;
    af.col(kk) = a.col(free[k]) / norm[kk];
  }
  const Eigen::VectorXd sol = af.completeOrthogonalDecomposition().solve(rhs).cwiseQuotient(norm);
  bool feasible = true;
  for (size_t k = 0; k < free.size(); ++k) {
    feasible &= std::isfinite(sol[Eigen::Index(k)]) && sol[Eigen::Index(k)] >= lower[free[k]];
    t[free[k]] = sol[Eigen::Index(k)];
  }
  return feasible;
}

/// min ‖A θ − 1‖² subject to θ ≥ lower, in 3 unknowns: every set of variables held at their lower
/// bound is tried, the rest solved for, and the best feasible solution kept (the optimum is among
/// them). `fallback` when none is feasible.
inline Eigen::Vector3d bounded_least_squares(const Eigen::MatrixXd& a, const Eigen::Vector3d& lower,
                                             const Eigen::Vector3d& fallback) {
  const Eigen::VectorXd ones = Eigen::VectorXd::Ones(a.rows());
  Eigen::Vector3d best = fallback;
  double best_obj = std::numeric_limits<double>::infinity();
  for (int mask = 0; mask < 8; ++mask) {
    Eigen::Vector3d t = lower;
    std::vector<Eigen::Index> free;
    for (int v = 0; v < 3; ++v)
      if (mask & (1 << v)) free.push_back(v);
    if (!free.empty() && !solve_with_free_variables(a, lower, free, t)) continue;
    const double r = (a * t - ones).squaredNorm();
    if (r < best_obj) best_obj = r, best = t;
  }
  return best;
}

}  // namespace detail

inline AnalyticCalibration AnalyticPredictor::calibrate(const std::vector<const LatencySample*>& samples) {
  if (samples.size() > kMaxCalibrationSamples)
    throw Error("AnalyticPredictor::calibrate: at most " + std::to_string(kMaxCalibrationSamples) +
                " measurements (got " + std::to_string(samples.size()) +
                "); the analytic model is meant to need only a few");
  if (samples.empty()) throw Error("AnalyticPredictor::calibrate: no samples");
  const size_t n = samples.size();
  detail::AnalyticCalibrationSet layers(n);
  std::vector<double> y(n);
  for (size_t s = 0; s < n; ++s) {
    if (!(samples[s]->m.median_ms > 0))
      throw Error("AnalyticPredictor::calibrate: sample '" + samples[s]->name + "' has a non-positive latency");
    y[s] = samples[s]->m.median_ms * 1e-3;
    for (size_t i = 0; i < samples[s]->layers.size(); ++i) {
      const Base b = base(samples[s]->layers, i);
      if (!b.fused) layers[s].push_back({b.compute_s, b.memory_s});
    }
  }
  // Lower bounds: a scale of 0 would erase a term from the model for good.
  const Eigen::Vector3d lower(1e-3, 1e-3, 0.0);
  Eigen::Vector3d theta(compute_scale_, memory_scale_, overhead_s_);
  double best = detail::analytic_calibration_objective(theta, layers, y);
  AnalyticCalibration rep;
  for (int it = 0; it < 100; ++it) {
    const Eigen::MatrixXd a = detail::analytic_linearisation(theta, layers, y);
    const Eigen::Vector3d target = detail::bounded_least_squares(a, lower, theta);
    // Damped Gauss–Newton: the step to the linear solution, halved until the true objective
    // (where layers may change bound) improves.
    rep.iterations = it + 1;
    bool improved = false;
    for (double step = 1.0; step > 1e-4 && !improved; step *= 0.5) {
      const Eigen::Vector3d t = theta + step * (target - theta);
      const double obj = detail::analytic_calibration_objective(t, layers, y);
      if (obj < best * (1 - 1e-9)) best = obj, theta = t, improved = true;
    }
    if (!improved) break;
  }
  compute_scale_ = theta[0], memory_scale_ = theta[1], overhead_s_ = theta[2];
  rep.compute_scale = theta[0], rep.memory_scale = theta[1], rep.overhead_s = theta[2];
  rep.rms_relative_error = std::sqrt(best / double(n));
  return rep;
}

}  // namespace hwaware::hw
