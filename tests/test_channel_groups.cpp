// Channel groups found from structure (residual ties, depthwise pass-through), masked networks
// equal their physically pruned versions, and metadata-only resizing describes them exactly.
#include <random>

#include "gradcheck.hpp"
#include "hwaware/models/zoo.hpp"
#include "hwaware/nn/channel_groups.hpp"

using namespace hwaware;

namespace {
std::vector<size_t> tied_sizes(std::vector<nn::ChannelGroup>& gs) {
  std::vector<size_t> s;
  for (auto& g : gs)
    if (g.prunable) s.push_back(g.bns.size());
  return s;
}

/// Gives every BN non-trivial statistics and scales so masking and folding are really tested.
void randomize_bn(nn::Module& m, uint64_t seed) {
  m.train();
  for (int i = 0; i < 2; ++i) m.forward(Variable(hwtest::random_tensor({8, 1, 28, 28}, seed + i)));
  for (auto& [n, p] : m.parameters())
    if (n.find("bn.") != std::string::npos) p->value() = hwtest::random_tensor(p->value().shape(), seed + 7, 0.2f, 1.2f);
}
}  // namespace

TEST_CASE("resnet-8: residual adds tie channels, through identity shortcuts too") {
  auto m = models::resnet8();
  auto gs = nn::channel_groups(*m);
  // stem + block-1 output (identity shortcut), block-1 inner, block-2 inner, block-2 output +
  // shortcut conv, block-3 inner, block-3 output + shortcut conv
  CHECK(tied_sizes(gs) == std::vector<size_t>{2, 1, 1, 2, 1, 2});
  int unprunable = 0;
  for (auto& g : gs) unprunable += !g.prunable;
  CHECK(unprunable == 2);  // the image input and the class scores
}

TEST_CASE("mobilenetv2-tiny: a depthwise conv passes its group through") {
  auto m = models::mobilenetv2_tiny();
  auto gs = nn::channel_groups(*m);
  int with_depthwise = 0;
  for (auto& g : gs)
    if (!g.depthwise.empty()) {
      ++with_depthwise;
      CHECK(g.bns.size() >= 2);  // the expansion's BN and the depthwise conv's BN
    }
  CHECK(with_depthwise == 6);
}

TEST_CASE("a masked network (γ = β = 0) equals the physically pruned one") {
  for (const std::string name : {"ref-cnn", "vgg-small", "resnet-8", "mobilenetv2-tiny"}) {
    CAPTURE(name);
    nn::manual_seed(11);
    auto m = models::make_model(name, {.width = name == "vgg-small" ? 0.25 : 0.5});
    randomize_bn(*m, 3);
    auto groups = nn::channel_groups(*m);
    std::mt19937_64 rng(5);
    std::vector<std::vector<int64_t>> keep(groups.size());
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      auto& g = groups[gi];
      if (!g.prunable) continue;
      for (int64_t c = 0; c < g.channels; ++c)
        if (c == 0 || rng() % 10 >= 4) keep[gi].push_back(c);  // drop ~40%, keep ≥ 1
        else
          for (auto* bn : g.bns) bn->gamma.value().data()[c] = bn->beta.value().data()[c] = 0.f;
      for (auto* bn : g.bns) bn->gamma.value().bump_version(), bn->beta.value().bump_version();
    }
    m->eval();
    const Tensor x = hwtest::random_tensor({3, 1, 28, 28}, 21);
    NoGradGuard ng;
    const Tensor masked = m->forward(Variable(x)).value().to_plain();
    const int64_t params_before = m->parameter_count();
    for (size_t gi = 0; gi < groups.size(); ++gi)
      if (groups[gi].prunable) nn::keep_channels(groups[gi], keep[gi]);
    const Tensor pruned = m->forward(Variable(x)).value().to_plain();
    double worst = 0;
    for (int64_t i = 0; i < masked.numel(); ++i) worst = std::max(worst, double(std::abs(masked.data()[i] - pruned.data()[i])));
    CHECK(worst <= 1e-4);
    CHECK(m->parameter_count() < params_before);
    int64_t described = 0;
    for (auto& l : m->describe({1, 28, 28})) described += l.params;
    CHECK(described == m->parameter_count());
  }
}

TEST_CASE("resize_metadata describes the pruned network without touching weights") {
  auto a = models::resnet8();
  auto b = models::resnet8();
  auto ga = nn::channel_groups(*a), gb = nn::channel_groups(*b);
  for (size_t i = 0; i < ga.size(); ++i)
    if (ga[i].prunable) {
      const int64_t k = std::max<int64_t>(1, ga[i].channels / 2 - 1);
      nn::resize_metadata(ga[i], k);
      std::vector<int64_t> keep(k);
      std::iota(keep.begin(), keep.end(), 0);
      nn::keep_channels(gb[i], keep);
    }
  const auto da = a->describe({1, 28, 28}), db = b->describe({1, 28, 28});
  REQUIRE(da.size() == db.size());
  for (size_t i = 0; i < da.size(); ++i) {
    CHECK(da[i].in_c == db[i].in_c);
    CHECK(da[i].out_c == db[i].out_c);
    CHECK(da[i].macs == db[i].macs);
    CHECK(da[i].params == db[i].params);
  }
}

TEST_CASE("channels read through a flatten are not pruned (the reader mixes channels and positions)") {
  nn::Sequential net;
  net.add(nn::conv_bn(1, 8, 3, 2, true));
  net.emplace<nn::Flatten>();
  net.emplace<nn::Linear>(8 * 14 * 14, 10);
  auto gs = nn::channel_groups(net);
  for (auto& g : gs) CHECK(!g.prunable);
}
