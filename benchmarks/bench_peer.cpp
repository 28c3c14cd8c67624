// hwaware beside PyTorch (shared/baselines/pytorch_cnn.py) on the same networks, in one run:
// training throughput at batch 128 and inference latency at batch 1 and 128, with the ratios.
//   ./build/benchmarks/bench_peer [--models ref-cnn,resnet-8,vgg-small] [--steps 100] [--threads 2]
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <array>
#include <chrono>
#include <cstdio>
#include <hwaware/hwaware.hpp>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace hwaware;
using clk = std::chrono::steady_clock;

namespace {

struct Figures {
  double train_img_s = 0, infer1_ms = 0, infer128_ms = 0;
};

double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

Figures measure_hwaware(const std::string& name, const Dataset& data, int steps) {
  Figures f;
  nn::manual_seed(1);
  auto m = models::make_model(name);
  optim::Sgd opt(optim::param_groups(*m, 1e-4f), {0.9f, false});  // the peer's optimizer settings
  const int64_t batch = 128, nb = data.size() / batch;
  auto step = [&](int i) {
    const int64_t j = i % nb;
    opt.zero_grad();
    auto out = ops::cross_entropy(m->forward(Variable(data.images.slice0(j * batch, (j + 1) * batch))),
                                  data.labels.slice0(j * batch, (j + 1) * batch));
    out.loss.backward();
    opt.step(0.05f);
  };
  m->train();
  for (int i = 0; i < 10; ++i) step(i);
  auto t0 = clk::now();
  for (int i = 0; i < steps; ++i) step(i);
  f.train_img_s = steps * batch / seconds_since(t0);

  m->eval();
  NoGradGuard ng;
  for (auto [bs, n, out] : {std::tuple{int64_t{1}, 1000, &f.infer1_ms}, std::tuple{batch, 50, &f.infer128_ms}}) {
    Variable x(data.images.slice0(0, bs));
    for (int i = 0; i < 20; ++i) m->forward(x);
    t0 = clk::now();
    for (int i = 0; i < n; ++i) m->forward(x);
    *out = seconds_since(t0) / n * 1e3;
  }
  return f;
}

/// Runs the PyTorch peer; returns its figures, or nothing when torch is not installed.
std::optional<Figures> measure_pytorch(const std::string& script, const std::string& name, int steps, int threads) {
  const std::string cmd = "OMP_NUM_THREADS=" + std::to_string(threads) + " /usr/bin/python3 " + script +
                          " --model " + name + " --threads " + std::to_string(threads) + " --steps " +
                          std::to_string(steps) + " 2>/dev/null";
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return std::nullopt;
  std::string out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  if (pclose(p) != 0) return std::nullopt;
  Figures f;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    if (j["what"] == "train") f.train_img_s = j["img_per_s"];
    else if (j["batch"] == 1) f.infer1_ms = j["ms_per_batch"];
    else f.infer128_ms = j["ms_per_batch"];
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hwaware vs PyTorch: training throughput and inference latency, measured in one run"};
  std::string models_csv = "ref-cnn,resnet-8,vgg-small";
  // The peer script ships beside the project (../shared/baselines); HWAWARE_PEER_SCRIPT overrides.
  std::string script = std::getenv("HWAWARE_PEER_SCRIPT") ? std::getenv("HWAWARE_PEER_SCRIPT") : "";
  for (const char* c : {HWAWARE_SOURCE_DIR "/../shared/baselines/pytorch_cnn.py", "/work/shared/baselines/pytorch_cnn.py"})
    if (script.empty() && std::filesystem::exists(c)) script = c;
  int steps = 100, threads = 2;
  app.add_option("--models", models_csv)->capture_default_str();
  app.add_option("--steps", steps, "timed training steps per model")->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--peer-script", script)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  onednn::set_num_threads(threads);
  const Dataset data = load_fashion_mnist("train", kFashionMnistDir, 128 * 60);
  std::vector<std::string> names;
  for (std::stringstream ss(models_csv); ss.good();) {
    std::string n;
    std::getline(ss, n, ',');
    if (!n.empty()) names.push_back(n);
  }
  std::printf("%-10s | %-22s | %-22s | %-22s\n", "model", "train img/s (b128)", "infer ms (b1)", "infer ms (b128)");
  std::printf("%-10s | %6s %7s %6s | %6s %7s %6s | %6s %7s %6s\n", "", "ours", "torch", "ratio", "ours", "torch",
              "ratio", "ours", "torch", "ratio");
  std::vector<nlohmann::json> lines;
  for (const auto& name : names) {
    const Figures ours = measure_hwaware(name, data, name == "vgg-small" ? steps / 4 : steps);
    const auto peer = measure_pytorch(script, name, name == "vgg-small" ? steps / 4 : steps, threads);
    const Figures p = peer.value_or(Figures{});
    auto ratio = [&](double a, double b) { return (peer && a > 0 && b > 0) ? a / b : 0.0; };
    const double r_train = ratio(ours.train_img_s, p.train_img_s), r1 = ratio(p.infer1_ms, ours.infer1_ms),
                 r128 = ratio(p.infer128_ms, ours.infer128_ms);
    std::printf("%-10s | %6.0f %7.0f %5.2fx | %6.3f %7.3f %5.2fx | %6.2f %7.2f %5.2fx\n", name.c_str(),
                ours.train_img_s, p.train_img_s, r_train, ours.infer1_ms, p.infer1_ms, r1, ours.infer128_ms,
                p.infer128_ms, r128);
    lines.push_back({{"model", name},
                     {"threads", threads},
                     {"hwaware", {{"train_img_per_s", ours.train_img_s}, {"infer_b1_ms", ours.infer1_ms},
                                  {"infer_b128_ms", ours.infer128_ms}}},
                     {"pytorch", peer ? nlohmann::json{{"train_img_per_s", p.train_img_s},
                                                       {"infer_b1_ms", p.infer1_ms},
                                                       {"infer_b128_ms", p.infer128_ms}}
                                      : nlohmann::json("not available (install python3-torch)")},
                     {"speedup", {{"train", r_train}, {"infer_b1", r1}, {"infer_b128", r128}}}});
    std::fflush(stdout);
  }
  for (auto& j : lines) std::cout << j.dump() << "\n";
  return 0;
}
