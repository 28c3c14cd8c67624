// How much of what cropping can give DIC's boxes reach, from a finished smartscissor_cluttered
// run (its base.ckpt and box.ckpt; its choices.json's t, margin and settings are the defaults):
// the IoU of Grad-CAM and predicted boxes against the truth beside that of the true boxes'
// enclosing squares (DIC crops squares), how much of each item the DIC crop keeps, and — with
// --train — the accuracy of a classifier trained and tested on crops of the true boxes (a
// ceiling: the truth never trains anything in SmartScissor itself), of the predicted boxes, of the
// Grad-CAM boxes (test crops predicted, as DIC runs), or on the resized canvas.
//   ./build/benchmarks/dic_ceiling --models <out-dir> --train-crops truth,predicted --side 32
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <hwaware/smartscissor.hpp>
#include <hwaware/train/checkpoint.hpp>
#include <hwaware/train/trainer.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

using namespace hwaware;
using namespace hwaware::smartscissor;

namespace {

/// Of the crops (boxes widened by `margin`): the share holding the whole item, the mean share of
/// the item's box they keep, and the mean crop side over the item's longer side.
nlohmann::json coverage(const std::vector<Box>& boxes, const std::vector<Box>& truth, double margin, int64_t side) {
  double whole = 0, kept = 0, scale = 0;
  for (size_t i = 0; i < boxes.size(); ++i) {
    const Box w = widen_box(boxes[i], margin, side, side), &t = truth[i];
    whole += w.x0 <= t.x0 && w.y0 <= t.y0 && w.x1 >= t.x1 && w.y1 >= t.y1;
    const int64_t ix = std::max<int64_t>(0, std::min(w.x1, t.x1) - std::max(w.x0, t.x0));
    const int64_t iy = std::max<int64_t>(0, std::min(w.y1, t.y1) - std::max(w.y0, t.y0));
    kept += double(ix * iy) / double(t.width() * t.height());
    scale += double(w.width()) / double(std::max(t.width(), t.height()));
  }
  const double n = double(boxes.size());
  return {{"margin", margin}, {"whole_item", whole / n}, {"item_kept", kept / n}, {"crop_over_item", scale / n}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"DIC's boxes against what crops of the true boxes give (Cluttered Fashion-MNIST)"};
  std::string models;
  int64_t train_n = 10000, test_n = 10000, canvas = 64, side = 32, box_side = 32;
  double t = 0.75, margin = 1.2, width = 0.5;
  int epochs = 5, threads = 2;
  uint64_t seed = 1;
  std::vector<std::string> crops;
  app.add_option("--models", models, "a smartscissor_cluttered --out-dir holding base.ckpt and box.ckpt")->required();
  app.add_option("--train", train_n)->capture_default_str();
  app.add_option("--test", test_n)->capture_default_str();
  app.add_option("--canvas", canvas)->capture_default_str();
  app.add_option("--box-side", box_side)->capture_default_str();
  app.add_option("--width", width, "the run's classifier width")->capture_default_str();
  app.add_option("--seed", seed, "the run's data seed")->capture_default_str();
  app.add_option("--t", t, "the run's Grad-CAM threshold")->capture_default_str();
  app.add_option("--crop-margin", margin)->capture_default_str();
  app.add_option("--side", side, "classifier input side for --train-crops")->capture_default_str();
  app.add_option("--epochs", epochs)->capture_default_str();
  app.add_option("--train-crops", crops, "train a classifier on each: truth, predicted, gradcam, resize")->delimiter(',');
  app.add_option("--threads", threads)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    // The run's own settings, unless given here.
    if (const auto file = std::filesystem::path(models) / "choices.json"; std::filesystem::exists(file)) {
      const nlohmann::json c = nlohmann::json::parse(std::ifstream(file));
      const auto take = [&](const char* flag, const nlohmann::json& j, const char* key, auto& v) {
        if (!app.count(flag) && j.contains(key)) v = j[key].get<std::decay_t<decltype(v)>>();
      };
      take("--t", c, "t", t);
      take("--crop-margin", c, "crop_margin", margin);
      if (c.contains("settings")) {
        const auto& st = c["settings"];
        take("--train", st, "train", train_n), take("--test", st, "test", test_n), take("--canvas", st, "canvas", canvas);
        take("--width", st, "width", width), take("--seed", st, "seed", seed), take("--box-side", st, "box_side", box_side);
      }
    }
    const auto bad = [](const std::string& what) { throw Error("dic_ceiling: " + what); };
    if (train_n < 1 || test_n < 1 || epochs < 1 || threads < 1) bad("--train, --test, --epochs and --threads must be >= 1");
    if (side < 8 || side > canvas) bad("--side must be in [8, canvas]");
    if (!(margin >= 1 && margin <= 2)) bad("--crop-margin must be in [1, 2]");
    std::set<std::string> kinds;
    for (const auto& c : crops) {
      if (c != "truth" && c != "predicted" && c != "gradcam" && c != "resize")
        bad("--train-crops takes truth, predicted, gradcam or resize (got '" + c + "')");
      if (!kinds.insert(c).second) bad("--train-crops names '" + c + "' twice");
    }
    onednn::set_num_threads(threads);
    ClutteredOptions co;
    co.canvas = canvas, co.seed = seed;
    const ClutteredFashionMnist data = load_cluttered_fashion_mnist(co, train_n, test_n);
    const models::ResNetShape shape{.blocks = 3, .width = width};
    auto base = models::scalable_resnet(shape);
    train::load_model((std::filesystem::path(models) / "base.ckpt").string(), *base);
    const BoxPredictorShape box_shape{.side = box_side};
    auto box_net = make_box_predictor(box_shape);
    train::load_model((std::filesystem::path(models) / "box.ckpt").string(), *box_net);

    const auto& truth = data.test.boxes;
    std::vector<Box> square_truth;
    for (const Box& b : truth) square_truth.push_back(square_inside(b, canvas, canvas));
    const std::vector<Box> cam = gradcam_boxes(*base, data.test.data, t);
    const std::vector<Box> predicted = predict_boxes(*box_net, box_shape, data.test.data.images);
    nlohmann::json j{{"square_truth_iou", mean_iou(square_truth, truth)}, {"gradcam_iou", mean_iou(cam, truth)},
                     {"predicted_iou", mean_iou(predicted, truth)}};
    for (double m : {1.0, 1.2, 1.4, 1.6}) j["predicted_crops"].push_back(coverage(predicted, truth, m, canvas));
    std::cerr << j.dump() << "\n";

    for (const std::string& kind : crops) {
      std::vector<Box> train_boxes;
      if (kind == "truth") train_boxes = data.train.boxes;
      if (kind == "predicted") train_boxes = predict_boxes(*box_net, box_shape, data.train.data.images);
      if (kind == "gradcam") train_boxes = gradcam_boxes(*base, data.train.data, t);
      const auto input = [&](const Tensor& images, const std::vector<Box>& boxes) {
        return kind == "resize" ? resize_batch(images, side, side) : dynamic_crop(images, boxes, side, margin);
      };
      const Dataset tr{input(data.train.data.images, train_boxes), data.train.data.labels};
      const Dataset te{input(data.test.data.images, kind == "truth" ? truth : predicted), data.test.data.labels};
      nn::manual_seed(seed);
      auto net = models::scalable_resnet(shape);
      TrainingOptions o;
      o.seed = seed, o.progress = false, o.input_chw = {1, side, side};
      train_epochs(*net, o, tr, epochs, o.lr);
      const double acc = train::evaluate(*net, te).accuracy;
      j["accuracy"][kind] = acc;
      std::cerr << kind << " crops at " << side << " px: test accuracy " << acc << "\n";
    }
    j["side"] = side, j["crop_margin"] = margin, j["epochs"] = epochs, j["t"] = t;
    std::cout << j.dump() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
