// Tests for hwaware/hw/command_device.hpp: end to end with tests/fake_device.sh on a zoo model,
// the accepted output formats, and each failure (exit status, no latency, timeout) named clearly;
// the exported description file never outlives a measurement.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "hwaware/hw/command_device.hpp"
#include "hwaware/models/zoo.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace hwaware;

namespace {

const std::string kFake = std::string(HWAWARE_SOURCE_DIR) + "/tests/fake_device.sh";

hw::Fingerprint board_fingerprint() {
  hw::Fingerprint f;
  f.device = "ignored";  // CommandDevice sets it to its name
  f.cpu_model = "Fake Cortex-A72";
  f.isa = "neon";
  f.onednn_version = "n/a";
  f.library_version = hw::kLibraryVersion;
  f.threads = 4;
  f.batch = 1;
  return f;
}

// What fake_device.sh computes from a description.
double fake_latency(const hw::NetDesc& d) { return double(nn::total_macs(d)) * 1e-6 + 0.01 * double(d.size()); }

/// A fresh directory per test, removed at its end.
struct TempDir : hwtest::TempDir {
  TempDir() : hwtest::TempDir("test_cmd") {}
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::string s, line;
  while (std::getline(in, line)) s += line + "\n";
  return s;
}

std::string error_of(hw::CommandDevice& dev, nn::Module& m, const Shape& chw) {
  try {
    dev.measure(m, chw);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("fake device end to end: latency computed from the exported description") {
  REQUIRE(fs::exists(kFake));
  auto model = models::make_model("ref-cnn");
  const Shape chw{1, 28, 28};
  hw::CommandDevice dev("fake-board", kFake + " {model}", 30, board_fingerprint());
  static_assert(hw::Device<hw::CommandDevice>);

  CHECK(dev.fingerprint().device == "fake-board");
  CHECK(dev.fingerprint().cpu_model == "Fake Cortex-A72");

  const auto desc = model->describe(chw);
  REQUIRE(nn::total_macs(desc) > 0);
  const hw::Measurement m = dev.measure(*model, chw);
  CHECK(m.median_ms == doctest::Approx(fake_latency(desc)).epsilon(1e-9));
  CHECK(m.runs == 1);

  // The same through measure_desc, with the input shape taken from the first layer.
  CHECK(dev.measure_desc(desc).median_ms == doctest::Approx(fake_latency(desc)).epsilon(1e-9));

  // A narrower network is faster on the fake device, as on any real one.
  auto thin = models::make_model("ref-cnn", {.width = 0.5});
  CHECK(dev.measure(*thin, chw).median_ms < m.median_ms);
}

TEST_CASE("the exported description: layers, input, batch; removed afterwards") {
  TempDir tmp;
  auto model = models::make_model("ref-cnn");
  const Shape chw{1, 28, 28};
  // The command keeps a copy of the file and records its path, then runs the fake device.
  const std::string record = tmp.file("path.txt"), copy = tmp.file("copy.json");
  hw::CommandDevice dev("fake-board",
                        "echo {model} > '" + record + "'; cp {model} '" + copy + "'; " + kFake + " {model}", 30,
                        board_fingerprint());
  dev.measure(*model, chw);

  std::string used = read_text(record);
  while (!used.empty() && (used.back() == '\n' || used.back() == ' ')) used.pop_back();
  REQUIRE(!used.empty());
  CHECK_FALSE(fs::exists(used));
  CHECK_FALSE(fs::exists(fs::path(used).parent_path()));

  const auto j = nlohmann::json::parse(read_text(copy));
  CHECK(j.at("format") == "hwaware-net");
  CHECK(j.at("input") == nlohmann::json(chw));
  CHECK(j.at("batch") == 1);
  const auto back = hw::net_from_json(j.at("layers"));
  const auto desc = model->describe(chw);
  REQUIRE(back.size() == desc.size());
  for (size_t i = 0; i < desc.size(); ++i) {
    CHECK(back[i].name == desc[i].name);
    CHECK(back[i].macs == desc[i].macs);
  }

  // Also removed when the command fails.
  hw::CommandDevice failing("fake-board", "echo {model} > '" + record + "'; exit 1", 30, board_fingerprint());
  CHECK_THROWS_AS(failing.measure(*model, chw), Error);
  used = read_text(record);
  while (!used.empty() && (used.back() == '\n' || used.back() == ' ')) used.pop_back();
  REQUIRE(!used.empty());
  CHECK_FALSE(fs::exists(used));
}

TEST_CASE("accepted output formats") {
  auto model = models::make_model("ref-cnn");
  const Shape chw{1, 28, 28};
  auto fp = board_fingerprint();

  hw::CommandDevice eq("b", "echo 'warming up'; echo 'latency_ms=2.5'", 30, fp);
  CHECK(eq.measure(*model, chw).median_ms == doctest::Approx(2.5));

  hw::CommandDevice colon("b", "echo 'latency_ms: 1.25 ms'", 30, fp);
  CHECK(colon.measure(*model, chw).median_ms == doctest::Approx(1.25));

  hw::CommandDevice json("b",
                         "echo '{\"latency_ms\": 3.5, \"iqr_ms\": 0.25, \"cv\": 0.02, \"runs\": 50, \"energy_mj\": 7}'",
                         30, fp);
  const auto r = json.run(model->describe(chw), chw);
  CHECK(r.m.median_ms == doctest::Approx(3.5));
  CHECK(r.m.iqr_ms == doctest::Approx(0.25));
  CHECK(r.m.cv == doctest::Approx(0.02));
  CHECK(r.m.runs == 50);
  CHECK(r.energy_mj == doctest::Approx(7));

  // Without {model} the command finds the file in $HWAWARE_MODEL.
  hw::CommandDevice env("b", kFake + " \"$HWAWARE_MODEL\"", 30, fp);
  CHECK(env.measure(*model, chw).median_ms == doctest::Approx(fake_latency(model->describe(chw))).epsilon(1e-9));

  // A tool that reports on stderr is accepted too.
  hw::CommandDevice on_stderr("b", "echo 'latency_ms: 0.75' >&2", 30, fp);
  CHECK(on_stderr.measure(*model, chw).median_ms == doctest::Approx(0.75));
}

TEST_CASE("a path with spaces and quotes reaches the command as one argument") {
  hw::CommandDevice dev("b", "x {model}", 30, board_fingerprint());
  CHECK(dev.command_for("/tmp/a b'c.json") == "x '/tmp/a b'\\''c.json'");
  hw::CommandDevice two("b", "cmp {model} {model}", 30, board_fingerprint());
  CHECK(two.command_for("/t/m.json") == "cmp '/t/m.json' '/t/m.json'");
}

TEST_CASE("a failing command: Error naming the command and its exit status") {
  auto model = models::make_model("ref-cnn");
  const std::string cmd = "FAKE_DEVICE_FAIL=1 " + kFake + " {model}";
  hw::CommandDevice dev("fake-board", cmd, 30, board_fingerprint());
  const std::string msg = error_of(dev, *model, {1, 28, 28});
  INFO(msg);
  CHECK(msg.find("fake_device.sh") != std::string::npos);
  CHECK(msg.find("FAKE_DEVICE_FAIL=1") != std::string::npos);
  CHECK(msg.find("exit status 3") != std::string::npos);
  CHECK(msg.find("simulated failure") != std::string::npos);  // the command's stderr
}

TEST_CASE("a command that prints no latency: clear error") {
  auto model = models::make_model("ref-cnn");
  hw::CommandDevice dev("fake-board", "echo 'benchmark done'; echo 'mean: 1.2'", 30, board_fingerprint());
  const std::string msg = error_of(dev, *model, {1, 28, 28});
  INFO(msg);
  CHECK(msg.find("no parsable latency") != std::string::npos);
  CHECK(msg.find("latency_ms") != std::string::npos);
  CHECK(msg.find("mean: 1.2") != std::string::npos);

  hw::CommandDevice negative("fake-board", "echo 'latency_ms: -1'", 30, board_fingerprint());
  CHECK(error_of(negative, *model, {1, 28, 28}).find("no parsable latency") != std::string::npos);
}

TEST_CASE("a command that outlives the timeout is terminated with an error") {
  auto model = models::make_model("ref-cnn");
  hw::CommandDevice dev("slow-board", "echo started; sleep 20; echo 'latency_ms: 1'", 0.5, board_fingerprint());
  const auto t0 = std::chrono::steady_clock::now();
  const std::string msg = error_of(dev, *model, {1, 28, 28});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(msg);
  CHECK(msg.find("timeout") != std::string::npos);
  CHECK(msg.find("0.5 s") != std::string::npos);
  CHECK(msg.find("started") != std::string::npos);
  CHECK(secs < 5);  // the sleep was killed, not waited for
}

TEST_CASE("bad construction is refused") {
  CHECK_THROWS_AS(hw::CommandDevice("b", "  ", 1, board_fingerprint()), Error);
  CHECK_THROWS_AS(hw::CommandDevice("b", "true", 0, board_fingerprint()), Error);
}
