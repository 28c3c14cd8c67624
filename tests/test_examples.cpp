// The examples run as tests with tiny settings: --help, a one-epoch run with its JSON summary,
// resume from its checkpoint, and a clear error for bad flags.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <vector>
#include <nlohmann/json.hpp>
#include <string>

#include "temp_dir.hpp"

namespace {
struct Run {
  int status;
  std::string out;
};
Run run(const std::string& args) {
  const std::string cmd = std::string(HWAWARE_BINARY_DIR) + "/examples/" + args + " 2>&1";
  std::FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  return {WEXITSTATUS(pclose(p)), out};
}
nlohmann::json last_json_line(const std::string& out) {
  const auto start = out.rfind("\n{");
  REQUIRE(start != std::string::npos);
  return nlohmann::json::parse(out.substr(start + 1));
}

/// One bad input: the flags tried and a fragment the refusal must print.
struct BadInput {
  std::string flags, message;
};

/// What every run of a bad-input table shares: flags added unless the row sets them, outputs the
/// run must not leave, and a line the example prints only once it has started working.
struct RefusalSetup {
  std::vector<std::pair<std::string, std::string>> defaults;
  std::vector<std::filesystem::path> not_written;
  std::string work_marker;
};

/// Runs `example` once per row: each must exit non-zero, print the row's message, and stop before
/// any work (no output written, no work marker printed).
void check_refused(const std::string& example, const RefusalSetup& setup, const std::vector<BadInput>& rows) {
  for (const auto& [flags, message] : rows) {
    std::string cmd = example + " " + flags;
    for (const auto& [flag, value] : setup.defaults)
      if ((" " + flags + " ").find(" " + flag + " ") == std::string::npos) cmd += " " + flag + " " + value;
    CAPTURE(cmd);
    const Run r = run(cmd);
    CAPTURE(r.out);
    CHECK(r.status != 0);
    CHECK(r.out.find(message) != std::string::npos);
    CHECK(r.out.find(setup.work_marker) == std::string::npos);
    for (const auto& p : setup.not_written) CHECK_MESSAGE(!std::filesystem::exists(p), (p.string() + " was written"));
  }
}

/// A regular file: a path through it ("<file>/x") names a directory no one can create, root included.
std::string blocking_file(const hwtest::TempDir& tmp) {
  const std::string f = tmp.file("a-file");
  std::ofstream(f) << "not a directory\n";
  return f;
}
}  // namespace

TEST_CASE("train_fashion: help, a tiny run with JSON, resume, bad flags") {
  Run help = run("train_fashion --help");
  CHECK(help.status == 0);
  CHECK(help.out.find("--model") != std::string::npos);
  CHECK(help.out.find("--resume") != std::string::npos);

  const hwtest::TempDir tmp("example_train_fashion");
  const std::string ckpt = tmp.file("train.ckpt");
  Run r = run("train_fashion --model ref-cnn --width 0.5 --epochs 1 --train-limit 4096 --quiet --json --checkpoint " + ckpt);
  REQUIRE(r.status == 0);
  auto j = last_json_line(r.out);
  CHECK(j["model"] == "ref-cnn");
  CHECK(j["epochs"] == 1);
  CHECK(j["test_accuracy"].get<double>() > 0.3);
  CHECK(j["test_accuracy"].get<double>() <= 1.0);
  CHECK(j["img_per_s"].get<double>() > 0);
  CHECK(std::filesystem::exists(ckpt));

  Run resumed = run("train_fashion --model ref-cnn --width 0.5 --epochs 2 --train-limit 4096 --quiet --json --resume --checkpoint " + ckpt);
  REQUIRE(resumed.status == 0);
  CHECK(resumed.out.find("resumed from") != std::string::npos);
  CHECK(last_json_line(resumed.out)["epochs"] == 2);

  Run bad = run("train_fashion --model alexnet --epochs 1");
  CHECK(bad.status != 0);
  CHECK(bad.out.find("unknown model 'alexnet'") != std::string::npos);
  Run no_ckpt = run("train_fashion --resume");
  CHECK(no_ckpt.status != 0);
  CHECK(no_ckpt.out.find("--resume needs --checkpoint") != std::string::npos);
}

TEST_CASE("train_fashion: bad inputs are refused before any work") {
  const hwtest::TempDir tmp("example_train_fashion_bad");
  const std::string ckpt = tmp.file("train.ckpt"), blocked = blocking_file(tmp) + "/x.ckpt";
  const RefusalSetup setup{{{"--checkpoint", ckpt}}, {ckpt}, "MMACs/img"};
  check_refused("train_fashion --quiet", setup,
                {{"--lr nan", "--lr must be in (0, 10] (got nan)"},
                 {"--lr -0.1", "--lr must be in (0, 10] (got -0.1)"},
                 {"--epochs -1", "--epochs must be at least 1 (got -1)"},
                 {"--batch 0", "--batch must be in [1, 65536] (got 0)"},
                 {"--width 0", "--width must be in (0, 16] (got 0)"},
                 {"--width -2", "--width must be in (0, 16] (got -2)"},
                 {"--width nan", "--width must be in (0, 16] (got nan)"},
                 {"--momentum 1", "--momentum must be in [0, 1) (got 1)"},
                 {"--weight-decay -0.5", "--weight-decay must be in [0, 1) (got -0.5)"},
                 {"--label-smoothing 1.5", "--label-smoothing must be in [0, 1) (got 1.5)"},
                 {"--warmup-epochs -1", "--warmup-epochs must be in [0, 5) (fewer than --epochs) (got -1)"},
                 {"--epochs 3 --warmup-epochs 3", "--warmup-epochs must be in [0, 3) (fewer than --epochs) (got 3)"},
                 {"--threads 0", "--threads must be in [1, 1024] (got 0)"},
                 {"--train-limit 0", "--train-limit must be -1 (all) or at least 1 (got 0)"},
                 {"--schedule linear", "--schedule: unknown schedule 'linear'"},
                 {"--optimizer adam", "--optimizer: unknown optimizer 'adam'"},
                 {"--model alexnet", "--model: unknown model 'alexnet'"},
                 {"--resume --checkpoint ''", "--resume needs --checkpoint PATH"},
                 {"--checkpoint " + blocked, "--checkpoint: cannot create the directory"},
                 {"--checkpoint " + tmp.path.string(), "is a directory, not a file"}});
}

TEST_CASE("profile_device then fit_predictor: a tiny data set, every predictor and the noise ceiling, the JSON keys") {
  const hwtest::TempDir tmp("example_fit_predictor");
  const auto& dir = tmp.path;
  const std::string data = (dir / "lat.jsonl").string();
  Run prof = run("profile_device --families ref-cnn --networks 12 --rounds 3 --passes 2 --reference resnet-8 --out " +
                 data + " --json");
  REQUIRE(prof.status == 0);
  const auto jp = last_json_line(prof.out);
  CHECK(jp["samples"].get<int>() > 12);
  CHECK(jp["passes"] == 2);
  CHECK(jp["reference"]["family"] == "resnet-8");
  CHECK(jp["reference"]["ms"].get<double>() > 0);
  {  // the data set keeps its units: the reference, its reading and the protocol
    std::ifstream in(data);
    std::string head;
    std::getline(in, head);
    const auto h = nlohmann::json::parse(head);
    CHECK(h["reference"] == jp["reference"]);
    CHECK(h["passes"] == 2);
    CHECK(h["group"] == 12);
    // the same set with an unknown reference is refused before any fitting
    std::string rest((std::istreambuf_iterator<char>(in)), {});
    auto bad = h;
    bad["reference"]["family"] = "alexnet";
    std::ofstream(dir / "bad_ref.jsonl") << bad.dump() << "\n" << rest;
    Run refused = run("fit_predictor --data " + (dir / "bad_ref.jsonl").string() + " --out-dir " + (dir / "q").string());
    CHECK(refused.status != 0);
    CHECK(refused.out.find("drift reference") != std::string::npos);
    CHECK(refused.out.find("alexnet") != std::string::npos);
    CHECK(!std::filesystem::exists(dir / "q" / "mlp.txt"));
  }
  Run fit = run("fit_predictor --data " + data + " --adaptive 1 --calibration 5 --out-dir " + (dir / "p").string() +
                " --plot " + (dir / "scatter").string() + " --json");
  REQUIRE(fit.status == 0);
  auto j = last_json_line(fit.out);
  for (const char* p : {"lut", "mlp", "kernel_mlp", "analytic", "noise_ceiling"})
    for (const char* k : {"rmse_ms", "rmspe", "within_5", "within_10", "within_15", "spearman", "n_heldout"}) {
      CAPTURE(p);
      CAPTURE(k);
      CHECK(j[p].contains(k));
    }
  CHECK(std::filesystem::exists(dir / "scatter.svg"));
  CHECK(std::filesystem::exists(dir / "p" / "mlp.txt"));
  CHECK(std::filesystem::exists(dir / "p" / "kernel_mlp.txt"));
  CHECK(j["adaptive_mlp"] == "kernel");  // by default the per-kernel MLP drives adaptive sampling
  // the per-layer MLP drives it; no second session
  Run layer = run("fit_predictor --data " + data + " --mlp layer --no-ceiling --calibration 5 --out-dir " +
                  (dir / "p").string() + " --plot " + (dir / "scatter").string() + " --json");
  REQUIRE(layer.status == 0);
  auto jk = last_json_line(layer.out);
  CHECK(jk["adaptive_mlp"] == "layer");
  CHECK(!jk.contains("noise_ceiling"));
  // a data set from another fingerprint is refused, naming the field
  Run other = run("fit_predictor --data " + data + " --threads 1");
  CHECK(other.status != 0);
  CHECK(other.out.find("'threads'") != std::string::npos);
}

TEST_CASE("fit_predictor: bad inputs are refused before any work") {
  const hwtest::TempDir tmp("example_fit_predictor_bad");
  const std::string blocked = blocking_file(tmp), data = tmp.file("lat.jsonl"), missing = tmp.file("missing.jsonl");
  std::ofstream(data) << "{}\n";  // only its readability is checked before the run starts
  const RefusalSetup setup{{{"--data", data}, {"--out-dir", tmp.file("p")}, {"--plot", tmp.file("scatter")}},
                           {tmp.path / "p" / "mlp.txt", tmp.path / "scatter.svg"},
                           "held-out networks"};
  check_refused("fit_predictor", setup,
                {{"--data " + missing, "--data '" + missing + "' is not a readable file"},
                 {"--data " + tmp.path.string(), "is not a readable file"},
                 {"--heldout 0", "--heldout must be in (0, 1) (got 0)"},
                 {"--heldout 1", "--heldout must be in (0, 1) (got 1)"},
                 {"--heldout nan", "--heldout must be in (0, 1) (got nan)"},
                 {"--calibration 0", "--calibration must be in [1, 20] (got 0)"},
                 {"--calibration 21", "--calibration must be in [1, 20] (got 21)"},
                 {"--adaptive -1", "--adaptive must be in [0, 100] (got -1)"},
                 {"--threads 0", "--threads must be in [1, 1024] (got 0)"},
                 {"--batch 0", "--batch must be in [1, 4096] (got 0)"},
                 {"--mlp forest", "--mlp: unknown MLP kind 'forest'"},
                 {"--data /proc/self/status", "--data (adaptive sampling adds to it"},
                 {"--out-dir " + blocked + "/p", "--out-dir: cannot create the directory"},
                 {"--plot " + blocked + "/scatter", "--plot: cannot create the directory"}});
  std::ifstream in(data);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "{}\n");  // the data set is untouched
}

TEST_CASE("zerobn_fashion: a tiny end-to-end run with its JSON summary; an infeasible budget is refused") {
  const hwtest::TempDir tmp("example_zerobn_fashion");
  const auto& dir = tmp.path;
  const std::string common = " --model ref-cnn --epochs 2 --train-limit 1024 --profile-networks 6 --quiet --cache-dir " +
                             (dir / "cache").string() + " --heatmap " + (dir / "heat.svg").string();
  Run r = run("zerobn_fashion" + common + " --budget-fraction 0.9 --mlp kernel --json");
  REQUIRE(r.status == 0);
  auto j = last_json_line(r.out);
  for (const char* k : {"model", "budget_ms", "full_latency_ms", "predicted_latency_ms", "measured_latency_ms",
                        "test_accuracy", "full_test_accuracy", "params", "macs", "train_seconds"}) {
    CAPTURE(k);
    CHECK(j.contains(k));
  }
  CHECK(j.value("mlp", "") == "kernel");
  bool kernel_cached = false;  // the per-kernel MLP was fitted and cached
  for (const auto& e : std::filesystem::directory_iterator(dir / "cache"))
    kernel_cached |= e.path().filename().string().starts_with("kernel-mlp-ref-cnn");
  CHECK(kernel_cached);
  CHECK(std::filesystem::exists(dir / "heat.svg"));
  Run bad = run("zerobn_fashion" + common + " --budget-ms 0.0001");
  CHECK(bad.status != 0);
  CHECK(bad.out.find("infeasible") != std::string::npos);
}

TEST_CASE("zerobn_fashion: bad inputs are refused before any work") {
  const hwtest::TempDir tmp("example_zerobn_fashion_bad");
  const std::string blocked = blocking_file(tmp), cache = tmp.file("cache"), heat = tmp.file("heat.svg"),
                    ckpt = tmp.file("zerobn.ckpt");
  const RefusalSetup setup{{{"--cache-dir", cache}, {"--heatmap", heat}, {"--checkpoint", ckpt}},
                           {cache, heat, ckpt},
                           "profiling"};
  check_refused("zerobn_fashion --quiet", setup,
                {{"--lr nan", "--lr must be in (0, 10] (got nan)"},
                 {"--lr 0", "--lr must be in (0, 10] (got 0)"},
                 {"--batch 0", "--batch must be in [1, 65536] (got 0)"},
                 {"--epochs 0", "--epochs must be at least 1 (got 0)"},
                 {"--budget-ms nan", "--budget-ms must be a positive number of ms (got nan)"},
                 {"--budget-ms -5", "--budget-ms must be a positive number of ms (got -5)"},
                 {"--budget-fraction 0", "--budget-fraction must be in (0, 1]"},
                 {"--budget-fraction 1.5", "(got 1.5)"},
                 {"--sparsity -0.001", "--sparsity must be in [0, 1] (got -0.001)"},
                 {"--sparsity nan", "--sparsity must be in [0, 1] (got nan)"},
                 {"--threads 0", "--threads must be in [1, 1024] (got 0)"},
                 {"--train-limit 0", "--train-limit must be -1 (all) or at least 1 (got 0)"},
                 {"--min-channels 0", "--min-channels must be in [1, 4096] (got 0)"},
                 {"--round-to 0", "--round-to must be in [1, 1024] (got 0)"},
                 {"--ranking forest", "--ranking: forest not in {global,latency,layerwise}"},
                 {"--mlp tree", "--mlp: unknown MLP kind 'tree' (choose layer or kernel)"},
                 {"--model alexnet", "--model: unknown model 'alexnet'"},
                 {"--resume --checkpoint ''", "--resume needs --checkpoint PATH"},
                 {"--checkpoint " + blocked + "/z.ckpt", "--checkpoint: cannot create the directory"},
                 {"--heatmap " + blocked + "/h.svg", "--heatmap: cannot create the directory"},
                 {"--heatmap " + tmp.path.string(), "--heatmap: '" + tmp.path.string() + "' is a directory"},
                 {"--cache-dir " + blocked + "/cache", "--cache-dir: cannot create the directory"}});
}

TEST_CASE("zerobn_evaluate: rows with their checks, an infeasible budget recorded, a finished file resumed") {
  const hwtest::TempDir tmp("example_zerobn_evaluate");
  const auto& dir = tmp.path;
  const std::string out = (dir / "eval.jsonl").string();
  const std::string cmd = "zerobn_evaluate --models ref-cnn --fractions 0.9,0.001 --epochs 2 --train-limit 1024 "
                          "--profile-networks 6 --quiet --cache-dir " + (dir / "cache").string() + " --out " + out +
                          " --table " + (dir / "eval.md").string();
  Run r = run(cmd);
  REQUIRE(r.status == 0);
  std::ifstream in(out);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0]["kind"] == "full");
  CHECK(rows[1]["kind"] == "budget");
  for (const char* k : {"measured_latency_ms", "test_accuracy", "slimming_test_accuracy", "train_time_ratio",
                        "extraction_max_abs_diff", "checks"}) {
    CAPTURE(k);
    CHECK(rows[1].contains(k));
  }
  CHECK(rows[1]["extraction_max_abs_diff"].get<double>() <= 1e-4);
  // Both epochs timed beside a plain epoch (kept beside the checkpoint for a resume, then removed).
  CHECK(rows[1]["plain_interleaved_seconds"].get<double>() > 0);
  CHECK(rows[1]["train_time_ratio"].get<double>() > 0);
  CHECK(rows[1]["train_time_ratio"].get<double>() < 100);
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    CHECK(entry.path().filename().string().find(".times.json") == std::string::npos);
  // The row's checks say what its figures say (the figures themselves depend on this machine).
  // The budget checks use the median over the row's final interleaved sessions of ZeroBN ÷ full.
  const auto& inter = rows[1]["interleaved"];
  auto per_session = inter["zerobn_fraction_sessions"].get<std::vector<double>>();
  REQUIRE(per_session.size() == 5);
  std::sort(per_session.begin(), per_session.end());
  CHECK(rows[1]["measured_fraction"].get<double>() == doctest::Approx(per_session[2]));
  CHECK(inter["zerobn_fraction"].get<double>() == doctest::Approx(per_session[2]));
  CHECK(rows[1]["checks"]["latency<=T"].get<bool>() ==
        (rows[1]["measured_fraction"].get<double>() <= rows[1]["fraction"].get<double>()));
  CHECK(rows[1]["interleaved"]["full_ms"].get<double>() > 0);
  CHECK(rows[2]["kind"] == "infeasible");
  CHECK(rows[2]["message"].get<std::string>().find("infeasible") != std::string::npos);
  CHECK(std::filesystem::exists(dir / "eval.md"));
  // Run again: every row is done, nothing is retrained, the file is unchanged.
  Run again = run(cmd);
  CHECK(again.status == 0);
  CHECK(again.out.find("resuming") != std::string::npos);
  CHECK(again.out.find("plain training") == std::string::npos);
  std::ifstream in2(out);
  size_t lines = 0;
  for (std::string line; std::getline(in2, line);) ++lines;
  CHECK(lines == 3);
}

TEST_CASE("zerobn_evaluate: bad inputs are refused before any work") {
  const hwtest::TempDir tmp("example_zerobn_evaluate_bad");
  const std::string blocked = blocking_file(tmp), out = tmp.file("eval.jsonl"), table = tmp.file("eval.md"),
                    cache = tmp.file("cache");
  const RefusalSetup setup{{{"--out", out}, {"--table", table}, {"--cache-dir", cache}}, {out, table, cache},
                           "profiling"};
  check_refused("zerobn_evaluate --quiet", setup,
                {{"--models alexnet", "--models: unknown model 'alexnet'"},
                 {"--models ,", "--models needs at least one zoo model"},
                 {"--fractions 0.5,1.5", "--fractions: '1.5' is not a fraction in (0, 1]"},
                 {"--fractions nan", "--fractions: 'nan' is not a fraction in (0, 1]"},
                 {"--fractions half", "--fractions: 'half' is not a fraction in (0, 1]"},
                 {"--fractions ,", "--fractions needs at least one budget"},
                 {"--epochs 0", "--epochs must be at least 1 (got 0)"},
                 {"--lr nan", "--lr must be in (0, 10] (got nan)"},
                 {"--batch 0", "--batch must be in [1, 65536] (got 0)"},
                 {"--threads 0", "--threads must be in [1, 1024] (got 0)"},
                 {"--train-limit 0", "--train-limit must be -1 (all) or at least 1 (got 0)"},
                 {"--profile-networks 0", "--profile-networks must be at least 1 (got 0)"},
                 {"--retarget-every -1", "--retarget-every must be 0 (off) or a number of steps (got -1)"},
                 {"--settle-fraction 2", "--settle-fraction must be in [0, 1] (got 2)"},
                 {"--settle-fraction nan", "--settle-fraction must be in [0, 1] (got nan)"},
                 {"--min-channels 0", "--min-channels must be in [1, 4096] (got 0)"},
                 {"--ranking forest", "--ranking: forest not in {global,latency,layerwise}"},
                 {"--out " + blocked + "/eval.jsonl", "--out: cannot create the directory"},
                 {"--table " + blocked + "/eval.md", "--table: cannot create the directory"},
                 {"--cache-dir " + blocked + "/cache", "--cache-dir: cannot create the directory"}});
}

TEST_CASE("profile_device --widths: sessions and the cached predictor beside the device") {
  const hwtest::TempDir tmp("example_profile_widths");
  const auto dir = tmp.path / "predictors";  // made by the run
  Run r = run("profile_device --widths ref-cnn 32,64,128 8,16,32 --sessions 3 --rounds 3 --networks 6 --predictor-cache " +
              dir.string() + " --json");
  REQUIRE(r.status == 0);
  auto j = last_json_line(r.out);
  REQUIRE(j["rows"].size() == 2);
  CHECK(j["rows"][0]["fraction_of_first"].get<double>() == doctest::Approx(1.0));
  const auto& narrow = j["rows"][1];
  CHECK(narrow["sessions"] == 3);
  CHECK(narrow["fraction_min"].get<double>() <= narrow["fraction_of_first"].get<double>());
  CHECK(narrow["fraction_max"].get<double>() >= narrow["fraction_of_first"].get<double>());
  CHECK(narrow["predicted_ms"].get<double>() > 0);
  CHECK(std::filesystem::exists(dir));  // the predictor was fitted and cached there
  Run bad = run("profile_device --widths ref-cnn 32,64");
  CHECK(bad.status != 0);
  CHECK(bad.out.find("wrong number of per-layer channel counts") != std::string::npos);
}

TEST_CASE("profile_device: bad inputs are refused before any work") {
  const hwtest::TempDir tmp("example_profile_device_bad");
  const std::string blocked = blocking_file(tmp), out = tmp.file("lat.jsonl");
  const RefusalSetup setup{{{"--out", out}}, {out, tmp.path / "p"}, "device: {"};
  check_refused("profile_device", setup,
                {{"--threads 0", "--threads must be in [1, 1024] (got 0)"},
                 {"--batch 0", "--batch must be in [1, 4096] (got 0)"},
                 {"--networks 0", "--networks must be at least 1 (got 0)"},
                 {"--rounds 0", "--rounds must be in [1, 1000] (got 0)"},
                 {"--group 0", "--group must be in [1, 100] (got 0)"},
                 {"--group 101", "--group must be in [1, 100] (got 101)"},
                 {"--passes 0", "--passes must be in [1, 100] (got 0)"},
                 {"--reference alexnet", "--reference: unknown model 'alexnet'"},
                 {"--repeatability --fresh 1", "--fresh must be at least 2 (a CV needs two processes) (got 1)"},
                 {"--widths ref-cnn 32,64,128 --sessions 0", "--sessions must be at least 1 (got 0)"},
                 {"--protocol fast", "--protocol is robust or naive (got 'fast')"},
                 {"--mlp forest", "--mlp: unknown MLP kind 'forest'"},
                 {"--families ,", "--families needs at least one zoo model"},
                 {"--families ref-cnn,alexnet", "--families: unknown model 'alexnet'"},
                 {"--measure-once alexnet", "--measure-once: unknown model 'alexnet'"},
                 {"--widths alexnet 1,2", "--widths: unknown model 'alexnet'"},
                 {"--widths ref-cnn 32,64", "wrong number of per-layer channel counts"},
                 {"--widths ref-cnn 32,x,128", "--widths: 'x' in '32,x,128' is not a channel count"},
                 {"--widths ref-cnn 32,0,128", "--widths: '0' in '32,0,128' is not a channel count"},
                 {"--widths ref-cnn 32,64,128 --predictor-cache " + blocked + "/p",
                  "--predictor-cache: cannot create the directory"},
                 {"--out " + blocked + "/lat.jsonl", "--out: cannot create the directory"}});
}

TEST_CASE("smartscissor_cluttered: a tiny run with every stage and a budget, reuse on rerun, bad inputs first") {
  const hwtest::TempDir tmp("example_smartscissor");
  const std::string dir = (tmp.path / "run").string();
  const std::string args = "smartscissor_cluttered --train 200 --test 100 --epochs 1 --box-epochs 1 --quiet --json "
                           "--t auto --budgets 0.5 --budget-latency-fraction 0.6 --out-dir " + dir;
  Run first = run(args);
  REQUIRE(first.status == 0);
  const auto j = last_json_line(first.out);
  for (const char* k : {"base_accuracy", "gradcam_iou", "box_iou", "box_macs", "resize_only_accuracy", "dic_accuracy",
                        "estimator_rmse", "rows"})
    CHECK(j.contains(k));
  CHECK(j["dic_train_boxes"] == "predicted");  // DIC classifiers train on the crops they will see
  // compound, depth, width, resolution, EfficientNet, resize-only; at the MACs and the latency budget
  REQUIRE(j["rows"].size() == 12);
  const char* policies[] = {"dic+compound", "dic+depth", "dic+width", "dic+resolution", "dic+efficientnet", "resize-only"};
  for (size_t i = 0; i < 12; ++i) {
    const auto& r = j["rows"][i];
    CAPTURE(r.dump());
    CHECK(r["policy"] == policies[i % 6]);
    CHECK(r["unit"] == (i < 6 ? "macs_fraction" : "ms"));
    if (i < 6) {  // DIC rows leave the box predictor its MACs
      const double budget = 0.5 * j["base_macs"].get<double>() - (i < 5 ? j["box_macs"].get<double>() : 0.0);
      CHECK(r["budget_macs"].get<double>() == doctest::Approx(budget));
    }
    if (r.contains("infeasible")) continue;
    CHECK(r["measured_ms"].get<double>() > 0);  // every network measured on the device
    CHECK(r.contains("met") == (i >= 6));
  }
  CHECK(j["base_ms"].get<double>() > 0);
  // --t auto: the t whose boxes fit the training images' true boxes best
  REQUIRE(j["gradcam_iou_train"].size() == 4);
  double best = -1;
  std::string best_t;
  for (const auto& [t, v] : j["gradcam_iou_train"].items())
    if (v.get<double>() > best) best = v.get<double>(), best_t = t;
  CHECK(std::to_string(j["t"].get<double>()).substr(0, 4) == best_t);
  CHECK(j.contains("estimator_held_out_networks"));
  // A held-out network below its dimension's lowest fit point is flagged as an extrapolation.
  CHECK(j["estimator_held_out_networks"].get<int>() + j["estimator_extrapolated_networks"].get<int>() > 0);
  for (const auto& r : j["rows"]) {
    if (!r.contains("model_accuracy")) continue;
    const std::string dim = r["policy"].get<std::string>().substr(4);  // "dic+width" → "width"
    int64_t lowest = std::numeric_limits<int64_t>::max();
    for (const auto& pt : j["accuracy_model"]["fit_points"][dim]) lowest = std::min(lowest, pt["macs"].get<int64_t>());
    CAPTURE(r.dump());
    CHECK(r.value("model_extrapolated", false) == (r["macs"].get<int64_t>() - j["box_macs"].get<int64_t>() < lowest));
  }
  CHECK(j["box_macs"].get<double>() < 0.03 * j["base_macs"].get<double>());
  // The pictures: the boxes over 12 test images (4 × 3 tiles of 64 px, 3× larger, 6 px gaps), the
  // accuracy curves with their fit points.
  const auto png = [&](const std::string& name) {
    std::ifstream in(std::filesystem::path(dir) / name, std::ios::binary);
    return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  };
  const std::string boxes = png("gradcam_boxes.png");
  REQUIRE(boxes.size() > 24);
  CHECK(boxes.substr(1, 3) == "PNG");
  const auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | uint8_t(boxes[at + i]);
    return v;
  };
  CHECK(u32(16) == 4 * (192 + 6) + 6);
  CHECK(u32(20) == 3 * (192 + 6) + 6);
  const std::string curves = png("accuracy_model.svg");
  CHECK(curves.find("depth (fitted)") != std::string::npos);
  CHECK(curves.find("resolution (n=") != std::string::npos);
  std::filesystem::remove(std::filesystem::path(dir) / "gradcam_boxes.png");
  Run again = run(args);  // every network is reloaded, none trained again
  REQUIRE(again.status == 0);
  CHECK(again.out.find("trained") == std::string::npos);
  CHECK(std::filesystem::exists(std::filesystem::path(dir) / "gradcam_boxes.png"));
  // Without the rows' checkpoints (a fresh clone keeps only the JSON files), their accuracies on
  // file stand: only the two classifiers of the DIC-vs-resize stage train again.
  std::vector<std::filesystem::path> rows_ckpt;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (const std::string f = e.path().filename().string(); e.path().extension() == ".ckpt" && f != "base.ckpt" && f != "box.ckpt")
      rows_ckpt.push_back(e.path());
  for (const auto& f : rows_ckpt) std::filesystem::remove(f);
  Run recorded = run(args);
  REQUIRE(recorded.status == 0);
  size_t trained = 0;
  for (size_t at = recorded.out.find(": trained"); at != std::string::npos; at = recorded.out.find(": trained", at + 1))
    ++trained;
  CHECK(trained == 2);
  const auto rows_again = last_json_line(recorded.out)["rows"];
  REQUIRE(rows_again.size() == j["rows"].size());
  int accuracies = 0;
  for (size_t i = 0; i < rows_again.size(); ++i)
    if (j["rows"][i].contains("test_accuracy")) {
      CHECK(rows_again[i]["test_accuracy"] == j["rows"][i]["test_accuracy"]);
      ++accuracies;
    }
  CHECK(accuracies > 0);
  // --repeats 2: every network of the budget stage trains once more from another seed, the rows
  // report the mean, and a rerun trains nothing. The first trainings stand; compound shrinking
  // chooses anew only when the curves of the means moved.
  const std::string twice = "smartscissor_cluttered --train 200 --test 100 --epochs 1 --box-epochs 1 --quiet --json "
                            "--t auto --budgets 0.5 --repeats 2 --out-dir " + dir;
  Run repeated = run(twice);
  REQUIRE(repeated.status == 0);
  const auto jr = last_json_line(repeated.out);
  CHECK(jr["repeats"] == 2);
  REQUIRE(jr["rows"].size() == 6);
  CHECK(jr["base_dic_accuracies"].size() == 2);
  for (const auto& [dim, pts] : jr["accuracy_model"]["fit_points"].items())
    for (const auto& pt : pts) CHECK(pt["accuracies"].size() == 2);
  int feasible = 0;
  for (size_t i = 0; i < 6; ++i) {
    const auto& r = jr["rows"][i];
    CAPTURE(r.dump());
    if (r.contains("infeasible")) continue;
    ++feasible;
    REQUIRE(r["test_accuracies"].size() == 2);
    const double x0 = r["test_accuracies"][0], x1 = r["test_accuracies"][1];
    CHECK(r["test_accuracy"].get<double>() == doctest::Approx((x0 + x1) / 2));
    if (r["policy"] != "dic+compound") CHECK(x0 == j["rows"][i]["test_accuracy"].get<double>());
  }
  CHECK(feasible > 0);
  CHECK(std::filesystem::exists(std::filesystem::path(dir) / "base-dic.r2.ckpt"));
  Run repeated_again = run(twice);
  REQUIRE(repeated_again.status == 0);
  CHECK(repeated_again.out.find("trained") == std::string::npos);
  const auto rows_twice = last_json_line(repeated_again.out)["rows"];
  for (size_t i = 0; i < 6; ++i) CHECK(rows_twice[i].value("test_accuracies", nlohmann::json()) == jr["rows"][i].value("test_accuracies", nlohmann::json()));
  // --baselines picks the rows beside dic+compound: the canvas+ rows shrink a network that reads
  // the whole canvas (no crop), their budget without the box predictor's MACs.
  Run canvas = run("smartscissor_cluttered --train 200 --test 100 --epochs 1 --box-epochs 1 --quiet --json --t auto "
                   "--budgets 0.5 --repeats 2 --baselines canvas+width,canvas+efficientnet --out-dir " + dir);
  REQUIRE(canvas.status == 0);
  const auto jc = last_json_line(canvas.out)["rows"];
  REQUIRE(jc.size() == 3);
  CHECK(jc[0]["policy"] == "dic+compound");
  CHECK(jc[0]["test_accuracies"] == jr["rows"][0]["test_accuracies"]);  // reused, not trained again
  for (size_t i = 1; i < 3; ++i) {
    const auto& r = jc[i];
    CAPTURE(r.dump());
    CHECK(r["policy"] == (i == 1 ? "canvas+width" : "canvas+efficientnet"));
    CHECK(!r.contains("model_accuracy"));
    CHECK(r["budget_macs"].get<double>() == doctest::Approx(0.5 * j["base_macs"].get<double>()));  // no box predictor
    CHECK(r["macs"].get<double>() <= r["budget_macs"].get<double>());
    CHECK(r["test_accuracies"].size() == 2);
  }
  CHECK(jc[1]["resolution"] == 64);  // width alone: the whole canvas at its side
  CHECK(jc[1]["width"].get<double>() < 1.0);
  // Crops of another margin in the same directory are refused.
  Run margin = run("smartscissor_cluttered --train 200 --test 100 --epochs 1 --box-epochs 1 --quiet --crop-margin 1.5 --t " +
                   std::to_string(j["t"].get<double>()) + " --out-dir " + dir);
  CHECK(margin.status != 0);
  CHECK(margin.out.find("crops of margin") != std::string::npos);
  // So are classifiers trained on crops of the Grad-CAM boxes instead of the box predictor's.
  Run cam_crops = run("smartscissor_cluttered --train 200 --test 100 --epochs 1 --box-epochs 1 --quiet "
                      "--dic-train-boxes gradcam --t " + std::to_string(j["t"].get<double>()) + " --out-dir " + dir);
  CHECK(cam_crops.status != 0);
  CHECK(cam_crops.out.find("on crops of the boxes") != std::string::npos);
  Run only = run("smartscissor_cluttered --train 200 --test 100 --quiet --pictures 2 --pictures-only --out-dir " + dir);
  CHECK(only.status == 0);
  CHECK(only.out.find("pictures: ") != std::string::npos);
  // The run's networks learned from boxes at its t: another t in the same directory is refused.
  const double other_t = j["t"].get<double>() == 0.0 ? 0.25 : 0.0;
  Run mixed = run("smartscissor_cluttered --train 200 --test 100 --epochs 1 --box-epochs 1 --quiet --t " +
                  std::to_string(other_t) + " --out-dir " + dir);
  CHECK(mixed.status != 0);
  CHECK(mixed.out.find("use another --out-dir") != std::string::npos);
  Run none = run("smartscissor_cluttered --train 200 --test 100 --quiet --pictures-only --out-dir " +
                 (tmp.path / "empty").string());
  CHECK(none.status != 0);
  CHECK(none.out.find("draws from a finished run") != std::string::npos);

  const std::pair<const char*, const char*> bad[] = {
      {"--budgets 1.5", "--budgets are fractions"}, {"--canvas 20", "--canvas must be at least 34"},
      {"--resolution 0", "--resolution must be in (0, 1]"}, {"--t 2", "--t must be in [0, 1]"},
      {"--out-dir /proc/forbidden", "--out-dir: cannot create the directory"}, {"--train 10", "at least 100 images"},
      {"--pictures -1", "--pictures must be in [0, --test]"}, {"--budget-ms -1", "--budget-ms must be positive"},
      {"--budget-latency-fraction 1.2", "--budget-latency-fraction is a fraction"},
      {"--crop-margin 0.5", "--crop-margin must be in [1, 2]"}, {"--repeats 0", "--repeats must be in [1, 10]"},
      {"--dic-train-boxes truth", "--dic-train-boxes must be predicted or gradcam"},
      {"--baselines dic+depth,crop", "--baselines: unknown row 'crop'"},
      {"--baselines dic+width,dic+width", "'dic+width' given twice"}, {"--baselines none,dic+width", "none stands alone"}};
  for (const auto& [flag, message] : bad) {
    CAPTURE(flag);
    Run r = run(std::string("smartscissor_cluttered --quiet ") + flag);
    CHECK(r.status != 0);
    CHECK(r.out.find(message) != std::string::npos);
  }
}

TEST_CASE("export_onnx: a zoo network, a train_fashion checkpoint, readable errors before any work") {
  if (!std::filesystem::exists(std::string(HWAWARE_BINARY_DIR) + "/examples/export_onnx")) {
    MESSAGE("export_onnx skipped: not built (hwaware::onnx needs libonnx-dev and libprotobuf-dev)");
    return;
  }
  Run help = run("export_onnx --help");
  CHECK(help.status == 0);
  CHECK(help.out.find("--fold-bn") != std::string::npos);

  const hwtest::TempDir tmp("example_export_onnx");
  const std::string zoo = tmp.file("mobilenetv2-tiny.onnx");
  Run r = run("export_onnx --model mobilenetv2-tiny --fold-bn --json --out " + zoo);
  REQUIRE(r.status == 0);
  auto j = last_json_line(r.out);
  CHECK(j["nodes"].get<int>() > 20);
  CHECK(j["bytes"].get<std::uintmax_t>() == std::filesystem::file_size(zoo));

  // train_fashion's checkpoint records the zoo name, not the width
  const std::string ckpt = tmp.file("train.ckpt"), out = tmp.file("ckpt.onnx");
  REQUIRE(run("train_fashion --model ref-cnn --width 0.5 --epochs 1 --train-limit 512 --quiet --checkpoint " + ckpt).status == 0);
  Run from_ckpt = run("export_onnx --checkpoint " + ckpt + " --width 0.5 --json --out " + out);
  REQUIRE(from_ckpt.status == 0);
  CHECK(last_json_line(from_ckpt.out)["model"] == "ref-cnn");
  CHECK(std::filesystem::exists(out));
  Run wrong_width = run("export_onnx --checkpoint " + ckpt + " --out " + tmp.file("wrong.onnx"));
  CHECK(wrong_width.status != 0);
  CHECK(wrong_width.out.find("does not fit ref-cnn") != std::string::npos);

  Run bad = run("export_onnx --model alexnet --out " + tmp.file("x.onnx"));
  CHECK(bad.status != 0);
  CHECK(bad.out.find("unknown model 'alexnet'") != std::string::npos);
  CHECK(bad.out.find("mobilenetv2-tiny") != std::string::npos);
  const std::string unwritable = tmp.file("missing/x.onnx");
  Run no_dir = run("export_onnx --model ref-cnn --out " + unwritable);
  CHECK(no_dir.status != 0);
  CHECK(no_dir.out.find(unwritable) != std::string::npos);
  Run bad_chw = run("export_onnx --model ref-cnn --input-chw 1,28 --out " + tmp.file("y.onnx"));
  CHECK(bad_chw.status != 0);
  CHECK(bad_chw.out.find("--input-chw") != std::string::npos);
}

TEST_CASE("lightnas_fashion: a tiny search with its JSON summary, the stages reused on rerun, bad inputs first") {
  const hwtest::TempDir tmp("example_lightnas");
  const std::string dir = (tmp.path / "run").string(), cache = (tmp.path / "cache").string();
  const std::string args = "lightnas_fashion --target-fraction 0.6 --samples 40 --train 400 --test 100 "
                           "--search-epochs 2 --warmup 1 --epochs 1 --quiet --json --out-dir " + dir +
                           " --cache-dir " + cache;
  Run first = run(args);
  REQUIRE(first.status == 0);
  const auto j = last_json_line(first.out);
  for (const char* k : {"target_ms", "predicted_ms", "measured_ms", "measured_range_ms", "lambda_final", "test_accuracy",
                        "search_seconds", "retrain_seconds", "params", "macs", "architecture", "predictors"})
    CHECK(j.contains(k));
  CHECK(j["measured_range_ms"][0].get<double>() <= j["measured_ms"].get<double>());
  CHECK(j["measured_ms"].get<double>() <= j["measured_range_ms"][1].get<double>());
  CHECK(std::filesystem::exists(tmp.path / "run" / "search-cost.svg"));
  CHECK(!std::filesystem::exists(tmp.path / "run" / "search.ckpt"));  // a finished search leaves no checkpoint
  Run again = run(args);  // the search and the retraining are reused, not run again
  REQUIRE(again.status == 0);
  CHECK(again.out.find("search epoch") == std::string::npos);
  CHECK(last_json_line(again.out)["architecture"] == j["architecture"]);
  Run uniform = run(args + " --baselines uniform");  // one baseline beside the stored search
  REQUIRE(uniform.status == 0);
  const auto u = last_json_line(uniform.out);
  CHECK(u["uniform"]["width"].get<double>() >= 0.05);  // the widest mobilenetv2-tiny measured under T
  CHECK(u["uniform"]["measured_ms"].get<double>() > 0);
  CHECK(u["uniform"].contains("test_accuracy"));
  CHECK(!u.contains("fbnet"));
  CHECK(!u.contains("random"));

  const std::pair<const char*, const char*> bad[] = {
      {"", "give exactly one of"}, {"--target-ms 1 --energy-mj 1", "give exactly one of"},
      {"--target-fraction 1.5", "--target-fraction must be in (0, 1]"}, {"--target-ms -1", "must be positive"},
      {"--target-ms 1 --predictor forest", "--predictor is auto, onehot, layer or lut"},
      {"--target-ms 1 --warmup 5 --search-epochs 4", "--warmup in [0, search epochs)"},
      {"--predictors-only --energy-mj 1", "drop --energy-mj"},
      {"--target-ms 1 --baselines fbnet,forest", "--baselines takes fbnet, random and uniform"},
      {"--target-ms 1 --out-dir /proc/forbidden", "--out-dir: cannot create the directory"}};
  for (const auto& [flag, message] : bad) {
    CAPTURE(flag);
    Run r = run(std::string("lightnas_fashion --quiet ") + flag);
    CHECK(r.status != 0);
    CHECK(r.out.find(message) != std::string::npos);
  }
}
