#pragma once
// What to measure: layer probes (one conv+BN(+ReLU) as the runtime fuses it, a pool, the global
// pool, the classifier, a residual tail) on a grid of channel counts around each layer signature
// of the zoo families, and whole networks of those families with random per-layer widths — the
// kind of networks ZeroBN and LightNAS will produce.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "hwaware/hw/device.hpp"
#include "hwaware/hw/device_concept.hpp"
#include "hwaware/hw/fast_channels.hpp"
#include "hwaware/hw/features.hpp"
#include "hwaware/models/zoo.hpp"

namespace hwaware::hw {

/// A runnable network with the description it is stored under.
struct Probe {
  std::string kind;    // "layer" or "network"
  std::string family;  // zoo family or layer type
  std::string name;
  std::unique_ptr<nn::Module> module;
  Shape chw;  // per-image input shape
  NetDesc layers() const { return module->describe(chw); }
};

/// Widths as fractions of a default width (what pruning and width search explore).
inline const std::vector<double> kWidthFractions = {0.25, 0.375, 0.5, 0.75, 1.0, 1.25, 1.5};

inline int64_t scaled_width(int64_t c, double f) { return std::max<int64_t>(1, std::llround(double(c) * f)); }

/// How random_network draws a layer's width fraction in [lo, hi]: uniformly, or log-uniformly
/// (as many networks between 1/8 and 1/4 of the default as between 1/2 and 1: pruned networks
/// live at the narrow end, where a uniform draw rarely goes).
enum class WidthDraw { uniform, log_uniform };

/// The zoo network of `family` with each layer's default width c scaled to
/// fast_channels(scaled_width(c, fraction()), block), named by its widths.
template <class Fraction>
Probe network_at(const std::string& family, int64_t block, Fraction&& fraction) {
  std::vector<int64_t> c = models::default_channels(family);
  std::string name = family;
  for (auto& v : c) {
    v = fast_channels(scaled_width(v, fraction()), block);
    name += "-" + std::to_string(v);
  }
  return {"network", family, name, models::make_model(family, {.channels = c}), {1, 28, 28}};
}

/// A zoo network with each per-layer width drawn from [lo, hi] × its default; with `block` > 1,
/// rounded up to counts that run fast (fast_channels: what ZeroBN's guards keep).
inline Probe random_network(const std::string& family, std::mt19937_64& rng, double lo = 0.25, double hi = 1.5,
                            int64_t block = 0, WidthDraw draw = WidthDraw::uniform) {
  const bool log = draw == WidthDraw::log_uniform;
  std::uniform_real_distribution<double> u(log ? std::log(lo) : lo, log ? std::log(hi) : hi);
  return network_at(family, block, [&] { return log ? std::exp(u(rng)) : u(rng); });
}

/// The zoo network with every layer at `fraction` of its default width (rounded by fast_channels
/// with `block` > 1): uniform width scaling, the diagonal of the width space.
inline Probe scaled_network(const std::string& family, double fraction, int64_t block = 0) {
  return network_at(family, block, [&] { return fraction; });
}

/// Layer probes on a width grid around every layer signature of the given zoo families.
inline std::vector<Probe> layer_probes(const std::vector<std::string>& families,
                                       const std::vector<double>& fractions = kWidthFractions) {
  std::vector<Probe> probes;
  std::set<std::string> seen;
  auto add = [&](Probe p) {
    if (seen.insert(p.name).second) probes.push_back(std::move(p));
  };
  for (const auto& family : families) {
    const NetDesc desc = models::make_model(family)->describe({1, 28, 28});
    for (size_t i = 0; i < desc.size(); ++i) {
      const auto& d = desc[i];
      const Shape chw{d.in_c, d.in_h, d.in_w};
      if (d.kind == LayerKind::conv2d) {
        const bool depthwise = d.groups > 1 && d.groups == d.in_c;
        const bool relu = i + 1 < desc.size() && desc[i + 1].kind == LayerKind::batchnorm2d && desc[i + 1].fused_relu;
        for (double fi : fractions)
          for (double fo : fractions) {
            const int64_t ci = d.in_c <= 4 ? d.in_c : scaled_width(d.in_c, fi);
            const int64_t co = depthwise ? ci : scaled_width(d.out_c, fo);
            const std::string name = "conv" + std::to_string(d.kernel) + "s" + std::to_string(d.stride) + "h" +
                                     std::to_string(d.in_h) + (depthwise ? "dw" : "") + (relu ? "r" : "") + "_" +
                                     std::to_string(ci) + "_" + std::to_string(co);
            add({"layer", "conv2d", name,
                 std::make_unique<nn::ConvBn>(ci, co, d.kernel, d.stride, relu, depthwise ? ci : 1),
                 {ci, d.in_h, d.in_w}});
          }
        // A residual block with an identity shortcut grows a 1×1 shortcut conv once its widths
        // differ (as pruned or searched variants do): probe that conv too.
        const auto body = d.name.find("body.0.conv");
        if (body != std::string::npos) {
          const std::string block = d.name.substr(0, body);
          const bool has_shortcut = std::any_of(desc.begin(), desc.end(), [&](const nn::LayerDesc& x) {
            return x.name.rfind(block + "shortcut", 0) == 0;
          });
          if (!has_shortcut)
            for (double fi : fractions)
              for (double fo : fractions) {
                const int64_t ci = scaled_width(d.in_c, fi), co = scaled_width(d.in_c, fo);
                add({"layer", "conv2d",
                     "conv1s" + std::to_string(d.stride) + "h" + std::to_string(d.in_h) + "_" + std::to_string(ci) + "_" +
                         std::to_string(co),
                     std::make_unique<nn::ConvBn>(ci, co, 1, d.stride, false), {ci, d.in_h, d.in_w}});
              }
        }
      } else if (d.kind == LayerKind::max_pool2d || d.kind == LayerKind::global_avg_pool ||
                 d.kind == LayerKind::linear || d.kind == LayerKind::add) {
        const std::string type(to_string(d.kind));
        for (double f : fractions) {
          const int64_t c = scaled_width(d.in_c, f);
          const std::string name = type + "h" + std::to_string(d.in_h) + "_" + std::to_string(c);
          std::unique_ptr<nn::Module> m;
          Shape in{c, d.in_h, d.in_w};
          if (d.kind == LayerKind::max_pool2d) m = std::make_unique<nn::Pool2d>(nn::Pool2d::max(d.kernel, d.stride));
          else if (d.kind == LayerKind::global_avg_pool) m = std::make_unique<nn::GlobalAvgPool>();
          else if (d.kind == LayerKind::add) m = std::make_unique<ResidualTailProbe>();
          else {
            auto seq = std::make_unique<nn::Sequential>();
            seq->emplace<nn::Flatten>();
            seq->emplace<nn::Linear>(c, d.out_c);
            m = std::move(seq);
            in = {c, 1, 1};
          }
          add({"layer", type, name, std::move(m), in});
        }
      }
    }
  }
  return probes;
}

/// How probes are measured: `group` probes (plus the reference) interleaved at a time, every
/// probe in `passes` groups of differently shuffled company, its figure the median pass (the
/// lower of the middle two for an even count, as MeasuredDevice's sessions).
struct SamplingOptions {
  size_t group = 12;
  int passes = 1;
  uint64_t seed = 1;
};

namespace detail {
inline Measurement scaled(Measurement m, double f) {
  m.median_ms *= f, m.iqr_ms *= f, m.min_ms *= f;
  return m;
}
}  // namespace detail

/// Measures probes as `o` says, in the units of `ref` when given (setting ref->ms from the first
/// group if unset); `progress(done, total)` is called after each group.
template <ShapedInterleavingDevice D, class Progress>
std::vector<LatencySample> measure_probes(D& device, std::vector<Probe>& probes, const SamplingOptions& o,
                                          DriftReference* ref, Progress&& progress) {
  if (o.group == 0 || o.passes < 1) throw Error("measure_probes: group and passes must be at least 1");
  std::unique_ptr<nn::Module> ref_net = ref ? models::make_model(ref->family) : nullptr;
  const Shape ref_chw{1, 28, 28};
  std::vector<std::vector<Measurement>> readings(probes.size());
  std::vector<size_t> order(probes.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(o.seed);
  const size_t total = probes.size() * size_t(o.passes);
  size_t done = 0;
  for (int pass = 0; pass < o.passes; ++pass) {
    if (pass > 0) std::shuffle(order.begin(), order.end(), rng);  // other company in every pass
    for (size_t b = 0; b < order.size(); b += o.group) {
      const size_t e = std::min(order.size(), b + o.group);
      std::vector<nn::Module*> mods;
      std::vector<Shape> shapes;
      for (size_t i = b; i < e; ++i) mods.push_back(probes[order[i]].module.get()), shapes.push_back(probes[order[i]].chw);
      if (ref_net) mods.push_back(ref_net.get()), shapes.push_back(ref_chw);
      const auto ms = device.measure_many(mods, shapes);
      double f = 1;
      if (ref) {
        const double now = ms.back().median_ms;
        if (!ref->ms) ref->ms = now;
        f = *ref->ms / now;
      }
      for (size_t i = b; i < e; ++i) readings[order[i]].push_back(detail::scaled(ms[i - b], f));
      done += e - b;
      progress(done, total);
    }
  }
  std::vector<LatencySample> out;
  for (size_t i = 0; i < probes.size(); ++i) {
    auto& r = readings[i];
    std::sort(r.begin(), r.end(), [](const Measurement& x, const Measurement& y) { return x.median_ms < y.median_ms; });
    out.push_back({probes[i].kind, probes[i].family, probes[i].name, probes[i].layers(), r[(r.size() - 1) / 2], -1});
  }
  return out;
}

}  // namespace hwaware::hw
