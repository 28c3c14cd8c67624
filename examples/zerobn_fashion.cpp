// ZeroBN on Fashion-MNIST: from a latency budget to a compact, trained network measured on this
// CPU, in one call. Profiles the device and fits the MLP latency predictor first (cached per
// device fingerprint), then prunes during one training run, then checks the result on the device.
//   ./build/examples/zerobn_fashion          (the demo: vgg-small, 50% budget, 3 epochs on 20k images, ≈ 5 min)
//   ./build/examples/zerobn_fashion --epochs 20 --train-limit -1 --budget-fraction 0.3 --baselines --json
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <hwaware/core/arguments.hpp>
#include <hwaware/core/atomic_file.hpp>
#include <hwaware/hw/predictor_cache.hpp>
#include <hwaware/report/svg_plot.hpp>
#include <hwaware/zerobn.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

using namespace hwaware;

namespace {

std::unique_ptr<nn::Module> make(const std::string& name, double width = 1.0) {
  return models::make_model(name, {.width = width});
}

struct Args {
  std::string model = "vgg-small", checkpoint, heatmap = "zerobn_importance.svg", cache_dir = "hwaware-cache";
  std::string ranking = "global", mlp = "layer";
  int epochs = 3, threads = 2, profile_networks = 60;
  double budget_ms = 0, budget_fraction = 0.5, sparsity = 1e-4;
  int64_t batch = 128, train_limit = 20000, min_channels = 4, round_to = 16;
  float lr = 0.05f;
  bool baselines = false, json = false, resume = false, quiet = false;
};

/// Refuses bad arguments before the device is profiled or any data loaded: names, numbers in
/// range, and every file the run writes (the cache, the checkpoint, the heatmap) writable.
void validate(const Args& a) {
  check_arg("--model", [&] { models::default_channels(a.model); });
  require_arg(a.epochs >= 1, "--epochs", "at least 1", a.epochs);
  if (a.budget_ms != 0)  // 0: not given, the budget is --budget-fraction
    require_arg(std::isfinite(a.budget_ms) && a.budget_ms > 0, "--budget-ms", "a positive number of ms", a.budget_ms);
  require_arg(a.budget_fraction > 0 && a.budget_fraction <= 1, "--budget-fraction", "in (0, 1] (of the full network's latency)",
          a.budget_fraction);
  require_arg(a.batch >= 1 && a.batch <= 65536, "--batch", "in [1, 65536]", a.batch);
  require_arg(a.lr > 0 && a.lr <= 10, "--lr", "in (0, 10]", a.lr);
  require_arg(a.sparsity >= 0 && a.sparsity <= 1, "--sparsity", "in [0, 1]", a.sparsity);
  require_arg(a.min_channels >= 1 && a.min_channels <= 4096, "--min-channels", "in [1, 4096]", a.min_channels);
  require_arg(a.round_to >= 1 && a.round_to <= 1024, "--round-to", "in [1, 1024]", a.round_to);
  require_arg(a.threads >= 1 && a.threads <= 1024, "--threads", "in [1, 1024]", a.threads);
  require_arg(a.train_limit == -1 || a.train_limit >= 1, "--train-limit", "-1 (all) or at least 1", a.train_limit);
  require_arg(a.profile_networks >= 1, "--profile-networks", "at least 1", a.profile_networks);
  check_arg("--mlp", [&] { hw::parse_mlp_kind(a.mlp); });
  if (a.resume && a.checkpoint.empty()) throw Error("--resume needs --checkpoint PATH");
  if (!a.checkpoint.empty()) ensure_writable_parent(a.checkpoint, "--checkpoint");
  if (!a.heatmap.empty()) ensure_writable_parent(a.heatmap, "--heatmap");
  ensure_writable_dir(a.cache_dir, "--cache-dir");
}

/// ZeroBN, the full network and (with --baselines) Slimming and uniform width, with `predictor`
/// (the per-layer or per-kernel MLP, cached per device); prints the table and the JSON line.
template <class P>
void run(const Args& a, hw::OnednnCpuDevice& device, const P& predictor) {
  auto full = make(a.model);
  double full_ms = device.measure(*full, {1, 28, 28}).median_ms;
  const double full_pred = predictor.predict_ms(full->describe({1, 28, 28}));
  double budget = a.budget_ms > 0 ? a.budget_ms : a.budget_fraction * full_ms;
  std::fprintf(stderr, "%s: full network %.4f ms measured (%.4f predicted); budget %.4f ms\n", a.model.c_str(), full_ms,
               full_pred, budget);

  Dataset train = load_fashion_mnist("train", kFashionMnistDir, a.train_limit);
  Dataset test = load_fashion_mnist("test");
  ZeroBNConfig cfg;
  cfg.budget = a.budget_ms > 0 ? Budget::latency(a.budget_ms) : Budget::fraction_of_full(a.budget_fraction);
  cfg.schedule.epochs = a.epochs;
  cfg.schedule.sparsity = float(a.sparsity);
  cfg.guards = {a.min_channels, a.round_to};
  cfg.training = {.lr = a.lr, .batch = a.batch, .progress = !a.quiet};
  cfg.checkpoint = {a.checkpoint, a.resume};
  auto factory = [&] { return make(a.model); };
  auto run_with = [&](auto rank) {
    return ZeroBN<P, decltype(rank)>(predictor, device, cfg, rank).run(factory, train, test);
  };
  auto res = a.ranking == "latency"     ? run_with(zerobn::LatencyAwareRanking{})
             : a.ranking == "layerwise" ? run_with(zerobn::LayerwiseBnRanking{})
                                        : run_with(GlobalBnRanking{});
  budget = res.budget;
  if (res.full_measured_ms) full_ms = *res.full_measured_ms;
  const double measured = res.measured_ms.value_or(0);
  std::fprintf(stderr, "zerobn: r = %.2f, %lld params, predicted %.4f ms, measured %.4f ms (budget %.4f, %s), test accuracy %.4f\n",
               res.ratio, (long long)res.params, res.predicted, measured, budget,
               res.budget_met ? "met" : "NOT met", res.test_accuracy);

  // The full network trained the same way, for the accuracy reference; the baselines as Pruner
  // policies at ZeroBN's T (Slimming pruned to ZeroBN's final ratio) in the same epochs.
  const ModelFamily family = [&](double w) { return make(a.model, w); };
  PrunedNetwork full_run, slim, uniform;
  double uniform_width = 1;
  nn::manual_seed(cfg.training.seed);
  full_run.network = make(a.model);
  full_run.train_seconds = train_epochs(*full_run.network, cfg.training, train, a.epochs, a.lr);
  full_run.predicted_ms = full_pred;
  full_run.measured_ms = device.measure(*full_run.network, cfg.training.input_chw).median_ms;
  describe_network(full_run, test, cfg.training.input_chw);
  if (a.baselines) {
    slim = NetworkSlimming<P>(predictor, device,
                              {.budget = Budget::latency(budget), .ratio = res.ratio, .epochs = a.epochs,
                               .sparsity = float(a.sparsity), .guards = cfg.guards, .training = cfg.training})
               .prune(family, train, test);
    UniformWidth<P> scale(predictor, device,
                          {.budget = Budget::latency(budget), .full_ms = res.full_measured_ms, .epochs = a.epochs,
                           .training = cfg.training});
    uniform = scale.prune(family, train, test);
    uniform_width = scale.width();
  }

  // Every network of the table measured again in one interleaved session: their ratios to the
  // full network carry no drift of this shared machine between separate measurements.
  std::vector<nn::Module*> nets{full_run.network.get(), res.compact.get()};
  if (a.baselines) nets.push_back(slim.network.get()), nets.push_back(uniform.network.get());
  const auto session = device.measure_many(nets, {1, 28, 28});
  std::printf("\n%-18s %9s %8s %12s %12s %13s %8s %8s\n", "network", "params", "MMACs", "predicted ms", "measured ms",
              "session ms", "÷ full", "test acc");
  auto row = [&](const char* name, const PrunedNetwork* b, size_t i) {
    const int64_t params = b ? b->params : res.params, macs = b ? b->macs : res.macs;
    const double pred = b ? b->predicted_ms.value_or(0) : res.predicted;
    const double meas = b ? b->measured_ms.value_or(0) : measured;
    std::printf("%-18s %9lld %8.2f %12.4f %12.4f %13.4f %8.3f %8.4f   (%.0f s training)\n", name, (long long)params,
                macs / 1e6, pred, meas, session[i].median_ms, session[i].median_ms / session[0].median_ms,
                b ? b->test_accuracy : res.test_accuracy, b ? b->train_seconds : res.train_seconds);
  };
  row("full", &full_run, 0);
  row("zerobn", nullptr, 1);
  if (a.baselines) row("network slimming", &slim, 2), row("uniform width", &uniform, 3);
  std::printf("budget %.4f ms = %.2f of the full network; zerobn r = %.2f (%d on-device guarantee steps, "
              "%lld recovery steps), measured/budget %.3f (the full network drifted %.3f× during the run)\n",
              budget, budget / full_ms, res.ratio, res.guarantee_steps, static_cast<long long>(res.recovery_steps),
              measured / budget,
              res.full_measured_ms && res.full_now_ms ? *res.full_now_ms / *res.full_measured_ms : 1.0);

  if (!a.heatmap.empty() && !res.importance.empty()) {
    report::Heatmap h;
    h.title = "ZeroBN channel importance |γ| over epochs (" + a.model + ")";
    h.x_label = "channel (sorted by final importance)";
    h.y_label = "epoch";
    h.value_label = "|γ|";
    std::vector<size_t> order(res.importance.back().size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return res.importance.back()[a] > res.importance.back()[b]; });
    for (size_t e = 0; e < res.importance.size(); ++e) {
      h.row_labels.push_back(std::to_string(e + 1) + " " + phase_name(res.epochs[e].phase));
      std::vector<double> r;
      for (size_t c : order) r.push_back(res.importance[e][c]);
      h.values.push_back(r);
    }
    report::write_heatmap_svg(a.heatmap, h);
    std::cerr << "channel importance heatmap: " << a.heatmap << "\n";
  }
  if (a.json) {
    nlohmann::json j{{"model", a.model},
                     {"ranking", a.ranking},
                     {"budget_ms", budget},
                     {"full_latency_ms", full_ms},
                     {"predicted_latency_ms", res.predicted},
                     {"measured_latency_ms", measured},
                     {"measured_raw_ms", res.measured_raw_ms.value_or(0)},
                     {"session_fraction_of_full", session[1].median_ms / session[0].median_ms},
                     {"test_accuracy", res.test_accuracy},
                     {"masked_test_accuracy", res.masked_test_accuracy},
                     {"full_test_accuracy", full_run.test_accuracy},
                     {"ratio", res.ratio},
                     {"params", res.params},
                     {"macs", res.macs},
                     {"epochs", a.epochs},
                     {"train_seconds", res.train_seconds},
                     {"full_train_seconds", full_run.train_seconds}};
    if (a.baselines) {
      j["slimming_test_accuracy"] = slim.test_accuracy;
      j["slimming_measured_latency_ms"] = slim.measured_ms.value_or(0);
      j["uniform_test_accuracy"] = uniform.test_accuracy;
      j["uniform_measured_latency_ms"] = uniform.measured_ms.value_or(0);
      j["uniform_width"] = uniform_width;
    }
    j["mlp"] = a.mlp;
    std::cout << j.dump() << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ZeroBN: prune a zoo network on Fashion-MNIST to a latency budget measured on this CPU"};
  Args a;
  app.add_option("--model", a.model, "vgg-small | resnet-8 | ref-cnn | mobilenetv2-tiny")->capture_default_str();
  app.add_option("--epochs", a.epochs)->capture_default_str();
  app.add_option("--budget-ms", a.budget_ms, "latency budget in ms (batch 1, measured here)");
  app.add_option("--budget-fraction", a.budget_fraction, "budget as a fraction of the full network's measured latency")
      ->capture_default_str();
  app.add_option("--batch", a.batch)->capture_default_str();
  app.add_option("--lr", a.lr)->capture_default_str();
  app.add_option("--sparsity", a.sparsity, "L1 weight s on BN scales")->capture_default_str();
  app.add_option("--min-channels", a.min_channels)->capture_default_str();
  app.add_option("--round-to", a.round_to, "kept channel counts: multiples of this above it, powers of two up to it (16: AVX-512 blocks)")->capture_default_str();
  app.add_option("--threads", a.threads)->capture_default_str();
  app.add_option("--train-limit", a.train_limit, "use the first N training images (-1: all 60,000)")->capture_default_str();
  app.add_option("--profile-networks", a.profile_networks, "random networks measured for the predictor")->capture_default_str();
  app.add_option("--cache-dir", a.cache_dir, "where fitted predictors are cached")->capture_default_str();
  app.add_option("--mlp", a.mlp, "the latency predictor ZeroBN bisects against: layer (the MLP per described layer) or "
                                 "kernel (per planned kernel)")->capture_default_str();
  app.add_option("--ranking", a.ranking, "channel ranking: global (|γ|, the paper's), latency (|γ| per predicted ms saved) or layerwise (each layer by its own |γ|)")
      ->capture_default_str()->check(CLI::IsMember({"global", "latency", "layerwise"}));
  app.add_flag("--baselines", a.baselines, "also run Network Slimming and uniform width at the same epochs");
  app.add_option("--checkpoint", a.checkpoint, "save the ZeroBN run after every epoch");
  app.add_flag("--resume", a.resume, "continue from --checkpoint");
  app.add_option("--heatmap", a.heatmap, "channel importance over epochs (SVG)")->capture_default_str();
  app.add_flag("--json", a.json, "one JSON summary line at the end");
  app.add_flag("--quiet", a.quiet, "no progress bars");
  CLI11_PARSE(app, argc, argv);

  try {
    validate(a);
    onednn::set_num_threads(a.threads);
    hw::OnednnCpuDevice device(a.threads, 1);
    hw::with_cached_mlp_predictor(hw::parse_mlp_kind(a.mlp), device, a.model, a.cache_dir,
                                  {.networks = a.profile_networks},
                                  [&](const auto& predictor) { run(a, device, predictor); });
  } catch (const std::exception& e) {
    std::cerr << "zerobn_fashion: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
