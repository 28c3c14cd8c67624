#pragma once
// The Device policy: what runs a network and says how long it took. Declared without oneDNN, so
// a method or a user's device depends on this contract only.
#include <concepts>
#include <cstdint>
#include <vector>

#include "hwaware/hw/fingerprint.hpp"
#include "hwaware/hw/measurement.hpp"

namespace hwaware::nn {
class Module;
}

namespace hwaware::hw {

/// Device: runs a network in inference and reports the statistics of its latency.
///
/// Required expressions, for `D& d`, `nn::Module& m` and a per-image input shape `const
/// std::vector<int64_t>& chw` (channels, height, width):
/// - `d.fingerprint()` → `Fingerprint`: identifies what measured (a figure is evidence only under
///   an equal fingerprint);
/// - `d.measure(m, chw)` → `Measurement`: runs `m` (put in eval mode by the device) on inputs of
///   shape {batch} + chw and returns robust statistics of its per-run latency in ms; it may run
///   `m` any number of times and must leave its parameters unchanged.
template <class D>
concept Device = requires(D& d, nn::Module& m, const std::vector<int64_t>& chw) {
  { d.fingerprint() } -> std::same_as<Fingerprint>;
  { d.measure(m, chw) } -> std::same_as<Measurement>;
};

/// A Device that can measure several networks in one interleaved session:
/// `d.measure_many(nets, chw)[i]` is the measurement of `*nets[i]`, taken in rounds that
/// alternate the networks, so a slow phase of the machine hits all of them alike (what makes a
/// ratio of two networks, and a drift reference, meaningful on a shared host).
template <class D>
concept InterleavingDevice = Device<D> && requires(D& d, const std::vector<nn::Module*>& nets,
                                                   const std::vector<int64_t>& chw) {
  { d.measure_many(nets, chw) } -> std::same_as<std::vector<Measurement>>;
};

/// What measures networks of different per-image input shapes in one interleaved session
/// (layer probes of a data set beside a reference network): `d.measure_many(nets, chws)[i]` is
/// the measurement of `*nets[i]` on inputs {batch} + chws[i]. OnednnCpuDevice has it.
template <class D>
concept ShapedInterleavingDevice = requires(D& d, const std::vector<nn::Module*>& nets,
                                            const std::vector<std::vector<int64_t>>& chws) {
  { d.measure_many(nets, chws) } -> std::same_as<std::vector<Measurement>>;
};

/// A Device whose figures carry no noise (a model standing in for hardware, e.g. PredictedDevice):
/// it declares `static constexpr bool noise_free = true`. Its figures need no repeats, and a
/// budget controller need not aim under the budget to leave room for noise.
template <class D>
concept NoiseFreeDevice = Device<D> && requires { requires D::noise_free; };

}  // namespace hwaware::hw
