// oneDNN 2.6 batch normalisation (training forward and backward, scale and shift) on one tensor
// in four layouts: nhwc, nchw, nChw8c, nChw16c — the implementation oneDNN picks, its best time of
// 20 runs, and the time of a reorder from nhwc into that layout. Why batch norm over nhwc with
// channels not a multiple of 8 runs blocked between reorders (docs/decisions.md).
//   bn-layouts CHANNELS SIDE   (batch 128)
#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>

using namespace dnnl;
using tag = memory::format_tag;

namespace {

double ms_now() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void fill(memory& m, float scale) {
  auto* p = static_cast<float*>(m.get_data_handle());
  const size_t n = m.get_desc().get_size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) p[i] = float(i % 97) * scale;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bn-layouts CHANNELS SIDE\n");
    return 2;
  }
  const memory::dim n = 128, c = std::atoi(argv[1]), side = std::atoi(argv[2]);
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  const memory::dims dims{n, c, side, side};
  const auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
  const std::pair<tag, const char*> layouts[] = {
      {tag::nhwc, "nhwc"}, {tag::nchw, "nchw"}, {tag::nChw8c, "nChw8c"}, {tag::nChw16c, "nChw16c"}};
  for (const auto& [t, name] : layouts) {
    const memory::desc md(dims, memory::data_type::f32, t), nhwc(dims, memory::data_type::f32, tag::nhwc);
    const memory::desc vec({c}, memory::data_type::f32, tag::a);
    batch_normalization_forward::primitive_desc fpd({prop_kind::forward_training, md, 1e-5f, flags}, eng);
    batch_normalization_backward::primitive_desc bpd({prop_kind::backward, md, md, 1e-5f, flags}, eng, fpd);
    memory x(md, eng), y(md, eng), dy(md, eng), dx(md, eng), x_nhwc(nhwc, eng);
    memory gamma(vec, eng), beta(vec, eng), mean(vec, eng), var(vec, eng), dgamma(vec, eng), dbeta(vec, eng);
    fill(x, 0.01f), fill(dy, 0.02f), fill(x_nhwc, 0.01f), fill(gamma, 0.f), fill(beta, 0.f);
    batch_normalization_forward fwd(fpd);
    batch_normalization_backward bwd(bpd);
    reorder to_layout(x_nhwc, x);
    double t_fwd = 1e9, t_bwd = 1e9, t_reorder = 1e9;
    for (int run = 0; run < 20; ++run) {
      const double t0 = ms_now();
      fwd.execute(s, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}, {DNNL_ARG_SCALE, gamma}, {DNNL_ARG_SHIFT, beta},
                      {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}});
      s.wait();
      const double t1 = ms_now();
      bwd.execute(s, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_SCALE, gamma}, {DNNL_ARG_SHIFT, beta},
                      {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_DIFF_SRC, dx},
                      {DNNL_ARG_DIFF_SCALE, dgamma}, {DNNL_ARG_DIFF_SHIFT, dbeta}});
      s.wait();
      const double t2 = ms_now();
      to_layout.execute(s, x_nhwc, x);
      s.wait();
      const double t3 = ms_now();
      t_fwd = std::min(t_fwd, t1 - t0), t_bwd = std::min(t_bwd, t2 - t1), t_reorder = std::min(t_reorder, t3 - t2);
    }
    std::printf("%3lld channels %2lld px %-8s forward %-22s %6.3f ms  backward %-22s %6.3f ms  reorder from nhwc %6.3f ms\n",
                (long long)c, (long long)side, name, fpd.impl_info_str(), t_fwd, bpd.impl_info_str(), t_bwd, t_reorder);
  }
}
