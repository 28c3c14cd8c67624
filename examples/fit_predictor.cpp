// Fit the LUT, the two MLPs (per described layer, per planned kernel) and the analytic latency
// predictors on a data set measured by profile_device, and compare them on held-out whole networks
// (random widths the layer grid never saw): RMSE, RMSPE, share within ±5/10/15% (nn-Meter's
// metrics), Spearman; a table, one JSON line, and a predicted-vs-measured scatter plot (SVG, and
// PNG through gnuplot when installed). The noise ceiling: the held-out networks measured again in
// a session of this process, the share within ±10% of the data set's measurement — the best any
// predictor can score on this host.
//   ./build/examples/profile_device --out latency.jsonl
//   ./build/examples/fit_predictor --data latency.jsonl --json   (the per-kernel MLP drives adaptive
//       sampling; --mlp layer: the per-layer one)
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <hwaware/core/arguments.hpp>
#include <hwaware/core/atomic_file.hpp>
#include <hwaware/hw/predictor_cache.hpp>
#include <hwaware/hw/sampling.hpp>
#include <hwaware/predictor.hpp>
#include <hwaware/report/svg_plot.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <deque>
#include <optional>
#include <random>
#include <sstream>

using namespace hwaware;

namespace {

/// The family and per-layer widths a random network's name encodes ("resnet-8-12-16-...").
std::pair<std::string, std::vector<int64_t>> parse_network_name(const std::string& name, const std::string& family) {
  std::vector<int64_t> c;
  std::stringstream ss(name.substr(family.size()));
  for (std::string t; std::getline(ss, t, '-');) {
    if (t.empty()) continue;
    if (t[0] == 'a') break;  // "-aN": a neighbour measured by adaptive sampling round N
    c.push_back(std::stoll(t));
  }
  return {family, c};
}

std::vector<double> predictions(const auto& predictor, const std::vector<const hw::LatencySample*>& s) {
  std::vector<hw::NetDesc> nets;
  for (auto* x : s) nets.push_back(x->layers);
  return predictor.predict_batch_ms(nets);
}

std::vector<double> measured(const std::vector<const hw::LatencySample*>& s) {
  std::vector<double> m;
  for (auto* x : s) m.push_back(x->m.median_ms);
  return m;
}

/// The zoo network a sample's name describes (family, then its per-layer widths).
hw::Probe rebuild(const hw::LatencySample& s) {
  auto [family, c] = parse_network_name(s.name, s.family);
  return {"network", family, s.name, models::make_model(family, {.channels = c}), {1, 28, 28}};
}

/// How this process measures more of a data set: as it was measured (passes), in its units
/// (its drift reference, when it has one).
struct Sampling {
  hw::SamplingOptions options;
  std::optional<hw::DriftReference> reference;
  hw::DriftReference* ref() { return reference ? &*reference : nullptr; }
};

/// The held-out networks measured again in a new session (other protocol and shuffle seeds), in
/// the data set's units; returns their new figures.
std::vector<double> remeasure(int threads, int batch, Sampling sampling, const std::vector<const hw::LatencySample*>& s) {
  hw::OnednnCpuDevice again(threads, batch, {.seed = 0x5e55});
  std::vector<hw::Probe> probes;
  for (auto* x : s) probes.push_back(rebuild(*x));
  sampling.options.seed = 0x5e55;
  std::vector<double> m;
  for (const auto& r : hw::measure_probes(again, probes, sampling.options, sampling.ref(), [](size_t, size_t) {}))
    m.push_back(r.m.median_ms);
  return m;
}

/// Refits `mlp` with adaptive sampling: `rounds` times, the training networks it misses by more
/// than 10% get three neighbours each (widths moved by up to ±15%), measured and added to `train`.
template <class Mlp>
void adaptive_sampling(Mlp& mlp, hw::MlpFitReport& fit_report, int rounds, hw::OnednnCpuDevice& device,
                       Sampling& sampling, const std::vector<const hw::LatencySample*>& train_nets,
                       std::vector<const hw::LatencySample*>& train, std::deque<hw::LatencySample>& extra,
                       std::mt19937_64& rng) {
  for (int round = 0; round < rounds; ++round) {
    std::vector<hw::Probe> probes;
    const auto p = predictions(mlp, train_nets);
    for (size_t i = 0; i < train_nets.size(); ++i) {
      if (std::abs(p[i] / train_nets[i]->m.median_ms - 1) <= 0.10) continue;
      auto [family, c] = parse_network_name(train_nets[i]->name, train_nets[i]->family);
      for (int k = 0; k < 3; ++k) {
        std::uniform_real_distribution<double> u(0.85, 1.15);
        std::vector<int64_t> cn = c;
        std::string name = family;
        for (auto& v : cn) v = std::max<int64_t>(1, std::llround(double(v) * u(rng))), name += "-" + std::to_string(v);
        probes.push_back({"network", family, name + "-a" + std::to_string(round), models::make_model(family, {.channels = cn}),
                          {1, 28, 28}});
      }
    }
    std::fprintf(stderr, "adaptive sampling round %d (%s): %zu training networks off by > 10%%, measuring %zu neighbours\n",
                 round + 1, mlp.name().c_str(), probes.size() / 3, probes.size());
    if (probes.empty()) break;
    auto s = hw::measure_probes(device, probes, sampling.options, sampling.ref(), [](size_t, size_t) {});
    for (auto& x : s) {
      extra.push_back(std::move(x));
      train.push_back(&extra.back());
    }
    fit_report = mlp.fit(train);
  }
}

struct Args {
  std::string data_path = "latency.jsonl", out_dir = "predictors", plot = "predicted_vs_measured";
  double heldout_fraction = 0.3;
  int calibration = 20, adaptive_rounds = 1, threads = 2, batch = 1;
  uint64_t seed = 1;
  bool json = false, any_device = false, no_ceiling = false;
  std::string mlp_kind = "kernel";  // the better model (it sees the runtime's kernels) chooses what to measure
};

/// Refuses bad arguments before the device is touched: the data set readable (and writable when
/// adaptive sampling will grow it), numbers in range, the outputs' directories writable.
void validate(const Args& a) {
  if (!std::filesystem::is_regular_file(a.data_path) || !std::ifstream(a.data_path))
    throw Error("--data '" + a.data_path + "' is not a readable file (measure one with profile_device --out FILE)");
  require_arg(a.heldout_fraction > 0 && a.heldout_fraction < 1, "--heldout", "in (0, 1)", a.heldout_fraction);
  require_arg(a.calibration >= 1 && a.calibration <= int(hw::AnalyticPredictor::kMaxCalibrationSamples), "--calibration",
          "in [1, " + std::to_string(hw::AnalyticPredictor::kMaxCalibrationSamples) + "]", a.calibration);
  require_arg(a.adaptive_rounds >= 0 && a.adaptive_rounds <= 100, "--adaptive", "in [0, 100]", a.adaptive_rounds);
  require_arg(a.threads >= 1 && a.threads <= 1024, "--threads", "in [1, 1024]", a.threads);
  require_arg(a.batch >= 1 && a.batch <= 4096, "--batch", "in [1, 4096]", a.batch);
  check_arg("--mlp", [&] { hw::parse_mlp_kind(a.mlp_kind); });
  if (a.adaptive_rounds > 0 && !a.any_device)
    ensure_writable_parent(a.data_path, "--data (adaptive sampling adds to it; --adaptive 0 only reads it)");
  ensure_writable_dir(a.out_dir, "--out-dir");
  ensure_writable_parent(a.plot + ".svg", "--plot");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Fit and compare latency predictors (LUT, MLP, analytic) on held-out networks"};
  Args a;
  app.add_option("--data", a.data_path, "data set from profile_device")->capture_default_str();
  app.add_option("--heldout", a.heldout_fraction, "share of the networks held out")->capture_default_str();
  app.add_option("--calibration", a.calibration, "measurements the analytic model is calibrated on (≤ 20)")->capture_default_str();
  app.add_option("--adaptive", a.adaptive_rounds,
                 "rounds of adaptive sampling: measure neighbours of training networks the MLP misses by > 10%")
      ->capture_default_str();
  app.add_option("--threads", a.threads, "this device's thread count (must match the data set)")->capture_default_str();
  app.add_option("--batch", a.batch)->capture_default_str();
  app.add_flag("--any-device", a.any_device, "accept a data set measured elsewhere (no adaptive sampling then)");
  app.add_option("--mlp", a.mlp_kind, "the MLP adaptive sampling follows: layer (per described layer) or kernel "
                                    "(per planned kernel); both are fitted and reported")
      ->capture_default_str();
  app.add_flag("--no-ceiling", a.no_ceiling, "skip re-measuring the held-out networks (the noise ceiling)");
  app.add_option("--out-dir", a.out_dir, "where the fitted predictors are saved")->capture_default_str();
  app.add_option("--plot", a.plot, "scatter plot path prefix (.svg, .png)")->capture_default_str();
  app.add_option("--seed", a.seed)->capture_default_str();
  app.add_flag("--json", a.json);
  CLI11_PARSE(app, argc, argv);

  try {
    validate(a);
    hw::OnednnCpuDevice device(a.threads, a.batch);
    const hw::Fingerprint here = device.fingerprint();
    hw::LatencyDataset data = hw::LatencyDataset::load(a.data_path, a.any_device ? nullptr : &here);
    if (data.reference) {  // later measurements rebuild the reference: refuse an unknown one now
      try {
        models::default_channels(data.reference->family);
      } catch (const std::exception& e) {
        throw FileError("latency data set '" + a.data_path + "': drift reference: " + e.what());
      }
    }
    auto layers = data.of_kind("layer");
    // Neighbours added by earlier adaptive sampling only ever train: held-out networks stay
    // independent random draws.
    std::vector<const hw::LatencySample*> nets, adaptive_before;
    for (auto* s : data.of_kind("network")) (s->name.find("-a") == std::string::npos ? nets : adaptive_before).push_back(s);
    if (nets.size() < 10 || layers.empty())
      throw Error("'" + a.data_path + "' needs layer samples and ≥ 10 network samples (has " +
                  std::to_string(layers.size()) + " and " + std::to_string(nets.size()) + ")");
    std::mt19937_64 rng(a.seed);
    std::shuffle(nets.begin(), nets.end(), rng);
    const size_t n_held = std::max<size_t>(1, size_t(a.heldout_fraction * double(nets.size())));
    std::vector<const hw::LatencySample*> heldout(nets.begin(), nets.begin() + n_held);
    std::vector<const hw::LatencySample*> train_nets(nets.begin() + n_held, nets.end());
    train_nets.insert(train_nets.end(), adaptive_before.begin(), adaptive_before.end());

    // The MLPs: layer samples and the training networks; adaptive sampling around the misses of the
    // one --mlp names, whose new networks both train on.
    std::deque<hw::LatencySample> extra;  // stable addresses: mlp_train points into it
    const hw::MlpKind kind = hw::parse_mlp_kind(a.mlp_kind);
    hw::MlpLatencyPredictor mlp(data.fingerprint);
    hw::KernelMlpPredictor kernel_mlp(data.fingerprint);
    auto mlp_train = layers;
    mlp_train.insert(mlp_train.end(), train_nets.begin(), train_nets.end());
    hw::MlpFitReport fit_report, kernel_fit_report;
    const int rounds = a.any_device ? 0 : a.adaptive_rounds;
    Sampling sampling{{size_t(data.group), data.passes, a.seed}, data.reference};
    if (kind == hw::MlpKind::per_kernel) {
      kernel_fit_report = kernel_mlp.fit(mlp_train);
      adaptive_sampling(kernel_mlp, kernel_fit_report, rounds, device, sampling, train_nets, mlp_train, extra, rng);
      fit_report = mlp.fit(mlp_train);
    } else {
      fit_report = mlp.fit(mlp_train);
      adaptive_sampling(mlp, fit_report, rounds, device, sampling, train_nets, mlp_train, extra, rng);
      kernel_fit_report = kernel_mlp.fit(mlp_train);
    }
    if (!extra.empty()) {  // the data set grows by what adaptive sampling measured (a copy: pointers into data stay valid)
      hw::LatencyDataset grown = data;
      grown.samples.insert(grown.samples.end(), extra.begin(), extra.end());
      grown.save(a.data_path);
    }

    // LUT: isolated per-op entries (the layer samples), interpolated for unseen channel counts.
    auto lut = hw::LutPredictor::build(layers, data.fingerprint);
    // Analytic: this CPU's description, calibrated on at most `calibration` training networks.
    hw::AnalyticPredictor analytic(hw::AcceleratorDesc::this_cpu());
    std::vector<const hw::LatencySample*> calib(train_nets.begin(),
                                                train_nets.begin() + std::min<size_t>(a.calibration, train_nets.size()));
    analytic.calibrate(calib);

    std::filesystem::create_directories(a.out_dir);
    mlp.save(a.out_dir + "/mlp.txt");
    kernel_mlp.save(a.out_dir + "/kernel_mlp.txt");
    lut.save(a.out_dir + "/lut.txt");

    const auto m = measured(heldout);
    const auto p_lut = predictions(lut, heldout), p_mlp = predictions(mlp, heldout), p_an = predictions(analytic, heldout);
    const auto p_kernel = predictions(kernel_mlp, heldout);
    const auto r_lut = hw::prediction_report(p_lut, m), r_mlp = hw::prediction_report(p_mlp, m),
               r_an = hw::prediction_report(p_an, m), r_kernel = hw::prediction_report(p_kernel, m);
    // The noise ceiling: a second session's medians as the "prediction" of the first's.
    std::optional<hw::PredictionReport> ceiling;
    std::vector<double> second;
    if (!a.any_device && !a.no_ceiling) {
      second = remeasure(a.threads, a.batch, sampling, heldout);
      ceiling = hw::prediction_report(second, m);
    }

    std::printf("held-out networks: %zu (training: %zu networks + %zu layer samples, %zu from adaptive sampling)\n",
                heldout.size(), train_nets.size(), layers.size(), extra.size());
    std::printf("%-10s %9s %8s %9s %9s %9s %9s\n", "predictor", "RMSE ms", "RMSPE", "±5%", "±10%", "±15%", "Spearman");
    auto row = [](const char* n, const hw::PredictionReport& r) {
      std::printf("%-10s %9.4f %8.4f %9.3f %9.3f %9.3f %9.3f\n", n, r.rmse_ms, r.rmspe, r.within_5, r.within_10,
                  r.within_15, r.spearman);
    };
    row("lut", r_lut);
    row("mlp", r_mlp);
    row("kernel-mlp", r_kernel);
    row("analytic", r_an);
    if (ceiling) row("2nd session", *ceiling);
    std::printf("MLP/LUT RMSE ratio: %.3f, kernel-MLP/MLP RMSE ratio: %.3f; LUT misses (no table entry for a "
                "signature): %zu\n",
                r_mlp.rmse_ms / r_lut.rmse_ms, r_kernel.rmse_ms / r_mlp.rmse_ms, size_t(lut.misses()));
    if (ceiling)
      std::printf("noise ceiling: a second session of the held-out networks is within ±10%% of the first for %.3f "
                  "of them (the best any predictor can score here)\n",
                  ceiling->within_10);

    report::ScatterPlot sp;
    sp.title = "Predicted vs measured latency, held-out networks (" + data.fingerprint.cpu_model + ", " +
               std::to_string(data.fingerprint.threads) + " threads, batch " + std::to_string(data.fingerprint.batch) + ")";
    sp.x = {"measured (ms)", true};
    sp.y = {"predicted (ms)", true};
    auto series = [&](const char* name, const char* color, const std::vector<double>& p) {
      report::ScatterSeries s{name, color, {}};
      for (size_t i = 0; i < p.size(); ++i) s.points.emplace_back(m[i], p[i]);
      return s;
    };
    sp.series = {series("LUT", "#d62728", p_lut), series("MLP", "#1f77b4", p_mlp),
                 series("kernel MLP", "#9467bd", p_kernel), series("analytic", "#2ca02c", p_an)};
    if (!second.empty()) sp.series.push_back(series("2nd session", "#7f7f7f", second));
    report::write_scatter_svg(a.plot + ".svg", sp);
    std::string why;
    const bool png = report::write_scatter_gnuplot(a.plot, sp, &why);
    std::fprintf(stderr, "scatter plot: %s.svg%s\n", a.plot.c_str(), png ? (" and " + a.plot + ".png").c_str() : "");

    if (a.json) {
      auto j = [](const hw::PredictionReport& r) {
        return nlohmann::json{{"rmse_ms", r.rmse_ms},     {"rmspe", r.rmspe},         {"within_5", r.within_5},
                              {"within_10", r.within_10}, {"within_15", r.within_15}, {"spearman", r.spearman},
                              {"n_heldout", r.n}};
      };
      nlohmann::json out{{"lut", j(r_lut)},
                         {"mlp", j(r_mlp)},
                         {"kernel_mlp", j(r_kernel)},
                         {"analytic", j(r_an)},
                         {"adaptive_samples", extra.size()},
                         {"adaptive_mlp", a.mlp_kind},
                         {"mlp_train_rms_relative_error", fit_report.rms_relative_error},
                         {"kernel_mlp_train_rms_relative_error", kernel_fit_report.rms_relative_error},
                         {"fingerprint", data.fingerprint.to_json()}};
      if (ceiling) out["noise_ceiling"] = j(*ceiling);
      std::cout << out.dump() << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "fit_predictor: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
