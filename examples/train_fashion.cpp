// Train a zoo model on Fashion-MNIST, report test accuracy, checkpoint every epoch, resume.
//   ./build/examples/train_fashion --model ref-cnn --epochs 5 --json
#include <CLI/CLI.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <hwaware/core/arguments.hpp>
#include <hwaware/core/atomic_file.hpp>
#include <hwaware/hwaware.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

using namespace hwaware;

namespace {

struct Args {
  std::string model = "ref-cnn", schedule = "cosine", checkpoint, optimizer = "sgd";
  int epochs = 5, threads = 2, warmup_epochs = 0;
  int64_t batch = 128, train_limit = -1;
  float lr = 0.05f, momentum = 0.9f, weight_decay = 5e-4f, smoothing = 0.f;
  double width = 1.0;
  uint64_t seed = 1;
  bool augment = false, resume = false, json = false, nesterov = false, quiet = false;
};

/// Refuses bad arguments before any data is loaded: names, numbers in range, the checkpoint's
/// directory writable (an unwritable one would fail only after the first epoch).
void validate(const Args& a) {
  check_arg("--model", [&] { models::default_channels(a.model); });
  require_arg(a.width > 0 && a.width <= 16, "--width", "in (0, 16]", a.width);
  require_arg(a.epochs >= 1, "--epochs", "at least 1", a.epochs);
  require_arg(a.batch >= 1 && a.batch <= 65536, "--batch", "in [1, 65536]", a.batch);
  if (a.optimizer != "sgd" && a.optimizer != "adamw")
    throw Error("--optimizer: unknown optimizer '" + a.optimizer + "' (sgd or adamw)");
  require_arg(a.lr > 0 && a.lr <= 10, "--lr", "in (0, 10]", a.lr);
  require_arg(a.momentum >= 0 && a.momentum < 1, "--momentum", "in [0, 1)", a.momentum);
  require_arg(a.weight_decay >= 0 && a.weight_decay < 1, "--weight-decay", "in [0, 1)", a.weight_decay);
  check_arg("--schedule", [&] { optim::parse_schedule(a.schedule); });
  require_arg(a.warmup_epochs >= 0 && a.warmup_epochs < a.epochs, "--warmup-epochs",
          "in [0, " + std::to_string(a.epochs) + ") (fewer than --epochs)", a.warmup_epochs);
  require_arg(a.smoothing >= 0 && a.smoothing < 1, "--label-smoothing", "in [0, 1)", a.smoothing);
  require_arg(a.threads >= 1 && a.threads <= 1024, "--threads", "in [1, 1024]", a.threads);
  require_arg(a.train_limit == -1 || a.train_limit >= 1, "--train-limit", "-1 (all) or at least 1", a.train_limit);
  if (a.resume && a.checkpoint.empty()) throw Error("--resume needs --checkpoint PATH");
  if (a.checkpoint.empty()) return;
  if (a.resume && std::filesystem::exists(a.checkpoint) && !std::ifstream(a.checkpoint))
    throw Error("--checkpoint '" + a.checkpoint + "' cannot be read to resume from");
  ensure_writable_parent(a.checkpoint, "--checkpoint");
}

void add_options(CLI::App& app, Args& a) {
  app.add_option("--model", a.model, "ref-cnn | vgg-small | resnet-8 | mobilenetv2-tiny")->capture_default_str();
  app.add_option("--width", a.width, "width multiplier")->capture_default_str();
  app.add_option("--epochs", a.epochs)->capture_default_str();
  app.add_option("--batch", a.batch)->capture_default_str();
  app.add_option("--optimizer", a.optimizer, "sgd | adamw")->capture_default_str();
  app.add_option("--lr", a.lr)->capture_default_str();
  app.add_option("--momentum", a.momentum)->capture_default_str();
  app.add_flag("--nesterov", a.nesterov);
  app.add_option("--weight-decay", a.weight_decay)->capture_default_str();
  app.add_option("--schedule", a.schedule, "constant | step | cosine")->capture_default_str();
  app.add_option("--warmup-epochs", a.warmup_epochs)->capture_default_str();
  app.add_option("--label-smoothing", a.smoothing)->capture_default_str();
  app.add_flag("--augment", a.augment, "random crop (pad 2) and horizontal flip");
  app.add_option("--seed", a.seed)->capture_default_str();
  app.add_option("--threads", a.threads)->capture_default_str();
  app.add_option("--train-limit", a.train_limit, "use only the first N training images (smoke runs)");
  app.add_option("--checkpoint", a.checkpoint, "save the run state here after every epoch");
  app.add_flag("--resume", a.resume, "continue from --checkpoint");
  app.add_flag("--json", a.json, "print one JSON summary line at the end");
  app.add_flag("--quiet", a.quiet, "no progress bar");
}

void train_and_report(const Args& a) {
  onednn::set_num_threads(a.threads);
  nn::manual_seed(a.seed);
  Dataset train_set = load_fashion_mnist("train", kFashionMnistDir, a.train_limit);
  Dataset test_set = load_fashion_mnist("test");
  auto model = models::make_model(a.model, {.width = a.width});
  auto groups = optim::param_groups(*model, a.weight_decay);
  std::unique_ptr<optim::Optimizer> opt;
  if (a.optimizer == "sgd") opt = std::make_unique<optim::Sgd>(groups, optim::SgdOptions{a.momentum, a.nesterov});
  else opt = std::make_unique<optim::Adam>(groups);

  Batcher batcher(train_set, {.batch_size = a.batch, .shuffle = true, .seed = a.seed, .drop_last = false,
                              .crop_padding = a.augment ? 2 : 0, .random_flip = a.augment});
  const int64_t steps_per_epoch = batcher.batches_per_epoch();
  optim::LrSchedule sched{optim::parse_schedule(a.schedule), a.lr, steps_per_epoch * a.epochs,
                          steps_per_epoch * a.warmup_epochs};
  int start_epoch = 0;
  if (a.resume && std::filesystem::exists(a.checkpoint)) {
    auto meta = train::load_training_checkpoint(a.checkpoint, *model, *opt);
    start_epoch = meta.at("epochs_done").get<int>();
    std::cerr << "resumed from " << a.checkpoint << " after epoch " << start_epoch << "\n";
  }
  const auto layers = model->describe({1, 28, 28});
  std::cerr << a.model << ": " << model->parameter_count() << " params, " << nn::total_macs(layers) / 1e6
            << " MMACs/img, " << a.threads << " threads, oneDNN backend\n";

  report::ProgressBar bar(stderr, !a.quiet);
  double train_seconds = 0, images = 0;
  for (int e = start_epoch; e < a.epochs; ++e) {
    auto st = train::train_epoch(*model, *opt, sched, batcher, e, a.smoothing, &bar);
    train_seconds += st.seconds;
    images += double(train_set.size());
    auto ev = train::evaluate(*model, test_set);
    std::cerr << "epoch " << e + 1 << "/" << a.epochs << ": train loss " << st.loss << " acc " << st.accuracy
              << " | test loss " << ev.loss << " acc " << ev.accuracy << " | " << st.img_per_s << " img/s\n";
    if (!a.checkpoint.empty())
      train::save_training_checkpoint(a.checkpoint, *model, *opt, e + 1, {{"model", a.model}});
  }
  auto ev = train::evaluate(*model, test_set);
  std::cout << "test accuracy: " << ev.accuracy << "\n";
  if (a.json) {
    nlohmann::json j{{"model", a.model},       {"epochs", a.epochs},
                     {"test_accuracy", ev.accuracy}, {"test_loss", ev.loss},
                     {"train_seconds", train_seconds},
                     {"img_per_s", train_seconds > 0 ? images / train_seconds : 0.0},
                     {"params", model->parameter_count()}, {"macs", nn::total_macs(layers)}};
    std::cout << j.dump() << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a hwaware zoo model on Fashion-MNIST"};
  Args a;
  add_options(app, a);
  CLI11_PARSE(app, argc, argv);
  try {
    validate(a);
    train_and_report(a);
  } catch (const std::exception& e) {
    std::cerr << "train_fashion: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
