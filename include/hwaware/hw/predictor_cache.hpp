#pragma once
// A fitted MLP latency predictor per device and model family, cached on disk under the device's
// fingerprint: loaded when a predictor was fitted under the same fingerprint, otherwise the
// family is profiled on the device (layer probes + random-width networks), fitted and saved.
//
//   auto p = hw::cached_mlp_predictor(device, "resnet-8", "hwaware-cache");
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "hwaware/hw/mlp_predictor.hpp"
#include "hwaware/hw/sampling.hpp"

namespace hwaware::hw {

struct PredictorCacheOptions {
  int networks = 60;        // random-width networks of the family measured besides the layer probes
  size_t group = 12;        // probes measured interleaved at a time
  uint64_t seed = 17;
  bool log = true;          // progress on stderr
  int64_t block = 16;       // the vector block of fast_channels for half of the random networks
};

/// File the predictor of `family` on a device with fingerprint `fp` is cached in.
inline std::string predictor_cache_path(const std::string& dir, const std::string& family, const Fingerprint& fp) {
  // "-s2": the second sampling plan (half of the networks at fast channel counts); caches of the
  // first are not reused.
  return dir + "/mlp-" + family + "-" + std::to_string(fp.threads) + "t-b" + std::to_string(fp.batch) + "-s2.txt";
}

/// The MLP predictor of `family` on `device`: the cached one when its fingerprint matches, else
/// profiled and fitted here (about a minute on this machine) and written to the cache atomically.
inline MlpLatencyPredictor cached_mlp_predictor(OnednnCpuDevice& device, const std::string& family, const std::string& dir,
                                         PredictorCacheOptions o = {}) {
  const auto fp = device.fingerprint();
  const std::string path = predictor_cache_path(dir, family, fp);
  if (std::filesystem::exists(path)) {
    try {
      auto p = MlpLatencyPredictor::load(path, &fp);
      if (o.log) std::fprintf(stderr, "latency predictor: %s (cached)\n", path.c_str());
      return p;
    } catch (const std::exception& e) {
      if (o.log) std::fprintf(stderr, "latency predictor cache unusable (%s); profiling again\n", e.what());
    }
  }
  std::filesystem::create_directories(dir);
  if (o.log) std::fprintf(stderr, "profiling %s on this device for the latency predictor...\n", family.c_str());
  auto probes = layer_probes({family});
  std::mt19937_64 rng(o.seed);
  // Half the networks with arbitrary widths, half with the fast counts pruning keeps (a predictor
  // fitted on the first kind only saw resnet-8's all-4 network at 0.84 of the full one; measured 0.42).
  for (int i = 0; i < o.networks; ++i) probes.push_back(random_network(family, rng, 0.2, 1.1, i % 2 ? o.block : 0));
  auto samples = measure_probes(device, probes, o.group, [&](size_t done, size_t total) {
    if (o.log && (done == total || done % 120 == 0)) std::fprintf(stderr, "  measured %zu/%zu\n", done, total);
  });
  std::vector<const LatencySample*> ptrs;
  for (auto& s : samples) ptrs.push_back(&s);
  MlpLatencyPredictor p(fp);
  auto rep = p.fit(ptrs);
  if (o.log)
    std::fprintf(stderr, "  MLP fitted on %zu samples: rms relative error %.3f\n", rep.samples, rep.rms_relative_error);
  p.save(path);
  return p;
}

}  // namespace hwaware::hw
