#pragma once
// Devices for tests, with a known truth: 1 ms per million MACs on an undisturbed machine, and
// the disturbances of a shared host each one adds (drift, spikes, slow first readings, contention).
#include <map>
#include <vector>

#include "hwaware/hw/device_concept.hpp"
#include "hwaware/hw/predictor_concept.hpp"
#include "hwaware/nn/module.hpp"

namespace fake {
using namespace hwaware;

/// A transparent stand-in predictor: latency proportional to MACs plus a per-layer cost.
struct MacsPredictor {
  double ms_per_mmac = 0.01, ms_per_layer = 0.001;
  double predict_ms(const hw::NetDesc& n) const {
    double ms = 0;
    for (auto& l : n) ms += double(l.macs) * 1e-6 * ms_per_mmac + ms_per_layer;
    return ms;
  }
  std::vector<double> predict_batch_ms(const std::vector<hw::NetDesc>& b) const {
    std::vector<double> r;
    for (auto& n : b) r.push_back(predict_ms(n));
    return r;
  }
  std::string name() const { return "macs"; }
};
static_assert(hw::Predictor<MacsPredictor>);

/// What the fake devices report for an undisturbed machine: 1 ms per million MACs.
inline double exact_ms(nn::Module& m, const Shape& chw) { return 1e-6 * double(nn::total_macs(m.describe(chw))); }

/// A device whose clock slows down by `drift` with every session (a shared host getting busier).
struct DriftingDevice {
  double drift = 0.25;
  int sessions = 0;
  double scale = 1;  ///< every reading times this (a machine slower than when samples were taken)
  hw::Fingerprint fingerprint() const { return {.device = "drifting"}; }
  std::vector<hw::Measurement> measure_many(const std::vector<nn::Module*>& nets, const Shape& chw) {
    const double slowdown = scale * (1 + drift * sessions++);
    std::vector<hw::Measurement> r;
    for (auto* n : nets) r.push_back({.median_ms = exact_ms(*n, chw) * slowdown});
    return r;
  }
  hw::Measurement measure(nn::Module& m, const Shape& chw) { return measure_many({&m}, chw)[0]; }
};
static_assert(hw::InterleavingDevice<DriftingDevice>);

/// DriftingDevice that also measures networks of different input shapes in one session.
struct ShapedDriftingDevice {
  double drift = 0.1;
  double fixed_ms = 0;  ///< added to every network's reading: batch 1's per-inference costs
  int sessions = 0;
  hw::Fingerprint fingerprint() const { return {.device = "shaped-drifting"}; }
  std::vector<hw::Measurement> measure_many(const std::vector<nn::Module*>& nets, const std::vector<Shape>& chws) {
    const double slowdown = 1 + drift * sessions++;
    std::vector<hw::Measurement> r;
    for (size_t i = 0; i < nets.size(); ++i)
      r.push_back({.median_ms = (exact_ms(*nets[i], chws[i]) + fixed_ms) * slowdown});
    return r;
  }
  std::vector<hw::Measurement> measure_many(const std::vector<nn::Module*>& nets, const Shape& chw) {
    return measure_many(nets, std::vector<Shape>(nets.size(), chw));
  }
  hw::Measurement measure(nn::Module& m, const Shape& chw) { return measure_many({&m}, chw)[0]; }
};
static_assert(hw::ShapedInterleavingDevice<ShapedDriftingDevice>);

/// The first network of every `spike_every`-th session reads 3× slow (another tenant's burst),
/// the reference beside it undisturbed.
struct SpikyDevice {
  int sessions = 0, spike_every = 3;
  hw::Fingerprint fingerprint() const { return {.device = "spiky"}; }
  std::vector<hw::Measurement> measure_many(const std::vector<nn::Module*>& nets, const Shape& chw) {
    const bool spike = sessions++ % spike_every == 0;
    std::vector<hw::Measurement> r;
    for (size_t i = 0; i < nets.size(); ++i) r.push_back({.median_ms = exact_ms(*nets[i], chw) * (spike && i == 0 ? 3 : 1)});
    return r;
  }
  hw::Measurement measure(nn::Module& m, const Shape& chw) { return measure_many({&m}, chw)[0]; }
};

/// The first reading of every architecture (by MACs) is 12% slow, exact after.
struct FirstReadSlowDevice {
  std::map<int64_t, int> reads;
  std::vector<double> first;  // first readings, in order
  hw::Fingerprint fingerprint() const { return {.device = "first-read-slow"}; }
  std::vector<hw::Measurement> measure_many(const std::vector<nn::Module*>& nets, const Shape& chw) {
    std::vector<hw::Measurement> r;
    for (size_t i = 0; i < nets.size(); ++i) {
      const int64_t macs = nn::total_macs(nets[i]->describe(chw));
      const double exact = 1e-6 * double(macs);
      const bool slow = i == 0 && reads[macs]++ == 0;
      if (slow) first.push_back(1.12 * exact);
      r.push_back({.median_ms = slow ? 1.12 * exact : exact});
    }
    return r;
  }
  hw::Measurement measure(nn::Module& m, const Shape& chw) { return measure_many({&m}, chw)[0]; }
};

/// While `busy` sessions remain: 1.5× slow for the reference (the last network of a session)
/// and 3× for any other (contention that moves the ratio too, which drift correction cannot undo).
struct ContendedDevice {
  int busy = 0;
  hw::Fingerprint fingerprint() const { return {.device = "contended"}; }
  std::vector<hw::Measurement> measure_many(const std::vector<nn::Module*>& nets, const Shape& chw) {
    const bool contended = busy > 0;
    busy = std::max(0, busy - 1);
    std::vector<hw::Measurement> r;
    for (size_t i = 0; i < nets.size(); ++i) {
      const double slow = !contended ? 1.0 : i + 1 == nets.size() && nets.size() > 1 ? 1.5 : 3.0;
      r.push_back({.median_ms = exact_ms(*nets[i], chw) * slow});
    }
    return r;
  }
  hw::Measurement measure(nn::Module& m, const Shape& chw) { return measure_many({&m}, chw)[0]; }
};

}  // namespace fake
