// The runtime plan is true: for zoo networks, narrow and random-width ones and the layer probes,
// the kernels a folded batch-1 inference forward executes (KernelTrace) are exactly
// runtime::plan_kernels of the network's description, in order, with their layouts and threads.
#include <doctest/doctest.h>

#include <hwaware/core/kernel_trace.hpp>
#include <hwaware/hw/device.hpp>
#include <hwaware/hw/kernel_features.hpp>
#include <hwaware/hw/sampling.hpp>
#include <random>

using namespace hwaware;

namespace {

/// The kernels one forward of `m` runs on a [batch, chw] input (after a warm-up forward).
std::vector<runtime::Kernel> traced(nn::Module& m, const Shape& chw, int64_t batch) {
  NoGradGuard no_grad;
  m.eval();
  Shape s{batch};
  s.insert(s.end(), chw.begin(), chw.end());
  Variable x(Tensor::full(s, 0.5f));
  m.forward(x);
  runtime::KernelTrace trace;
  m.forward(x);
  return trace.kernels();
}

void check_plan(const std::string& what, nn::Module& m, const Shape& chw, int64_t batch = 1) {
  const auto ran = traced(m, chw, batch);
  const auto plan = runtime::plan_kernels(m.describe(chw), onednn::runtime_config(batch));
  std::string diff;
  for (size_t i = 0; i < std::max(ran.size(), plan.size()); ++i) {
    const bool same = i < ran.size() && i < plan.size() && ran[i].same_execution(plan[i]);
    if (!same || !diff.empty())
      diff += std::to_string(i) + (same ? "   " : " ≠ ") + "ran:  " + (i < ran.size() ? ran[i].str() : "-") +
              "\n     plan: " + (i < plan.size() ? plan[i].str() : "-") + "\n";
  }
  INFO(what << ": " << ran.size() << " kernels ran, " << plan.size() << " planned\n" << diff);
  CHECK(!ran.empty());
  CHECK(diff.empty());
}

}  // namespace

TEST_CASE("the plan of every zoo network at several widths is what runs") {
  onednn::set_num_threads(2);
  for (const auto& name : models::model_names())
    for (double width : {1.0, 0.5, 0.125, 0.0625}) {
      auto m = models::make_model(name, {.width = width});
      check_plan(name + " at width " + std::to_string(width), *m, {1, 28, 28});
    }
}

TEST_CASE("the plan of random-width networks is what runs, under two serial thresholds") {
  onednn::set_num_threads(2);
  std::mt19937_64 rng(5);
  for (int64_t serial : {runtime::kDefaultSerialWork, int64_t{1} << 16}) {
    onednn::set_serial_work_threshold(serial);
    for (const auto& family : models::model_names())
      for (int i = 0; i < 3; ++i) {
        auto p = hw::random_network(family, rng, 0.0625, 1.5, i == 1 ? 16 : 0, hw::WidthDraw::log_uniform);
        check_plan(p.name + " serial " + std::to_string(serial), *p.module, p.chw);
      }
  }
  onednn::set_serial_work_threshold(runtime::kDefaultSerialWork);
}

TEST_CASE("below AVX-512 every convolution runs nhwc, and the plan (from the fingerprint) says so") {
  onednn::set_num_threads(2);
  const bool host = onednn::blocked_convs();
  {
    const onednn::BlockedConvsScope nhwc(false);  // what a host without AVX-512 gets by itself
    std::mt19937_64 rng(9);
    for (const auto& name : models::model_names()) {
      auto m = models::make_model(name);
      check_plan(name + " nhwc-only", *m, {1, 28, 28});
      auto p = hw::random_network(name, rng, 0.0625, 1.5, 0, hw::WidthDraw::log_uniform);
      check_plan(p.name + " nhwc-only", *p.module, p.chw);
      for (const auto& k : runtime::plan_kernels(m->describe({1, 28, 28}), onednn::runtime_config(1)))
        CHECK(k.src != Layout::blocked16);
    }
    const hw::Fingerprint fp = hw::onednn_cpu_fingerprint(2, 1);
    CHECK(fp.runtime.find("nhwc-convs") != std::string::npos);
    CHECK_FALSE(hw::runtime_config_of(fp).blocked);
  }
  CHECK(onednn::blocked_convs() == host);
  CHECK(hw::runtime_config_of(hw::onednn_cpu_fingerprint(2, 1)).blocked == host);
}

TEST_CASE("the plan of the layer probes and of a batch of 4 is what runs") {
  onednn::set_num_threads(2);
  auto probes = hw::layer_probes({"resnet-8", "mobilenetv2-tiny", "vgg-small"}, {0.25, 1.0});
  for (auto& p : probes) check_plan(p.name, *p.module, p.chw);
  auto m = models::make_model("resnet-8");
  check_plan("resnet-8 batch 4", *m, {1, 28, 28}, 4);
}

TEST_CASE("a narrow residual network's plan has the fused tails, reorders and copies") {
  auto m = models::make_model("resnet-8", {.channels = {8, 8, 8, 16, 16, 64, 64}});
  const auto plan = runtime::plan_kernels(m->describe({1, 28, 28}), {.threads = 2});
  auto count = [&](runtime::KernelKind k) {
    return std::count_if(plan.begin(), plan.end(), [&](const runtime::Kernel& x) { return x.kind == k; });
  };
  CHECK(count(runtime::KernelKind::conv_add) == 3);
  // the tail's destination starts as a copy of the residual when that is already in the tail's
  // layout: the identity shortcut of block 1 and the 1×1 shortcut's output of block 3
  CHECK(count(runtime::KernelKind::copy) == 2);
  CHECK(count(runtime::KernelKind::reorder) >= 2);  // plain input → nhwc, nhwc → nChw16c
  CHECK(plan.back().kind == runtime::KernelKind::linear);
}

TEST_CASE("the thread and layout rules") {
  CHECK(runtime::threads_for(runtime::kDefaultSerialWork - 1, 2, runtime::kDefaultSerialWork) == 1);
  CHECK(runtime::threads_for(runtime::kDefaultSerialWork, 2, runtime::kDefaultSerialWork) == 2);
  CHECK(runtime::conv_layouts(1, 16, true).src == Layout::plain);
  CHECK(runtime::conv_layouts(4, 16, true).src == Layout::nhwc);
  CHECK(runtime::conv_layouts(16, 15, true).dst == Layout::nhwc);
  CHECK(runtime::conv_layouts(16, 32, true).dst == Layout::blocked16);
  for (auto [i, o] : {std::pair<int64_t, int64_t>{1, 16}, {4, 16}, {16, 15}, {16, 32}}) {  // below AVX-512
    CHECK(runtime::conv_layouts(i, o, false).src == Layout::nhwc);
    CHECK(runtime::conv_layouts(i, o, false).dst == Layout::nhwc);
  }
}
