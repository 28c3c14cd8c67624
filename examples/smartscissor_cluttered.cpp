// SmartScissor's cropping half on Cluttered Fashion-MNIST: train the base classifier on the full
// canvas, measure Grad-CAM boxes against the ground truth at each threshold t, train the box
// predictor on Grad-CAM boxes, then compare dynamic image cropping (DIC; its classifier trains on
// the box predictor's crops of the training images, what it sees at inference) with resizing the
// whole canvas, both feeding the same classifier at the same lower resolution. Stages are saved in
// --out-dir and skipped when a rerun finds them. Pictures, in --out-dir: gradcam_boxes.png (test
// images with their Grad-CAM heat and boxes; --pictures-only draws just this from a finished run)
// and, with --budgets, accuracy_model.svg/.png (the fitted curves, the seed's Fig. 8). Budgets are
// MACs fractions of the base network (--budget-macs-fraction) or latencies met on this CPU
// (--budget-ms, --budget-latency-fraction), every policy's network measured at the end.
//   ./build/examples/smartscissor_cluttered --train 20000 --test 5000 --epochs 6 --out-dir ss-run --json
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <hwaware/core/atomic_file.hpp>
#include <hwaware/hw/analytic_predictor.hpp>
#include <hwaware/hw/device.hpp>
#include <hwaware/hw/measured_device.hpp>
#include <hwaware/report/image.hpp>
#include <hwaware/report/svg_plot.hpp>
#include <hwaware/smartscissor.hpp>
#include <hwaware/train/checkpoint.hpp>
#include <hwaware/train/trainer.hpp>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

using namespace hwaware;
using namespace hwaware::smartscissor;
namespace fs = std::filesystem;

namespace {

constexpr int kMaxRepeats = 10;

/// The rows each budget can compare DIC + compound shrinking with: DIC and another shrinking
/// rule, or the whole canvas (no crop) resized to the network's resolution with a rule
/// ("resize-only": resolution alone; canvas+depth and canvas+width keep the canvas's side).
const std::vector<std::string> kBaselines{"dic+depth",   "dic+width",    "dic+resolution", "dic+efficientnet",
                                          "resize-only", "canvas+depth", "canvas+width",   "canvas+efficientnet"};
/// The rows without --baselines: every DIC rule and resize-only.
const std::vector<std::string> kDefaultBaselines{kBaselines.begin(), kBaselines.begin() + 5};

struct Args {
  int64_t train = 20000, test = 5000, canvas = 64, box_side = 32;
  int epochs = 6, box_epochs = 10, threads = 2;
  int repeats = 1;  // trainings of every shrunk network from different seeds, their accuracies averaged (≤ kMaxRepeats)
  double width = 0.5, resolution = 0.5, t = 0.5, margin = 1.2;
  std::string t_arg = "0.5";  // a threshold, or "auto": the Table I sweep's best on training images
  std::string dic_train = "predicted";  // the boxes DIC classifiers train on: "predicted" or "gradcam"
  uint64_t seed = 1;
  std::string out_dir = "smartscissor-run";
  std::vector<double> budgets;  // fractions of the base network's MACs (box predictor included)
  std::vector<double> budget_ms, latency_fractions;  // latency budgets: ms, or of the base network's measured ms
  std::vector<std::string> baselines = kDefaultBaselines;  // rows besides dic+compound
  int64_t pictures = 12;        // test images drawn with their heat and boxes
  bool json = false, quiet = false, pictures_only = false;
};

/// Refuses bad arguments before any work (paths writable, numbers in range).
void validate(Args& a) {
  const auto bad = [](const std::string& what) { throw Error("smartscissor_cluttered: " + what); };
  if (a.train < 100 || a.test < 100) bad("--train and --test need at least 100 images each");
  if (a.canvas < 34) bad("--canvas must be at least 34 (the largest item is 28 × 1.2)");
  if (a.epochs < 1 || a.box_epochs < 1) bad("--epochs and --box-epochs must be >= 1");
  if (a.repeats < 1 || a.repeats > kMaxRepeats) bad("--repeats must be in [1, " + std::to_string(kMaxRepeats) + "]");
  if (!(a.width > 0 && a.width <= 4)) bad("--width must be in (0, 4]");
  if (!(a.resolution > 0 && a.resolution <= 1)) bad("--resolution must be in (0, 1]");
  if (a.t_arg != "auto") {
    size_t used = 0;
    try {
      a.t = std::stod(a.t_arg, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != a.t_arg.size() || !(a.t >= 0 && a.t <= 1)) bad("--t must be in [0, 1] or auto (got '" + a.t_arg + "')");
  }
  if (a.box_side < 8 || a.box_side > a.canvas) bad("--box-side must be in [8, canvas]");
  if (!(a.margin >= 1 && a.margin <= 2)) bad("--crop-margin must be in [1, 2]");
  if (a.dic_train != "predicted" && a.dic_train != "gradcam")
    bad("--dic-train-boxes must be predicted or gradcam (got '" + a.dic_train + "')");
  if (a.pictures < 0 || a.pictures > a.test) bad("--pictures must be in [0, --test]");
  if (a.pictures_only && a.pictures == 0) bad("--pictures-only needs --pictures > 0");
  for (double b : a.budgets)
    if (!(b > 0 && b < 1)) bad("--budgets are fractions of the base network's MACs in (0, 1) (got " + std::to_string(b) + ")");
  for (double b : a.budget_ms)
    if (!(std::isfinite(b) && b > 0)) bad("--budget-ms must be positive (got " + std::to_string(b) + ")");
  for (double b : a.latency_fractions)
    if (!(b > 0 && b < 1))
      bad("--budget-latency-fraction is a fraction of the base network's latency in (0, 1) (got " + std::to_string(b) + ")");
  if (a.baselines == std::vector<std::string>{"none"}) a.baselines.clear();
  std::string known;
  for (const std::string& b : kBaselines) known += (known.empty() ? "" : ", ") + b;
  std::set<std::string> seen;
  for (const std::string& b : a.baselines) {
    if (b == "none") bad("--baselines: none stands alone (got it among other rows)");
    if (std::find(kBaselines.begin(), kBaselines.end(), b) == kBaselines.end())
      bad("--baselines: unknown row '" + b + "' (none, or a list of " + known + ")");
    if (!seen.insert(b).second) bad("--baselines: '" + b + "' given twice");
  }
  ensure_writable_dir(a.out_dir, "smartscissor_cluttered: --out-dir");
}

/// Trains `net` on `train` with shuffling seed `seed` (or reloads it from --out-dir, where it is
/// saved as `name`); returns its test accuracy. Every network of the run goes through here, so a
/// rerun trains none twice.
double train_or_load(const Args& a, const std::string& name, nn::Module& net, const Dataset& train,
                     const Dataset& test, uint64_t seed) {
  const fs::path file = fs::path(a.out_dir) / (name + ".ckpt");
  if (fs::exists(file)) {
    train::load_model(file.string(), net);
  } else {
    TrainingOptions o;
    o.seed = seed;
    o.progress = !a.quiet;
    o.input_chw = {1, train.images.dim(2), train.images.dim(3)};
    const double secs = train_epochs(net, o, train, a.epochs, o.lr);
    std::cerr << name << ": trained " << a.epochs << " epochs in " << secs << " s\n";
    train::save_model(file.string(), net);
  }
  return train::evaluate(net, test).accuracy;
}

/// A classifier of the ResNet family, trained or reloaded.
double classifier(const Args& a, const std::string& name, models::ResNetShape shape, const Dataset& train,
                  const Dataset& test, std::unique_ptr<nn::Sequential>& net) {
  nn::manual_seed(a.seed);
  net = models::scalable_resnet(shape);
  return train_or_load(a, name, *net, train, test, a.seed);
}

Dataset with_images(const Dataset& d, Tensor images) { return Dataset{std::move(images), d.labels}; }

/// The first a.pictures test images, 3× larger, four per row, each with its Grad-CAM heat, the
/// Grad-CAM box at a.t (cyan), the box predictor's (red) and the true box (green):
/// <out-dir>/gradcam_boxes.png.
void draw_boxes(const Args& a, nn::Sequential& base, nn::Sequential& box_net, const BoxPredictorShape& shape,
                const ClutteredSet& test) {
  const int64_t n = a.pictures, side = test.data.images.dim(2), scale = 3, gap = 6, cols = std::min<int64_t>(4, n);
  const Tensor images = test.data.images.slice0(0, n).clone();
  const Tensor heat = gradcam_heat(base, images);
  const std::vector<Box> predicted = predict_boxes(box_net, shape, images);
  const int64_t rows = (n + cols - 1) / cols, tile = side * scale;
  report::RgbImage img(cols * (tile + gap) + gap, rows * (tile + gap) + gap, {255, 255, 255});
  std::vector<float> grey(size_t(side * side));
  for (int64_t i = 0; i < n; ++i) {
    const float* px = images.data() + i * side * side;
    const auto [lo, hi] = std::minmax_element(px, px + side * side);
    for (int64_t k = 0; k < side * side; ++k) grey[size_t(k)] = (px[k] - *lo) / std::max(1e-6f, *hi - *lo);
    const int64_t x = gap + (i % cols) * (tile + gap), y = gap + (i / cols) * (tile + gap);
    const float* h = heat.data() + i * side * side;
    img.blit_grey(grey.data(), side, side, x, y, scale);
    img.blend_heat(h, side, side, x, y, scale, 0.55);
    auto draw = [&](const Box& b, report::Rgb c) {
      img.outline({x + b.x0 * scale, y + b.y0 * scale, x + b.x1 * scale, y + b.y1 * scale}, c, 2);
    };
    draw(box_from_heat(h, side, side, a.t), {0, 220, 255});
    draw(predicted[size_t(i)], {255, 40, 40});
    draw(test.boxes[size_t(i)], {0, 200, 0});
  }
  const std::string path = (fs::path(a.out_dir) / "gradcam_boxes.png").string();
  report::write_png(path, img);
  std::cerr << "pictures: " << path << " (green: truth, cyan: Grad-CAM at t = " << a.t
            << ", red: box predictor)\n";
}

/// The seed's Fig. 8: each dimension's fitted accuracy A_s(M) over the MACs, with the points it
/// was fitted to: <out-dir>/accuracy_model.svg (and .png with gnuplot).
void draw_curves(const Args& a, const std::array<AccuracyCurve, 3>& curves, const nlohmann::json& fits) {
  static const char* colours[3] = {"#1f77b4", "#ff7f0e", "#2ca02c"};
  report::ScatterPlot plot{.title = "accuracy model (Eq. 3): test accuracy against MACs, per dimension",
                           .x = {.label = "MACs (fraction of the base network)"},
                           .y = {.label = "test accuracy (DIC inputs)"}, .diagonal = false, .band = 0,
                           .legend_bottom_right = true};  // the curves rise to the right
  for (size_t d = 0; d < 3; ++d) {
    const std::string name = dimension_name(kDimensions[d]);
    report::ScatterSeries curve{name + " (fitted)", colours[d], {}, true}, points{name, colours[d], {}};
    for (double f = 0.2; f <= 1.0 + 1e-9; f += 0.01) curve.points.push_back({f, curves[d].accuracy(f * curves[d].m0)});
    points.points.push_back({1.0, curves[d].a0});
    if (fits.contains("fit_points") && fits["fit_points"].contains(name))
      for (const auto& pt : fits["fit_points"][name])
        points.points.push_back({pt["macs"].get<double>() / curves[d].m0, pt["accuracy"].get<double>()});
    plot.series.push_back(std::move(curve));
    plot.series.push_back(std::move(points));
  }
  const std::string prefix = (fs::path(a.out_dir) / "accuracy_model").string();
  report::write_scatter_svg(prefix + ".svg", plot);
  report::write_scatter_gnuplot(prefix, plot);
  std::cerr << "pictures: " << prefix << ".svg\n";
}

/// What a rerun must not do again, kept in a JSON file of --out-dir (written atomically):
/// choices.json holds the choices a noisy device must not make twice (a latency fraction's budget
/// in ms, each row's scaling), accuracies.json each trained network's test accuracy (the networks
/// themselves are not kept in the repository, their figures are).
struct Choices {
  fs::path path;
  nlohmann::json j = nlohmann::json::object();
  explicit Choices(const std::string& dir, const char* file = "choices.json") : path(fs::path(dir) / file) {
    if (fs::exists(path)) j = nlohmann::json::parse(std::ifstream(path));
  }
  /// The value of `key`, made and written first when the file has none (memory changes only
  /// once the file is written).
  template <class F>
  nlohmann::json get(const std::string& key, F&& make) {
    if (!j.contains(key)) set(key, make());
    return j[key];
  }
  /// Replaces the value of `key` (written first, as get does).
  void set(const std::string& key, nlohmann::json value) {
    nlohmann::json next = j;
    next[key] = std::move(value);
    write(next);
  }
  void erase(const std::string& key) {
    if (!j.contains(key)) return;
    nlohmann::json next = j;
    next.erase(key);
    write(next);
  }

 private:
  void write(nlohmann::json& next) {
    write_file_atomically(path.string(), [&](std::ostream& out) { out << next.dump(1) << "\n"; });
    j = std::move(next);
  }
};

/// A network's test accuracy over --repeats trainings from different seeds: their mean, and each.
struct Accuracy {
  std::vector<double> each;
  double mean() const {
    double m = 0;
    for (double x : each) m += x / double(each.size());
    return m;
  }
};

/// What the budget stage needs from the stages before it.
struct Pipeline {
  const Args& a;
  const Dataset& train;
  const Dataset& test;
  std::vector<Box> train_boxes, test_boxes;  // the DIC classifiers' training crops (--dic-train-boxes), predicted boxes (test)
  int64_t box_macs = 0, base_macs = 0;
  ScalableFamily family;
  std::map<std::string, std::pair<Dataset, Dataset>> inputs;  // by "dic-<side>" / "resize-<side>"
  Choices recorded{a.out_dir, "accuracies.json"};              // test accuracy by network name

  const std::pair<Dataset, Dataset>& data(bool dic, int64_t side) {
    const std::string key = (dic ? "dic-" : "resize-") + std::to_string(side);
    auto it = inputs.find(key);
    if (it != inputs.end()) return it->second;
    auto make = [&](const Dataset& d, const std::vector<Box>& boxes) {
      return with_images(d, dic ? dynamic_crop(d.images, boxes, side, a.margin) : resize_batch(d.images, side, side));
    };
    return inputs.emplace(key, std::make_pair(make(train, train_boxes), make(test, test_boxes))).first->second;
  }
  int64_t side_of(const Scaling& s) const { return family.chw_at(s.resolution)[1]; }
  /// Training r of a network: r = 0 keeps its name and the run's seed (so a run with more repeats
  /// reuses it), r > 0 is "<name>.r<r+1>", initialised and shuffled from seed + 1000·r.
  static std::string repeat_name(const std::string& name, int r) {
    return r == 0 ? name : name + ".r" + std::to_string(r + 1);
  }
  uint64_t repeat_seed(int r) const { return a.seed + 1000 * uint64_t(r); }
  /// Drops what was trained under `name` for an earlier choice (every repeat's checkpoint and
  /// accuracy): a scaling's parameters fit every input size, so a stale checkpoint would load.
  void forget(const std::string& name) {
    for (int r = 0; r < kMaxRepeats; ++r) {
      fs::remove(fs::path(a.out_dir) / (repeat_name(name, r) + ".ckpt"));
      recorded.erase(repeat_name(name, r));
    }
  }
  int64_t macs_of(const Scaling& s) const { return int64_t(scaling_macs(family, s)); }

  /// The test accuracy of the network of a scaling on DIC or resized inputs over --repeats
  /// trainings, each recorded by an earlier run of this --out-dir or trained (or reloaded) and recorded.
  Accuracy accuracy(const std::string& name, const Scaling& s, bool dic) {
    Accuracy acc;
    for (int r = 0; r < a.repeats; ++r) {
      const std::string nm = repeat_name(name, r);
      acc.each.push_back(recorded.get(nm, [&] {
        const auto& [tr, te] = data(dic, side_of(s));
        nn::manual_seed(repeat_seed(r));
        auto net = family.make(s);
        return train_or_load(a, nm, *net, tr, te, repeat_seed(r));
      }).template get<double>());
    }
    return acc;
  }
};

/// Whether two recorded choices build the same network (same_network of the toolkit).
bool same_choice(const Pipeline& p, const nlohmann::json& x, const nlohmann::json& y) {
  if (!x.contains("depth") || !y.contains("depth")) return false;
  const auto scaling = [](const nlohmann::json& c) {
    return Scaling{double(c["depth"]), double(c["width"]), double(c["resolution"])};
  };
  return same_network(p.family, scaling(x), scaling(y));
}

/// Eq. 3 for each dimension from networks shrunk along it alone to 85/60/38/25% of the
/// classifier's MACs, on DIC inputs (the seed's ≤ 4, each the mean of --repeats trainings; a depth that cannot shrink
/// that far is left out): fractions apart from the budgets', so the budget rows test the model on
/// networks it was not fitted to.
std::array<AccuracyCurve, 3> fit_curves(Pipeline& p, double a0, nlohmann::json& report) {
  std::array<AccuracyCurve, 3> curves;
  const double m0 = double(p.base_macs);
  for (size_t d = 0; d < 3; ++d) {
    std::vector<AccuracyPoint> pts;
    std::set<int64_t> seen;
    for (double f : {0.85, 0.6, 0.38, 0.25}) {
      Scaling s;
      try {
        s = SingleDimension{kDimensions[d]}.choose(p.family, Budget::mac_count(f * m0));
      } catch (const InfeasibleBudget&) {
        continue;
      }
      const int64_t macs = p.macs_of(s);
      if (!seen.insert(macs).second) continue;
      const std::string name = std::string("fit-") + dimension_name(kDimensions[d]) + "-" + std::to_string(macs);
      const Accuracy acc = p.accuracy(name, s, true);
      pts.push_back({double(macs), acc.mean()});
      nlohmann::json pt{{"macs", macs}, {"accuracy", acc.mean()}};
      if (acc.each.size() > 1) pt["accuracies"] = acc.each;
      report["fit_points"][dimension_name(kDimensions[d])].push_back(pt);
    }
    curves[d] = fit_accuracy_curve(m0, a0, pts);
    std::cerr << "accuracy model, " << dimension_name(kDimensions[d]) << ": a " << curves[d].a << ", b "
              << curves[d].b << ", fit RMSE " << curves[d].rmse << " (" << pts.size() << " points)\n";
  }
  return curves;
}

/// The device latency budgets are met on (this CPU): the base network at the canvas is the drift
/// reference, the analytic model the predictor the meters bisect with, and what DIC and
/// resize-only spend besides the classifier, per image at batch 1, counts in every figure: the
/// box predictor (measured here) and the crop and resizes (timed, at the canvas side: an upper bound).
struct OnDevice {
  using Cpu = hw::OnednnCpuDevice;
  using Meter = DeviceMeter<hw::AnalyticPredictor, Cpu>;
  Cpu cpu;
  hw::MeasuredDevice<Cpu> md;
  hw::AnalyticPredictor analytic{hw::AcceleratorDesc::this_cpu()};
  double base_ms = 0, dic_extra_ms = 0, resize_extra_ms = 0;

  OnDevice(const Args& a, const ScalableFamily& family, nn::Module& box_net, const Tensor& images)
      : cpu(a.threads, 1), md(cpu, {}, family.base_chw, report::Log(!a.quiet)) {
    auto base = family.make(Scaling{});
    base_ms = md.measure_both(*base, *base).first;
    md.set_reference(std::move(base), base_ms);
    const double box_ms = md.measure_at(box_net, {1, a.box_side, a.box_side}).ms;
    const int64_t c = a.canvas;
    const double to_box = per_image_ms(images, [&](const Tensor& x) { return resize_batch(x, a.box_side, a.box_side); });
    const double crop = per_image_ms(images, [&](const Tensor& x) { return dynamic_crop(x, {Box{0, 0, c / 2, c / 2}}, c); });
    const double resize = per_image_ms(images, [&](const Tensor& x) { return resize_batch(x, c - 1, c - 1); });
    dic_extra_ms = box_ms + to_box + crop, resize_extra_ms = resize;
    std::fprintf(stderr, "device: base network %.4f ms; DIC adds %.4f ms (box predictor %.4f, resize %.4f, crop %.4f), "
                 "resize-only %.4f ms\n", base_ms, dic_extra_ms, box_ms, to_box, crop, resize_extra_ms);
  }
  Meter meter(bool dic) { return Meter(analytic, md, dic ? dic_extra_ms : resize_extra_ms); }

  /// Median (and range) of five drift-corrected figures of the network, with what the pipeline adds.
  nlohmann::json figure(const ScalableFamily& family, const Scaling& s, bool dic) {
    auto net = family.make(s);
    std::vector<double> ms;
    for (int i = 0; i < 5; ++i) ms.push_back(md.measure_at(*net, family.chw_at(s.resolution)).ms + (dic ? dic_extra_ms : resize_extra_ms));
    std::sort(ms.begin(), ms.end());
    return {{"measured_ms", ms[2]}, {"measured_range_ms", {ms.front(), ms.back()}}};
  }

  /// Median per-image time of f over 101 single images.
  template <class F>
  static double per_image_ms(const Tensor& images, F&& f) {
    std::vector<double> t;
    for (int64_t i = 0; i < 101; ++i) {
      const Tensor x = images.slice0(i % images.dim(0), i % images.dim(0) + 1);
      const auto t0 = std::chrono::steady_clock::now();
      const Tensor y = f(x);
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(t.begin(), t.begin() + 50, t.end());
    return t[50];
  }
};

/// Refuses an --out-dir whose networks were trained otherwise — on Grad-CAM boxes at another t,
/// on crops of another margin or of other boxes, on other data or epochs — since their checkpoints and recorded
/// accuracies would stand for this run's. An out-dir from before crop margins cropped without one.
void check_out_dir(const Args& a) {
  Choices c(a.out_dir);
  const bool before_margins = c.j.contains("t") && !c.j.contains("crop_margin");
  const bool before_predicted_crops = c.j.contains("t") && !c.j.contains("dic_train_boxes");
  const auto same = [&](const char* key, const nlohmann::json& now, const std::string& what) {
    const nlohmann::json was = c.get(key, [&] { return now; });
    if (was != now)
      throw Error("smartscissor_cluttered: " + a.out_dir + " holds networks trained " + what + " " + was.dump() +
                  ", this run asks " + now.dump() + ": use another --out-dir");
  };
  same("t", a.t, "on Grad-CAM boxes at t =");
  if (before_margins) c.get("crop_margin", [] { return 1.0; });
  same("crop_margin", a.margin, "on crops of margin");
  if (before_predicted_crops) c.get("dic_train_boxes", [] { return "gradcam"; });
  same("dic_train_boxes", a.dic_train, "on crops of the boxes");
  same("settings",
       {{"train", a.train}, {"test", a.test}, {"canvas", a.canvas}, {"epochs", a.epochs}, {"box_epochs", a.box_epochs},
        {"box_side", a.box_side}, {"width", a.width}, {"seed", a.seed}},
       "with the settings");
}

/// The curves as recorded with a compound choice: a, b and A0 per dimension.
nlohmann::json curves_json(const std::array<AccuracyCurve, 3>& curves) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& c : curves) j.push_back({c.a, c.b, c.a0});
  return j;
}

/// Whether two recorded curves agree (to 1e-9: the same accuracies fitted by another build).
bool same_curves(const nlohmann::json& x, const nlohmann::json& y) {
  if (!x.is_array() || !y.is_array() || x.size() != y.size()) return false;
  for (size_t d = 0; d < x.size(); ++d)
    for (size_t i = 0; i < 3; ++i)
      if (std::abs(x[d][i].get<double>() - y[d][i].get<double>()) > 1e-9) return false;
  return true;
}

/// The budget rows ask for: MACs fractions, then latencies (ms, or fractions of the base network's).
struct BudgetSpec {
  double value;
  bool latency;
  std::string name;  ///< of the trained networks: "70" (MACs %), "1.234ms", "lat45" (latency %)
};

std::vector<BudgetSpec> budget_specs(const Args& a, const OnDevice& dev, Choices& choices) {
  std::vector<BudgetSpec> b;
  for (double f : a.budgets) b.push_back({f, false, std::to_string(int(f * 100))});
  for (double m : a.budget_ms) {
    char name[32];
    std::snprintf(name, sizeof name, "%.3fms", m);
    b.push_back({m, true, name});
  }
  for (double f : a.latency_fractions) {
    const std::string name = "lat" + std::to_string(std::lround(f * 100));
    b.push_back({choices.get(name + "-budget-ms", [&] { return f * dev.base_ms; }).get<double>(), true, name});
  }
  return b;
}

/// One row per (budget, policy): DIC + compound shrinking, then each of --baselines (by default
/// DIC + each single dimension, DIC + EfficientNet's rule, and resize-only: the whole canvas at the
/// resolution that fits). MACs budgets count the box predictor's MACs in DIC rows; latency budgets
/// its measured time and the crop's. Every row's network is measured on the device.
nlohmann::json budget_rows(Pipeline& p, const std::array<AccuracyCurve, 3>& curves, OnDevice& dev) {
  nlohmann::json rows = nlohmann::json::array();
  Choices choices(p.a.out_dir);
  for (const BudgetSpec& spec : budget_specs(p.a, dev, choices)) {
    auto row = [&](const std::string& policy, const auto& shrinker, bool dic, const Budget& budget) {
      nlohmann::json r{{"budget", spec.value}, {"unit", spec.latency ? "ms" : "macs_fraction"}, {"policy", policy}};
      if (budget.unit == Budget::Unit::macs) r["budget_macs"] = budget.value;  // what the classifier may spend
      const std::string name = policy + "-" + spec.name;
      try {
        // Compound shrinking chooses from the fitted curves: curves fitted anew (e.g. to the means
        // of more repeats; a choice from before they were recorded counts as made from others)
        // make its choice anew. What was trained for another network is dropped before the new
        // choice is written, so a run stopped in between chooses again and drops again.
        const nlohmann::json made_from = policy == "dic+compound" ? curves_json(curves) : nlohmann::json();
        const nlohmann::json old = choices.j.contains(name) ? choices.j[name] : nlohmann::json();
        nlohmann::json c = old;
        if (old.is_null() || (!made_from.is_null() && !same_curves(old.value("curves", nlohmann::json()), made_from))) {
          try {
            const Scaling y = shrinker.choose(p.family, budget);
            c = {{"depth", y.depth}, {"width", y.width}, {"resolution", y.resolution}};
          } catch (const InfeasibleBudget& e) {
            c = {{"infeasible", e.what()}};
          }
          if (!made_from.is_null()) c["curves"] = made_from;
          if (!same_choice(p, old, c)) p.forget(name);
          choices.set(name, c);
        }
        if (c.contains("infeasible")) throw InfeasibleBudget(std::string(c["infeasible"]));
        const Scaling s{double(c["depth"]), double(c["width"]), double(c["resolution"])};
        const int64_t macs = p.macs_of(s) + (dic ? p.box_macs : 0);
        const Accuracy acc = p.accuracy(name, s, dic);
        r.update({{"depth", s.depth}, {"width", s.width}, {"resolution", p.side_of(s)}, {"macs", macs},
                  {"macs_fraction", double(macs) / double(p.base_macs)}, {"test_accuracy", acc.mean()}});
        if (acc.each.size() > 1) r["test_accuracies"] = acc.each;
        if (dic && policy != "dic+compound" && policy != "dic+efficientnet") {
          const size_t d = policy == "dic+depth" ? 0 : policy == "dic+width" ? 1 : 2;
          r["model_accuracy"] = curves[d].accuracy(double(p.macs_of(s)));
        }
        r.update(dev.figure(p.family, s, dic));
        if (spec.latency) r["met"] = double(r["measured_ms"]) <= spec.value;
      } catch (const InfeasibleBudget& e) {
        r["infeasible"] = e.what();
      }
      std::cerr << r.dump() << "\n";
      rows.push_back(r);
    };
    const auto policies = [&](auto meter_of, const Budget& with_box, const Budget& alone) {
      using M = decltype(meter_of(true));
      row("dic+compound", CompoundShrinking<M>{.curves = curves, .meter = meter_of(true)}, true, with_box);
      for (const std::string& b : p.a.baselines) {
        const bool dic = b.rfind("dic+", 0) == 0;
        const Budget& budget = dic ? with_box : alone;
        const std::string rule = b == "resize-only" ? "resolution" : b.substr(b.find('+') + 1);
        if (rule == "efficientnet") {
          row(b, EfficientNetRule<M>{.meter = meter_of(dic)}, dic, budget);
          continue;
        }
        const Dimension d = rule == "depth" ? Dimension::depth : rule == "width" ? Dimension::width : Dimension::resolution;
        row(b, SingleDimension<M>{.dimension = d, .meter = meter_of(dic)}, dic, budget);
      }
    };
    if (spec.latency) {
      // The meters take what the pipeline adds off the budget themselves.
      policies([&](bool dic) { return dev.meter(dic); }, Budget::latency(spec.value), Budget::latency(spec.value));
    } else {
      const double total = spec.value * double(p.base_macs);
      policies([](bool) { return MacsMeter{}; }, Budget::mac_count(total - double(p.box_macs)), Budget::mac_count(total));
    }
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"SmartScissor's dynamic image cropping on Cluttered Fashion-MNIST"};
  Args a;
  app.add_option("--train", a.train, "training images")->capture_default_str();
  app.add_option("--test", a.test, "test images")->capture_default_str();
  app.add_option("--canvas", a.canvas, "canvas side")->capture_default_str();
  app.add_option("--epochs", a.epochs, "epochs of every classifier")->capture_default_str();
  app.add_option("--box-epochs", a.box_epochs, "epochs of the box predictor")->capture_default_str();
  app.add_option("--box-side", a.box_side, "side the box predictor reads images at")->capture_default_str();
  app.add_option("--width", a.width, "width multiplier of the ResNet-20 classifier")->capture_default_str();
  app.add_option("--resolution", a.resolution, "classifier resolution for DIC vs resize-only")->capture_default_str();
  app.add_option("--t", a.t_arg,
                 "Grad-CAM threshold of the boxes the box predictor learns, or auto: the t of {0, 0.25, 0.5, 0.75} "
                 "whose boxes fit the first 2000 training images' true boxes best (the seed's Table I sweep; "
                 "the test set is not used)")
      ->capture_default_str();
  app.add_option("--crop-margin", a.margin,
                 "DIC crops each box's square grown by this factor about its centre (a margin round a box that cuts its object)")
      ->capture_default_str();
  app.add_option("--dic-train-boxes", a.dic_train,
                 "the boxes a DIC classifier's training crops come from: predicted (the box predictor's, as at "
                 "inference) or gradcam (the Grad-CAM boxes the box predictor learns)")
      ->capture_default_str();
  app.add_option("--seed", a.seed, "of the data, and of the first training of every network")->capture_default_str();
  app.add_option("--repeats", a.repeats,
                 "trainings of every network of the budget stage (fit points and rows) from different seeds; "
                 "their mean accuracy is what the model is fitted to and the rows report (a rerun with more "
                 "repeats reuses the trainings done, except a compound row whose network the new means change)")
      ->capture_default_str();
  app.add_option("--threads", a.threads)->capture_default_str();
  app.add_option("--out-dir", a.out_dir, "models and results; finished stages are reused")->capture_default_str();
  app.add_option("--budget-macs-fraction,--budgets", a.budgets,
                 "MACs budgets as fractions of the base network, e.g. 0.7,0.45,0.3")
      ->delimiter(',');
  app.add_option("--budget-ms", a.budget_ms, "latency budgets (ms, batch 1, measured on this CPU), e.g. 0.8,1.2")
      ->delimiter(',');
  app.add_option("--budget-latency-fraction", a.latency_fractions,
                 "latency budgets as fractions of the base network's latency measured here, e.g. 0.45")
      ->delimiter(',');
  app.add_option("--baselines", a.baselines,
                 "rows each budget compares DIC + compound shrinking with (none, or a list of dic+depth, "
                 "dic+width, dic+resolution, dic+efficientnet, resize-only, canvas+depth, canvas+width, "
                 "canvas+efficientnet; canvas+ rows read the whole canvas, no crop)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--pictures", a.pictures, "test images drawn with their Grad-CAM heat and boxes (0: none)")
      ->capture_default_str();
  app.add_flag("--pictures-only", a.pictures_only,
               "only draw the pictures, from the base network and box predictor a finished run left in --out-dir");
  app.add_flag("--json", a.json, "print one JSON line at the end");
  app.add_flag("--quiet", a.quiet, "no progress bars");
  CLI11_PARSE(app, argc, argv);
  try {
    validate(a);
    onednn::set_num_threads(a.threads);
    const fs::path dir(a.out_dir);
    ClutteredOptions co;
    co.canvas = a.canvas;
    co.seed = a.seed;
    const ClutteredFashionMnist data = load_cluttered_fashion_mnist(co, a.train, a.test);
    const Dataset& train = data.train.data;
    const Dataset& test = data.test.data;
    const models::ResNetShape base_shape{.blocks = 3, .width = a.width};

    if (a.pictures_only)
      for (const char* f : {"base.ckpt", "box.ckpt"})
        if (!fs::exists(dir / f))
          throw Error("smartscissor_cluttered: --pictures-only draws from a finished run; " + (dir / f).string() +
                      " is missing");
    // 1. the base classifier on the full canvas
    std::unique_ptr<nn::Sequential> base;
    const double base_acc = classifier(a, "base", base_shape, train, test, base);
    const int64_t base_macs = nn::total_macs(base->describe({1, a.canvas, a.canvas}));
    std::cerr << "base ResNet-20 x" << a.width << " at " << a.canvas << "px: " << base_macs / 1e6
              << " MMACs, test accuracy " << base_acc << "\n";

    if (a.pictures_only) {
      if (const Choices c(a.out_dir); c.j.contains("t")) a.t = c.j["t"];  // the run's t, for the cyan boxes
      const BoxPredictorShape box_shape{.side = a.box_side};
      auto box_net = make_box_predictor(box_shape);
      train::load_model((dir / "box.ckpt").string(), *box_net);
      draw_boxes(a, *base, *box_net, box_shape, data.test);
      return 0;
    }
    // 2. Grad-CAM boxes against the ground truth, per threshold: on the test set (reported) and,
    // for --t auto, on training images (where t is chosen)
    nlohmann::json cam_iou, cam_iou_train;
    const int64_t n_sweep = std::min<int64_t>(2000, train.size());
    const Dataset sweep{train.images.slice0(0, n_sweep), train.labels.slice0(0, n_sweep)};
    const std::vector<Box> sweep_truth(data.train.boxes.begin(), data.train.boxes.begin() + n_sweep);
    double best_train_iou = -1;
    for (double t : {0.0, 0.25, 0.5, 0.75}) {
      const std::string key = std::to_string(t).substr(0, 4);
      cam_iou[key] = mean_iou(gradcam_boxes(*base, test, t), data.test.boxes);
      std::cerr << "Grad-CAM t = " << t << ": mean IoU " << cam_iou[key] << " (test)";
      if (a.t_arg == "auto") {
        const double train_iou = mean_iou(gradcam_boxes(*base, sweep, t), sweep_truth);
        cam_iou_train[key] = train_iou;
        std::cerr << ", " << train_iou << " (first " << n_sweep << " training images)";
        if (train_iou > best_train_iou) best_train_iou = train_iou, a.t = t;
      }
      std::cerr << "\n";
    }
    if (a.t_arg == "auto") std::cerr << "Grad-CAM threshold chosen on training images: t = " << a.t << "\n";
    check_out_dir(a);

    // 3. the box predictor, trained on Grad-CAM boxes of the training set
    const BoxPredictorShape box_shape{.side = a.box_side};
    nn::manual_seed(a.seed);
    auto box_net = make_box_predictor(box_shape);
    // Grad-CAM boxes of the training set: needed to train the box predictor, or for crops of them.
    std::optional<std::vector<Box>> cam;
    const auto train_cam = [&]() -> const std::vector<Box>& {
      if (!cam) cam = gradcam_boxes(*base, train, a.t);
      return *cam;
    };
    if (fs::exists(dir / "box.ckpt")) {
      train::load_model((dir / "box.ckpt").string(), *box_net);
    } else {
      const auto loss = train_box_predictor(*box_net, box_shape, train.images, train_cam(),
                                            {.epochs = a.box_epochs, .seed = a.seed});
      std::cerr << "box predictor loss " << loss.front() << " -> " << loss.back() << "\n";
      train::save_model((dir / "box.ckpt").string(), *box_net);
    }
    const std::vector<Box> test_pred = predict_boxes(*box_net, box_shape, test.images);
    // What a DIC classifier trains on: by default the crops it will see, the box predictor's
    // boxes of the training images (the Grad-CAM boxes it learned from are tighter than its own
    // and cut items in other ways; see decisions.md).
    const std::vector<Box> train_dic =
        a.dic_train == "predicted" ? predict_boxes(*box_net, box_shape, train.images) : train_cam();
    if (a.pictures > 0) draw_boxes(a, *base, *box_net, box_shape, data.test);
    const double box_iou = mean_iou(test_pred, data.test.boxes);
    const int64_t box_macs = nn::total_macs(box_net->describe({1, a.box_side, a.box_side}));

    // 4. DIC vs resize-only at the same classifier resolution
    const int64_t side = std::max<int64_t>(8, std::llround(a.resolution * double(a.canvas)));
    std::unique_ptr<nn::Sequential> small_resize, small_dic;
    const double resize_acc = classifier(a, "resize-" + std::to_string(side), base_shape,
                                         with_images(train, resize_batch(train.images, side, side)),
                                         with_images(test, resize_batch(test.images, side, side)), small_resize);
    const double dic_acc = classifier(a, "dic-" + std::to_string(side), base_shape,
                                      with_images(train, dynamic_crop(train.images, train_dic, side, a.margin)),
                                      with_images(test, dynamic_crop(test.images, test_pred, side, a.margin)), small_dic);
    const int64_t small_macs = nn::total_macs(small_resize->describe({1, side, side}));

    std::printf("\n| network | input | MMACs | of base | test accuracy |\n|---|---|---|---|---|\n");
    std::printf("| base | %lld px canvas | %.2f | 100%% | %.4f |\n", (long long)a.canvas, base_macs / 1e6, base_acc);
    std::printf("| resize-only | %lld px | %.2f | %.1f%% | %.4f |\n", (long long)side, small_macs / 1e6,
                100.0 * double(small_macs) / double(base_macs), resize_acc);
    std::printf("| DIC (box predictor + crop) | %lld px | %.2f | %.1f%% | %.4f |\n", (long long)side,
                (small_macs + box_macs) / 1e6, 100.0 * double(small_macs + box_macs) / double(base_macs), dic_acc);
    std::printf("box predictor: %.3f MMACs (%.2f%% of base), %lld params, mean IoU with the truth %.3f\n",
                box_macs / 1e6, 100.0 * double(box_macs) / double(base_macs), (long long)box_net->parameter_count(),
                box_iou);
    std::printf("Grad-CAM mean IoU with the truth by threshold t: %s\n", cam_iou.dump().c_str());
    nlohmann::json j{{"canvas", a.canvas}, {"train", a.train}, {"test", a.test}, {"epochs", a.epochs},
                     {"width", a.width}, {"base_accuracy", base_acc}, {"base_macs", base_macs},
                     {"gradcam_iou", cam_iou}, {"t", a.t}, {"crop_margin", a.margin},
                     {"dic_train_boxes", a.dic_train}, {"box_iou", box_iou}, {"box_macs", box_macs},
                     {"box_params", box_net->parameter_count()}, {"resolution", side},
                     {"resize_only_accuracy", resize_acc}, {"dic_accuracy", dic_acc},
                     {"classifier_macs", small_macs}};
    if (!a.budgets.empty() || !a.budget_ms.empty() || !a.latency_fractions.empty()) {
      // 5. the accuracy model on DIC inputs, then every Shrinker policy at each budget, each
      // network measured on this CPU
      Pipeline p{a, train, test, train_dic, test_pred, box_macs, base_macs, resnet_family(base_shape, a.canvas), {}};
      OnDevice dev(a, p.family, *box_net, test.images);
      j["base_ms"] = dev.base_ms, j["dic_extra_ms"] = dev.dic_extra_ms, j["resize_extra_ms"] = dev.resize_extra_ms;
      const Accuracy base_dic = p.accuracy("base-dic", Scaling{}, true);  // the anchor: full size on DIC crops
      const double a0 = base_dic.mean();
      j["base_dic_accuracy"] = a0;
      if (a.repeats > 1) j["base_dic_accuracies"] = base_dic.each, j["repeats"] = a.repeats;
      nlohmann::json fits;
      const auto curves = fit_curves(p, a0, fits);
      draw_curves(a, curves, fits);
      j["accuracy_model"] = fits;
      for (size_t d = 0; d < 3; ++d) j["estimator_rmse"][dimension_name(kDimensions[d])] = curves[d].rmse;
      j["rows"] = budget_rows(p, curves, dev);
      // The model on the networks it was not fitted to: the single-dimension DIC rows, each network
      // once, none that is a fit point (depth has only two shallower networks). Those below their
      // dimension's lowest fit point are extrapolations, reported apart and flagged in their row.
      double se = 0, se_out = 0;
      int n = 0, n_out = 0;
      std::set<std::pair<std::string, int64_t>> seen;
      std::map<std::string, int64_t> lowest;
      for (const auto& d : fits["fit_points"].items())
        for (const auto& pt : d.value()) {
          seen.insert({"dic+" + d.key(), pt["macs"].get<int64_t>()});
          const int64_t m = pt["macs"].get<int64_t>();
          if (!lowest.count("dic+" + d.key()) || m < lowest["dic+" + d.key()]) lowest["dic+" + d.key()] = m;
        }
      for (auto& r : j["rows"]) {
        if (!r.contains("model_accuracy")) continue;
        const std::string policy = r["policy"];
        const int64_t macs = r["macs"].get<int64_t>() - box_macs;
        const bool outside = !lowest.count(policy) || macs < lowest[policy];
        if (outside) r["model_extrapolated"] = true;
        if (!seen.insert({policy, macs}).second) continue;
        (outside ? se_out : se) += std::pow(double(r["model_accuracy"]) - double(r["test_accuracy"]), 2);
        ++(outside ? n_out : n);
      }
      if (n > 0) j["estimator_rmse_held_out"] = std::sqrt(se / n);
      j["estimator_held_out_networks"] = n;
      if (n_out > 0) j["estimator_rmse_extrapolated"] = std::sqrt(se_out / n_out);
      j["estimator_extrapolated_networks"] = n_out;
    }
    if (!cam_iou_train.is_null()) j["gradcam_iou_train"] = cam_iou_train;
    if (a.json) std::cout << j.dump() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
