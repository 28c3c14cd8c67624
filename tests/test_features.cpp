// Per-layer features: kinds, padding, the continuous extension and its Jacobian.
#include <doctest/doctest.h>

#include <array>
#include <cmath>

#include "hwaware/hw/features.hpp"
#include "hwaware/models/zoo.hpp"

using namespace hwaware;
using namespace hwaware::hw;

namespace {

nn::LayerDesc conv(int64_t ci, int64_t co, int64_t hw, int64_t k, int64_t s, int64_t groups = 1) {
  nn::LayerDesc d{"c", LayerKind::conv2d, ci, hw, hw, co, (hw + s - 1) / s, (hw + s - 1) / s};
  d.kernel = k, d.stride = s, d.padding = k / 2, d.groups = groups;
  d.macs = d.out_h * d.out_w * co * (ci / groups) * k * k;
  d.params = co * (ci / groups) * k * k;
  return d;
}

std::array<double, kLayerFeatureCount> features_of(const nn::LayerDesc& d, double pos = 0.0) {
  std::array<double, kLayerFeatureCount> f;
  layer_features(d, pos, 16, f.data());
  return f;
}

}  // namespace

TEST_CASE("layer kinds and the one-hot bits") {
  CHECK(feature_kind(conv(16, 32, 14, 3, 1)) == FeatureKind::conv_dense);
  CHECK(feature_kind(conv(32, 32, 14, 3, 1, 32)) == FeatureKind::conv_depthwise);
  CHECK(feature_kind(conv(32, 64, 14, 3, 1, 4)) == FeatureKind::conv_grouped);
  CHECK(feature_kind(conv(1, 16, 28, 3, 1)) == FeatureKind::conv_dense);  // groups == in_c == 1 is dense
  nn::LayerDesc d;
  for (auto [type, kind] : std::vector<std::pair<LayerKind, FeatureKind>>{
           {LayerKind::linear, FeatureKind::linear},         {LayerKind::batchnorm2d, FeatureKind::batchnorm},
           {LayerKind::relu, FeatureKind::activation},       {LayerKind::relu6, FeatureKind::activation},
           {LayerKind::sigmoid, FeatureKind::activation},    {LayerKind::max_pool2d, FeatureKind::pool},
           {LayerKind::avg_pool2d, FeatureKind::pool},       {LayerKind::global_avg_pool, FeatureKind::global_pool},
           {LayerKind::add, FeatureKind::add},               {LayerKind::concat, FeatureKind::concat},
           {LayerKind::flatten, FeatureKind::other}}) {
    d.kind = type;
    CHECK(feature_kind(d) == kind);
    const auto f = features_of(d);
    double bits = 0;
    for (int k = 0; k < kFeatureKindCount; ++k) bits += f[size_t(kOneHotBegin + k)];
    CHECK(bits == (kind == FeatureKind::other ? 0.0 : 1.0));
    if (kind != FeatureKind::other) CHECK(f[size_t(kOneHotBegin + int(kind))] == 1.0);
    CHECK(f[feature::fused_relu] == (d.fused_relu ? 1.0 : 0.0));
    d.fused_relu = !d.fused_relu;
  }
  CHECK(layer_feature_names().size() == size_t(kLayerFeatureCount));
}

TEST_CASE("features of a conv: logs, padding to the vector block, waste, traffic, position") {
  const auto d = conv(17, 32, 14, 3, 2);
  const auto f = features_of(d, 0.25);
  CHECK(f[feature::in_c] == doctest::Approx(std::log1p(17.0)));
  CHECK(f[feature::in_c_padded] == doctest::Approx(std::log1p(32.0)));
  CHECK(f[feature::out_c_padded] == doctest::Approx(std::log1p(32.0)));
  CHECK(f[feature::in_c_waste] == doctest::Approx(32.0 / 17.0 - 1.0));
  CHECK(f[feature::out_c_waste] == 0.0);
  CHECK(f[feature::in_hw] == doctest::Approx(std::log1p(196.0)));
  CHECK(f[feature::out_hw] == doctest::Approx(std::log1p(49.0)));
  CHECK(f[feature::macs] == doctest::Approx(std::log1p(double(d.macs))));
  CHECK(f[feature::traffic_bytes] == doctest::Approx(std::log1p(4.0 * (17 * 196 + 32 * 49 + d.params))));
  CHECK(f[feature::stride] == 2.0);
  CHECK(f[feature::position] == 0.25);
  CHECK(padded_channels(16, 16) == 16);
  CHECK(padded_channels(17, 16) == 32);
  CHECK(padded_channels(5, 8) == 8);
  CHECK(layer_position(3, 12) == 0.25);
}

TEST_CASE("the continuous extension equals the features at the description's own counts") {
  const NetDesc net = models::make_model("mobilenetv2-tiny", {.channels = {12, 17, 24, 31, 40, 48, 70, 100}})
                          ->describe({1, 28, 28});
  const Eigen::MatrixXd x = network_features(net, 16);
  for (size_t i = 0; i < net.size(); ++i) {
    std::array<double, kLayerFeatureCount> c;
    layer_features_at(net[i], double(net[i].in_c), double(net[i].out_c), layer_position(i, net.size()), 16, c.data());
    for (int k = 0; k < kLayerFeatureCount; ++k) CHECK(c[size_t(k)] == doctest::Approx(x(k, Eigen::Index(i))).epsilon(1e-14));
  }
}

TEST_CASE("feature Jacobian matches central finite differences at non-integer channel counts") {
  const NetDesc net = models::make_model("resnet-8", {.channels = {13, 21, 19, 37, 29, 53, 70}})->describe({1, 28, 28});
  NetDesc layers = net;
  layers.push_back(conv(40, 40, 14, 3, 1, 40));  // depthwise
  layers.push_back(conv(40, 80, 14, 1, 1, 4));   // grouped
  const double h = 1e-5;
  for (const auto& d : layers) {
    const double ci = double(d.in_c) + 0.37, co = double(d.out_c) - 0.29;
    std::array<double, kLayerFeatureCount> jin, jout, fp, fm;
    layer_feature_jacobian(d, ci, co, 0.5, 16, jin.data(), jout.data());
    layer_features_at(d, ci + h, co, 0.5, 16, fp.data());
    layer_features_at(d, ci - h, co, 0.5, 16, fm.data());
    for (int k = 0; k < kLayerFeatureCount; ++k)
      CHECK(jin[size_t(k)] == doctest::Approx((fp[size_t(k)] - fm[size_t(k)]) / (2 * h)).epsilon(1e-6).scale(1e-9));
    layer_features_at(d, ci, co + h, 0.5, 16, fp.data());
    layer_features_at(d, ci, co - h, 0.5, 16, fm.data());
    for (int k = 0; k < kLayerFeatureCount; ++k)
      CHECK(jout[size_t(k)] == doctest::Approx((fp[size_t(k)] - fm[size_t(k)]) / (2 * h)).epsilon(1e-6).scale(1e-9));
  }
}

TEST_CASE("padding features follow the unrounded count: ∂padded/∂c = 1") {
  const auto d = conv(17, 20, 14, 3, 1);
  std::array<double, kLayerFeatureCount> jin, jout;
  layer_feature_jacobian(d, 17.0, 20.0, 0.0, 16, jin.data(), jout.data());
  CHECK(jin[feature::in_c_padded] == doctest::Approx(1.0 / 33.0));   // padded 32, d log1p(p)/dc = 1/(1+p)
  CHECK(jout[feature::out_c_padded] == doctest::Approx(1.0 / 33.0));
  CHECK(jin[feature::in_c_waste] == doctest::Approx(-15.0 / (17.0 * 17.0)));
  CHECK(jin[feature::out_c] == 0.0);
  CHECK(jout[feature::in_c] == 0.0);
}

TEST_CASE("feature scaling standardises and leaves constant features alone") {
  Eigen::MatrixXd x(kLayerFeatureCount, 3);
  x.setZero();
  x.row(0) << 1, 2, 3;
  x.row(1).setConstant(5);
  const auto s = FeatureScaling::fit(x);
  CHECK(s.mean[0] == doctest::Approx(2));
  CHECK(s.scale[0] == doctest::Approx(std::sqrt(2.0 / 3.0)));
  CHECK(s.scale[1] == 1.0);
  const Eigen::MatrixXd y = s.apply(x);
  CHECK(y.row(0).mean() == doctest::Approx(0).scale(1));
  CHECK(y(1, 0) == 0.0);
}
