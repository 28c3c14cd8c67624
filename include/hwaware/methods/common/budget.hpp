#pragma once
// Budget: what a method must meet, in one of four units. Latency budgets are judged on the
// device (absolute, or a fraction of the full network measured when the run starts); energy
// through an energy model; MACs exactly, from the network description.
#include <cmath>
#include <string>

#include "hwaware/core/error.hpp"

namespace hwaware {

struct Budget {
  enum class Unit : uint8_t { latency_ms, fraction, energy_mj, macs };
  Unit unit = Unit::fraction;
  double value = 0.5;

  static Budget latency(double ms) { return {Unit::latency_ms, ms}; }
  /// A fraction in (0, 1] of the full network's latency, measured on the device at the start.
  static Budget fraction_of_full(double f) { return {Unit::fraction, f}; }
  static Budget energy(double mj) { return {Unit::energy_mj, mj}; }
  static Budget mac_count(double macs) { return {Unit::macs, macs}; }

  /// Latency budgets are met on the device; energy and MACs budgets through their models.
  bool on_device() const { return unit == Unit::latency_ms || unit == Unit::fraction; }

  /// Throws, naming `who` and the value, unless the budget is finite and positive (a fraction:
  /// in (0, 1]).
  void validate(const std::string& who) const {
    if (unit == Unit::fraction && !(value > 0 && value <= 1))
      throw Error(who + ": the budget fraction must be in (0, 1] (got " + std::to_string(value) + ")");
    if (!(std::isfinite(value) && value > 0))
      throw Error(who + ": the " + unit_name() + " budget must be positive and finite (got " + std::to_string(value) +
                  ")");
  }

  /// The budget in absolute terms, given the full network's figure in the same unit.
  double absolute(double full) const { return unit == Unit::fraction ? value * full : value; }

  std::string unit_name() const {
    switch (unit) {
      case Unit::latency_ms: return "latency (ms)";
      case Unit::fraction: return "latency fraction";
      case Unit::energy_mj: return "energy (mJ)";
      case Unit::macs: return "MACs";
    }
    return "?";
  }
};

}  // namespace hwaware
