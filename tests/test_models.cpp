// The zoo: same parameter counts as the PyTorch peer's networks, layer descriptions, per-layer
// widths, and the oneDNN forward of whole networks against the reference backend.
#include "gradcheck.hpp"
#include "hwaware/models/zoo.hpp"

using namespace hwaware;

TEST_CASE("parameter counts equal the PyTorch peer's (shared/baselines/pytorch_cnn.py)") {
  // counted with torch 1.13: sum(p.numel() for p in build(name).parameters())
  CHECK(models::make_model("ref-cnn")->parameter_count() == 94186);
  CHECK(models::make_model("vgg-small")->parameter_count() == 1147722);
  CHECK(models::make_model("resnet-8")->parameter_count() == 77754);
  CHECK(models::make_model("mobilenetv2-tiny")->parameter_count() > 0);
}

TEST_CASE("layer descriptions: shapes, MACs and params per layer") {
  auto m = models::ref_cnn();
  auto d = m->describe({1, 28, 28});
  REQUIRE(d.size() == 8);  // 3 × (conv, bn), gap, linear
  CHECK(d[0].kind == LayerKind::conv2d);
  CHECK(d[0].macs == 28 * 28 * 32 * 1 * 9);
  CHECK(d[2].in_c == 32);
  CHECK(d[2].out_h == 14);
  CHECK(d[2].stride == 2);
  CHECK(d[3].fused_relu);
  CHECK(d[4].out_h == 7);
  CHECK(d.back().kind == LayerKind::linear);
  int64_t params = 0;
  for (auto& l : d) params += l.params;
  CHECK(params == m->parameter_count());

  auto r = models::resnet8()->describe({1, 28, 28});
  int adds = 0, shortcuts = 0;
  for (auto& l : r) {
    adds += l.kind == LayerKind::add;
    shortcuts += l.name.find("shortcut") != std::string::npos && l.kind == LayerKind::conv2d;
  }
  CHECK(adds == 3);
  CHECK(shortcuts == 2);
  auto mb = models::mobilenetv2_tiny()->describe({1, 28, 28});
  bool depthwise = false;
  for (auto& l : mb) depthwise = depthwise || (l.kind == LayerKind::conv2d && l.groups == l.in_c && l.groups > 1);
  CHECK(depthwise);
}

TEST_CASE("width multiplier and explicit per-layer channels") {
  auto half = models::make_model("vgg-small", {.width = 0.5})->describe({1, 28, 28});
  CHECK(half[0].out_c == 32);
  auto custom = models::make_model("ref-cnn", {.channels = {8, 23, 40}})->describe({1, 28, 28});
  CHECK(custom[2].out_c == 23);
  CHECK(custom.back().in_c == 40);
  CHECK_THROWS_AS(models::make_model("ref-cnn", {.channels = {8, 16}}), ShapeError);
  CHECK_THROWS_WITH_AS(models::make_model("alexnet"), doctest::Contains("unknown model 'alexnet'"), Error);
}

TEST_CASE("whole networks: oneDNN forward and input gradient agree with the reference backend") {
  for (const std::string name : {"ref-cnn", "vgg-small", "resnet-8", "mobilenetv2-tiny"}) {
    CAPTURE(name);
    nn::manual_seed(3);
    auto m = models::make_model(name, {.width = name == "vgg-small" ? 0.25 : 0.5});
    const Tensor x = hwtest::random_tensor({2, 1, 28, 28}, 5);
    for (bool training : {true, false}) {
      CAPTURE(training);
      m->set_training(training);
      Tensor y[2], dx[2];
      int i = 0;
      for (auto kind : {BackendKind::reference, BackendKind::onednn}) {
        BackendGuard g(kind);
        // BN running statistics move in training mode: snapshot and restore them per backend
        std::vector<Tensor> saved;
        for (auto& [n, t] : m->buffers()) saved.push_back(t->clone());
        Variable xv(x.clone(), true);
        Variable out = m->forward(xv);
        out.backward(Tensor::full(out.shape(), 0.1f));
        y[i] = out.value().to_plain();
        dx[i] = xv.grad().to_plain();
        size_t k = 0;
        for (auto& [n, t] : m->buffers()) std::copy_n(saved[k++].data(), t->numel(), t->data());
        for (auto& [n, p] : m->parameters()) p->zero_grad();
        ++i;
      }
      CHECK(hwtest::closeness(y[1], y[0], 1e-3, 1e-3) <= 1.0);
      CHECK(hwtest::closeness(dx[1], dx[0], 1e-4, 1e-2) <= 1.0);
    }
  }
}

TEST_CASE("inference folds BN into the conv (one primitive per layer) and matches the unfolded network") {
  for (const std::string name : {"ref-cnn", "resnet-8", "mobilenetv2-tiny"}) {
    CAPTURE(name);
    nn::manual_seed(7);
    auto m = models::make_model(name, {.width = 0.5});
    // Non-trivial BN state: a few training-mode forwards move the running statistics.
    const Tensor x = hwtest::random_tensor({4, 1, 28, 28}, 8);
    m->train();
    for (int i = 0; i < 3; ++i) m->forward(Variable(x));
    for (auto& [n, p] : m->parameters())
      if (n.find("bn.weight") != std::string::npos) p->value() = hwtest::random_tensor(p->value().shape(), 9, 0.5f, 1.5f);
    m->eval();
    auto outputs = [&] {
      Variable with_grad(x, true);
      Tensor unfolded = m->forward(with_grad).value().to_plain();
      NoGradGuard ng;
      return std::pair{unfolded, m->forward(Variable(x)).value().to_plain()};
    };
    auto [unfolded, folded] = outputs();
    CHECK(hwtest::closeness(folded, unfolded, 1e-4, 1e-3) <= 1.0);
    // The fold follows the statistics: after another training-mode forward it is recomputed.
    m->train();
    m->forward(Variable(hwtest::random_tensor({4, 1, 28, 28}, 10, 0.f, 3.f)));
    m->eval();
    auto [unfolded2, folded2] = outputs();
    CHECK(hwtest::closeness(folded2, unfolded2, 1e-4, 1e-3) <= 1.0);
    CHECK(hwtest::closeness(folded2, folded, 1e-6, 1e-6) > 1.0);
  }
}

TEST_CASE("eval mode with gradients on keeps the unfolded graph: parameters receive gradients") {
  auto m = models::ref_cnn({.width = 0.5});
  m->eval();
  auto out = ops::cross_entropy(m->forward(Variable(hwtest::random_tensor({2, 1, 28, 28}, 4))),
                                Tensor::zeros({2}, Layout::plain, DType::i32));
  out.loss.backward();
  for (auto& [name, p] : m->parameters()) {
    CAPTURE(name);
    CHECK(p->grad().defined());
  }
}
