#pragma once
// Channel surgery. channel_groups() finds, from the network's structure, the sets of channels
// that must be pruned together: a conv's output channels with its BN and every layer that reads
// them; channels tied by a residual add (both branches, and through identity shortcuts across
// blocks) or passed through a depthwise conv form one group. ZeroBN's authors kept a hand-written
// list of residual layers to skip; here the ties are derived, and a group tied to the network
// input or without a BN to rank it is marked not prunable.
//
// keep_channels() removes channels for real (weights, BN statistics, the readers' input channels);
// resize_metadata() changes only the layer sizes a description reads, so a pruned network's
// latency can be predicted without touching the weights.
#include <algorithm>
#include <numeric>
#include <string>
#include <typeinfo>
#include <vector>

#include "hwaware/nn/blocks.hpp"

namespace hwaware::nn {

struct ChannelGroup {
  std::vector<BatchNorm2d*> bns;        // BNs normalising the group's channels
  std::vector<Conv2d*> producers;       // convs writing them (output dim 0)
  std::vector<Conv2d*> depthwise;       // depthwise convs reading and writing them
  std::vector<Conv2d*> conv_readers;    // dense convs reading them (input dim 1)
  std::vector<Linear*> linear_readers;  // classifiers reading them (input features)
  bool prunable = true;
  int64_t channels = 0;
};

namespace detail {

class GroupBuilder {
 public:
  std::vector<ChannelGroup> build(Module& net, int64_t in_channels) {
    const int input = make(in_channels);
    groups_[input].prunable = false;  // the network input cannot lose channels
    visit(net, input);
    // Collapse unions into their roots.
    std::vector<ChannelGroup> out;
    std::vector<int> index(groups_.size(), -1);
    for (size_t i = 0; i < groups_.size(); ++i) {
      const int r = root(int(i));
      if (index[r] < 0) {
        index[r] = int(out.size());
        out.push_back({});
        out.back().channels = groups_[r].channels;
      }
      ChannelGroup& g = out[index[r]];
      const ChannelGroup& s = groups_[i];
      g.bns.insert(g.bns.end(), s.bns.begin(), s.bns.end());
      g.producers.insert(g.producers.end(), s.producers.begin(), s.producers.end());
      g.depthwise.insert(g.depthwise.end(), s.depthwise.begin(), s.depthwise.end());
      g.conv_readers.insert(g.conv_readers.end(), s.conv_readers.begin(), s.conv_readers.end());
      g.linear_readers.insert(g.linear_readers.end(), s.linear_readers.begin(), s.linear_readers.end());
      g.prunable = g.prunable && s.prunable;
    }
    for (auto& g : out)
      if (g.bns.empty()) g.prunable = false;  // nothing to rank the channels by
    return out;
  }

 private:
  int make(int64_t channels) {
    groups_.push_back({});
    groups_.back().channels = channels;
    parent_.push_back(int(parent_.size()));
    return int(groups_.size()) - 1;
  }
  int root(int g) {
    while (parent_[g] != g) g = parent_[g] = parent_[parent_[g]];
    return g;
  }
  int unite(int a, int b) {
    a = root(a), b = root(b);
    check_shapes(groups_[a].channels == groups_[b].channels, "channel_groups",
                 "a residual add joins different channel counts", {groups_[a].channels}, {groups_[b].channels});
    if (a != b) parent_[b] = a;
    return a;
  }

  int visit(Module& m, int g) {
    g = root(g);
    if (auto* s = dynamic_cast<Sequential*>(&m)) {
      for (auto& c : s->children) g = visit(*c, g);
      return g;
    }
    if (auto* cb = dynamic_cast<ConvBn*>(&m)) {
      const int h = conv(cb->conv, g);
      groups_[h].bns.push_back(&cb->bn);
      return h;
    }
    if (auto* c = dynamic_cast<Conv2d*>(&m)) return conv(*c, g);
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) {
      groups_[g].bns.push_back(bn);
      return g;
    }
    if (auto* b = dynamic_cast<BasicBlock*>(&m)) {
      const int h = visit(b->body, g);
      return unite(h, b->shortcut ? visit(*b->shortcut, g) : g);
    }
    if (auto* mb = dynamic_cast<MBConv*>(&m)) {
      const int h = visit(mb->body, g);
      return mb->residual() ? unite(h, g) : h;
    }
    if (auto* l = dynamic_cast<Linear*>(&m)) {
      groups_[g].linear_readers.push_back(l);
      const int h = make(l->out_features);
      groups_[h].prunable = false;  // class scores
      return h;
    }
    if (dynamic_cast<Flatten*>(&m)) {
      // Features after a flatten are channels × positions: a reader cannot be sliced by channel.
      groups_[g].prunable = false;
      const int h = make(0);
      groups_[h].prunable = false;
      return h;
    }
    if (dynamic_cast<Act*>(&m) || dynamic_cast<Pool2d*>(&m) || dynamic_cast<GlobalAvgPool*>(&m)) return g;
    throw Error(std::string("channel_groups: module type '") + typeid(m).name() +
                "' is not known; it cannot be pruned safely");
  }

  int conv(Conv2d& c, int g) {
    if (c.opt.groups > 1 && c.opt.groups == c.in_channels && c.out_channels == c.in_channels) {
      groups_[g].depthwise.push_back(&c);
      return g;
    }
    if (c.opt.groups != 1) throw Error("channel_groups: grouped (non-depthwise) convolutions cannot be pruned yet");
    groups_[g].conv_readers.push_back(&c);
    const int h = make(c.out_channels);
    groups_[h].producers.push_back(&c);
    return h;
  }

  std::vector<ChannelGroup> groups_;
  std::vector<int> parent_;
};

inline Tensor take_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  Shape s = t.shape();
  const int64_t per = t.numel() / s[0];
  s[0] = static_cast<int64_t>(rows.size());
  Tensor r = Tensor::empty(s);
  for (size_t i = 0; i < rows.size(); ++i) std::copy_n(t.data() + rows[i] * per, per, r.data() + i * per);
  return r;
}

/// Selects indices along dim 1 of a [d0, d1, ...] tensor.
inline Tensor take_cols(const Tensor& t, const std::vector<int64_t>& cols) {
  Shape s = t.shape();
  const int64_t d0 = s[0], d1 = s[1], inner = t.numel() / (d0 * d1);
  s[1] = static_cast<int64_t>(cols.size());
  Tensor r = Tensor::empty(s);
  for (int64_t a = 0; a < d0; ++a)
    for (size_t j = 0; j < cols.size(); ++j)
      std::copy_n(t.data() + (a * d1 + cols[j]) * inner, inner, r.data() + (a * int64_t(cols.size()) + int64_t(j)) * inner);
  return r;
}

}  // namespace detail

/// The channel groups of a network whose input has `in_channels` channels.
inline std::vector<ChannelGroup> channel_groups(Module& net, int64_t in_channels = 1) {
  return detail::GroupBuilder().build(net, in_channels);
}

/// Importance of each channel of a group: mean |γ| over its tied BNs (mean, so a residual
/// group's channels are not favoured for having more BNs).
inline std::vector<float> channel_importance(const ChannelGroup& g) {
  std::vector<float> imp(static_cast<size_t>(g.channels), 0.f);
  for (auto* bn : g.bns)
    for (int64_t c = 0; c < g.channels; ++c) imp[c] += std::abs(bn->gamma.value().data()[c]) / float(g.bns.size());
  return imp;
}

/// Sets the layer sizes of a group to `channels` without touching weights (for descriptions).
inline void resize_metadata(ChannelGroup& g, int64_t channels) {
  for (auto* bn : g.bns) bn->channels = channels;
  for (auto* c : g.producers) c->out_channels = channels;
  for (auto* c : g.depthwise) c->in_channels = c->out_channels = c->opt.groups = channels;
  for (auto* c : g.conv_readers) c->in_channels = channels;
  for (auto* l : g.linear_readers) l->in_features = channels;
  g.channels = channels;
}

/// Physically keeps only channels `keep` (sorted, unique) of a group.
inline void keep_channels(ChannelGroup& g, const std::vector<int64_t>& keep) {
  check_shapes(!keep.empty() && g.prunable, "keep_channels", "a group needs ≥ 1 kept channel and must be prunable",
               {static_cast<int64_t>(keep.size())}, {g.channels});
  using detail::take_cols;
  using detail::take_rows;
  for (auto* bn : g.bns) {
    bn->gamma.value() = take_rows(bn->gamma.value(), keep);
    bn->beta.value() = take_rows(bn->beta.value(), keep);
    bn->running_mean = take_rows(bn->running_mean, keep);
    bn->running_var = take_rows(bn->running_var, keep);
    bn->gamma.zero_grad(), bn->beta.zero_grad();
  }
  auto rows = [&](Conv2d* c) {
    c->weight.value() = take_rows(c->weight.value(), keep);
    if (c->bias) c->bias->value() = take_rows(c->bias->value(), keep);
    c->weight.zero_grad();
  };
  for (auto* c : g.producers) rows(c);
  for (auto* c : g.depthwise) rows(c);
  for (auto* c : g.conv_readers) c->weight.value() = take_cols(c->weight.value(), keep), c->weight.zero_grad();
  for (auto* l : g.linear_readers) l->weight.value() = take_cols(l->weight.value(), keep), l->weight.zero_grad();
  resize_metadata(g, static_cast<int64_t>(keep.size()));
}

}  // namespace hwaware::nn
