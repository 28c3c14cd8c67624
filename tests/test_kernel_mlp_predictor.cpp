// KernelMlpPredictor on a synthetic per-kernel latency law — a function of the planned kernels'
// layouts, reorders, copies and thread counts, which a per-layer model cannot see — plus batched ==
// single, the per-kernel breakdown, the file round trip and the refusal of other formats and versions.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "hwaware/hw/kernel_mlp_predictor.hpp"
#include "hwaware/hw/metrics.hpp"
#include "hwaware/models/zoo.hpp"
#include "temp_dir.hpp"

using namespace hwaware;
using namespace hwaware::hw;

namespace {

Fingerprint test_fingerprint() {
  return {"onednn-cpu", "Test CPU", "avx512_core", "2.6.3", kLibraryVersion, "serial<4194304>,fused-residual", 2, 1};
}

// A known per-kernel law: convs at a rate set by their layout (nChw16c pays its channel padding,
// nhwc runs at a quarter of the rate) and divided by their threads with a fork/join cost; layout
// conversions and copies at memory speed; a fixed cost per kernel.
double law_kernel_ms(const runtime::Kernel& k) {
  using runtime::KernelKind;
  const double bytes = 4.0 * double(k.batch * (k.in_c * k.in_h * k.in_w + k.out_c * k.out_h * k.out_w));
  double s = 1.5e-6;
  if (k.kind == KernelKind::conv || k.kind == KernelKind::conv_add) {
    double rate = k.dst == Layout::blocked16 ? 120e9 * double(k.out_c) / double(padded_channels(k.out_c)) : 30e9;
    if (k.groups > 1) rate *= 0.2;
    s += double(k.work) / (rate * k.threads) + (k.threads > 1 ? 4e-6 : 0.0);
    if (k.kind == KernelKind::conv_add) s += bytes / 40e9;
  } else if (k.kind == KernelKind::reorder) {
    s += bytes / 4e9;
  } else {
    s += bytes / 30e9;
  }
  return 1e3 * s;
}

double law_ms(const NetDesc& net) {
  double t = 2e-3;
  for (const auto& k : runtime::plan_kernels(net, runtime_config_of(test_fingerprint()))) t += law_kernel_ms(k);
  return t;
}

NetDesc random_net(std::mt19937_64& rng) {
  static const std::vector<std::string> families = {"ref-cnn", "vgg-small", "resnet-8", "mobilenetv2-tiny"};
  const std::string family = families[rng() % families.size()];
  std::uniform_real_distribution<double> u(std::log(0.0625), std::log(1.5));
  auto c = models::default_channels(family);
  for (auto& v : c) v = std::max<int64_t>(1, std::llround(double(v) * std::exp(u(rng))));
  return models::make_model(family, {.channels = c})->describe({1, 28, 28});
}

std::vector<LatencySample> synthetic_samples(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<LatencySample> out;
  for (size_t i = 0; i < n; ++i) {
    LatencySample s;
    s.kind = "network";
    s.name = "net" + std::to_string(i);
    s.layers = random_net(rng);
    s.m.median_ms = law_ms(s.layers);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<const LatencySample*> pointers(const std::vector<LatencySample>& v) {
  std::vector<const LatencySample*> p;
  for (const auto& s : v) p.push_back(&s);
  return p;
}

const std::vector<LatencySample>& training_set() {
  static const auto train = synthetic_samples(300, 1);
  return train;
}

const KernelMlpPredictor& fitted() {
  static const KernelMlpPredictor p = [] {
    KernelMlpPredictor m(test_fingerprint());
    const auto rep = m.fit(pointers(training_set()), {.epochs = 300});
    MESSAGE("fit: " << rep.samples << " networks, " << rep.layers << " kernels, train RMS relative error "
                    << rep.rms_relative_error);
    return m;
  }();
  return p;
}

PredictionReport held_out_report(const auto& predictor, const std::vector<LatencySample>& held_out) {
  std::vector<double> p, m;
  for (const auto& s : held_out) p.push_back(predictor.predict_ms(s.layers)), m.push_back(s.m.median_ms);
  return prediction_report(p, m);
}

}  // namespace

TEST_CASE("fits a per-kernel latency law on held-out networks, where the per-layer MLP cannot") {
  const auto held_out = synthetic_samples(150, 99);
  const auto kernel = held_out_report(fitted(), held_out);
  MlpLatencyPredictor layer(test_fingerprint());
  layer.fit(pointers(training_set()), {.epochs = 300});
  const auto per_layer = held_out_report(layer, held_out);
  MESSAGE("held-out within ±5%: per-kernel " << kernel.within_5 << ", per-layer " << per_layer.within_5
                                              << "; RMSPE " << kernel.rmspe << " vs " << per_layer.rmspe);
  CHECK(kernel.within_5 >= 0.9);
  CHECK(kernel.rmspe < 0.04);
  CHECK(kernel.rmspe < per_layer.rmspe);
}

TEST_CASE("learns that a kernel runs slower in a network whose weights outgrow the caches") {
  // The law above with every kernel slowed by 1 + P / (P + 3·10^5) for a network of P parameters
  // (×1.0 to ×1.9 here): the same kernel costs more in a larger network, as the 2 MB caches of
  // the measured host make it; only the network-context feature can tell the two apart.
  const auto contextual = [](size_t n, uint64_t seed) {
    auto v = synthetic_samples(n, seed);
    for (auto& s : v) {
      const double p = network_params(s.layers);
      s.m.median_ms = 2e-3 + (s.m.median_ms - 2e-3) * (1 + p / (p + 3e5));
    }
    return v;
  };
  const auto train = contextual(300, 1), held_out = contextual(150, 99);
  KernelMlpPredictor p(test_fingerprint());
  p.fit(pointers(train), {.epochs = 300});
  const auto r = held_out_report(p, held_out);
  MESSAGE("held-out within ±5%: " << r.within_5 << ", RMSPE " << r.rmspe);
  CHECK(r.within_5 >= 0.9);  // 0.87 and 0.033 with the feature held at 0
  CHECK(r.rmspe < 0.031);
}

TEST_CASE("batched prediction equals one-at-a-time prediction; the per-kernel breakdown sums to it") {
  const auto& p = fitted();
  std::mt19937_64 rng(5);
  std::vector<NetDesc> nets;
  for (int i = 0; i < 200; ++i) nets.push_back(random_net(rng));  // > one 128-row chunk, ragged
  nets.push_back({});
  const auto batch = p.predict_batch_ms(nets);
  REQUIRE(batch.size() == nets.size());
  for (size_t i = 0; i < nets.size(); ++i) CHECK(batch[i] == p.predict_ms(nets[i]));
  CHECK(batch.back() == 0.0);
  for (size_t i = 0; i < 10; ++i) {
    double sum = p.network_constant_ms();
    for (const auto& [k, ms] : p.predict_kernels_ms(nets[i])) sum += ms;
    CHECK(batch[i] == doctest::Approx(sum).epsilon(1e-4));  // float kernel vs double path
  }
}

TEST_CASE("a kernel's 0/1 features are its kind, layouts, ReLU and groups, whatever its category") {
  namespace f = kernel_feature;
  std::mt19937_64 rng(13);
  std::set<int> categories;
  for (int n = 0; n < 100; ++n)
    for (const auto& k : runtime::plan_kernels(random_net(rng), runtime_config_of(test_fingerprint()))) {
      std::array<double, kKernelFeatureCount> x{};
      write_raw_kernel_features(k, 16, 1e5, x.data());
      INFO(k.str());
      const bool conv = k.kind == runtime::KernelKind::conv || k.kind == runtime::KernelKind::conv_add;
      CHECK(x[f::relu] == double(k.post_relu));
      CHECK(x[f::depthwise] == double(conv && k.groups > 1 && k.groups == k.in_c));
      CHECK(x[f::grouped] == double(conv && k.groups > 1 && k.groups < k.in_c));
      for (int i = 0; i < runtime::kKernelKindCount; ++i) CHECK(x[size_t(f::kind + i)] == double(i == int(k.kind)));
      for (int i = 0; i < 3; ++i) CHECK(x[size_t(f::src_layout + i)] == double(i == int(k.src)));
      for (int i = 0; i < 3; ++i) CHECK(x[size_t(f::dst_layout + i)] == double(i == int(k.dst)));
      categories.insert(kernel_category(k));
    }
  MESSAGE(categories.size() << " categories in 100 networks");
  CHECK(categories.size() >= 10);
}

TEST_CASE("the planned runtime follows the fingerprint's threads and serial threshold") {
  Fingerprint fp = test_fingerprint();
  fp.threads = 4, fp.runtime = "serial<1024>,fused-residual";
  const KernelMlpPredictor p(fp);
  CHECK(p.runtime_config().threads == 4);
  CHECK(p.runtime_config().serial_work == 1024);
  fp.runtime = "unrecorded";
  CHECK(KernelMlpPredictor(fp).runtime_config().serial_work == runtime::kDefaultSerialWork);
}

TEST_CASE("save and load reproduce the predictions exactly; other formats and versions are refused") {
  const auto dir = hwtest::unique_temp_dir("kernel_mlp");
  const std::string path = (dir / "kernel_mlp.txt").string();
  const auto& p = fitted();
  p.save(path);
  const Fingerprint fp = test_fingerprint();
  const auto q = KernelMlpPredictor::load(path, &fp);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20; ++i) {
    const NetDesc n = random_net(rng);
    CHECK(q.predict_ms(n) == p.predict_ms(n));
  }
  auto refused = [&](const std::string& file, const std::string& why) {
    try {
      KernelMlpPredictor::load(file);
      FAIL("expected FileError for " << file);
    } catch (const FileError& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(why) != std::string::npos);
      CHECK(std::string(e.what()).find(file) != std::string::npos);
    }
  };
  // An older version of the format.
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string old = text.str();
  const std::string before = std::to_string(KernelMlpPredictor::kFormatVersion - 1);  // fewer features
  old.replace(0, old.find('\n'), std::string(KernelMlpPredictor::kFormat) + " " + before);
  const std::string old_path = (dir / "old.txt").string();
  std::ofstream(old_path) << old;
  refused(old_path, "unsupported version " + before);
  // A per-layer MLP's file.
  MlpLatencyPredictor layer(fp);
  layer.fit(pointers(training_set()), {.epochs = 2});
  const std::string layer_path = (dir / "layer.txt").string();
  layer.save(layer_path);
  refused(layer_path, "not a hwaware-kernel-mlp-latency file");
  // Another device.
  Fingerprint other = fp;
  other.cpu_model = "Other CPU";
  CHECK_THROWS_AS(KernelMlpPredictor::load(path, &other), FileError);
  std::filesystem::remove_all(dir);
}
