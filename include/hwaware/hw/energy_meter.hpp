#pragma once
// Measured energy from Linux RAPL through the powercap interface (/sys/class/powercap). Intel's
// and AMD's RAPL both appear there as zones named intel-rapl:<package> (the kernel's AMD Zen
// support reuses the intel-rapl control type); each zone's energy_uj is a cumulative counter in
// µJ that wraps to 0 at max_energy_range_uj.
//
//   std::string why;
//   if (auto meter = hw::RaplMeter::open(&why))
//     double mj = meter->measure_mj([&] { net.forward(x); }, 100);
//   else
//     std::puts(why.c_str());   // e.g. "RAPL not available: /sys/class/powercap does not exist ..."
//
// What it measures: the whole package (all cores, other processes included; DRAM only where the
// platform counts it in the package domain), so run on an otherwise idle machine and subtract an
// idle baseline when the network's share matters. The counters update about every millisecond:
// a measurement should last well beyond that (many repeats).
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"

namespace hwaware::hw {

class RaplMeter {
 public:
  static constexpr const char* kDefaultRoot = "/sys/class/powercap";

  /// One top-level RAPL zone (a package).
  struct Zone {
    std::string dir;           // e.g. /sys/class/powercap/intel-rapl:0
    std::string name;          // its `name` file, e.g. "package-0"
    uint64_t max_range_uj = 0; // the counter wraps to 0 here
    uint64_t last_uj = 0;      // last raw reading
  };

  /// Opens the meter on every top-level RAPL zone under `root`; nothing, with the reason in
  /// `*why_not` (when given), if there is none or a counter cannot be read.
  static std::optional<RaplMeter> open(std::string* why_not = nullptr, const std::string& root = kDefaultRoot);

  /// Energy in joules consumed by all zones since open(), corrected for counter wrap-around.
  /// A wrap is detected as a reading below the previous one, so call it at least once per wrap
  /// period (max_energy_range_uj / power: hours on a desktop package, minutes at worst).
  double read_joules();

  /// Energy per run in mJ: runs `run_once` `repeats` times between two readings.
  template <class F>
  double measure_mj(F&& run_once, int repeats);

  const std::vector<Zone>& zones() const { return zones_; }

 private:
  explicit RaplMeter(std::vector<Zone> z) : zones_(std::move(z)) {}

  std::vector<Zone> zones_;
  uint64_t total_uj_ = 0;
};

// ---------------------------------------------------------------------------------------------
namespace detail {

/// Reads an unsigned integer from a sysfs file; nothing (and the reason) on failure.
inline std::optional<uint64_t> read_sysfs_u64(const std::string& path, std::string* why) {
  errno = 0;
  std::ifstream in(path);
  if (!in) {
    const int e = errno;
    if (why) {
      *why = "cannot read " + path + ": " + (e ? std::strerror(e) : "cannot open");
      if (e == EACCES)
        *why += " (since the fix for CVE-2020-8694 energy_uj is readable by root only: run as root, or "
                "`sudo chmod a+r " + path + "`)";
    }
    return std::nullopt;
  }
  uint64_t v = 0;
  if (!(in >> v)) {
    if (why) *why = "cannot read " + path + ": not an unsigned integer";
    return std::nullopt;
  }
  return v;
}

}  // namespace detail

inline std::optional<RaplMeter> RaplMeter::open(std::string* why_not, const std::string& root) {
  namespace fs = std::filesystem;
  auto fail = [&](const std::string& why) -> std::optional<RaplMeter> {
    if (why_not) *why_not = "RAPL not available: " + why;
    return std::nullopt;
  };
  std::error_code ec;
  if (!fs::exists(root, ec))
    return fail(root + " does not exist (kernel without powercap, or a VM)");
  if (!fs::is_directory(root, ec)) return fail(root + " is not a directory");

  // Top-level zones only ("intel-rapl:0", not the sub-zones "intel-rapl:0:0" that the package
  // already counts); "amd-rapl:N" in case a kernel names AMD's zones apart. The MMIO interface
  // (intel-rapl-mmio) duplicates the package counter and is skipped.
  static const std::regex top_zone(R"((intel|amd)-rapl:[0-9]+)");
  std::vector<std::string> dirs;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, top_zone) && fs::is_directory(entry.path(), ec)) dirs.push_back(entry.path().string());
  }
  if (ec) return fail("cannot list " + root + ": " + ec.message());
  if (dirs.empty())
    return fail("no RAPL zone (intel-rapl:N) under " + root +
                " (the intel_rapl/powercap driver is not loaded, or the CPU has no RAPL)");
  std::sort(dirs.begin(), dirs.end());

  std::vector<Zone> zones;
  for (const auto& dir : dirs) {
    Zone z;
    z.dir = dir;
    std::ifstream name_in(dir + "/name");
    if (!std::getline(name_in, z.name)) z.name = fs::path(dir).filename().string();
    std::string why;
    const auto range = detail::read_sysfs_u64(dir + "/max_energy_range_uj", &why);
    if (!range) return fail(why);
    if (*range == 0) return fail(dir + "/max_energy_range_uj is 0");
    const auto now = detail::read_sysfs_u64(dir + "/energy_uj", &why);
    if (!now) return fail(why);
    z.max_range_uj = *range;
    z.last_uj = *now;
    zones.push_back(std::move(z));
  }
  return RaplMeter(std::move(zones));
}

inline double RaplMeter::read_joules() {
  for (auto& z : zones_) {
    std::string why;
    const auto now = detail::read_sysfs_u64(z.dir + "/energy_uj", &why);
    if (!now) throw Error("RaplMeter: " + why);
    // energy_uj counts 0 .. max_energy_range_uj, then starts again from 0.
    total_uj_ += *now >= z.last_uj ? *now - z.last_uj : z.max_range_uj - z.last_uj + *now;
    z.last_uj = *now;
  }
  return double(total_uj_) * 1e-6;
}

template <class F>
double RaplMeter::measure_mj(F&& run_once, int repeats) {
  if (repeats < 1) throw Error("RaplMeter::measure_mj: repeats must be ≥ 1 (got " + std::to_string(repeats) + ")");
  const double j0 = read_joules();
  for (int i = 0; i < repeats; ++i) run_once();
  const double j1 = read_joules();
  return (j1 - j0) * 1e3 / repeats;
}

}  // namespace hwaware::hw
