// How many network latency predictions per second does each predictor give, one thread?
// The question of issue #3: the MLP must reach ≥ 1,000,000 predictions/s of 20-layer networks,
// batched (a width search asks thousands of times per step).
//
//   ./build/benchmarks/bench_predictor
//
// The per-kernel MLP plans each network first (runtime::plan_kernels) and must also keep
// ≥ 1 M/s; BM_kernel_vs_layer_mlp times both MLPs alternately in one run and prints the ratio.
//
// items_per_second = networks/s. The predictors are fitted on synthetic latencies of zoo
// descriptions (the speed does not depend on the labels); the batch is 1024 networks of exactly
// 20 layers (resnet-8 and mobilenetv2-tiny descriptions with random widths, cut to 20 layers).
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <chrono>
#include <random>
#include <vector>

#include "hwaware/predictor.hpp"
#include "hwaware/models/zoo.hpp"

namespace {

using namespace hwaware;
using namespace hwaware::hw;

NetDesc random_net(std::mt19937_64& rng, size_t layers) {
  static const std::vector<std::string> families = {"resnet-8", "mobilenetv2-tiny"};
  const std::string family = families[rng() % families.size()];
  std::uniform_real_distribution<double> u(0.25, 1.5);
  auto c = models::default_channels(family);
  for (auto& v : c) v = std::max<int64_t>(1, std::llround(double(v) * u(rng)));
  NetDesc d = models::make_model(family, {.channels = c})->describe({1, 28, 28});
  d.resize(std::min(d.size(), layers));
  return d;
}

// A synthetic latency: work at 150 GMAC/s, traffic at 40 GB/s, 2 µs per layer.
double synthetic_ms(const NetDesc& n) {
  double t = 0;
  for (const auto& d : n)
    t += double(d.macs) / 150e6 + 4.0 * double(d.in_c * d.in_h * d.in_w + d.out_c * d.out_h * d.out_w) / 40e6 + 2e-3;
  return t;
}

struct Fixture {
  std::vector<NetDesc> batch;
  std::vector<LatencySample> train, layer_samples;
  MlpLatencyPredictor mlp;
  KernelMlpPredictor kernel_mlp{Fingerprint{.threads = 2, .batch = 1}};
  LutPredictor lut;
  AnalyticPredictor analytic{AcceleratorDesc::this_cpu()};

  Fixture() {
    Eigen::setNbThreads(1);
    std::mt19937_64 rng(1);
    for (int i = 0; i < 1024; ++i) batch.push_back(random_net(rng, 20));
    for (int i = 0; i < 200; ++i) {
      LatencySample s{"network", "", "n" + std::to_string(i), random_net(rng, 64), {}, -1};
      s.m.median_ms = synthetic_ms(s.layers);
      train.push_back(std::move(s));
    }
    std::vector<const LatencySample*> p;
    for (const auto& s : train) p.push_back(&s);
    mlp.fit(p, {.epochs = 20});
    kernel_mlp.fit(p, {.epochs = 20});
    // LUT entries: every op (conv+BN, add+ReLU, …) of the training networks "measured in isolation".
    for (const auto& s : train)
      for (const auto& op : lut_ops(s.layers)) {
        LatencySample l{"layer", std::string(to_string(op.sig.kind)), "", {}, {}, -1};
        l.layers.assign(s.layers.begin() + long(op.first), s.layers.begin() + long(op.first + op.count));
        l.m.median_ms = synthetic_ms(l.layers);
        layer_samples.push_back(std::move(l));
      }
    std::vector<const LatencySample*> lp;
    for (const auto& s : layer_samples) lp.push_back(&s);
    lut = LutPredictor::build(lp);
    std::vector<const LatencySample*> cal(p.begin(), p.begin() + 20);
    analytic.calibrate(cal);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

template <class P>
void run(benchmark::State& state, const P& predictor) {
  const auto& batch = fixture().batch;
  for (auto _ : state) {
    auto r = predictor.predict_batch_ms(batch);
    benchmark::DoNotOptimize(r.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(batch.size()));
  state.counters["layers_per_net"] = 20;
}

void BM_mlp_predict_batch(benchmark::State& state) { run(state, fixture().mlp); }
void BM_lut_predict_batch(benchmark::State& state) {
  run(state, fixture().lut);
  state.counters["misses_per_net"] = double(fixture().lut.misses()) /
                                     double(std::max<int64_t>(1, int64_t(state.iterations()) * 1024));
}
void BM_analytic_predict_batch(benchmark::State& state) { run(state, fixture().analytic); }
void BM_kernel_mlp_predict_batch(benchmark::State& state) {
  run(state, fixture().kernel_mlp);
  size_t kernels = 0;
  for (const auto& n : fixture().batch) kernels += runtime::plan_kernels(n, fixture().kernel_mlp.runtime_config()).size();
  state.counters["kernels_per_net"] = double(kernels) / double(fixture().batch.size());
}

// The two MLPs alternately on the same batch, 20 rounds each: networks/s of each and their ratio
// (per-kernel ÷ per-layer), so a loaded machine slows both alike.
void BM_kernel_vs_layer_mlp(benchmark::State& state) {
  const auto& f = fixture();
  using clk = std::chrono::steady_clock;
  double layer_s = 0, kernel_s = 0;
  int64_t rounds = 0;
  for (auto _ : state) {
    for (int r = 0; r < 20; ++r, ++rounds) {
      auto t0 = clk::now();
      benchmark::DoNotOptimize(f.mlp.predict_batch_ms(f.batch).data());
      auto t1 = clk::now();
      benchmark::DoNotOptimize(f.kernel_mlp.predict_batch_ms(f.batch).data());
      auto t2 = clk::now();
      layer_s += std::chrono::duration<double>(t1 - t0).count();
      kernel_s += std::chrono::duration<double>(t2 - t1).count();
    }
  }
  const double nets = double(rounds) * double(f.batch.size());
  state.counters["layer_mlp_nets_per_s"] = nets / layer_s;
  state.counters["kernel_mlp_nets_per_s"] = nets / kernel_s;
  state.counters["kernel_over_layer"] = layer_s / kernel_s;
}

void BM_mlp_predict_with_grad(benchmark::State& state) {
  const auto& f = fixture();
  WidthGradient g;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.mlp.predict_with_grad(f.batch[i++ % f.batch.size()], g));
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}

}  // namespace

BENCHMARK(BM_mlp_predict_batch)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_lut_predict_batch)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_analytic_predict_batch)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_kernel_mlp_predict_batch)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_kernel_vs_layer_mlp)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_mlp_predict_with_grad)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
