// Build this device's latency data set: layer probes on a width grid around every layer of the
// zoo families, and whole networks with random per-layer widths, measured with the interleaved
// robust protocol (hw/device.hpp) and stored with the device fingerprint.
//   ./build/examples/profile_device --out latency.jsonl            (≈ 3–5 min here)
//   ./build/examples/profile_device --repeatability --json         (CV over 10 fresh processes)
//   ./build/examples/profile_device --widths resnet-8 16,16,16,32,32,64,64 8,8,8,8,8,8,8 1,1,1,1,1,1,1
//       (per-layer widths of one zoo model, measured in one interleaved session, ÷ the first;
//        --sessions 20: 20 sessions, median ratio and range; --predictor-cache DIR: the cached
//        MLP predictor's figures beside them, --mlp kernel: the per-kernel MLP's)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <hwaware/core/arguments.hpp>
#include <hwaware/core/atomic_file.hpp>
#include <hwaware/hw/predictor_cache.hpp>
#include <hwaware/hw/sampling.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

using namespace hwaware;

namespace {

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string t; std::getline(ss, t, ',');)
    if (!t.empty()) out.push_back(t);
  return out;
}

/// One measurement of a default zoo network in this process: "robust" = the interleaved protocol,
/// "naive" = one warm-up run, then the median of 20 back-to-back runs.
double measure_once(const std::string& model, const std::string& protocol, int threads) {
  auto m = models::make_model(model);
  hw::OnednnCpuDevice dev(threads, 1);
  if (protocol == "robust") return dev.measure(*m, {1, 28, 28}).median_ms;
  hw::OnednnCpuDevice naive(threads, 1, {.warmup_runs = 1, .warmup_ms = 0, .rounds = 20, .block_ms = 0,
                                         .max_block_runs = 1, .reject_mads = 1e9});
  return naive.measure(*m, {1, 28, 28}).median_ms;
}

double cv_of(const std::vector<double>& v) {
  double mean = 0, var = 0;
  for (double x : v) mean += x / double(v.size());
  for (double x : v) var += (x - mean) * (x - mean) / double(v.size() - 1);
  return std::sqrt(var) / mean;
}

struct Args {
  std::string out = "latency.jsonl", families_csv = "ref-cnn,vgg-small,resnet-8", measure_model, protocol = "robust";
  int threads = 2, batch = 1, networks = 120, rounds = 21, group = 12, fresh = 10, sessions = 1, passes = 3;
  std::string reference;  // drift reference family (default: the first of --families)
  std::string predictor_cache, mlp_kind = "layer";
  uint64_t seed = 1;
  bool json = false, repeatability = false, no_layers = false;
  std::vector<std::string> widths;
};

/// Throws Error naming `flag` unless `name` is a zoo model.
void require_model(const std::string& flag, const std::string& name) {
  check_arg(flag, [&] { models::default_channels(name); });
}

/// The per-layer widths of --widths (MODEL, then one comma list per network), each list as many
/// positive counts as the model has layers; throws Error naming the bad list.
std::vector<std::vector<int64_t>> parse_widths(const std::vector<std::string>& widths) {
  require_model("--widths", widths.at(0));
  const size_t layers = models::default_channels(widths[0]).size();
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 1; i < widths.size(); ++i) {
    std::vector<int64_t> ch;
    for (const auto& w : split_csv(widths[i])) {
      int64_t v = 0;
      const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
      if (ec != std::errc() || end != w.data() + w.size() || v < 1 || v > 65536)
        throw Error("--widths: '" + w + "' in '" + widths[i] + "' is not a channel count in [1, 65536]");
      ch.push_back(v);
    }
    if (ch.size() != layers)
      throw Error("--widths: '" + widths[i] + "' has " + std::to_string(ch.size()) + " per-layer widths, " + widths[0] +
                  " has " + std::to_string(layers) + " layers (wrong number of per-layer channel counts)");
    out.push_back(std::move(ch));
  }
  return out;
}

/// Refuses bad arguments before anything is measured: names, numbers in range, the widths of
/// --widths, and the files the chosen mode writes (the data set, the predictor cache).
void validate(const Args& a) {
  require_arg(a.threads >= 1 && a.threads <= 1024, "--threads", "in [1, 1024]", a.threads);
  require_arg(a.batch >= 1 && a.batch <= 4096, "--batch", "in [1, 4096]", a.batch);
  require_arg(a.networks >= 1, "--networks", "at least 1", a.networks);
  require_arg(a.rounds >= 1 && a.rounds <= 1000, "--rounds", "in [1, 1000]", a.rounds);
  require_arg(a.group >= 1 && a.group <= 100, "--group", "in [1, 100]", a.group);
  require_arg(a.fresh >= 2, "--fresh", "at least 2 (a CV needs two processes)", a.fresh);
  require_arg(a.sessions >= 1, "--sessions", "at least 1", a.sessions);
  require_arg(a.passes >= 1 && a.passes <= 100, "--passes", "in [1, 100]", a.passes);
  if (!a.reference.empty()) require_model("--reference", a.reference);
  if (a.protocol != "robust" && a.protocol != "naive")
    throw Error("--protocol is robust or naive (got '" + a.protocol + "')");
  check_arg("--mlp", [&] { hw::parse_mlp_kind(a.mlp_kind); });
  const auto families = split_csv(a.families_csv);
  if (families.empty()) throw Error("--families needs at least one zoo model (got '" + a.families_csv + "')");
  for (const auto& f : families) require_model("--families", f);
  if (!a.measure_model.empty()) require_model("--measure-once", a.measure_model);
  if (!a.widths.empty()) parse_widths(a.widths);
  if (!a.predictor_cache.empty()) ensure_writable_dir(a.predictor_cache, "--predictor-cache");
  if (a.measure_model.empty() && a.widths.empty() && !a.repeatability) ensure_writable_parent(a.out, "--out");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Measure this CPU's latency data set (oneDNN inference) for the latency predictors"};
  Args a;
  app.add_option("--out", a.out, "data set file (JSON lines)")->capture_default_str();
  app.add_option("--families", a.families_csv)->capture_default_str();
  app.add_option("--networks", a.networks, "random-width networks to measure")->capture_default_str();
  app.add_flag("--no-layers", a.no_layers, "skip the layer probes");
  app.add_option("--threads", a.threads)->capture_default_str();
  app.add_option("--batch", a.batch)->capture_default_str();
  app.add_option("--rounds", a.rounds, "interleaved rounds per measurement")->capture_default_str();
  app.add_option("--group", a.group, "networks interleaved together")->capture_default_str();
  app.add_option("--passes", a.passes, "groups of shuffled company each probe is measured in (its figure: the median)")
      ->capture_default_str();
  app.add_option("--reference", a.reference,
                 "zoo model measured beside every group as the drift reference (default: the first family)");
  app.add_option("--seed", a.seed)->capture_default_str();
  app.add_flag("--repeatability", a.repeatability, "CV of one network's latency over fresh processes, robust vs naive");
  app.add_option("--fresh", a.fresh, "fresh processes for --repeatability")->capture_default_str();
  app.add_option("--measure-once", a.measure_model, "(internal) print one latency of this zoo model");
  app.add_option("--protocol", a.protocol, "(internal) robust | naive")->capture_default_str();
  app.add_option("--widths", a.widths, "MODEL then per-layer width lists (comma-separated): measured together")
      ->expected(2, 64);
  app.add_option("--sessions", a.sessions, "with --widths: interleaved sessions back to back")->capture_default_str();
  app.add_option("--predictor-cache", a.predictor_cache,
                 "with --widths: also the MLP predictor cached in this directory (--networks: its random networks)");
  app.add_option("--mlp", a.mlp_kind, "with --predictor-cache: layer (per described layer) or kernel (per planned kernel)")
      ->capture_default_str();
  app.add_flag("--json", a.json);
  CLI11_PARSE(app, argc, argv);

  try {
    validate(a);
    if (!a.measure_model.empty()) {
      std::printf("%.6f\n", measure_once(a.measure_model, a.protocol, a.threads));
      return 0;
    }
    if (!a.widths.empty()) {
      // A device's floor: how fast the same model gets as its layers narrow, measured together;
      // with --sessions N, N interleaved sessions back to back (the ratio's median and range);
      // with --predictor-cache, beside the cached MLP predictor's figures (fitted first if missing).
      hw::OnednnCpuDevice device(a.threads, a.batch, {.rounds = a.rounds, .seed = a.seed});
      std::vector<std::unique_ptr<nn::Module>> owned;
      std::vector<nn::Module*> nets;
      for (const auto& ch : parse_widths(a.widths)) {
        owned.push_back(models::make_model(a.widths[0], {.channels = ch}));
        nets.push_back(owned.back().get());
      }
      std::vector<std::vector<double>> ms(nets.size()), ratio(nets.size());
      for (int s = 0; s < a.sessions; ++s) {
        const auto m = device.measure_many(nets, {1, 28, 28});
        for (size_t i = 0; i < m.size(); ++i) {
          ms[i].push_back(m[i].median_ms);
          ratio[i].push_back(m[i].median_ms / m[0].median_ms);
        }
      }
      std::vector<double> predicted;
      if (!a.predictor_cache.empty()) {
        hw::with_cached_mlp_predictor(hw::parse_mlp_kind(a.mlp_kind), device, a.widths[0], a.predictor_cache,
                                      {.networks = a.networks}, [&](const auto& p) {
                                        for (auto* n : nets) predicted.push_back(p.predict_ms(n->describe({1, 28, 28})));
                                      });
      }
      const auto median = [](const std::vector<double>& v) { return hw::median(v); };
      nlohmann::json rows = nlohmann::json::array();
      for (size_t i = 0; i < nets.size(); ++i) {
        const auto [lo, hi] = std::minmax_element(ratio[i].begin(), ratio[i].end());
        const double med_ms = median(ms[i]), med_ratio = median(ratio[i]);
        std::printf("%-32s %9.4f ms  ÷ first %.3f", a.widths[i + 1].c_str(), med_ms, med_ratio);
        if (a.sessions > 1) std::printf(" [%.3f, %.3f]", *lo, *hi);
        nlohmann::json row{{"widths", a.widths[i + 1]}, {"median_ms", med_ms}, {"fraction_of_first", med_ratio},
                           {"fraction_min", *lo}, {"fraction_max", *hi}, {"sessions", a.sessions}};
        if (!predicted.empty()) {
          std::printf("  predicted %.4f ms (÷ first %.3f, predicted / measured %.3f)", predicted[i],
                      predicted[i] / predicted[0], predicted[i] / med_ms);
          row["predicted_ms"] = predicted[i];
          row["predicted_fraction_of_first"] = predicted[i] / predicted[0];
        }
        std::printf("\n");
        rows.push_back(row);
      }
      if (a.json) std::cout << nlohmann::json{{"model", a.widths[0]}, {"batch", a.batch}, {"threads", a.threads}, {"rows", rows}}.dump() << "\n";
      return 0;
    }
    if (a.repeatability) {
      nlohmann::json result{{"fresh_processes", a.fresh}, {"batch", 1}, {"threads", a.threads}};
      for (const auto& model : split_csv(a.families_csv)) {
        for (const std::string proto : {"naive", "robust"}) {
          std::vector<double> v;
          for (int i = 0; i < a.fresh; ++i) {
            const std::string cmd = std::string(argv[0]) + " --measure-once " + model + " --protocol " + proto +
                                    " --threads " + std::to_string(a.threads);
            std::FILE* p = popen(cmd.c_str(), "r");
            double ms = 0;
            if (!p || std::fscanf(p, "%lf", &ms) != 1 || pclose(p) != 0) throw Error("fresh measurement failed: " + cmd);
            v.push_back(ms);
          }
          const double cv = cv_of(v);
          std::cerr << model << " " << proto << ": CV over " << a.fresh << " fresh processes = " << cv * 100
                    << "% (median of medians " << v[v.size() / 2] << " ms)\n";
          result[model][proto + "_cv"] = cv;
        }
      }
      if (a.json) std::cout << result.dump() << "\n";
      return 0;
    }

    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    hw::OnednnCpuDevice device(a.threads, a.batch, {.rounds = a.rounds, .seed = a.seed});
    hw::LatencyDataset data{device.fingerprint(), {}};
    std::cerr << "device: " << data.fingerprint.to_json().dump() << "\n";
    const auto families = split_csv(a.families_csv);
    auto report = [&](const char* what) {
      return [&, what](size_t done, size_t total) {
        static const bool tty = isatty(fileno(stderr));
        std::fprintf(stderr, "%s%s %zu/%zu (%.0f s)", tty ? "\r" : "", what, done, total, elapsed());
        if (done == total || !tty) std::fputc('\n', stderr);
        std::fflush(stderr);
      };
    };
    // Every group is measured beside the reference; figures are in its first reading's units.
    data.reference = hw::DriftReference{a.reference.empty() ? families.front() : a.reference, std::nullopt};
    data.passes = a.passes, data.group = a.group;
    const hw::SamplingOptions so{size_t(a.group), a.passes, a.seed};
    if (!a.no_layers) {
      auto probes = hw::layer_probes(families);
      auto s = hw::measure_probes(device, probes, so, &*data.reference, report("layer probes"));
      data.samples.insert(data.samples.end(), s.begin(), s.end());
    }
    std::mt19937_64 rng(a.seed);
    std::vector<hw::Probe> nets;
    for (int i = 0; i < a.networks; ++i) nets.push_back(hw::random_network(families[i % families.size()], rng));
    auto s = hw::measure_probes(device, nets, so, &*data.reference, report("networks"));
    data.samples.insert(data.samples.end(), s.begin(), s.end());
    data.save(a.out);
    double cv_sum = 0;
    for (auto& x : s) cv_sum += x.m.cv;
    std::cerr << "wrote " << data.samples.size() << " samples to " << a.out << " in " << elapsed() << " s\n";
    if (a.json)
      std::cout << nlohmann::json{{"out", a.out},
                                  {"samples", data.samples.size()},
                                  {"networks", s.size()},
                                  {"seconds", elapsed()},
                                  {"mean_within_run_cv", cv_sum / double(std::max<size_t>(1, s.size()))},
                                  {"passes", a.passes},
                                  {"reference", {{"family", data.reference->family}, {"ms", *data.reference->ms}}},
                                  {"fingerprint", data.fingerprint.to_json()}}
                       .dump()
                << "\n";
  } catch (const std::exception& e) {
    std::cerr << "profile_device: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
