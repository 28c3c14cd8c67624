// Fit the LUT, MLP and analytic latency predictors on a data set measured by profile_device, and
// compare them on held-out whole networks (random widths the layer grid never saw): RMSE, RMSPE,
// share within ±5/10/15% (nn-Meter's metrics), Spearman; a table, one JSON line, and a
// predicted-vs-measured scatter plot (SVG, and PNG through gnuplot when installed).
//   ./build/examples/profile_device --out latency.jsonl
//   ./build/examples/fit_predictor --data latency.jsonl --json
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <hwaware/hw/sampling.hpp>
#include <hwaware/predictor.hpp>
#include <hwaware/report/svg_plot.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <deque>
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Fit and compare latency predictors (LUT, MLP, analytic) on held-out networks"};
  std::string data_path = "latency.jsonl", out_dir = "predictors", plot = "predicted_vs_measured";
  double heldout_fraction = 0.3;
  int calibration = 20, adaptive_rounds = 1, threads = 2, batch = 1;
  uint64_t seed = 1;
  bool json = false, any_device = false;
  app.add_option("--data", data_path, "data set from profile_device")->capture_default_str();
  app.add_option("--heldout", heldout_fraction, "share of the networks held out")->capture_default_str();
  app.add_option("--calibration", calibration, "measurements the analytic model is calibrated on (≤ 20)")->capture_default_str();
  app.add_option("--adaptive", adaptive_rounds,
                 "rounds of adaptive sampling: measure neighbours of training networks the MLP misses by > 10%")
      ->capture_default_str();
  app.add_option("--threads", threads, "this device's thread count (must match the data set)")->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_flag("--any-device", any_device, "accept a data set measured elsewhere (no adaptive sampling then)");
  app.add_option("--out-dir", out_dir, "where the fitted predictors are saved")->capture_default_str();
  app.add_option("--plot", plot, "scatter plot path prefix (.svg, .png)")->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  app.add_flag("--json", json);
  CLI11_PARSE(app, argc, argv);

  try {
    hw::OnednnCpuDevice device(threads, batch);
    const hw::Fingerprint here = device.fingerprint();
    hw::LatencyDataset data = hw::LatencyDataset::load(data_path, any_device ? nullptr : &here);
    auto layers = data.of_kind("layer");
    // Neighbours added by earlier adaptive sampling only ever train: held-out networks stay
    // independent random draws.
    std::vector<const hw::LatencySample*> nets, adaptive_before;
    for (auto* s : data.of_kind("network")) (s->name.find("-a") == std::string::npos ? nets : adaptive_before).push_back(s);
    if (nets.size() < 10 || layers.empty())
      throw Error("fit_predictor: '" + data_path + "' needs layer samples and ≥ 10 network samples (has " +
                  std::to_string(layers.size()) + " and " + std::to_string(nets.size()) + ")");
    std::mt19937_64 rng(seed);
    std::shuffle(nets.begin(), nets.end(), rng);
    const size_t n_held = std::max<size_t>(1, size_t(heldout_fraction * double(nets.size())));
    std::vector<const hw::LatencySample*> heldout(nets.begin(), nets.begin() + n_held);
    std::vector<const hw::LatencySample*> train_nets(nets.begin() + n_held, nets.end());
    train_nets.insert(train_nets.end(), adaptive_before.begin(), adaptive_before.end());

    // MLP: layer samples and the training networks; then adaptive sampling around its misses.
    std::deque<hw::LatencySample> extra;  // stable addresses: mlp_train points into it
    hw::MlpLatencyPredictor mlp(data.fingerprint);
    auto mlp_train = layers;
    mlp_train.insert(mlp_train.end(), train_nets.begin(), train_nets.end());
    auto fit_report = mlp.fit(mlp_train);
    for (int round = 0; round < adaptive_rounds && !any_device; ++round) {
      std::vector<hw::Probe> probes;
      const auto p = predictions(mlp, train_nets);
      for (size_t i = 0; i < train_nets.size(); ++i) {
        if (std::abs(p[i] / train_nets[i]->m.median_ms - 1) <= 0.10) continue;
        auto [family, c] = parse_network_name(train_nets[i]->name, train_nets[i]->family);
        for (int k = 0; k < 3; ++k) {  // neighbours: each width moved by up to ±15%
          std::uniform_real_distribution<double> u(0.85, 1.15);
          std::vector<int64_t> cn = c;
          std::string name = family;
          for (auto& v : cn) v = std::max<int64_t>(1, std::llround(double(v) * u(rng))), name += "-" + std::to_string(v);
          probes.push_back({"network", family, name + "-a" + std::to_string(round), models::make_model(family, {.channels = cn}),
                            {1, 28, 28}});
        }
      }
      std::fprintf(stderr, "adaptive sampling round %d: %zu training networks off by > 10%%, measuring %zu neighbours\n",
                   round + 1, probes.size() / 3, probes.size());
      if (probes.empty()) break;
      auto s = hw::measure_probes(device, probes, 12, [](size_t, size_t) {});
      for (auto& x : s) {
        extra.push_back(std::move(x));
        mlp_train.push_back(&extra.back());
      }
      fit_report = mlp.fit(mlp_train);
    }
    if (!extra.empty()) {  // the data set grows by what adaptive sampling measured (a copy: pointers into data stay valid)
      hw::LatencyDataset grown = data;
      grown.samples.insert(grown.samples.end(), extra.begin(), extra.end());
      grown.save(data_path);
    }

    // LUT: isolated per-op entries (the layer samples), interpolated for unseen channel counts.
    auto lut = hw::LutPredictor::build(layers, data.fingerprint);
    // Analytic: this CPU's description, calibrated on at most `calibration` training networks.
    hw::AnalyticPredictor analytic(hw::AcceleratorDesc::this_cpu());
    std::vector<const hw::LatencySample*> calib(train_nets.begin(),
                                                train_nets.begin() + std::min<size_t>(calibration, train_nets.size()));
    analytic.calibrate(calib);

    std::filesystem::create_directories(out_dir);
    mlp.save(out_dir + "/mlp.txt");
    lut.save(out_dir + "/lut.txt");

    const auto m = measured(heldout);
    const auto p_lut = predictions(lut, heldout), p_mlp = predictions(mlp, heldout), p_an = predictions(analytic, heldout);
    const auto r_lut = hw::prediction_report(p_lut, m), r_mlp = hw::prediction_report(p_mlp, m),
               r_an = hw::prediction_report(p_an, m);

    std::printf("held-out networks: %zu (training: %zu networks + %zu layer samples, %zu from adaptive sampling)\n",
                heldout.size(), train_nets.size(), layers.size(), extra.size());
    std::printf("%-10s %9s %8s %9s %9s %9s %9s\n", "predictor", "RMSE ms", "RMSPE", "±5%", "±10%", "±15%", "Spearman");
    auto row = [](const char* n, const hw::PredictionReport& r) {
      std::printf("%-10s %9.4f %8.4f %9.3f %9.3f %9.3f %9.3f\n", n, r.rmse_ms, r.rmspe, r.within_5, r.within_10,
                  r.within_15, r.spearman);
    };
    row("lut", r_lut);
    row("mlp", r_mlp);
    row("analytic", r_an);
    std::printf("MLP/LUT RMSE ratio: %.3f; LUT misses (no table entry for a signature): %zu\n",
                r_mlp.rmse_ms / r_lut.rmse_ms, size_t(lut.misses()));

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
    sp.series = {series("LUT", "#d62728", p_lut), series("MLP", "#1f77b4", p_mlp), series("analytic", "#2ca02c", p_an)};
    report::write_scatter_svg(plot + ".svg", sp);
    std::string why;
    const bool png = report::write_scatter_gnuplot(plot, sp, &why);
    std::fprintf(stderr, "scatter plot: %s.svg%s\n", plot.c_str(), png ? (" and " + plot + ".png").c_str() : "");

    if (json) {
      auto j = [](const hw::PredictionReport& r) {
        return nlohmann::json{{"rmse_ms", r.rmse_ms},     {"rmspe", r.rmspe},         {"within_5", r.within_5},
                              {"within_10", r.within_10}, {"within_15", r.within_15}, {"spearman", r.spearman},
                              {"n_heldout", r.n}};
      };
      std::cout << nlohmann::json{{"lut", j(r_lut)},
                                  {"mlp", j(r_mlp)},
                                  {"analytic", j(r_an)},
                                  {"adaptive_samples", extra.size()},
                                  {"mlp_train_rms_relative_error", fit_report.rms_relative_error},
                                  {"fingerprint", data.fingerprint.to_json()}}
                       .dump()
                << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "fit_predictor: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
