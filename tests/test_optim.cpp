// Optimizers and schedules against hand-computed updates (PyTorch's formulas).
#include <cmath>
#include <vector>

#include "gradcheck.hpp"
#include "hwaware/optim/optimizer.hpp"
#include "hwaware/optim/schedule.hpp"

using namespace hwaware;

namespace {
optim::ParamGroup group_of(Variable& v, float wd) { return {{&v}, {"w"}, wd, 1.f}; }
}  // namespace

TEST_CASE("SGD with momentum and weight decay follows PyTorch's update") {
  Variable w(Tensor::from({2}, {1.f, -2.f}), true);
  optim::Sgd sgd({group_of(w, 0.1f)}, {0.9f, false});
  const uint64_t v0 = w.value().storage().version;
  w.grad() = Tensor::from({2}, {0.5f, 0.5f});
  sgd.step(0.1f);  // d = g + λw = [0.6, 0.3]; buf = d; w -= 0.1·d
  CHECK(w.value().data()[0] == doctest::Approx(1.f - 0.06f));
  CHECK(w.value().data()[1] == doctest::Approx(-2.f - 0.03f));
  CHECK(w.value().storage().version != v0);  // tells the backend to re-reorder weights
  w.grad() = Tensor::from({2}, {0.5f, 0.5f});
  sgd.step(0.1f);  // d = 0.5 + 0.1·0.94 = 0.594; buf = 0.9·0.6 + 0.594 = 1.134
  CHECK(w.value().data()[0] == doctest::Approx(0.94f - 0.1134f));
}

TEST_CASE("Nesterov and AdamW") {
  Variable w(Tensor::from({1}, {1.f}), true);
  optim::Sgd nag({group_of(w, 0.f)}, {0.9f, true});
  w.grad() = Tensor::from({1}, {1.f});
  nag.step(0.1f);  // buf = 1; step = g + μ·buf = 1.9
  CHECK(w.value().data()[0] == doctest::Approx(1.f - 0.19f));

  Variable a(Tensor::from({1}, {1.f}), true);
  optim::Adam adam({group_of(a, 0.01f)});
  a.grad() = Tensor::from({1}, {0.3f});
  adam.step(0.1f);  // decoupled decay: w = 1 - 0.1·0.01; first Adam step moves by lr·sign(g)
  CHECK(a.value().data()[0] == doctest::Approx(1.f - 0.001f - 0.1f).epsilon(1e-4));
}

TEST_CASE("adam_step on double arrays: L2 decay, bias correction, the same rule as float") {
  std::vector<double> w{1.0, -2.0}, g{0.3, -0.5}, m(2, 0.0), v(2, 0.0);
  const optim::AdamOptions l2{.decoupled = false};
  optim::adam_step<double>(w, g, m, v, 1, 0.1, 0.5, l2);  // ĝ = g + 0.5·w = (0.8, -1.5)
  CHECK(m[0] == doctest::Approx(0.1 * 0.8));
  CHECK(v[1] == doctest::Approx(0.001 * 1.5 * 1.5));
  CHECK(w[0] == doctest::Approx(1.0 - 0.1).epsilon(1e-6));  // first step: lr·sign(ĝ)
  CHECK(w[1] == doctest::Approx(-2.0 + 0.1).epsilon(1e-6));
  std::vector<float> wf{1.f, -2.f}, gf{0.3f, -0.5f}, mf(2, 0.f), vf(2, 0.f);
  optim::adam_step<float>(wf, gf, mf, vf, 1, 0.1f, 0.5f, l2);
  CHECK(double(wf[0]) == doctest::Approx(w[0]).epsilon(1e-6));
  std::vector<double> short_m(1);
  CHECK_THROWS_AS(optim::adam_step<double>(w, g, short_m, v, 2, 0.1, 0.0), Error);
  CHECK_THROWS_AS(optim::adam_step<double>(w, g, m, v, 0, 0.1, 0.0), Error);
}

TEST_CASE("learning-rate schedules: warm-up, cosine, step") {
  optim::LrSchedule cos{optim::ScheduleKind::cosine, 0.1f, 110, 10};
  CHECK(cos.at(0) == doctest::Approx(0.01f));
  CHECK(cos.at(9) == doctest::Approx(0.1f));
  CHECK(cos.at(10) == doctest::Approx(0.1f));
  CHECK(cos.at(60) == doctest::Approx(0.05f));
  CHECK(cos.at(110) == doctest::Approx(0.f).epsilon(1e-6));
  optim::LrSchedule step{optim::ScheduleKind::step, 1.f, 100, 0};
  CHECK(step.at(49) == doctest::Approx(1.f));
  CHECK(step.at(50) == doctest::Approx(0.1f));
  CHECK(step.at(80) == doctest::Approx(0.01f));
  CHECK_THROWS_AS(optim::parse_schedule("linear"), Error);
}
