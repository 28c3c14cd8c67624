#pragma once
// The latency of a search space's architectures on a device, as DifferentiableCosts the search can
// follow (cost_model.hpp):
//   - OneHotMlpCost: the authors' predictor, an MLP over the one-hot encoding (layers·7 → 128 → 64
//     → 1, ReLU), fitted to measured architectures; it sees what a sum cannot (a skip that removes a
//     layer's reorders, a kernel that changes the next layer's layout);
//   - linearised_cost: any network predictor (the per-layer MLP, the analytic energy model) as a
//     per-(layer, op) table around a base architecture — exact when the predictor is a sum over
//     layers, as the per-layer MLP is;
//   - measured_op_table: FBNet's lookup table, each candidate op measured alone and summed.
// Architectures are measured whole, interleaved in groups, and cached per device fingerprint.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "hwaware/hw/dense_mlp.hpp"
#include "hwaware/hw/device_concept.hpp"
#include "hwaware/hw/metrics.hpp"
#include "hwaware/hw/samples.hpp"
#include "hwaware/methods/lightnas/cost_model.hpp"
#include "hwaware/methods/lightnas/supernet.hpp"
#include "hwaware/report/log.hpp"

namespace hwaware::lightnas {

/// `n` architectures spread over the space's range: each draws a size bias b ∈ [−3, 3] and picks
/// every layer's op with probability ∝ exp(b · rank / 6), rank = the op's MACs rank in its layer
/// (skip lowest). Uniform sampling alone piles up in the middle of the range, where a search
/// rarely ends. The first architectures are the smallest and the largest.
std::vector<Architecture> spread_architectures(const SearchSpace& space, const Shape& chw, size_t n, uint64_t seed);

/// Measures `archs` built from `space` at `device`'s batch: `passes` passes over all of them, each
/// in shuffled groups of `group` interleaved beside a fixed reference architecture (every layer
/// k5e3, or k5e3 where it cannot skip) whose reading corrects the group for the machine's drift;
/// an architecture's figure is the median of its corrected passes. One pass alone let a slow
/// phase of a shared machine inflate a whole group by a third. One sample per architecture (kind
/// "network", family "lightnas", name its key).
template <hw::InterleavingDevice D>
std::vector<hw::LatencySample> measure_architectures(D& device, const SearchSpace& space, const Shape& chw,
                                                     const std::vector<Architecture>& archs, size_t group = 8,
                                                     const report::Log& log = report::Log{false}, int passes = 3);

/// The measured samples of `n` spread architectures, loaded from `dir` when a set measured under
/// this device's fingerprint for the same space and input exists, else measured and saved there.
template <hw::InterleavingDevice D>
std::vector<hw::LatencySample> cached_space_samples(D& device, const SearchSpace& space, const Shape& chw, size_t n,
                                                    const std::string& dir, const report::Log& log);

/// The authors' predictor: MLP over the one-hot encoding, output exp(o + mean log ms).
class OneHotMlpCost {
 public:
  struct Options {
    std::vector<int> hidden{128, 64};
    int epochs = 400, batch = 32;
    double learning_rate = 3e-3, weight_decay = 1e-3;
    uint64_t seed = 1;
  };

  /// Fits to measured samples of `space` (their names are architecture keys); the loss is the
  /// mean squared log error. Throws Error for fewer than 8 samples.
  static OneHotMlpCost fit(const SearchSpace& space, const std::vector<const hw::LatencySample*>& samples,
                           const Options& o);
  static OneHotMlpCost fit(const SearchSpace& space, const std::vector<const hw::LatencySample*>& samples) {
    return fit(space, samples, Options{});
  }

  double cost(std::span<const float> e, std::span<float> g) const;
  double cost_of(const Architecture& a) const;
  /// sqrt(mean((predicted / measured − 1)²)) over the training samples.
  double training_rms_relative_error() const { return train_rmspe_; }

 private:
  SearchSpace space_;
  hw::DenseMlp mlp_;
  double mean_log_ = 0, train_rmspe_ = 0;
  double predict(const Eigen::VectorXd& x, Eigen::VectorXd* dx) const;
};

/// A network predictor `predict(NetDesc) → double` as an OpTableCost around `base`:
/// table[l][op] = predict(base with layer l set to op) − predict(base), fixed = predict(base).
template <class F>
OpTableCost linearised_cost(const SearchSpace& space, const Shape& chw, F&& predict, const Architecture& base,
                            std::string unit);

/// FBNet's lookup table: the stem with the head, and every allowed op at its layer's input, each
/// measured alone (a session per layer, its ops interleaved).
template <hw::InterleavingDevice D>
OpTableCost measured_op_table(D& device, const SearchSpace& space, const Shape& chw);

/// `table`, measured in this process, in the units of `samples` measured in an earlier one: times
/// the median of figure / reading-now over up to `n` of them (spread over the list), measured
/// together now. Without it a per-process table is off by the machine's drift between the two
/// processes (30% and more on a shared host), which no predictor fitted to the samples suffers.
template <hw::InterleavingDevice D>
OpTableCost in_sample_units(const OpTableCost& table, D& device, const SearchSpace& space, const Shape& chw,
                            const std::vector<const hw::LatencySample*>& samples, size_t n = 8);

/// A cost's accuracy on measured samples of `space` (nn-Meter's metrics).
template <DifferentiableCost C>
hw::PredictionReport evaluate_cost(const C& cost, const SearchSpace& space,
                                   const std::vector<const hw::LatencySample*>& samples);

// ---------------------------------------------------------------------------------------------
// Implementation

inline std::vector<Architecture> spread_architectures(const SearchSpace& space, const Shape& chw, size_t n,
                                                      uint64_t seed) {
  const OpTableCost macs = OpTableCost::macs(space, chw);
  const Architecture zero(space.layers(), 0);
  std::vector<std::vector<int>> by_size(space.layers());  // allowed ops, smallest MACs first
  for (size_t l = 0; l < space.layers(); ++l) {
    for (int op = 0; op < kOpsPerLayer; ++op)
      if (space.allowed(l, op)) by_size[l].push_back(op);
    std::stable_sort(by_size[l].begin(), by_size[l].end(), [&](int a, int b) {
      Architecture x = zero, y = zero;
      x[l] = a, y[l] = b;
      return macs.cost_of(x) < macs.cost_of(y);
    });
  }
  std::mt19937_64 rng(seed);
  std::vector<Architecture> out;
  for (size_t i = 0; i < n; ++i) {
    const double bias = i == 0 ? -1e3 : i == 1 ? 1e3 : std::uniform_real_distribution<double>(-3, 3)(rng);
    Architecture a(space.layers());
    for (size_t l = 0; l < space.layers(); ++l) {
      std::vector<double> w;
      const double top = double(by_size[l].size() - 1), peak = std::abs(bias) / 2;  // the largest exponent
      for (size_t r = 0; r < by_size[l].size(); ++r) w.push_back(std::exp(bias * (double(r) / top - 0.5) - peak));
      a[l] = by_size[l][std::discrete_distribution<size_t>(w.begin(), w.end())(rng)];
    }
    out.push_back(std::move(a));
  }
  return out;
}

template <hw::InterleavingDevice D>
std::vector<hw::LatencySample> measure_architectures(D& device, const SearchSpace& space, const Shape& chw,
                                                     const std::vector<Architecture>& archs, size_t group,
                                                     const report::Log& log, int passes) {
  group = std::max<size_t>(1, group);
  passes = std::max(1, passes);
  const auto reference = space.build(Architecture(space.layers(), 2));
  std::vector<std::vector<double>> figures(archs.size());
  std::vector<hw::Measurement> first(archs.size());
  std::vector<double> ref_ms;
  std::vector<std::vector<std::pair<size_t, double>>> groups;  // (architecture, raw ms) per group
  std::mt19937_64 rng(11);
  for (int pass = 0; pass < passes; ++pass) {
    std::vector<size_t> order(archs.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t b = 0; b < order.size(); b += group) {
      const size_t e = std::min(order.size(), b + group);
      std::vector<std::unique_ptr<nn::Sequential>> nets;
      std::vector<nn::Module*> mods{reference.get()};
      for (size_t i = b; i < e; ++i) mods.push_back(nets.emplace_back(space.build(archs[order[i]])).get());
      const std::vector<hw::Measurement> ms = device.measure_many(mods, chw);
      ref_ms.push_back(ms[0].median_ms);
      groups.emplace_back();
      for (size_t i = b; i < e; ++i) {
        groups.back().emplace_back(order[i], ms[i - b + 1].median_ms);
        if (pass == 0) first[order[i]] = ms[i - b + 1];
      }
    }
    log.line("  measured %zu architectures, pass %d/%d", archs.size(), pass + 1, passes);
  }
  // A group's figures scale by the reference's typical reading over its reading in that group.
  std::vector<double> sorted = ref_ms;
  std::nth_element(sorted.begin(), sorted.begin() + long(sorted.size() / 2), sorted.end());
  const double typical = sorted[sorted.size() / 2];
  for (size_t g = 0; g < groups.size(); ++g)
    for (auto [a, ms] : groups[g]) figures[a].push_back(ms * typical / ref_ms[g]);
  std::vector<hw::LatencySample> out;
  for (size_t a = 0; a < archs.size(); ++a) {
    std::vector<double>& f = figures[a];
    std::sort(f.begin(), f.end());
    hw::Measurement m = first[a];
    m.median_ms = f.size() % 2 ? f[f.size() / 2] : 0.5 * (f[f.size() / 2 - 1] + f[f.size() / 2]);
    out.push_back({"network", "lightnas", architecture_key(archs[a]), space.build(archs[a])->describe(chw), m, -1});
  }
  return out;
}

namespace detail {

/// FNV-1a of the space's geometry and the input shape: the name of its cached sample set.
inline std::string space_signature(const SearchSpace& space, const Shape& chw) {
  const auto& o = space.options();
  std::string s = std::to_string(o.in_channels) + "," + std::to_string(o.classes) + "," +
                  std::to_string(o.stem_width) + "," + std::to_string(o.stem_stride) + "," + std::to_string(o.head_width);
  for (const Stage& st : o.stages) s += ";" + std::to_string(st.width) + "x" + std::to_string(st.layers) + "s" + std::to_string(st.stride);
  for (int64_t d : chw) s += "|" + std::to_string(d);
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace detail

template <hw::InterleavingDevice D>
std::vector<hw::LatencySample> cached_space_samples(D& device, const SearchSpace& space, const Shape& chw, size_t n,
                                                    const std::string& dir, const report::Log& log) {
  const hw::Fingerprint fp = device.fingerprint();
  const std::string path = dir + "/lightnas-space-" + detail::space_signature(space, chw) + "-" +
                           std::to_string(fp.threads) + "t-b" + std::to_string(fp.batch) + "-n" + std::to_string(n) +
                           "-p3.jsonl";
  if (std::filesystem::exists(path)) {
    try {
      auto d = hw::LatencyDataset::load(path, &fp);
      log.line("space latency samples: %s (cached, %zu architectures)", path.c_str(), d.samples.size());
      return d.samples;
    } catch (const std::exception& e) {
      log.line("space latency samples unusable (%s); measuring again", e.what());
    }
  }
  log.line("measuring %zu architectures of the space on this device...", n);
  std::filesystem::create_directories(dir);
  hw::LatencyDataset d{fp, measure_architectures(device, space, chw, spread_architectures(space, chw, n, 7), 8, log, 3)};
  d.save(path);
  return d.samples;
}

inline OneHotMlpCost OneHotMlpCost::fit(const SearchSpace& space, const std::vector<const hw::LatencySample*>& samples,
                                        const Options& o) {
  if (samples.size() < 8) throw Error("OneHotMlpCost: needs at least 8 measured architectures (got " + std::to_string(samples.size()) + ")");
  const Eigen::Index in = Eigen::Index(space.layers() * kOpsPerLayer), n = Eigen::Index(samples.size());
  Eigen::MatrixXd x(in, n);
  Eigen::RowVectorXd y(n);
  for (Eigen::Index s = 0; s < n; ++s) {
    const std::vector<float> e = space.encode(architecture_from_key(space, samples[size_t(s)]->name));
    for (Eigen::Index i = 0; i < in; ++i) x(i, s) = e[size_t(i)];
    y[s] = std::log(samples[size_t(s)]->m.median_ms);
  }
  const hw::EigenSingleThread single;
  OneHotMlpCost c;
  c.space_ = space;
  c.mean_log_ = y.mean();
  std::vector<int> sizes{int(in)};
  sizes.insert(sizes.end(), o.hidden.begin(), o.hidden.end());
  sizes.push_back(1);
  std::mt19937_64 rng(o.seed);
  c.mlp_ = hw::DenseMlp::he_init(sizes, rng);
  hw::DenseMlpAdam adam(c.mlp_);
  std::vector<Eigen::Index> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const Eigen::Index batch = std::min<Eigen::Index>(o.batch, n);
  int step = 0;
  std::vector<Eigen::MatrixXd> z, a;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (Eigen::Index b0 = 0; b0 < n; b0 += batch) {
      const Eigen::Index len = std::min(batch, n - b0);
      Eigen::MatrixXd xb(in, len);
      Eigen::RowVectorXd yb(len);
      for (Eigen::Index k = 0; k < len; ++k) xb.col(k) = x.col(order[size_t(b0 + k)]), yb[k] = y[order[size_t(b0 + k)]];
      const Eigen::RowVectorXd r = c.mlp_.forward(xb, z, a).array() + c.mean_log_ - yb.array();
      c.mlp_.backward(z, a, r * (2.0 / double(len)), &adam.gw, &adam.gb, nullptr);
      const double progress = double(epoch) / std::max(1, o.epochs - 1);
      adam.step(c.mlp_, ++step, o.learning_rate * (0.05 + 0.95 * 0.5 * (1 + std::cos(3.14159265358979 * progress))),
                o.weight_decay);
    }
  }
  double se = 0;
  for (Eigen::Index s = 0; s < n; ++s) {
    const double rel = c.predict(x.col(s), nullptr) / samples[size_t(s)]->m.median_ms - 1;
    se += rel * rel;
  }
  c.train_rmspe_ = std::sqrt(se / double(n));
  return c;
}

inline double OneHotMlpCost::predict(const Eigen::VectorXd& x, Eigen::VectorXd* dx) const {
  std::vector<Eigen::MatrixXd> z, a;
  const double ms = std::exp(mlp_.forward(x, z, a)[0] + mean_log_);
  if (dx) {
    Eigen::MatrixXd g;
    mlp_.backward(z, a, Eigen::RowVectorXd::Constant(1, ms), nullptr, nullptr, &g);
    *dx = g.col(0);
  }
  return ms;
}

inline double OneHotMlpCost::cost(std::span<const float> e, std::span<float> g) const {
  const size_t n = space_.layers() * kOpsPerLayer;
  if (e.size() != n || g.size() != n)
    throw Error("OneHotMlpCost: encoding and gradient need " + std::to_string(n) + " entries (got " +
                std::to_string(e.size()) + ", " + std::to_string(g.size()) + ")");
  Eigen::VectorXd x(static_cast<Eigen::Index>(n)), dx;
  for (size_t i = 0; i < n; ++i) x[Eigen::Index(i)] = e[i];
  const double ms = predict(x, &dx);
  for (size_t i = 0; i < n; ++i) g[i] = float(dx[Eigen::Index(i)]);
  return ms;
}

inline double OneHotMlpCost::cost_of(const Architecture& a) const {
  const std::vector<float> e = space_.encode(a);
  Eigen::VectorXd x(static_cast<Eigen::Index>(e.size()));
  for (size_t i = 0; i < e.size(); ++i) x[Eigen::Index(i)] = e[i];
  return predict(x, nullptr);
}

static_assert(DifferentiableCost<OneHotMlpCost>);

template <class F>
OpTableCost linearised_cost(const SearchSpace& space, const Shape& chw, F&& predict, const Architecture& base,
                            std::string unit) {
  space.check(base);
  Supernet net(space);  // describes any path without building it
  auto at = [&](const Architecture& a) {
    net.set_path(a);
    return double(predict(net.describe(chw)));
  };
  const double fixed = at(base);
  std::vector<double> table(space.layers() * kOpsPerLayer, 0.0);
  for (size_t l = 0; l < space.layers(); ++l)
    for (int op = 0; op < kOpsPerLayer; ++op) {
      if (!space.allowed(l, op) || op == base[l]) continue;
      Architecture a = base;
      a[l] = op;
      table[l * kOpsPerLayer + size_t(op)] = at(a) - fixed;
    }
  return OpTableCost(fixed, std::move(table), std::move(unit));
}

template <hw::InterleavingDevice D>
OpTableCost in_sample_units(const OpTableCost& table, D& device, const SearchSpace& space, const Shape& chw,
                            const std::vector<const hw::LatencySample*>& samples, size_t n) {
  if (samples.empty() || n == 0) throw Error("lightnas::in_sample_units: needs at least one measured sample");
  const size_t k = std::min(n, samples.size());
  std::vector<std::unique_ptr<nn::Sequential>> nets;
  std::vector<nn::Module*> mods;
  std::vector<double> then;
  for (size_t i = 0; i < k; ++i) {
    const hw::LatencySample* s = samples[i * samples.size() / k];
    mods.push_back(nets.emplace_back(space.build(architecture_from_key(space, s->name))).get());
    then.push_back(s->m.median_ms);
  }
  const std::vector<hw::Measurement> now = device.measure_many(mods, chw);
  std::vector<double> ratio;
  for (size_t i = 0; i < k; ++i) ratio.push_back(then[i] / now[i].median_ms);
  std::sort(ratio.begin(), ratio.end());
  return table.scaled(k % 2 ? ratio[k / 2] : 0.5 * (ratio[k / 2 - 1] + ratio[k / 2]));
}

template <hw::InterleavingDevice D>
OpTableCost measured_op_table(D& device, const SearchSpace& space, const Shape& chw) {
  std::vector<double> table(space.layers() * kOpsPerLayer, 0.0);
  Shape shape = chw;
  std::vector<LayerDesc> unused;
  auto stem = space.make_stem();
  const double stem_ms = device.measure(*stem, chw).median_ms;
  shape = stem->describe_layers(shape, unused, "stem");
  for (size_t l = 0; l < space.layers(); ++l) {
    std::vector<std::unique_ptr<nn::Module>> ops;
    std::vector<nn::Module*> mods;
    std::vector<int> index;
    for (int op = 0; op < kOpsPerLayer; ++op)
      if (space.allowed(l, op) && op != kSkipOp) mods.push_back(ops.emplace_back(space.make_op(l, op)).get()), index.push_back(op);
    const std::vector<hw::Measurement> ms = device.measure_many(mods, shape);
    for (size_t i = 0; i < mods.size(); ++i) table[l * kOpsPerLayer + size_t(index[i])] = ms[i].median_ms;
    shape = mods[0]->describe_layers(shape, unused, "op");
  }
  auto head = space.make_head();
  const double head_ms = device.measure(*head, shape).median_ms;
  return OpTableCost(stem_ms + head_ms, std::move(table), "ms");
}

template <DifferentiableCost C>
hw::PredictionReport evaluate_cost(const C& cost, const SearchSpace& space,
                                   const std::vector<const hw::LatencySample*>& samples) {
  std::vector<double> predicted, measured;
  for (const hw::LatencySample* s : samples) {
    predicted.push_back(cost.cost_of(architecture_from_key(space, s->name)));
    measured.push_back(s->m.median_ms);
  }
  return hw::prediction_report(predicted, measured);
}

}  // namespace hwaware::lightnas
