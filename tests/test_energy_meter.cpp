// Tests for hwaware/hw/energy_meter.hpp: "not available" with the reason on a machine without
// powercap; reading, summing over packages and counter wrap-around on a fake sysfs tree.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "hwaware/hw/energy_meter.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace hwaware;

namespace {

// A fake /sys/class/powercap: zones with name, energy_uj and max_energy_range_uj.
struct FakePowercap {
  hwtest::TempDir dir{"test_rapl"};  // fresh per test, removed at its end
  const fs::path& root = dir.path;
  void zone(const std::string& dir, const std::string& name, uint64_t energy, uint64_t max_range) {
    fs::create_directories(root / dir);
    write(dir, "name", name);
    set(dir, energy);
    write(dir, "max_energy_range_uj", std::to_string(max_range));
  }
  void set(const std::string& dir, uint64_t energy) { write(dir, "energy_uj", std::to_string(energy)); }
  void write(const std::string& dir, const std::string& file, const std::string& text) {
    std::ofstream(root / dir / file) << text << "\n";
  }
};

}  // namespace

TEST_CASE("no powercap: open() returns nothing and says why") {
  std::string why;
  auto m = hw::RaplMeter::open(&why, "/nonexistent/hwaware/powercap");
  CHECK_FALSE(m.has_value());
  CHECK(why == "RAPL not available: /nonexistent/hwaware/powercap does not exist (kernel without powercap, or a VM)");

  // This machine: the real path, with the same reason when the kernel exposes no powercap.
  if (!fs::exists(hw::RaplMeter::kDefaultRoot)) {
    why.clear();
    CHECK_FALSE(hw::RaplMeter::open(&why).has_value());
    CHECK(why ==
          "RAPL not available: /sys/class/powercap does not exist (kernel without powercap, or a VM)");
  }
  CHECK_FALSE(hw::RaplMeter::open(nullptr, "/nonexistent/hwaware/powercap").has_value());  // no reason wanted
}

TEST_CASE("powercap without RAPL zones: not available, with the reason") {
  FakePowercap fake;
  fake.zone("dtpm:0", "dtpm", 0, 100);  // another control type is not RAPL
  std::string why;
  CHECK_FALSE(hw::RaplMeter::open(&why, fake.root.string()).has_value());
  CHECK(why.find("RAPL not available: no RAPL zone") == 0);

  fake.zone("intel-rapl:0", "package-0", 5, 100);
  fs::remove(fake.root / "intel-rapl:0" / "energy_uj");
  CHECK_FALSE(hw::RaplMeter::open(&why, fake.root.string()).has_value());
  CHECK(why.find("energy_uj") != std::string::npos);
}

TEST_CASE("reading sums the packages, skips sub-zones, and corrects a wrap-around") {
  FakePowercap fake;
  const uint64_t range = 262143328850;  // a typical max_energy_range_uj
  fake.zone("intel-rapl:0", "package-0", 1'000'000, range);
  fake.zone("intel-rapl:0:0", "core", 900'000, range);  // counted in package-0 already
  fake.zone("intel-rapl:1", "package-1", 2'000'000, range);
  fake.zone("intel-rapl-mmio:0", "package-0", 1'000'000, range);  // duplicate interface

  std::string why;
  auto meter = hw::RaplMeter::open(&why, fake.root.string());
  REQUIRE_MESSAGE(meter.has_value(), why);
  REQUIRE(meter->zones().size() == 2);
  CHECK(meter->zones()[0].name == "package-0");
  CHECK(meter->zones()[1].name == "package-1");
  CHECK(meter->read_joules() == doctest::Approx(0.0));

  fake.set("intel-rapl:0", 3'500'000);    // +2.5 J
  fake.set("intel-rapl:0:0", 5'000'000);  // ignored
  fake.set("intel-rapl:1", 2'250'000);    // +0.25 J
  CHECK(meter->read_joules() == doctest::Approx(2.75));

  // package-0 wraps: from range - 1 J to 0.5 J is 1.5 J.
  fake.set("intel-rapl:0", range - 1'000'000);
  const double before = meter->read_joules();
  CHECK(before == doctest::Approx(2.75 + (range - 1'000'000 - 3'500'000) * 1e-6));
  fake.set("intel-rapl:0", 500'000);
  CHECK(meter->read_joules() - before == doctest::Approx(1.5));
}

TEST_CASE("measure_mj: energy per run") {
  FakePowercap fake;
  const uint64_t range = 10'000'000;  // a small range, so the runs wrap the counter
  fake.zone("intel-rapl:0", "package-0", 9'000'000, range);
  auto meter = hw::RaplMeter::open(nullptr, fake.root.string());
  REQUIRE(meter.has_value());

  uint64_t counter = 9'000'000;
  int runs = 0;
  auto run_once = [&] {  // each run costs 4 mJ; the meter reads once per 100 runs here
    counter = (counter + 4'000) % range;
    fake.set("intel-rapl:0", counter);
    ++runs;
  };
  // 300 runs = 1.2 J: passes the wrap at 10 J, read only before and after.
  CHECK(meter->measure_mj(run_once, 300) == doctest::Approx(4.0));
  CHECK(runs == 300);
  CHECK_THROWS_AS(meter->measure_mj(run_once, 0), Error);
}
