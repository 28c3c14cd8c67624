#pragma once
// A fitted MLP latency predictor per device and model family, cached on disk under the device's
// fingerprint: loaded when a predictor was fitted under the same fingerprint, otherwise the
// family is profiled on the device (layer probes + random-width networks), fitted and saved.
// The per-layer MLP is the default; the per-kernel one is chosen by type or by MlpKind.
//
//   auto p = hw::cached_mlp_predictor(device, "resnet-8", "hwaware-cache");
//   auto k = hw::cached_mlp_predictor<hw::KernelMlpPredictor>(device, "resnet-8", "hwaware-cache");
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "hwaware/core/precompiled.hpp"
#include "hwaware/hw/kernel_mlp_predictor.hpp"
#include "hwaware/hw/mlp_predictor.hpp"
#include "hwaware/hw/sampling.hpp"
#include "hwaware/report/log.hpp"

namespace hwaware::hw {

struct PredictorCacheOptions {
  int networks = 60;        // random-width networks of the family measured besides the layer probes
  size_t group = 12;        // probes measured interleaved at a time, beside the full network (drift reference)
  uint64_t seed = 17;
  bool log = true;          // progress on stderr
  int64_t block = 16;       // the vector block of fast_channels (two thirds of the random networks)
  int passes = 1;           // groups of shuffled company each probe is measured in
};

/// Fractions of the default width of the uniformly scaled networks every profile includes.
inline const std::vector<double> kScaledFractions = {0.0625, 0.125, 0.1875, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0};

/// Which learned model the tools fit and cache: the MLP over the described layers
/// (MlpLatencyPredictor, the default) or over the runtime's planned kernels (KernelMlpPredictor).
enum class MlpKind { per_layer, per_kernel };

/// "layer" or "kernel" (the tools' --mlp flag); throws Error naming the choices otherwise.
inline MlpKind parse_mlp_kind(const std::string& s) {
  if (s == "layer") return MlpKind::per_layer;
  if (s == "kernel") return MlpKind::per_kernel;
  throw Error("unknown MLP kind '" + s + "' (choose layer or kernel)");
}

/// File the predictor of `family` on a device with fingerprint `fp` is cached in; `model` is the
/// predictor's name() ("mlp", "kernel-mlp").
inline std::string predictor_cache_path(const std::string& dir, const std::string& family, const Fingerprint& fp,
                                        const std::string& model = "mlp") {
  // "-s4": the sampling plan of profile_for_predictor, measured beside a drift reference (plan 3
  // measured without one); caches of earlier plans are not reused.
  return dir + "/" + model + "-" + family + "-" + std::to_string(fp.threads) + "t-b" + std::to_string(fp.batch) +
         "-s4.txt";
}

/// The samples a family's cached predictor is fitted on: its layer probes and o.networks random
/// networks, measured on `device`.
inline std::vector<LatencySample> profile_for_predictor(OnednnCpuDevice& device, const std::string& family,
                                                        const PredictorCacheOptions& o, const report::Log& log) {
  log.line("profiling %s on this device for the latency predictor...", family.c_str());
  auto probes = layer_probes({family});
  std::mt19937_64 rng(o.seed);
  // The networks: a third with arbitrary widths in [0.2, 1.1] of the default; a third at the fast
  // counts pruning keeps, same range; a third at fast counts drawn log-uniformly in [1/16, 1.1]
  // (narrow networks); and the uniformly scaled networks at kScaledFractions, fast and arbitrary.
  // Without the narrow third and the scaled diagonal, the fit overestimated narrow networks
  // (the ones pruning produces) by up to 2× (docs/decisions.md).
  for (int i = 0; i < o.networks; ++i) {
    const int kind = i % 3;
    if (kind == 2) probes.push_back(random_network(family, rng, 0.0625, 1.1, o.block, WidthDraw::log_uniform));
    else probes.push_back(random_network(family, rng, 0.2, 1.1, kind == 1 ? o.block : 0));
  }
  std::set<std::string> names;
  for (const auto& p : probes) names.insert(p.name);
  for (double f : kScaledFractions)
    for (int64_t block : {o.block, int64_t{0}}) {
      Probe p = scaled_network(family, f, block);
      if (names.insert(p.name).second) probes.push_back(std::move(p));
    }
  DriftReference ref{family, std::nullopt};
  size_t groups = 0;
  return measure_probes(device, probes, {o.group, o.passes, o.seed}, &ref, [&](size_t done, size_t total) {
    if (done == total || ++groups % 10 == 0) log.line("  measured %zu/%zu", done, total);
  });
}

/// The MLP predictor P (MlpLatencyPredictor or KernelMlpPredictor) of `family` on `device`: the
/// cached one when its fingerprint and format match, else profiled and fitted here (a minute or
/// so) and written to the cache atomically. A file the build cannot read (an
/// older format version, another device) is reported and replaced.
template <class P = MlpLatencyPredictor>
P cached_mlp_predictor(OnednnCpuDevice& device, const std::string& family, const std::string& dir,
                       PredictorCacheOptions o = {}) {
  const auto fp = device.fingerprint();
  const std::string path = predictor_cache_path(dir, family, fp, P(fp).name());
  const report::Log log(o.log);
  if (std::filesystem::exists(path)) {
    try {
      auto p = P::load(path, &fp);
      log.line("latency predictor: %s (cached)", path.c_str());
      return p;
    } catch (const std::exception& e) {
      log.line("latency predictor cache unusable (%s); profiling again", e.what());
    }
  }
  std::filesystem::create_directories(dir);
  auto samples = profile_for_predictor(device, family, o, log);
  std::vector<const LatencySample*> ptrs;
  for (auto& s : samples) ptrs.push_back(&s);
  P p(fp);
  auto rep = p.fit(ptrs);
  log.line("  %s fitted on %zu samples: rms relative error %.3f", p.name().c_str(), rep.samples,
           rep.rms_relative_error);
  p.save(path);
  return p;
}

/// Calls f(predictor) with the cached predictor of the chosen kind (a tool's --mlp flag).
template <class F>
decltype(auto) with_cached_mlp_predictor(MlpKind kind, OnednnCpuDevice& device, const std::string& family,
                                         const std::string& dir, const PredictorCacheOptions& o, F&& f) {
  if (kind == MlpKind::per_kernel) return f(cached_mlp_predictor<KernelMlpPredictor>(device, family, dir, o));
  return f(cached_mlp_predictor<MlpLatencyPredictor>(device, family, dir, o));
}

#if !HWAWARE_ENTRY_DEFINITIONS  // compiled once into hwaware::precompiled (core/precompiled.hpp)
extern template MlpLatencyPredictor cached_mlp_predictor<MlpLatencyPredictor>(OnednnCpuDevice&, const std::string&,
                                                                             const std::string&, PredictorCacheOptions);
extern template KernelMlpPredictor cached_mlp_predictor<KernelMlpPredictor>(OnednnCpuDevice&, const std::string&,
                                                                           const std::string&, PredictorCacheOptions);
#endif

}  // namespace hwaware::hw
