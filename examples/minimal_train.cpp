// The README's minimal program, compiled with the project so the README stays true.
#include <hwaware/hwaware.hpp>
using namespace hwaware;

int main() {
  Dataset train = load_fashion_mnist("train"), test = load_fashion_mnist("test");
  auto model = models::make_model("resnet-8", {.width = 1.0});
  optim::Sgd opt(optim::param_groups(*model, 5e-4f), {.momentum = 0.9f});
  Batcher batches(train, {.batch_size = 128, .seed = 1});
  optim::LrSchedule lr{optim::ScheduleKind::cosine, 0.05f, 5 * batches.batches_per_epoch()};
  for (int epoch = 0; epoch < 5; ++epoch) train::train_epoch(*model, opt, lr, batches, epoch);
  std::printf("test accuracy %.4f\n", train::evaluate(*model, test).accuracy);
  for (const auto& layer : model->describe({1, 28, 28}))   // what the latency model reads
    std::printf("%s %s %lld MACs\n", layer.name.c_str(), std::string(to_string(layer.kind)).c_str(), (long long)layer.macs);
}
