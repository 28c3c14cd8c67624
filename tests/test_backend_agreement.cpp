// The reference backend as the oracle for the oneDNN one: for a pruned sweep of shapes and
// parameters, every forward output and every backward output of hwaware::onednn::Backend agrees
// with hwaware::reference::Backend. oneDNN is fed inputs in every layout (plain, nChw16c, nhwc),
// since inside a network activations arrive in whatever layout the previous op produced; blocked
// outputs must keep the channel padding of their last block zero (the next primitive reads it).
#include <omp.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "hwaware/autograd/ops.hpp"

using namespace hwaware;
using hwtest::random_tensor;
using Onednn = hwaware::onednn::Backend;
using Reference = hwaware::reference::Backend;

namespace {

const Layout kLayouts[] = {Layout::plain, Layout::blocked16, Layout::nhwc};

// Tolerance: relative 1e-4, absolute 1e-4·√K for a sum of K terms (fp32 rounding grows like √K
// when the terms have random signs; both backends sum in a different order).
constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-4;

/// The layout an incoming gradient is fed in: the next one after the input's, so every backward
/// also sees a gradient whose layout differs from its input's (the backends must convert).
Layout other_layout(Layout l) { return kLayouts[(static_cast<int>(l) + 1) % 3]; }

/// Whether oneDNN has a blocked batch-norm JIT kernel here (AVX2 and above).
bool avx2_or_better() {
  const int avx2 = int(dnnl::cpu_isa::avx2);
  return (int(dnnl::get_effective_cpu_isa()) & avx2) == avx2;
}

/// Largest |value| in the padding channels [C, padded(C)) of a blocked tensor (0 when unpadded).
double padding_max_abs(const Tensor& t) {
  if (t.layout() != Layout::blocked16 || t.dim(1) % kChannelBlock == 0) return 0;
  const int64_t N = t.dim(0), C = t.dim(1), HW = t.dim(2) * t.dim(3), CB = padded_channels(C) / kChannelBlock;
  double worst = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i)
      for (int64_t j = C % kChannelBlock; j < kChannelBlock; ++j)
        worst = std::max(worst, double(std::abs(t.raw_data()[((n * CB + CB - 1) * HW + i) * kChannelBlock + j])));
  return worst;
}

/// oneDNN's output `got` against the reference's `want`; `reduction` = number of summed terms.
void check_close(const char* what, const Tensor& got, const Tensor& want, int64_t reduction) {
  const double atol = kAtol * std::sqrt(double(std::max<int64_t>(reduction, 1)));
  const double c = hwtest::closeness(got, want, atol, kRtol);
  INFO(what << ": worst |got - want| / (atol + rtol·|want|) = " << c << " with atol " << atol);
  CHECK(c <= 1.0);
  const double pad = padding_max_abs(got);
  INFO(what << ": largest |value| in the channel padding = " << pad);
  CHECK(pad == 0.0);
}

// ---- convolution --------------------------------------------------------------------------------

struct ConvCase {
  int64_t n, c, o, h, w, kh, kw;
  Conv2dParams p;
  bool bias;
  Shape x_shape() const { return {n, c, h, w}; }
  Shape w_shape() const { return {o, c / p.groups, kh, kw}; }
  std::string str() const {
    std::ostringstream os;
    os << "x " << shape_str(x_shape()) << " w " << shape_str(w_shape()) << " stride " << p.stride_h << "x"
       << p.stride_w << " pad " << p.pad_h << "x" << p.pad_w << " dilation " << p.dilation_h << "x" << p.dilation_w
       << " groups " << p.groups << (bias ? " bias" : "");
    return os.str();
  }
  int64_t macs() const {
    const Shape ys = conv2d_out_shape(x_shape(), w_shape(), p);
    return numel_of(ys) * (c / p.groups) * kh * kw;
  }
};

/// Every channel count × kernel × group kind (1, 2, depthwise), twice: the second case flips
/// stride, dilation, bias and batch, so each (C, k, groups) sees both values of each, while
/// padding cycles through 0..k/2 per kernel. This covers every value of every axis (and every pair
/// of the binary ones) in 144 cases instead of the full product's thousands.
std::vector<ConvCase> conv_cases() {
  const int64_t channels[] = {1, 3, 8, 16, 24, 32};
  const int64_t kernels[] = {1, 3, 5, 7};
  const int64_t heights[] = {12, 9, 7, 10}, widths[] = {12, 8, 11, 7};
  std::vector<ConvCase> cases;
  int64_t j = 0, pad_cycle[8] = {};
  for (int ci = 0; ci < 6; ++ci)
    for (int ki = 0; ki < 4; ++ki)
      for (int kind = 0; kind < 3; ++kind, ++j)
        for (int flip = 0; flip < 2; ++flip) {
          ConvCase cc{};
          cc.c = channels[ci];
          cc.kh = cc.kw = kernels[ki];
          cc.n = ((j + j / 8) % 2) != flip ? 4 : 1;
          cc.h = heights[(j + flip) % 4];
          cc.w = widths[(j / 3 + flip) % 4];
          cc.p.stride_h = cc.p.stride_w = 1 + (j % 2 != flip);
          cc.p.dilation_h = cc.p.dilation_w = 1 + ((j / 2) % 2 != flip);
          cc.p.pad_h = cc.p.pad_w = pad_cycle[cc.kh]++ % (cc.kh / 2 + 1);
          cc.bias = ((j / 4) % 2) != flip;
          if (kind == 0) {
            cc.o = channels[(ci + ki + 1 + flip) % 6];
          } else if (kind == 1 && cc.c % 2 == 0) {
            cc.p.groups = 2;
            cc.o = std::max<int64_t>(2, (channels[(ci + ki + 2 + flip) % 6] + 1) / 2 * 2);
          } else {  // depthwise; odd channel counts take "groups 2"'s slot with a channel multiplier of 2
            cc.p.groups = cc.c;
            cc.o = kind == 1 ? 2 * cc.c : cc.c;
          }
          // A dilated 7×7 spans 13 pixels: fall back to dilation 1 where it does not fit.
          if (window_out(std::min(cc.h, cc.w), cc.kh, 1, cc.p.pad_h, cc.p.dilation_h) <= 0)
            cc.p.dilation_h = cc.p.dilation_w = 1;
          // Keep the reference's plain loops cheap: the largest cases run at batch 1.
          if (cc.macs() > 4'000'000) cc.n = 1;
          cases.push_back(cc);
        }
  // Asymmetric cases the symmetric sweep cannot reach: each pair of (h, w) parameters differs.
  const ConvCase asymmetric[] = {
      {2, 8, 16, 9, 12, 3, 1, {1, 2, 1, 0, 1, 1, 1}, true},
      {1, 24, 24, 11, 8, 1, 5, {2, 1, 0, 2, 1, 2, 24}, false},
      {4, 16, 32, 10, 10, 5, 3, {2, 1, 2, 1, 2, 1, 2}, true},
      {1, 3, 24, 12, 9, 7, 3, {2, 2, 3, 1, 1, 1, 1}, false},
  };
  cases.insert(cases.end(), std::begin(asymmetric), std::end(asymmetric));
  return cases;
}

}  // namespace

TEST_CASE("conv2d: oneDNN agrees with the reference forward, backward data and backward weights") {
  const auto cases = conv_cases();
  // The sweep must still cover every value the pruning promises.
  bool seen_stride2 = false, seen_dil2 = false, seen_bias = false, seen_nobias = false, seen_g2 = false,
       seen_n4 = false, seen_max_pad7 = false;
  for (const auto& cc : cases) {
    seen_stride2 |= cc.p.stride_h == 2, seen_dil2 |= cc.p.dilation_h == 2, seen_bias |= cc.bias;
    seen_nobias |= !cc.bias, seen_g2 |= cc.p.groups == 2, seen_n4 |= cc.n == 4;
    seen_max_pad7 |= cc.kh == 7 && cc.p.pad_h == 3;
  }
  REQUIRE((seen_stride2 && seen_dil2 && seen_bias && seen_nobias && seen_g2 && seen_n4 && seen_max_pad7));

  uint64_t seed = 100;
  size_t index = 0;
  for (const auto& cc : cases) {
    const std::string conv = cc.str();
    CAPTURE(conv);
    const Shape xs = cc.x_shape(), ws = cc.w_shape();
    const Shape ys = conv2d_out_shape(xs, ws, cc.p);
    const Tensor x = random_tensor(xs, ++seed), w = random_tensor(ws, ++seed), b = random_tensor({cc.o}, ++seed);
    const Tensor dy = random_tensor(ys, ++seed);
    const Tensor* bias = cc.bias ? &b : nullptr;

    const Tensor y_ref = Reference::conv2d_forward(x, w, bias, cc.p);
    const Tensor dx_ref = Reference::conv2d_backward_data(dy, w, xs, cc.p);
    const ConvWeightGrads g_ref = Reference::conv2d_backward_weights(dy, x, ws, cc.bias, cc.p);

    const int64_t k_fwd = cc.c / cc.p.groups * cc.kh * cc.kw;
    const int64_t k_bwd_data = cc.o / cc.p.groups * cc.kh * cc.kw;
    const int64_t k_bwd_weights = cc.n * ys[2] * ys[3];
    // The primitive depends only on the channel counts (the backend converts its inputs first), so
    // each case takes one input layout, in turn: every (C, k) pair still meets all three.
    const Layout l = kLayouts[index++ % 3];
    const std::string layouts = std::string("x ") + layout_name(l) + ", dy " + layout_name(other_layout(l));
    CAPTURE(layouts);
    const Tensor y = Onednn::conv2d_forward(x.to_layout(l), w, bias, cc.p);
    CHECK(y.layout() == onednn::conv_layouts(cc.c, cc.o).dst);
    check_close("conv forward y", y, y_ref, k_fwd);
    const Tensor dyl = dy.to_layout(other_layout(l));
    const Tensor dx = Onednn::conv2d_backward_data(dyl, w, xs, cc.p);
    CHECK(dx.layout() == onednn::conv_input_grad_layout(cc.c, cc.o));
    check_close("conv backward dx", dx, dx_ref, k_bwd_data);
    const ConvWeightGrads g = Onednn::conv2d_backward_weights(dyl, x.to_layout(l), ws, cc.bias, cc.p);
    check_close("conv backward dw", g.dw, g_ref.dw, k_bwd_weights);
    if (cc.bias) check_close("conv backward db", g.db, g_ref.db, k_bwd_weights);
  }
}

// ---- batch normalisation ------------------------------------------------------------------------

TEST_CASE("batchnorm2d: train and infer, with and without fused relu, forward and backward") {
  // 3 and 15 channels in nhwc run in a blocked layout between reorders (oneDNN 2.6's nhwc JIT
  // kernel needs a multiple of 8 channels; its generic one was 5-10x slower)
  const Shape shapes[] = {{4, 24, 6, 6}, {2, 16, 5, 5}, {1, 3, 7, 7}, {4, 32, 3, 3}, {3, 8, 4, 5}, {8, 15, 6, 6}};
  const float eps = 1e-5f;
  uint64_t seed = 300;
  for (const Shape& xs : shapes) {
    const int64_t C = xs[1], M = xs[0] * xs[2] * xs[3];
    const Tensor x = random_tensor(xs, ++seed, -2, 3), dy = random_tensor(xs, ++seed);
    const Tensor gamma = random_tensor({C}, ++seed, 0.5f, 1.5f), beta = random_tensor({C}, ++seed, -0.5f, 0.5f);
    const Tensor run_mean = random_tensor({C}, ++seed, -0.5f, 0.5f), run_var = random_tensor({C}, ++seed, 0.5f, 1.5f);
    for (bool training : {true, false})
      for (bool relu : {false, true}) {
        const std::string bn = shape_str(xs) + (training ? " train" : " infer") + (relu ? " +relu" : "");
        CAPTURE(bn);
        const BatchNormForward f_ref = training ? Reference::batchnorm_forward_train(x, gamma, beta, eps, relu)
                                                : Reference::batchnorm_forward_infer(x, gamma, beta, run_mean,
                                                                                     run_var, eps, relu);
        const BatchNormGrads g_ref = Reference::batchnorm_backward(dy, x, gamma, f_ref.mean, f_ref.var,
                                                                   f_ref.workspace, eps, relu, !training);
        for (Layout l : kLayouts) {
          const std::string layout = layout_name(l);
          CAPTURE(layout);
          const Tensor xl = x.to_layout(l);
          const BatchNormForward f = training ? Onednn::batchnorm_forward_train(xl, gamma, beta, eps, relu)
                                              : Onednn::batchnorm_forward_infer(xl, gamma, beta, run_mean, run_var,
                                                                                eps, relu);
          CHECK(f.y.layout() == l);
          // reorders only where the nhwc kernel would be the generic one
          if (avx2_or_better())
            CHECK(onednn::detail::bn_fwd_entry(xl, eps, relu, !training).run.reorders == (l == Layout::nhwc && C % 8 != 0));
          check_close("bn y", f.y, f_ref.y, M);
          check_close("bn mean", f.mean, f_ref.mean, M);
          check_close("bn var", f.var, f_ref.var, M);
          const int threads = omp_get_max_threads();
          const BatchNormGrads g = Onednn::batchnorm_backward(dy.to_layout(other_layout(l)), xl, gamma, f.mean, f.var,
                                                              f.workspace, eps, relu, !training);
          CHECK(omp_get_max_threads() == threads);  // a serial backward restores the thread count
          check_close("bn dx", g.dx, g_ref.dx, M);
          check_close("bn dgamma", g.dgamma, g_ref.dgamma, M);
          check_close("bn dbeta", g.dbeta, g_ref.dbeta, M);
        }
      }
  }
}

TEST_CASE("batchnorm2d through autograd: running statistics and gradients agree between backends") {
  const Shape xs{4, 24, 5, 5};
  const int64_t C = xs[1], M = xs[0] * xs[2] * xs[3];
  const Tensor x = random_tensor(xs, 41, -2, 3), dy = random_tensor(xs, 42);
  const Tensor gamma = random_tensor({C}, 43, 0.5f, 1.5f), beta = random_tensor({C}, 44, -0.5f, 0.5f);
  const Tensor mean0 = random_tensor({C}, 45, -0.5f, 0.5f), var0 = random_tensor({C}, 46, 0.5f, 1.5f);
  for (bool training : {true, false})
    for (bool relu : {false, true}) {
      CAPTURE(training);
      CAPTURE(relu);
      struct Run { Tensor mean, var, y, dx, dgamma, dbeta; };
      auto run = [&](BackendKind kind, Layout l) {
        BackendGuard guard(kind);
        Run r{mean0.clone(), var0.clone()};
        Variable xv(x.to_layout(l), true), gv(gamma.clone(), true), bv(beta.clone(), true);
        Variable y = ops::batchnorm2d(xv, gv, bv, {&r.mean, &r.var, 0.1f, 1e-5f}, training, relu);
        r.y = y.value();
        y.backward(dy.to_layout(y.value().layout()));
        r.dx = xv.grad(), r.dgamma = gv.grad(), r.dbeta = bv.grad();
        return r;
      };
      const Run want = run(BackendKind::reference, Layout::plain);
      for (Layout l : kLayouts) {
        const std::string layout = layout_name(l);
        CAPTURE(layout);
        const Run got = run(BackendKind::onednn, l);
        check_close("running mean", got.mean, want.mean, M);
        check_close("running var", got.var, want.var, M);
        check_close("y", got.y, want.y, M);
        check_close("dx", got.dx, want.dx, M);
        check_close("dgamma", got.dgamma, want.dgamma, M);
        check_close("dbeta", got.dbeta, want.dbeta, M);
      }
    }
}

// ---- activations --------------------------------------------------------------------------------

TEST_CASE("activations relu, relu6, sigmoid: forward and backward") {
  const Shape shapes[] = {{2, 24, 5, 5}, {1, 3, 4, 4}, {4, 16, 3, 3}, {2, 40, 2, 3}};
  uint64_t seed = 500;
  for (const Shape& xs : shapes) {
    Tensor x = random_tensor(xs, ++seed, -8, 8);
    // Off the kinks at 0 and 6, where the two backends may pick different one-sided derivatives.
    for (int64_t i = 0; i < x.numel(); ++i)
      if (std::abs(x.data()[i]) < 0.05f || std::abs(x.data()[i] - 6) < 0.05f) x.data()[i] += 0.2f;
    const Tensor dy = random_tensor(xs, ++seed);
    for (auto a : {Activation::relu, Activation::relu6, Activation::sigmoid}) {
      const std::string act = std::string(activation_name(a)) + " " + shape_str(xs);
      CAPTURE(act);
      const Tensor y_ref = Reference::activation_forward(x, a), dx_ref = Reference::activation_backward(dy, x, a);
      for (Layout l : kLayouts) {
        const std::string layout = layout_name(l);
        CAPTURE(layout);
        const Tensor y = Onednn::activation_forward(x.to_layout(l), a);
        CHECK(y.layout() == l);
        check_close("activation y", y, y_ref, 1);
        check_close("activation dx", Onednn::activation_backward(dy.to_layout(other_layout(l)), x.to_layout(l), a),
                    dx_ref, 1);
      }
    }
  }
}

// ---- pooling ------------------------------------------------------------------------------------

TEST_CASE("max and avg pooling: kernel 2/3, stride 1/2, pad 0/1, forward and backward") {
  // Odd sizes make floor((H + 2p - k) / s) + 1 drop the last row/column (oneDNN's right padding < 0).
  const Shape shapes[] = {{2, 24, 7, 7}, {1, 3, 6, 6}, {4, 16, 5, 6}};
  uint64_t seed = 700;
  for (const Shape& xs : shapes) {
    const Tensor x = hwtest::distinct_tensor(xs, ++seed);  // no ties: the argmax is unambiguous
    for (auto kind : {PoolKind::max, PoolKind::avg})
      for (int64_t k : {2, 3})
        for (int64_t s : {1, 2})
          for (int64_t pad : {0, 1}) {
            const Pool2dParams p{kind, k, k, s, s, pad, pad};
            const std::string pool = std::string(kind == PoolKind::max ? "max" : "avg") + " k" + std::to_string(k) +
                                     " s" + std::to_string(s) + " p" + std::to_string(pad) + " " + shape_str(xs);
            CAPTURE(pool);
            const Shape ys = pool2d_out_shape(xs, p);
            const Tensor dy = random_tensor(ys, ++seed);
            const PoolForward f_ref = Reference::pool2d_forward(x, p, true);
            const Tensor dx_ref = Reference::pool2d_backward(dy, xs, Layout::plain, f_ref.workspace, p);
            for (Layout l : kLayouts) {
              const std::string layout = layout_name(l);
              CAPTURE(layout);
              const PoolForward f = Onednn::pool2d_forward(x.to_layout(l), p, true);
              CHECK(f.y.layout() == l);
              check_close("pool y", f.y, f_ref.y, k * k);
              if (kind == PoolKind::max)  // inference drops the workspace: another primitive for max only
                check_close("pool y (inference)", Onednn::pool2d_forward(x.to_layout(l), p, false).y, f_ref.y, k * k);
              check_close("pool dx", Onednn::pool2d_backward(dy.to_layout(other_layout(l)), xs, l, f.workspace, p),
                          dx_ref, k * k);
            }
          }
  }
}

// ---- linear -------------------------------------------------------------------------------------

TEST_CASE("linear: forward and backward") {
  struct Case { int64_t n, i, o; };
  const Case cases[] = {{1, 7, 3}, {4, 128, 10}, {5, 33, 17}, {16, 64, 64}};
  uint64_t seed = 900;
  for (const auto& c : cases)
    for (bool has_bias : {false, true}) {
      const std::string linear = "[" + std::to_string(c.n) + "," + std::to_string(c.i) + "] -> " +
                                 std::to_string(c.o) + (has_bias ? " bias" : "");
      CAPTURE(linear);
      const Tensor x = random_tensor({c.n, c.i}, ++seed), w = random_tensor({c.o, c.i}, ++seed);
      const Tensor b = random_tensor({c.o}, ++seed), dy = random_tensor({c.n, c.o}, ++seed);
      const Tensor* bias = has_bias ? &b : nullptr;
      check_close("linear y", Onednn::linear_forward(x, w, bias), Reference::linear_forward(x, w, bias), c.i);
      const LinearGrads g = Onednn::linear_backward(dy, x, w, has_bias);
      const LinearGrads g_ref = Reference::linear_backward(dy, x, w, has_bias);
      check_close("linear dx", g.dx, g_ref.dx, c.o);
      check_close("linear dw", g.dw, g_ref.dw, c.n);
      if (has_bias) check_close("linear db", g.db, g_ref.db, c.n);
    }
}

// ---- channel padding of blocked outputs ---------------------------------------------------------

TEST_CASE("blocked outputs with C = 24 keep channels 24..31 of nChw16c zero, forward and backward") {
  const Shape xs{2, 24, 6, 6};
  const Tensor x = random_tensor(xs, 51).to_layout(Layout::blocked16);
  const Tensor dy = random_tensor(xs, 52).to_layout(Layout::blocked16);
  REQUIRE(x.storage_elems() == 2 * 32 * 36);
  Tensor poked = x.clone();  // the check itself: a value in channel 24 (block 1, lane 8) is seen
  poked.raw_data()[((0 * 2 + 1) * 36 + 5) * kChannelBlock + 8] = 3.f;
  REQUIRE(padding_max_abs(poked) == 3.0);
  REQUIRE(padding_max_abs(x) == 0.0);
  auto expect_zero_padding = [](const char* what, const Tensor& t) {
    INFO(what);
    REQUIRE(t.layout() == Layout::blocked16);
    CHECK(padding_max_abs(t) == 0.0);
  };
  const Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
  expect_zero_padding("conv forward (3 -> 24, plain source)",
                      Onednn::conv2d_forward(random_tensor({2, 3, 6, 6}, 53), random_tensor({24, 3, 3, 3}, 54),
                                             nullptr, p));
  const Tensor bias = random_tensor({24}, 55);
  expect_zero_padding("conv forward (24 -> 24, bias)",
                      Onednn::conv2d_forward(x, random_tensor({24, 24, 3, 3}, 55), &bias, p));
  expect_zero_padding("conv backward data", Onednn::conv2d_backward_data(dy, random_tensor({24, 24, 3, 3}, 56), xs, p));
  const Conv2dParams dw{1, 1, 1, 1, 1, 1, 24};
  expect_zero_padding("depthwise conv forward",
                      Onednn::conv2d_forward(x, random_tensor({24, 1, 3, 3}, 57), nullptr, dw));
  expect_zero_padding("depthwise conv backward data",
                      Onednn::conv2d_backward_data(dy, random_tensor({24, 1, 3, 3}, 58), xs, dw));

  // beta > 0 everywhere: without care, the padded channels would come out as beta or relu(beta).
  const Tensor gamma = random_tensor({24}, 59, 0.5f, 1.5f), beta = random_tensor({24}, 60, 0.5f, 1.f);
  const Tensor mean = random_tensor({24}, 61), var = random_tensor({24}, 62, 0.5f, 1.5f);
  for (bool relu : {false, true}) {
    CAPTURE(relu);
    const BatchNormForward f = Onednn::batchnorm_forward_train(x, gamma, beta, 1e-5f, relu);
    expect_zero_padding("bn train forward", f.y);
    expect_zero_padding("bn train backward",
                        Onednn::batchnorm_backward(dy, x, gamma, f.mean, f.var, f.workspace, 1e-5f, relu, false).dx);
    const BatchNormForward fi = Onednn::batchnorm_forward_infer(x, gamma, beta, mean, var, 1e-5f, relu);
    expect_zero_padding("bn infer forward", fi.y);
    expect_zero_padding("bn infer backward",
                        Onednn::batchnorm_backward(dy, x, gamma, mean, var, fi.workspace, 1e-5f, relu, true).dx);
  }
  for (auto a : {Activation::relu, Activation::relu6, Activation::sigmoid}) {  // sigmoid(0) = 0.5
    const std::string act = activation_name(a);
    CAPTURE(act);
    expect_zero_padding("activation forward", Onednn::activation_forward(x, a));
    expect_zero_padding("activation backward", Onednn::activation_backward(dy, x, a));
  }
  for (auto kind : {PoolKind::max, PoolKind::avg}) {
    const Pool2dParams pp{kind, 3, 3, 2, 2, 1, 1};
    CAPTURE(kind == PoolKind::max);
    const PoolForward f = Onednn::pool2d_forward(x, pp, true);
    expect_zero_padding("pool forward", f.y);
    const Tensor pdy = random_tensor(f.y.shape(), 63).to_layout(Layout::blocked16);
    expect_zero_padding("pool backward", Onednn::pool2d_backward(pdy, xs, Layout::blocked16, f.workspace, pp));
  }
}

// ---- fused residual tail and the thread policy --------------------------------------------------

TEST_CASE("conv2d + residual (+ ReLU) in one primitive agrees with the reference and leaves the residual alone") {
  // Channel counts that select each layout pair (nhwc, blocked, plain source), residual in every layout.
  const std::vector<std::pair<int64_t, int64_t>> channels{{8, 8}, {16, 16}, {24, 24}, {3, 16}, {16, 8}};
  uint64_t seed = 300;
  for (auto [c, o] : channels)
    for (Layout rl : kLayouts)
      for (bool relu : {false, true}) {
        const std::string what = "c " + std::to_string(c) + " o " + std::to_string(o) + " residual " +
                                 layout_name(rl) + (relu ? " relu" : "");
        CAPTURE(what);
        Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
        p.post_relu = relu;
        const Tensor x = random_tensor({2, c, 7, 7}, ++seed), w = random_tensor({o, c, 3, 3}, ++seed);
        const Tensor b = random_tensor({o}, ++seed), r = random_tensor({2, o, 7, 7}, ++seed);
        const Tensor want = Reference::conv2d_forward_add(x, w, &b, p, r);
        // The reference itself: conv, then add, then ReLU.
        Conv2dParams lin = p;
        lin.post_relu = false;
        Tensor manual = common::add(Reference::conv2d_forward(x, w, &b, lin), r);
        if (relu) manual = Reference::activation_forward(manual, Activation::relu);
        check_close("reference fused = conv, add, relu", want, manual, c * 9);
        const Tensor residual = r.to_layout(rl);
        const Tensor before = residual.to_plain().clone();
        const Tensor got = Onednn::conv2d_forward_add(x.to_layout(rl), w, &b, p, residual);
        check_close("oneDNN conv2d + residual", got, want, c * 9);
        CHECK(hwtest::closeness(residual.to_plain(), before, 1e-30, 0) <= 1.0);  // the caller's tensor is untouched
        if (got.layout() == Layout::blocked16) CHECK(padding_max_abs(got) == 0.0);
      }
  CHECK_THROWS_AS(Onednn::conv2d_forward_add(random_tensor({1, 8, 7, 7}, 1), random_tensor({8, 8, 3, 3}, 2), nullptr,
                                             {1, 1, 1, 1, 1, 1, 1}, random_tensor({1, 8, 5, 5}, 3)),
                  ShapeError);
}

TEST_CASE("small ops run on one thread, large ones on all: same results either way, separate primitives") {
  const int64_t saved = onednn::serial_work_threshold();
  const Tensor x = random_tensor({2, 16, 14, 14}, 401), w = random_tensor({32, 16, 3, 3}, 402);
  const Tensor dy = random_tensor({2, 32, 14, 14}, 403);
  const Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
  auto run = [&](int64_t threshold) {
    onednn::set_serial_work_threshold(threshold);
    return std::tuple{Onednn::conv2d_forward(x, w, nullptr, p).to_plain(),
                      Onednn::conv2d_backward_data(dy, w, x.shape(), p).to_plain(),
                      Onednn::conv2d_backward_weights(dy, x, w.shape(), false, p).dw,
                      Onednn::linear_forward(x.reshape({2, 16 * 196}), random_tensor({10, 16 * 196}, 404), nullptr)};
  };
  onednn::set_num_threads(2);
  CHECK(onednn::threads_for(10) == 1);
  const size_t before = onednn::PrimitiveCache::get().size();
  auto [y1, dx1, dw1, l1] = run(int64_t{1} << 40);  // everything serial
  const size_t serial_entries = onednn::PrimitiveCache::get().size();
  auto [y2, dx2, dw2, l2] = run(0);  // everything on both threads
  onednn::set_serial_work_threshold(saved);
  CHECK(onednn::num_threads() == 2);  // the scopes restore the thread count
  CHECK(onednn::PrimitiveCache::get().size() > serial_entries);
  CHECK(serial_entries >= before);
  CHECK(hwtest::closeness(y1, y2, 1e-5, 1e-5) <= 1.0);
  CHECK(hwtest::closeness(dx1, dx2, 1e-5, 1e-5) <= 1.0);
  CHECK(hwtest::closeness(dw1, dw2, 1e-4, 1e-5) <= 1.0);
  CHECK(hwtest::closeness(l1, l2, 1e-5, 1e-5) <= 1.0);
}
