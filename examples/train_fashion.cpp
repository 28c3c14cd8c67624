// Train a zoo model on Fashion-MNIST, report test accuracy, checkpoint every epoch, resume.
//   ./build/examples/train_fashion --model ref-cnn --epochs 5 --json
#include <CLI/CLI.hpp>
#include <filesystem>
#include <hwaware/hwaware.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

using namespace hwaware;

int main(int argc, char** argv) {
  CLI::App app{"Train a hwaware zoo model on Fashion-MNIST"};
  std::string model_name = "ref-cnn", schedule = "cosine", checkpoint, optimizer = "sgd";
  int epochs = 5, threads = 2, warmup_epochs = 0;
  int64_t batch = 128, train_limit = -1;
  float lr = 0.05f, momentum = 0.9f, weight_decay = 5e-4f, smoothing = 0.f;
  double width = 1.0;
  uint64_t seed = 1;
  bool augment = false, resume = false, json = false, nesterov = false, quiet = false;
  app.add_option("--model", model_name, "ref-cnn | vgg-small | resnet-8 | mobilenetv2-tiny")->capture_default_str();
  app.add_option("--width", width, "width multiplier")->capture_default_str();
  app.add_option("--epochs", epochs)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch", batch)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--optimizer", optimizer, "sgd | adamw")->capture_default_str();
  app.add_option("--lr", lr)->capture_default_str();
  app.add_option("--momentum", momentum)->capture_default_str();
  app.add_flag("--nesterov", nesterov);
  app.add_option("--weight-decay", weight_decay)->capture_default_str();
  app.add_option("--schedule", schedule, "constant | step | cosine")->capture_default_str();
  app.add_option("--warmup-epochs", warmup_epochs)->capture_default_str();
  app.add_option("--label-smoothing", smoothing)->capture_default_str();
  app.add_flag("--augment", augment, "random crop (pad 2) and horizontal flip");
  app.add_option("--seed", seed)->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--train-limit", train_limit, "use only the first N training images (smoke runs)");
  app.add_option("--checkpoint", checkpoint, "save the run state here after every epoch");
  app.add_flag("--resume", resume, "continue from --checkpoint");
  app.add_flag("--json", json, "print one JSON summary line at the end");
  app.add_flag("--quiet", quiet, "no progress bar");
  CLI11_PARSE(app, argc, argv);

  try {
    if (resume && checkpoint.empty()) throw Error("--resume needs --checkpoint PATH");
    onednn::set_num_threads(threads);
    nn::manual_seed(seed);
    Dataset train_set = load_fashion_mnist("train", kFashionMnistDir, train_limit);
    Dataset test_set = load_fashion_mnist("test");
    auto model = models::make_model(model_name, {.width = width});
    auto groups = optim::param_groups(*model, weight_decay);
    std::unique_ptr<optim::Optimizer> opt;
    if (optimizer == "sgd") opt = std::make_unique<optim::Sgd>(groups, optim::SgdOptions{momentum, nesterov});
    else if (optimizer == "adamw") opt = std::make_unique<optim::Adam>(groups);
    else throw Error("unknown optimizer '" + optimizer + "' (sgd or adamw)");

    Batcher batcher(train_set, {.batch_size = batch, .shuffle = true, .seed = seed, .drop_last = false,
                                .crop_padding = augment ? 2 : 0, .random_flip = augment});
    const int64_t steps_per_epoch = batcher.batches_per_epoch();
    optim::LrSchedule sched{optim::parse_schedule(schedule), lr, steps_per_epoch * epochs,
                            steps_per_epoch * warmup_epochs};
    int start_epoch = 0;
    if (resume && std::filesystem::exists(checkpoint)) {
      auto meta = train::load_training_checkpoint(checkpoint, *model, *opt);
      start_epoch = meta.at("epochs_done").get<int>();
      std::cerr << "resumed from " << checkpoint << " after epoch " << start_epoch << "\n";
    }
    const auto layers = model->describe({1, 28, 28});
    std::cerr << model_name << ": " << model->parameter_count() << " params, " << nn::total_macs(layers) / 1e6
              << " MMACs/img, " << threads << " threads, oneDNN backend\n";

    report::ProgressBar bar(stderr, !quiet);
    double train_seconds = 0, images = 0;
    for (int e = start_epoch; e < epochs; ++e) {
      auto st = train::train_epoch(*model, *opt, sched, batcher, e, smoothing, &bar);
      train_seconds += st.seconds;
      images += double(train_set.size());
      auto ev = train::evaluate(*model, test_set);
      std::cerr << "epoch " << e + 1 << "/" << epochs << ": train loss " << st.loss << " acc " << st.accuracy
                << " | test loss " << ev.loss << " acc " << ev.accuracy << " | " << st.img_per_s << " img/s\n";
      if (!checkpoint.empty())
        train::save_training_checkpoint(checkpoint, *model, *opt, e + 1, {{"model", model_name}});
    }
    auto ev = train::evaluate(*model, test_set);
    std::cout << "test accuracy: " << ev.accuracy << "\n";
    if (json) {
      nlohmann::json j{{"model", model_name},       {"epochs", epochs},
                       {"test_accuracy", ev.accuracy}, {"test_loss", ev.loss},
                       {"train_seconds", train_seconds},
                       {"img_per_s", train_seconds > 0 ? images / train_seconds : 0.0},
                       {"params", model->parameter_count()}, {"macs", nn::total_macs(layers)}};
      std::cout << j.dump() << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "train_fashion: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
