// Short real training runs on Fashion-MNIST: the loss falls, a diverging run stops with its step
// number, a resumed run continues from its checkpoint, and the steady-state step takes no fresh
// buffers from the system.
#include <filesystem>

#include "gradcheck.hpp"
#include "hwaware/hwaware.hpp"
#include "temp_dir.hpp"

using namespace hwaware;

namespace {
const Dataset& small_train() {
  static Dataset d = load_fashion_mnist("train", kFashionMnistDir, 2048);
  return d;
}
}  // namespace

TEST_CASE("a short run on Fashion-MNIST lowers the loss and beats chance on held-out data") {
  nn::manual_seed(1);
  auto m = models::ref_cnn({.width = 0.5});
  optim::Sgd opt(optim::param_groups(*m, 5e-4f), {0.9f, false});
  Batcher b(small_train(), {.batch_size = 64, .seed = 1});
  optim::LrSchedule s{optim::ScheduleKind::cosine, 0.05f, 3 * b.batches_per_epoch(), 0};
  const auto first = train::train_epoch(*m, opt, s, b, 0);
  train::EpochStats last{};
  for (int e = 1; e < 3; ++e) last = train::train_epoch(*m, opt, s, b, e);
  CHECK(last.loss < 0.8 * first.loss);
  const Dataset test = load_fashion_mnist("test", kFashionMnistDir, 1000);
  CHECK(train::evaluate(*m, test).accuracy > 0.6);
}

TEST_CASE("a non-finite loss stops training and names the step") {
  nn::manual_seed(2);
  auto m = models::ref_cnn({.width = 0.25});
  optim::Sgd opt(optim::param_groups(*m, 0.f), {0.9f, false});
  Batcher b(small_train(), {.batch_size = 64, .seed = 1});
  optim::LrSchedule s{optim::ScheduleKind::constant, 1e30f, 100, 0};
  CHECK_THROWS_WITH_AS(train::train_epoch(*m, opt, s, b, 0), doctest::Contains("at step"), DivergenceError);
}

TEST_CASE("resume from a checkpoint continues the same run") {
  const hwtest::TempDir tmp("test_resume");
  const std::string path = tmp.file("resume.ckpt");
  auto run = [&](int epochs, bool resume) {
    nn::manual_seed(4);
    auto m = models::ref_cnn({.width = 0.25});
    optim::Sgd opt(optim::param_groups(*m, 5e-4f), {0.9f, false});
    Batcher b(small_train(), {.batch_size = 128, .seed = 9});
    optim::LrSchedule s{optim::ScheduleKind::cosine, 0.05f, 2 * b.batches_per_epoch(), 0};
    int start = 0;
    if (resume) start = train::load_training_checkpoint(path, *m, opt).at("epochs_done").get<int>();
    for (int e = start; e < epochs; ++e) {
      train::train_epoch(*m, opt, s, b, e);
      train::save_training_checkpoint(path, *m, opt, e + 1);
    }
    return m->parameters()[0].second->value().clone();
  };
  const Tensor straight = run(2, false);
  run(1, false);                       // "killed" after epoch 1
  const Tensor resumed = run(2, true);  // continues with epoch 2 from the checkpoint
  CHECK(hwtest::closeness(resumed, straight, 1e-6, 1e-5) <= 1.0);
  std::filesystem::remove(path);
}

TEST_CASE("the steady-state training step takes no new buffers from the system") {
  nn::manual_seed(5);
  auto m = models::resnet8({.width = 0.5});
  optim::Sgd opt(optim::param_groups(*m, 5e-4f), {0.9f, false});
  Batcher b(small_train(), {.batch_size = 64, .seed = 1, .drop_last = true});
  optim::LrSchedule s{optim::ScheduleKind::constant, 0.01f, 100, 0};
  train::train_epoch(*m, opt, s, b, 0);  // warm-up: primitives, pool buffers, reordered weights
  const uint64_t before = detail::BufferPool::instance().fresh_allocations();
  train::train_epoch(*m, opt, s, b, 1);
  CHECK(detail::BufferPool::instance().fresh_allocations() == before);
}
