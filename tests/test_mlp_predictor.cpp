// MlpLatencyPredictor on synthetic latencies of real zoo descriptions: accuracy on held-out
// networks, batched == single, the width gradient against finite differences, the text file.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "hwaware/hw/mlp_predictor.hpp"
#include "hwaware/models/zoo.hpp"
#include "temp_dir.hpp"

using namespace hwaware;
using namespace hwaware::hw;

namespace {

// A known latency law with the effects a CPU has: throughput lost to channel padding (16-wide
// vectors), memory traffic, a fixed cost per layer; BN after a conv is folded (free).
double law_layer_ms(const NetDesc& net, size_t i) {
  const auto& d = net[i];
  if (d.kind == LayerKind::batchnorm2d && i > 0 && net[i - 1].kind == LayerKind::conv2d) return 0.0;
  const FeatureKind k = feature_kind(d);
  double eff = 1.0;
  if (k == FeatureKind::conv_dense || k == FeatureKind::conv_grouped || k == FeatureKind::linear) {
    eff = double(d.out_c) / double(padded_channels(d.out_c, 16));
    if (d.in_c >= 4) eff *= double(d.in_c) / double(padded_channels(d.in_c, 16));
  } else if (k == FeatureKind::conv_depthwise) {
    eff = 0.25 * double(d.out_c) / double(padded_channels(d.out_c, 16));
  }
  const double bytes = 4.0 * double(d.in_c * d.in_h * d.in_w + d.out_c * d.out_h * d.out_w + d.params);
  return 1e3 * (double(d.macs) / (150e9 * eff) + bytes / 40e9 + 2e-6);
}

double law_ms(const NetDesc& net) {
  double t = 0;
  for (size_t i = 0; i < net.size(); ++i) t += law_layer_ms(net, i);
  return t;
}

NetDesc random_net(std::mt19937_64& rng) {
  static const std::vector<std::string> families = {"ref-cnn", "vgg-small", "resnet-8", "mobilenetv2-tiny"};
  const std::string family = families[rng() % families.size()];
  std::uniform_real_distribution<double> u(0.25, 1.5);
  auto c = models::default_channels(family);
  for (auto& v : c) v = std::max<int64_t>(1, std::llround(double(v) * u(rng)));
  return models::make_model(family, {.channels = c})->describe({1, 28, 28});
}

std::vector<LatencySample> synthetic_samples(size_t n, uint64_t seed, double noise) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, noise);
  std::vector<LatencySample> out;
  for (size_t i = 0; i < n; ++i) {
    LatencySample s;
    s.kind = "network";
    s.name = "net" + std::to_string(i);
    s.layers = random_net(rng);
    s.m.median_ms = law_ms(s.layers) * std::exp(g(rng));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<const LatencySample*> pointers(const std::vector<LatencySample>& v) {
  std::vector<const LatencySample*> p;
  for (const auto& s : v) p.push_back(&s);
  return p;
}

Fingerprint test_fingerprint() {
  return {"onednn-cpu", "Test CPU", "avx512_core", "2.6.3", kLibraryVersion, "test-runtime", 2, 1};
}

// One fit shared by the test cases (fitting is the slow part).
const MlpLatencyPredictor& fitted() {
  static const MlpLatencyPredictor p = [] {
    static const auto train = synthetic_samples(300, 1, 0.02);
    MlpLatencyPredictor m(test_fingerprint());
    const auto rep = m.fit(pointers(train), {.epochs = 300});
    MESSAGE("fit: " << rep.samples << " networks, " << rep.layers << " layers, " << rep.steps
                    << " steps, train RMS relative error " << rep.rms_relative_error);
    return m;
  }();
  return p;
}


}  // namespace

TEST_CASE("fits a synthetic latency law and predicts held-out networks within 10%") {
  const auto& p = fitted();
  const auto held_out = synthetic_samples(150, 99, 0.0);
  int within = 0;
  double worst = 0;
  for (const auto& s : held_out) {
    const double e = std::abs(p.predict_ms(s.layers) / s.m.median_ms - 1);
    within += e <= 0.10;
    worst = std::max(worst, e);
  }
  const double share = double(within) / double(held_out.size());
  MESSAGE("held-out within ±10%: " << share << ", worst relative error " << worst);
  CHECK(share >= 0.9);
}

TEST_CASE("batched prediction equals one-at-a-time prediction; a layer sample is a short network") {
  const auto& p = fitted();
  std::mt19937_64 rng(5);
  std::vector<NetDesc> nets;
  for (int i = 0; i < 2000; ++i) nets.push_back(random_net(rng));  // ragged chunks, > one 32768-row segment
  nets.push_back({});
  const auto batch = p.predict_batch_ms(nets);
  REQUIRE(batch.size() == nets.size());
  for (size_t i = 0; i < nets.size(); ++i) CHECK(batch[i] == p.predict_ms(nets[i]));
  CHECK(batch.back() == 0.0);
  // The float kernel agrees with the double path.
  WidthGradient g;
  for (size_t i = 0; i < 20; ++i) CHECK(batch[i] == doctest::Approx(p.predict_with_grad(nets[i], g)).epsilon(1e-4));
  // A network's prediction is the sum of its layers' predictions as 1-layer networks? No: the
  // position feature differs; but a single layer is a valid input.
  CHECK(p.predict_ms({nets[0][0]}) > 0);
}

TEST_CASE("width gradient matches central finite differences at non-integer channel counts") {
  const auto& p = fitted();
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 4; ++trial) {
    const NetDesc net = random_net(rng);
    std::vector<double> ci, co;
    for (const auto& d : net) {
      // Off the integers and away from multiples of 16.
      ci.push_back(double(d.in_c) + 0.31);
      co.push_back(double(d.out_c) + 0.43);
    }
    WidthGradient g;
    p.predict_continuous_ms(net, ci, co, &g);
    REQUIRE(g.d_in_c.size() == net.size());
    const double h = 1e-5;
    for (size_t i = 0; i < net.size(); ++i) {
      auto cp = ci, cm = ci;
      cp[i] += h, cm[i] -= h;
      const double fd_in = (p.predict_continuous_ms(net, cp, co) - p.predict_continuous_ms(net, cm, co)) / (2 * h);
      cp = co, cm = co;
      cp[i] += h, cm[i] -= h;
      const double fd_out = (p.predict_continuous_ms(net, ci, cp) - p.predict_continuous_ms(net, ci, cm)) / (2 * h);
      CHECK(g.d_in_c[i] == doctest::Approx(fd_in).epsilon(1e-4).scale(1e-9));
      CHECK(g.d_out_c[i] == doctest::Approx(fd_out).epsilon(1e-4).scale(1e-9));
    }
  }
  // Wider is slower: the summed gradient of a dense conv's output width is positive.
  const NetDesc vgg = models::make_model("vgg-small")->describe({1, 28, 28});
  WidthGradient g;
  p.predict_with_grad(vgg, g);
  CHECK(g.d_out_c[0] + g.d_in_c[2] > 0);  // conv0's width feeds conv0 (out) and conv1 (in)
}

TEST_CASE("save → load round-trips exactly; the file is plain text with a versioned header") {
  const auto& p = fitted();
  const hwtest::TempDir tmp("test_mlp");
  const std::string path = tmp.file("roundtrip.txt");
  p.save(path);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  CHECK(first == "hwaware-mlp-latency 1");
  const Fingerprint fp = test_fingerprint();
  const auto q = MlpLatencyPredictor::load(path, &fp);
  CHECK(q.sizes() == p.sizes());
  CHECK(q.fingerprint() == fp);
  std::mt19937_64 rng(3);
  std::vector<NetDesc> nets;
  for (int i = 0; i < 50; ++i) nets.push_back(random_net(rng));
  CHECK(q.predict_batch_ms(nets) == p.predict_batch_ms(nets));
  WidthGradient ga, gb;
  CHECK(q.predict_with_grad(nets[0], ga) == p.predict_with_grad(nets[0], gb));
  CHECK(ga.d_out_c == gb.d_out_c);
  std::filesystem::remove(path);
}

TEST_CASE("a file fitted under another fingerprint is refused, naming the field") {
  const hwtest::TempDir tmp("test_mlp");
  const std::string path = tmp.file("fingerprint.txt");
  fitted().save(path);
  Fingerprint other = test_fingerprint();
  other.threads = 4;
  try {
    MlpLatencyPredictor::load(path, &other);
    FAIL("expected FileError");
  } catch (const FileError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("threads") != std::string::npos);
    CHECK(msg.find(path) != std::string::npos);
  }
  CHECK_NOTHROW(MlpLatencyPredictor::load(path));  // no expectation: accepted
  std::filesystem::remove(path);
}

TEST_CASE("a corrupt or truncated file is refused with FileError naming the file and the line") {
  const hwtest::TempDir tmp("test_mlp");
  const std::string good = tmp.file("good.txt"), bad = tmp.file("bad.txt");
  fitted().save(good);
  std::vector<std::string> lines;
  {
    std::ifstream in(good);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  auto write = [&](const std::vector<std::string>& ls) {
    std::ofstream out(bad);
    for (const auto& l : ls) out << l << "\n";
  };
  auto expect_error = [&](const std::string& needle) {
    try {
      MlpLatencyPredictor::load(bad);
      FAIL("expected FileError");
    } catch (const FileError& e) {
      const std::string msg = e.what();
      CHECK(msg.find(bad) != std::string::npos);
      CHECK(msg.find(needle) != std::string::npos);
    }
  };
  SUBCASE("truncated at a line boundary") {
    write({lines.begin(), lines.begin() + long(lines.size()) - 3});
    expect_error("line " + std::to_string(lines.size() - 2));
  }
  SUBCASE("truncated inside a weight row") {
    auto ls = std::vector<std::string>(lines.begin(), lines.begin() + 12);
    ls.back() = ls.back().substr(0, ls.back().size() / 2);
    write(ls);
    expect_error("line 12");
  }
  SUBCASE("a number replaced by garbage") {
    auto ls = lines;
    ls[9].replace(ls[9].find(' '), 1, " x1.5e ");
    write(ls);
    expect_error("line 10");
  }
  SUBCASE("wrong magic and newer version") {
    auto ls = lines;
    ls[0] = "hwaware-mlp-latency 2";
    write(ls);
    expect_error("unsupported version 2");
    ls[0] = "something-else 1";
    write(ls);
    expect_error("line 1");
  }
  SUBCASE("missing file") {
    CHECK_THROWS_AS(MlpLatencyPredictor::load(tmp.file("does_not_exist.txt")), FileError);
  }
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

TEST_CASE("an unfitted predictor refuses to predict") {
  MlpLatencyPredictor p;
  CHECK_THROWS_AS(p.predict_ms({}), Error);
  CHECK(p.name() == "mlp");
}

TEST_CASE("every float kernel variant (baseline, AVX2, AVX-512) computes the MLP, the 0/1 features folded") {
  namespace d = hwaware::hw::detail;
  std::mt19937_64 rng(8);
  std::normal_distribution<double> g(0.0, 0.3);
  // The fitted shape; hidden widths off the kernel's blocks of four units; no hidden layer.
  std::vector<int> sizes;
  SUBCASE("25-32-16-1") { sizes = {kLayerFeatureCount, 32, 16, 1}; }
  SUBCASE("25-30-7-1") { sizes = {kLayerFeatureCount, 30, 7, 1}; }
  SUBCASE("25-1") { sizes = {kLayerFeatureCount, 1}; }
  d::DenseMlp mlp;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    mlp.w.push_back(Eigen::MatrixXd::NullaryExpr(sizes[l + 1], sizes[l], [&] { return g(rng); }));
    mlp.b.push_back(Eigen::VectorXd::NullaryExpr(sizes[l + 1], [&] { return g(rng); }));
  }
  FeatureScaling scaling;
  scaling.mean = Eigen::VectorXd::NullaryExpr(kLayerFeatureCount, [&] { return g(rng); });
  scaling.scale = Eigen::VectorXd::NullaryExpr(kLayerFeatureCount, [&] { return 1.0 + std::abs(g(rng)); });
  const auto k = d::build_kernel_weights(mlp, scaling, kLogFeatureCount, kLayerDenseFeatureCount, layer_category_hot());
  CHECK(k.dense == kLayerDenseFeatureCount);
  CHECK(k.category_bias.size() == size_t(kLayerCategoryCount));
  // Layers by category, from random networks.
  std::vector<NetDesc> by_category(kLayerCategoryCount);
  for (int n = 0; n < 200; ++n)
    for (const auto& layer : random_net(rng)) by_category[size_t(layer_category(layer))].push_back(layer);
  // The reference: every feature (the one-hot kind too), standardised, through the MLP in double.
  auto reference = [&](const LayerDesc& layer) {
    Eigen::VectorXd x(kLayerFeatureCount);
    layer_features(layer, 0.5, 16, x.data());
    std::vector<Eigen::MatrixXd> z, a;
    return std::exp(mlp.forward(scaling.apply(x), z, a)[0]);
  };
  std::vector<std::pair<const char*, d::MlpChunkFn>> variants = {{"baseline", &d::mlp_chunk_baseline},
                                                                 {"dispatched", d::mlp_chunk_kernel()}};
#if defined(__GNUC__) && defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) variants.push_back({"avx2", &d::mlp_chunk_avx2});
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    variants.push_back({"avx512", &d::mlp_chunk_avx512});
#endif
  constexpr int C = d::kMlpChunk;
  std::vector<float> x(size_t(kLayerFeatureCount) * C), s1(32 * C), s2(32 * C), out(C), full(C);
  int checked = 0;
  for (int cat = 0; cat < kLayerCategoryCount; ++cat) {
    const NetDesc& layers = by_category[size_t(cat)];
    if (layers.empty()) continue;
    for (const auto& [name, fn] : variants) {
      // A full chunk, then its first rows alone (the tail path): each row the same either way.
      for (int rows : {C, 5}) {
        for (int c = 0; c < rows; ++c)
          write_raw_layer_dense(layers[size_t(c) % layers.size()], 0.5, 16, x.data() + c, C);
        fn(k, cat, rows, x.data(), s1.data(), s2.data(), out.data());
        for (int c = 0; c < rows; ++c) {
          INFO(name << ", category " << cat << ", row " << c << " of " << rows);
          CHECK(out[size_t(c)] == doctest::Approx(reference(layers[size_t(c) % layers.size()])).epsilon(1e-4));
          if (rows < C) CHECK(out[size_t(c)] == full[size_t(c)]);
          ++checked;
        }
        if (rows == C) full = out;
      }
    }
  }
  CHECK(checked > 7 * C);
  // The batched path refuses a row whose category the weights lack, even after weights with more
  // categories ran on this thread (their buckets stay), and runs again afterwards.
  std::vector<std::vector<int>> many(size_t(kLayerCategoryCount) + 8, std::vector<int>{});
  const auto wider = d::build_kernel_weights(mlp, scaling, kLogFeatureCount, kLayerDenseFeatureCount, many);
  const LayerDesc some = random_net(rng)[0];
  const auto batch_of = [&](const d::MlpKernelWeights& kw, int category) {
    double ms = 0;
    d::run_mlp_batch(kw, 0.0, 1, [&](size_t, auto&& put) {
      put(category, [&](float* out, std::ptrdiff_t stride) { write_raw_layer_dense(some, 0.5, 16, out, stride); });
    }, &ms);
    return ms;
  };
  CHECK(batch_of(wider, kLayerCategoryCount + 3) > 1.0);  // exp(0) + the row
  CHECK_THROWS_WITH_AS(batch_of(k, kLayerCategoryCount + 3), doctest::Contains(("outside the weights' " + std::to_string(kLayerCategoryCount) + " categories").c_str()), Error);
  CHECK_THROWS_AS(batch_of(k, -1), Error);
  CHECK(batch_of(k, layer_category(some)) == doctest::Approx(1.0 + reference(some)).epsilon(1e-4));
  // The vectorisable log1p (absolute error: it computes log(1 + x) in float, fine for the
  // features, which are counts) and exp (relative error) against libm.
  for (float v : {0.f, 1e-3f, 0.5f, 1.f, 15.f, 16.f, 1000.f, 3.3e7f, 2e9f})
    CHECK(std::abs(double(d::mlp_log1p(v)) - std::log1p(double(v))) <= 1e-6 * std::max(1.0, std::log1p(double(v))));
  for (float v : {-20.f, -3.f, -0.5f, 0.f, 0.3f, 2.f, 10.f, 40.f})
    CHECK(d::mlp_exp(v) == doctest::Approx(std::exp(double(v))).epsilon(5e-7));
}
