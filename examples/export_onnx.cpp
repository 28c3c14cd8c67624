// Export a zoo network, or one saved in a checkpoint, as an ONNX file for a deployment runtime.
//   ./build/examples/export_onnx --model resnet-8 --out resnet-8.onnx --fold-bn
//   ./build/examples/export_onnx --checkpoint train.ckpt --out model.onnx    (train_fashion's)
//   ./build/examples/export_onnx --checkpoint lightnas-run/lightnas.ckpt --out searched.onnx
// A checkpoint holds tensors, not a network: train_fashion's records the zoo name (not the width),
// lightnas_fashion's the architecture; others (ZeroBN's run state, smartscissor_cluttered's
// networks) record none, so --model (with --width, --channels, --blocks or --architecture as
// trained) says what to build before the weights are loaded.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <hwaware/export/onnx.hpp>
#include <hwaware/methods/lightnas/search_space.hpp>
#include <hwaware/models/zoo.hpp>
#include <hwaware/train/checkpoint.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace hwaware;
namespace fs = std::filesystem;

namespace {

/// The ResNet family SmartScissor shrinks, beside the zoo (its checkpoints need --blocks, --width).
constexpr const char* kScalableResnet = "scalable-resnet";
/// An architecture of LightNAS's default search space (needs --architecture, its 12-digit key).
constexpr const char* kLightnas = "lightnas";

struct Args {
  std::string model, checkpoint, out, input_chw = "1,28,28", architecture;
  double width = 1.0;
  std::vector<int64_t> channels;
  int64_t blocks = 3, stem_stride = 2;
  bool fold_bn = false, json = false;
};

std::string model_choices() {
  std::string s;
  for (const auto& n : models::model_names()) s += n + ", ";
  return s + kScalableResnet + ", " + kLightnas;
}

Shape parse_chw(const std::string& text) {
  Shape chw;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < 1 || v > 4096)
      throw Error("--input-chw: '" + item + "' is not a size in [1, 4096] (expected C,H,W such as 1,28,28)");
    chw.push_back(v);
  }
  if (chw.size() != 3) throw Error("--input-chw needs three sizes C,H,W (got '" + text + "')");
  return chw;
}

/// Every argument checked, the output's directory included, before any network is built.
void validate(Args& a) {
  if (a.model.empty() && a.checkpoint.empty()) throw Error("give --model NAME or --checkpoint FILE (or both)");
  if (!a.model.empty()) {
    const auto names = models::model_names();
    if (a.model != kScalableResnet && a.model != kLightnas && std::find(names.begin(), names.end(), a.model) == names.end())
      throw Error("unknown model '" + a.model + "' (choose " + model_choices() + ")");
  }
  if (a.model == kLightnas && a.architecture.empty())
    throw Error("--model lightnas needs --architecture KEY (one op digit per layer, as lightnas_fashion reports it)");
  if (!a.architecture.empty()) {
    if (a.model != kLightnas) throw Error("--architecture goes with --model lightnas");
    if (parse_chw(a.input_chw) != Shape{1, 28, 28}) throw Error("--model lightnas builds the 1×28×28 search space");
    lightnas::architecture_from_key(lightnas::SearchSpace{}, a.architecture);  // names a bad key's layer
  }
  parse_chw(a.input_chw);
  if (!(a.width > 0 && a.width <= 16)) throw Error("--width must be in (0, 16] (got " + std::to_string(a.width) + ")");
  if (a.blocks < 1 || a.blocks > 64) throw Error("--blocks must be in [1, 64]");
  if (a.stem_stride < 1 || a.stem_stride > 8) throw Error("--stem-stride must be in [1, 8]");
  for (int64_t c : a.channels)
    if (c < 1 || c > 65536) throw Error("--channels: " + std::to_string(c) + " is not a width in [1, 65536]");
  if (!a.checkpoint.empty() && !fs::is_regular_file(a.checkpoint))
    throw Error("--checkpoint '" + a.checkpoint + "' is not a readable file");
  AtomicFile(a.out).discard();  // throws FileError naming --out when its directory takes no new file
}

std::unique_ptr<nn::Module> build(const Args& a) {
  if (a.model == kLightnas) {
    const lightnas::SearchSpace space;
    return space.build(lightnas::architecture_from_key(space, a.architecture));
  }
  if (a.model == kScalableResnet) {
    const Shape chw = parse_chw(a.input_chw);
    return models::scalable_resnet({.blocks = a.blocks, .width = a.width, .stem_stride = a.stem_stride,
                                    .in_channels = chw[0]});
  }
  return models::make_model(a.model, {.width = a.width, .channels = a.channels, .in_channels = parse_chw(a.input_chw)[0]});
}

/// Loads the network's parameters and BN statistics, named as the module names them, with the
/// "model." prefix of a training checkpoint or without (a checkpoint of the network alone).
void load_weights(const Checkpoint& ckpt, nn::Module& net) {
  std::string prefix;
  const auto params = net.parameters();
  for (const auto& [name, t] : ckpt.tensors)
    if (!params.empty() && name == "model." + params.front().first) prefix = "model.";
  std::vector<std::pair<std::string, Tensor*>> targets;
  for (auto& [name, v] : net.parameters()) targets.emplace_back(prefix + name, &v->value());
  for (auto& [name, t] : net.buffers()) targets.emplace_back(prefix + name, t);
  restore_into(ckpt, targets);
}

std::unique_ptr<nn::Module> network(Args& a) {
  if (a.checkpoint.empty()) return build(a);
  const Checkpoint ckpt = load_checkpoint(a.checkpoint);
  if (a.model.empty()) {
    if (!ckpt.meta.is_object() || !ckpt.meta.contains("model") || !ckpt.meta["model"].is_string())
      throw Error("'" + a.checkpoint + "' does not record its architecture: pass --model NAME (" + model_choices() +
                  ") with the --width, --channels or --blocks it was built with");
    a.model = ckpt.meta["model"].get<std::string>();
    if (a.model == kLightnas && a.architecture.empty() && ckpt.meta.contains("architecture"))
      a.architecture = ckpt.meta["architecture"].get<std::string>();
    validate(a);
  }
  auto net = build(a);
  try {
    load_weights(ckpt, *net);
  } catch (const Error& e) {
    throw Error("'" + a.checkpoint + "' does not fit " + a.model + " at width " + std::to_string(a.width) +
                (a.architecture.empty() ? "" : ", architecture " + a.architecture) +
                " (pass the --width, --channels, --blocks or --architecture it was trained with): " + e.what());
  }
  return net;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Export a hwaware network as an ONNX file"};
  Args a;
  app.add_option("--model", a.model, "zoo name (" + model_choices() + "); optional with a checkpoint that records it");
  app.add_option("--checkpoint", a.checkpoint, "load the weights from this checkpoint (train_fashion's, or a network's own)");
  app.add_option("--out", a.out, "the ONNX file to write")->required();
  app.add_flag("--fold-bn", a.fold_bn, "fold each BN into the conv before it (default: BatchNormalization nodes)");
  app.add_option("--input-chw", a.input_chw, "per-image input shape C,H,W (the batch stays symbolic)")->capture_default_str();
  app.add_option("--width", a.width, "width multiplier the network was built with")->capture_default_str();
  app.add_option("--channels", a.channels, "explicit per-layer widths of a zoo model (a pruned network)")->delimiter(',');
  app.add_option("--blocks", a.blocks, "scalable-resnet: basic blocks per stage")->capture_default_str();
  app.add_option("--stem-stride", a.stem_stride, "scalable-resnet: the stem's stride")->capture_default_str();
  app.add_option("--architecture", a.architecture, "lightnas: the architecture's key (one op digit per layer)");
  app.add_flag("--json", a.json, "print one JSON summary line");
  CLI11_PARSE(app, argc, argv);
  try {
    validate(a);
    const Shape chw = parse_chw(a.input_chw);
    auto net = network(a);
    const OnnxExportSummary s = export_onnx(*net, a.out, {.input_chw = chw, .fold_bn = a.fold_bn});
    std::cout << "wrote " << a.out << ": " << a.model << ", " << s.nodes << " nodes, " << s.params << " parameters, "
              << s.bytes << " bytes, BN " << (a.fold_bn ? "folded" : "kept") << ", input [batch, " << chw[0] << ", "
              << chw[1] << ", " << chw[2] << "]\n";
    if (a.json)
      std::cout << nlohmann::json{{"model", a.model}, {"out", a.out}, {"nodes", s.nodes}, {"params", s.params},
                                  {"bytes", s.bytes}, {"fold_bn", a.fold_bn}, {"input_chw", chw}}.dump()
                << "\n";
  } catch (const std::exception& e) {
    std::cerr << "export_onnx: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
