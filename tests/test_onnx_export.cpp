// hwaware/export/onnx.hpp: the zoo networks, a ZeroBN extraction, a SmartScissor ResNet and a
// LightNAS architecture, exported with BN kept and folded, run in ONNX Runtime (onnxruntime-node,
// through tests/onnxruntime_run.js) on Fashion-MNIST test images: every output equals our eval
// forward within 1e-4, and a wrong weight is caught. Where node or onnxruntime-node is missing the
// runtime case says why and passes; the graph checks need only libonnx.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <hwaware/core/process.hpp>
#include <hwaware/data/cluttered.hpp>
#include <hwaware/data/dataset.hpp>
#include <hwaware/export/onnx.hpp>
#include <hwaware/methods/lightnas/search_space.hpp>
#include <hwaware/methods/zerobn/architecture.hpp>
#include <hwaware/models/zoo.hpp>

#include "temp_dir.hpp"

using namespace hwaware;

namespace {

constexpr double kTolerance = 1e-4;
constexpr int64_t kImages = 32;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// onnxruntime-node's node_modules: $HWAWARE_ONNXRUNTIME_NODE_MODULES, else tools/onnxruntime's.
std::string ort_node_modules() {
  if (const char* env = std::getenv("HWAWARE_ONNXRUNTIME_NODE_MODULES")) return env;
  return std::string(HWAWARE_SOURCE_DIR) + "/tools/onnxruntime/node_modules";
}

/// Empty when node can load onnxruntime-node here; otherwise why not.
std::string ort_unavailable(const hwtest::TempDir& tmp) {
  const std::string modules = ort_node_modules();
  if (!std::filesystem::exists(modules + "/onnxruntime-node"))
    return "onnxruntime-node is not installed in " + modules +
           " (cmake/quickstart.sh installs it: npm ci --ignore-scripts in tools/onnxruntime)";
  ProcessResult r;
  try {
    r = run_process({"node", "-e", "require('onnxruntime-node')"},
                    {.stderr_path = tmp.file("probe.err"), .env = {"NODE_PATH=" + modules}, .timeout_s = 120});
  } catch (const Error& e) {
    return std::string("node is not available: ") + e.what();
  }
  if (!r.succeeded()) return "node cannot load onnxruntime-node: " + read_text(tmp.file("probe.err"));
  return "";
}

/// Running statistics from one batch of real images, then γ, β and the statistics perturbed, so a
/// folded BN differs from an identity and folding is really exercised.
void settle_batchnorm(nn::Module& net, const Tensor& images, std::mt19937_64& rng) {
  auto groups = nn::channel_groups(net, images.dim(1));
  const auto list = zerobn::all_bns(groups);
  const std::set<nn::BatchNorm2d*> bns(list.begin(), list.end());
  for (auto* bn : bns) bn->momentum = 1.f;
  {
    NoGradGuard no_grad;
    net.train();
    net.forward(Variable(images));
  }
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (auto* bn : bns) {
    bn->momentum = 0.1f;
    for (int64_t c = 0; c < bn->channels; ++c) {
      bn->gamma.value().data()[c] *= 1.f + 0.5f * u(rng);
      bn->beta.value().data()[c] += 0.2f * u(rng);
      bn->running_mean.data()[c] += 0.1f * u(rng);
      bn->running_var.data()[c] *= 1.f + 0.2f * u(rng);
    }
    bn->gamma.value().bump_version(), bn->beta.value().bump_version();
    bn->running_mean.bump_version(), bn->running_var.bump_version();
  }
  net.eval();
}

/// resnet-8 with every third channel of each prunable group zeroed (|γ| = 0, as ZeroBN's masks
/// leave them) and extracted by zerobn::build_selection, the way ZeroBN returns its network.
std::unique_ptr<nn::Module> zerobn_extracted(const Tensor& images, std::mt19937_64& rng) {
  const zerobn::ModelFactory make = [] { return models::make_model("resnet-8"); };
  auto full = make();
  settle_batchnorm(*full, images, rng);
  auto groups = nn::channel_groups(*full, 1);
  zerobn::Selection sel(groups.size());
  for (size_t g = 0; g < groups.size(); ++g)
    for (int64_t c = 0; groups[g].prunable && c < groups[g].channels; ++c) {
      if (c % 3 != 1) sel[g].push_back(c);
      else
        for (auto* bn : groups[g].bns) bn->gamma.value().data()[c] = 0.f;
    }
  auto net = zerobn::build_selection(make, sel, 1, full.get());
  CHECK(net->parameter_count() < full->parameter_count());
  net->eval();
  return net;
}

struct Case {
  std::string name;
  std::unique_ptr<nn::Module> net;
  Tensor images;  // [kImages, C, H, W]
};

std::vector<Case> export_cases(std::mt19937_64& rng) {
  const Tensor fashion = load_fashion_mnist("test", kFashionMnistDir, kImages).images;
  const Tensor cluttered = make_cluttered(load_fashion_mnist_raw("test", kFashionMnistDir, kImages), {}, kImages).data.images;
  std::vector<Case> cases;
  for (const auto& name : models::model_names()) cases.push_back({name, models::make_model(name), fashion});
  cases.push_back({"zerobn-resnet-8", zerobn_extracted(fashion, rng), fashion});
  cases.push_back({"smartscissor-resnet-w0.5-d1-64px", models::scalable_resnet({.blocks = 1, .width = 0.5}), cluttered});
  // skips at four layers, kernels 3/5/7 and expansions 3/6
  const lightnas::Architecture arch{0, 6, 2, 3, 6, 4, 5, 6, 1, 5, 6, 2};
  std::string ops = lightnas::SearchSpace().describe(arch);
  std::replace(ops.begin(), ops.end(), ' ', '-');
  cases.push_back({"lightnas-" + ops, lightnas::SearchSpace().build(arch), fashion});
  for (auto& c : cases)
    if (c.name.rfind("zerobn", 0) != 0) settle_batchnorm(*c.net, c.images, rng);
  return cases;
}

Tensor eval_forward(nn::Module& net, const Tensor& images) {
  NoGradGuard no_grad;
  net.eval();
  return net.forward(Variable(images)).value().to_plain();
}

void write_floats(const std::string& path, const Tensor& t) {
  const Tensor plain = t.to_plain();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(plain.data()), std::streamsize(plain.numel() * 4));
  REQUIRE(out.good());
}

/// One exported file, what our forward gave for its input, and ONNX Runtime's output file. A file
/// with BN kept runs unoptimised, so ONNX Runtime's own Conv+BN fusion does not hide its BN nodes.
struct Job {
  std::string name, model, input, output;
  Shape shape;
  Tensor expected;
  bool optimize = true;
};

/// max |ONNX Runtime's output − ours|; infinity when the output has another size.
double max_difference(const Job& job) {
  const std::string bytes = read_text(job.output);
  if (int64_t(bytes.size()) != job.expected.numel() * 4) return INFINITY;
  std::vector<float> got(bytes.size() / 4);
  std::memcpy(got.data(), bytes.data(), bytes.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got[i]) - job.expected.data()[i]));
  return worst;
}

/// Runs every job in one node process; REQUIREs success.
void run_onnxruntime(const std::vector<Job>& jobs, const hwtest::TempDir& tmp) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& j : jobs)
    list.push_back({{"model", j.model}, {"input", j.input}, {"shape", j.shape}, {"output", j.output}, {"optimize", j.optimize}});
  const std::string jobs_file = tmp.file("jobs.json"), log = tmp.file("ort.log");
  std::ofstream(jobs_file) << list.dump();
  const ProcessResult r =
      run_process({"node", std::string(HWAWARE_SOURCE_DIR) + "/tests/onnxruntime_run.js", jobs_file},
                  {.stdout_path = log, .stderr_path = log, .env = {"NODE_PATH=" + ort_node_modules()}, .timeout_s = 600});
  INFO("onnxruntime_run.js: " << read_text(log));
  REQUIRE(r.succeeded());
}

Job make_job(const std::string& name, nn::Module& net, const Tensor& images, bool fold, const hwtest::TempDir& tmp) {
  Job j{name + (fold ? " (BN folded)" : " (BN kept)"), tmp.file(name + (fold ? ".folded" : ".kept") + ".onnx"),
        tmp.file(name + ".input.f32"), tmp.file(name + (fold ? ".folded" : ".kept") + ".output.f32"), images.shape(),
        eval_forward(net, images), fold};
  const Shape chw(images.shape().begin() + 1, images.shape().end());
  const OnnxExportSummary s = export_onnx(net, j.model, {.input_chw = chw, .fold_bn = fold});
  CHECK(s.bytes == int64_t(std::filesystem::file_size(j.model)));
  write_floats(j.input, images);
  return j;
}

/// A module the exporter does not know.
struct Doubler : nn::Module {
  Variable forward(const Variable& x) override { return ops::add(x, x); }
  Shape describe_layers(const Shape& chw, std::vector<LayerDesc>&, const std::string&) const override { return chw; }
};

struct SubSequential : nn::Sequential {};

std::string error_of(nn::Module& net, const OnnxExportOptions& o = {}) {
  try {
    to_onnx_model(net, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

int count_ops(const ::onnx::ModelProto& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph().node()) n += node.op_type() == op;
  return n;
}

}  // namespace

TEST_CASE("export_onnx: zoo, ZeroBN, SmartScissor and LightNAS networks match ONNX Runtime within 1e-4") {
  const hwtest::TempDir tmp("onnx_export");
  if (const std::string why = ort_unavailable(tmp); !why.empty()) {
    MESSAGE("ONNX Runtime comparison skipped: " << why);
    return;
  }
  std::mt19937_64 rng(17);
  auto cases = export_cases(rng);
  std::vector<Job> jobs;
  for (auto& c : cases)
    for (bool fold : {false, true}) jobs.push_back(make_job(c.name, *c.net, c.images, fold, tmp));
  // A wrong weight must show: the first conv's weight changed after our forward ran.
  Job tampered = make_job("ref-cnn-tampered", *cases[0].net, cases[0].images, true, tmp);
  nn::Module& ref = *cases[0].net;
  ref.parameters()[0].second->value().data()[0] += 0.01f;
  export_onnx(ref, tampered.model, {.fold_bn = true});
  jobs.push_back(tampered);

  run_onnxruntime(jobs, tmp);
  for (size_t i = 0; i + 1 < jobs.size(); ++i) {
    const double d = max_difference(jobs[i]);
    MESSAGE(jobs[i].name << ": max |ONNX Runtime - hwaware| = " << d);
    CHECK(d <= kTolerance);
  }
  const double wrong = max_difference(jobs.back());
  MESSAGE("ref-cnn with one weight changed by 0.01: max |difference| = " << wrong);
  CHECK(wrong > 10 * kTolerance);
}

TEST_CASE("to_onnx_model: BN nodes kept or folded, residual adds, ReLU6 as Clip, one input and output") {
  auto resnet = models::make_model("resnet-8");
  const auto kept = to_onnx_model(*resnet, {.fold_bn = false}), folded = to_onnx_model(*resnet, {.fold_bn = true});
  CHECK(count_ops(kept, "BatchNormalization") == 9);  // stem, 2 per block, 2 projection shortcuts
  CHECK(count_ops(folded, "BatchNormalization") == 0);
  CHECK(count_ops(folded, "Conv") == 9);
  CHECK(count_ops(folded, "Add") == 3);
  CHECK(folded.graph().input_size() == 1);
  REQUIRE(folded.graph().output_size() == 1);
  CHECK(folded.graph().output(0).name() == "output");
  CHECK(folded.graph().output(0).type().tensor_type().shape().dim(1).dim_value() == 10);

  auto mobilenet = models::make_model("mobilenetv2-tiny");
  const auto m = to_onnx_model(*mobilenet, {.fold_bn = true});
  CHECK(count_ops(m, "Clip") == 11);  // ReLU6 after the depthwise conv of 6 blocks and the expansion of 5
  CHECK(count_ops(m, "Add") == 3);     // stride 1 with equal widths: blocks 0, 2 and 4

  OnnxExportSummary s;
  to_onnx_model(*mobilenet, {}, &s);
  CHECK(s.params == mobilenet->parameter_count() + [&] {
    int64_t n = 0;
    for (auto& [name, t] : mobilenet->buffers()) n += t->numel();
    return n + 2 * 11;  // the running statistics, and Clip's two bounds per ReLU6
  }());
}

TEST_CASE("export_onnx: unknown modules, wrong inputs and unwritable paths are refused with their names") {
  nn::Sequential net;
  net.emplace<nn::Conv2d>(1, 4, 3);
  net.emplace<Doubler>();
  const std::string unknown = error_of(net);
  CHECK(unknown.find("Doubler") != std::string::npos);
  CHECK(unknown.find("'1'") != std::string::npos);

  SubSequential sub;  // a subclass may run another forward: not exported as its base
  sub.emplace<nn::Flatten>();
  CHECK(error_of(sub).find("SubSequential") != std::string::npos);

  auto model = models::make_model("ref-cnn");
  CHECK(error_of(*model, {.input_chw = {3, 28, 28}}).find("input channels") != std::string::npos);
  CHECK(error_of(*model, {.input_chw = {1, 28}}).find("input_chw") != std::string::npos);

  const hwtest::TempDir tmp("onnx_export_errors");
  const std::string missing = tmp.file("no-such-dir/model.onnx");
  try {
    export_onnx(*model, missing);
    FAIL("export_onnx wrote into a missing directory");
  } catch (const FileError& e) {
    CHECK(std::string(e.what()).find(missing) != std::string::npos);
  }
  CHECK(std::filesystem::is_empty(tmp.path));
}
