#pragma once
// LutPredictor: the lookup-table baseline (FBNet, HW-NAS-Bench): every op measured in isolation,
// a network predicted as the sum of its ops' table entries. It misses what happens between ops
// (cache state, layout changes, a layer measured alone keeps its weights hot), which is what the
// learned predictor is for; here it gets its fairest form — interpolation for channel counts that
// were not measured.
//
// Ops (lut_ops): a network is cut into the kernels the runtime runs, each a head layer plus the
// layers fused into it:
//   - conv2d followed by batchnorm2d: one op (the BN is folded into the conv's weights at
//     inference and its fused ReLU becomes a post-op). A layer sample whose description is
//     [conv2d, batchnorm2d] is therefore the measurement of the fused conv+BN(+ReLU), and the
//     batchnorm2d after a conv contributes nothing of its own;
//   - add followed by relu: one op (the residual tail, measured together);
//   - flatten: no op (a view);
//   - any other layer: its own op.
// The table key is the op's signature — head type, in_h, in_w, kernel, stride, dense / depthwise
// / grouped, fused ReLU — plus its channels (in_c, out_c).
//
// Lookup for (signature, in_c, out_c):
//   1. a measured entry: its latency (the mean if measured several times);
//   2. bilinear interpolation in (in_c, out_c) over the signature's measured grid, when the four
//      surrounding grid points were measured; outside the grid, the nearest grid point's value
//      scaled in proportion to MACs (∝ in_c·out_c for dense convs and linear layers, out_c for
//      depthwise convs, channels for the rest);
//   3. otherwise (scattered entries, e.g. depthwise convs measured only on the diagonal), linear
//      in MACs between the signature's entries with the next lower and next higher MACs, or in
//      proportion to MACs beyond them;
//   4. a signature never measured: the entry whose MACs per output pixel are nearest (same head
//      type and conv grouping if there is one, else any), scaled in proportion to MACs; counted
//      by misses().
//
// File format (text, version 1; readable from any language):
//   hwaware-lut-latency 1
//   {"device":...}                       the Fingerprint, one JSON line
//   entries <n>
//   columns type in_h in_w kernel stride grouping fused_relu in_c out_c out_hw macs ms samples
//   <n lines, one entry each; grouping ∈ {dense, depthwise, grouped}, fused_relu ∈ {0, 1}>
//   end
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "hwaware/core/atomic_file.hpp"
#include "hwaware/core/error.hpp"
#include "hwaware/hw/detail/text_model_io.hpp"
#include "hwaware/hw/features.hpp"
#include "hwaware/hw/predictor_concept.hpp"

namespace hwaware::hw {

/// What a table entry is keyed on, besides its channel counts.
struct LutSignature {
  LayerKind kind = LayerKind::conv2d;  // the head layer's
  int64_t in_h = 1, in_w = 1, kernel = 1, stride = 1;
  std::string grouping = "dense";  // dense, depthwise or grouped (convolutions)
  bool fused_relu = false;         // conv: the BN after it has a fused ReLU; add: a ReLU follows

  // Ordered by the kind's name: the saved file lists the tables in this order.
  auto tie() const { return std::make_tuple(to_string(kind), in_h, in_w, kernel, stride, std::cref(grouping), fused_relu); }
  bool operator<(const LutSignature& o) const { return tie() < o.tie(); }
  bool operator==(const LutSignature& o) const { return tie() == o.tie(); }
  std::string str() const {
    return std::string(to_string(kind)) + " " + std::to_string(in_h) + "x" + std::to_string(in_w) + " k" + std::to_string(kernel) + " s" +
           std::to_string(stride) + " " + grouping + (fused_relu ? " +relu" : "");
  }
};

/// One runtime op of a network: layers [first, first + count) of the description.
struct LutOp {
  size_t first = 0, count = 1;
  LutSignature sig;
  int64_t in_c = 0, out_c = 0;
  int64_t macs = 0;    // the head layer's
  int64_t out_hw = 1;  // the head layer's output pixels
};

/// Cuts a description into the ops the runtime runs (conventions in the header comment).
inline std::vector<LutOp> lut_ops(const NetDesc& net) {
  std::vector<LutOp> ops;
  for (size_t i = 0; i < net.size(); ++i) {
    const LayerDesc& d = net[i];
    if (d.kind == LayerKind::flatten) continue;
    LutOp op;
    op.first = i;
    op.sig.kind = d.kind;
    op.sig.in_h = d.in_h, op.sig.in_w = d.in_w, op.sig.kernel = d.kernel, op.sig.stride = d.stride;
    op.sig.fused_relu = d.fused_relu;
    op.in_c = d.in_c, op.out_c = d.out_c, op.macs = d.macs, op.out_hw = d.out_h * d.out_w;
    if (d.kind == LayerKind::conv2d) {
      const FeatureKind k = feature_kind(d);
      op.sig.grouping = k == FeatureKind::conv_depthwise ? "depthwise" : k == FeatureKind::conv_grouped ? "grouped" : "dense";
      if (i + 1 < net.size() && net[i + 1].kind == LayerKind::batchnorm2d) {
        op.count = 2;
        op.sig.fused_relu = net[i + 1].fused_relu;
      }
    } else if (d.kind == LayerKind::add && i + 1 < net.size() && net[i + 1].kind == LayerKind::relu) {
      op.count = 2;
      op.sig.fused_relu = true;
    }
    i += op.count - 1;
    ops.push_back(std::move(op));
  }
  return ops;
}

/// Lookup-table latency predictor built from layer samples. Satisfies Predictor.
class LutPredictor {
 public:
  static constexpr const char* kFormat = "hwaware-lut-latency";
  static constexpr int kFormatVersion = 1;

  struct Entry {
    int64_t in_c = 0, out_c = 0, out_hw = 1, macs = 0;
    double ms = 0;
    int samples = 0;  // measurements averaged into ms
  };

  LutPredictor() = default;
  explicit LutPredictor(Fingerprint fingerprint) : fingerprint_(std::move(fingerprint)) {}
  LutPredictor(const LutPredictor& o) { *this = o; }
  LutPredictor& operator=(const LutPredictor& o) {
    fingerprint_ = o.fingerprint_, tables_ = o.tables_, ignored_ = o.ignored_;
    misses_.store(o.misses_.load());
    return *this;
  }

  /// A table from samples measured in isolation: every sample whose description is exactly one
  /// op (a layer sample) becomes an entry; others (whole networks) are skipped and counted by
  /// ignored(). Throws when no sample is usable.
  static LutPredictor build(const std::vector<const LatencySample*>& samples, Fingerprint fingerprint = {}) {
    LutPredictor p(std::move(fingerprint));
    for (const LatencySample* s : samples) {
      const auto ops = lut_ops(s->layers);
      if (ops.size() != 1 || !(s->m.median_ms > 0)) {
        ++p.ignored_;
        continue;
      }
      p.insert(ops[0], s->m.median_ms, 1);
    }
    if (p.tables_.empty()) throw Error("LutPredictor::build: no usable layer sample among " + std::to_string(samples.size()));
    for (auto& [sig, t] : p.tables_) t.sort();
    return p;
  }

  /// Adds one measurement of an op (averaged with earlier ones of the same signature and channels).
  void add_measurement(const LutOp& op, double ms, int samples = 1) {
    insert(op, ms, samples);
    tables_[op.sig].sort();
  }

  double predict_ms(const NetDesc& net) const {
    double t = 0;
    for (const LutOp& op : lut_ops(net)) t += op_ms(op);
    return t;
  }
  std::vector<double> predict_batch_ms(const std::vector<NetDesc>& nets) const {
    std::vector<double> r;
    r.reserve(nets.size());
    for (const auto& n : nets) r.push_back(predict_ms(n));
    return r;
  }

  /// The table's latency for one op (rules 1–4 of the header comment).
  double op_ms(const LutOp& op) const;

  std::string name() const { return "lut"; }
  /// Lookups whose signature had no entry at all (rule 4), since construction or reset_misses().
  int64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  void reset_misses() { misses_.store(0); }
  /// Samples build() skipped because they were not a single op.
  int64_t ignored() const { return ignored_; }
  size_t signatures() const { return tables_.size(); }
  size_t entries() const {
    size_t n = 0;
    for (const auto& [sig, t] : tables_) n += t.entries.size();
    return n;
  }
  const Fingerprint& fingerprint() const { return fingerprint_; }
  void set_fingerprint(Fingerprint f) { fingerprint_ = std::move(f); }

  /// Writes the table (text format in the header comment) atomically.
  void save(const std::string& path) const;
  /// Reads a table; refuses another fingerprint than `expected` (naming the field) and a
  /// corrupt or truncated file (FileError naming the file and line).
  static LutPredictor load(const std::string& path, const Fingerprint* expected = nullptr);

 private:
  struct Table {
    std::vector<Entry> entries;   // sorted by (in_c, out_c)
    std::vector<int64_t> xs, ys;  // the distinct in_c and out_c measured (the grid's lines)
    std::vector<size_t> by_macs;  // entry indices in order of MACs
    std::vector<double> log_mpp;  // log(MACs per output pixel) of each entry
    void sort() {
      std::sort(entries.begin(), entries.end(),
                [](const Entry& a, const Entry& b) { return std::tie(a.in_c, a.out_c) < std::tie(b.in_c, b.out_c); });
      xs.clear(), ys.clear();
      for (const Entry& e : entries) xs.push_back(e.in_c), ys.push_back(e.out_c);
      std::sort(xs.begin(), xs.end()), xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
      std::sort(ys.begin(), ys.end()), ys.erase(std::unique(ys.begin(), ys.end()), ys.end());
      by_macs.resize(entries.size());
      std::iota(by_macs.begin(), by_macs.end(), size_t(0));
      std::stable_sort(by_macs.begin(), by_macs.end(),
                       [&](size_t a, size_t b) { return entries[a].macs < entries[b].macs; });
      log_mpp.clear();
      for (const Entry& e : entries)
        log_mpp.push_back(std::log(double(std::max<int64_t>(e.macs, 1)) / double(std::max<int64_t>(e.out_hw, 1))));
    }
    const Entry* find(int64_t ci, int64_t co) const {
      auto it = std::lower_bound(entries.begin(), entries.end(), std::make_pair(ci, co),
                                 [](const Entry& e, const std::pair<int64_t, int64_t>& k) {
                                   return std::tie(e.in_c, e.out_c) < std::tie(k.first, k.second);
                                 });
      return it != entries.end() && it->in_c == ci && it->out_c == co ? &*it : nullptr;
    }
  };

  void insert(const LutOp& op, double ms, int samples) {
    Table& t = tables_[op.sig];
    auto it = std::find_if(t.entries.begin(), t.entries.end(),
                           [&](const Entry& e) { return e.in_c == op.in_c && e.out_c == op.out_c; });
    if (it == t.entries.end()) {
      t.entries.push_back({op.in_c, op.out_c, op.out_hw, op.macs, ms, samples});
    } else {
      it->ms = (it->ms * it->samples + ms * samples) / (it->samples + samples);
      it->samples += samples;
    }
  }
  static double macs_scale(const LutSignature& sig, double ci, double co) {
    if (sig.kind == LayerKind::conv2d || sig.kind == LayerKind::linear) {
      if (sig.grouping == "depthwise") return co;
      return ci * co;
    }
    return ci;
  }
  double grid_or_macs(const LutSignature& sig, const Table& t, const LutOp& op) const;
  double nearest_signature(const LutOp& op) const;

  Fingerprint fingerprint_;
  std::map<LutSignature, Table> tables_;
  int64_t ignored_ = 0;
  mutable std::atomic<int64_t> misses_{0};
};

static_assert(Predictor<LutPredictor>);

// ---- implementation ----------------------------------------------------------------------------

inline double LutPredictor::op_ms(const LutOp& op) const {
  const auto it = tables_.find(op.sig);
  if (it == tables_.end() || it->second.entries.empty()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nearest_signature(op);
  }
  if (const Entry* e = it->second.find(op.in_c, op.out_c)) return e->ms;
  return grid_or_macs(op.sig, it->second, op);
}

inline double LutPredictor::grid_or_macs(const LutSignature& sig, const Table& t, const LutOp& op) const {
  // Rule 2: bilinear over the grid of measured (in_c, out_c).
  auto bracket = [](const std::vector<int64_t>& v, int64_t q) {
    if (q <= v.front()) return std::make_pair(v.front(), v.front());
    if (q >= v.back()) return std::make_pair(v.back(), v.back());
    const auto hi = std::lower_bound(v.begin(), v.end(), q);
    return *hi == q ? std::make_pair(q, q) : std::make_pair(*(hi - 1), *hi);
  };
  const auto [x0, x1] = bracket(t.xs, op.in_c);
  const auto [y0, y1] = bracket(t.ys, op.out_c);
  const Entry *e00 = t.find(x0, y0), *e01 = t.find(x0, y1), *e10 = t.find(x1, y0), *e11 = t.find(x1, y1);
  if (e00 && e01 && e10 && e11) {
    const double qx = std::clamp<double>(double(op.in_c), double(x0), double(x1));
    const double qy = std::clamp<double>(double(op.out_c), double(y0), double(y1));
    const double fx = x1 == x0 ? 0.0 : (qx - double(x0)) / double(x1 - x0);
    const double fy = y1 == y0 ? 0.0 : (qy - double(y0)) / double(y1 - y0);
    const double v = (1 - fx) * (1 - fy) * e00->ms + (1 - fx) * fy * e01->ms + fx * (1 - fy) * e10->ms + fx * fy * e11->ms;
    // Outside the grid: in proportion to MACs from the nearest grid point.
    return v * macs_scale(sig, double(op.in_c), double(op.out_c)) / macs_scale(sig, qx, qy);
  }
  // Rule 3: linear in MACs between the neighbours by MACs.
  // by_macs is ordered by MACs: the first entry at or above the query, and the last at or below.
  const auto hi = std::lower_bound(t.by_macs.begin(), t.by_macs.end(), op.macs,
                                   [&](size_t i, int64_t m) { return t.entries[i].macs < m; });
  const auto lo = std::upper_bound(t.by_macs.begin(), t.by_macs.end(), op.macs,
                                   [&](int64_t m, size_t i) { return m < t.entries[i].macs; });
  const Entry* above = hi != t.by_macs.end() ? &t.entries[*hi] : nullptr;
  const Entry* below = lo != t.by_macs.begin() ? &t.entries[*(lo - 1)] : nullptr;
  const double q = double(std::max<int64_t>(op.macs, 1));
  if (below && above) {
    if (above->macs == below->macs) return 0.5 * (below->ms + above->ms);
    const double f = (q - double(below->macs)) / double(above->macs - below->macs);
    return below->ms + f * (above->ms - below->ms);
  }
  const Entry* e = below ? below : above;
  return e->ms * q / double(std::max<int64_t>(e->macs, 1));
}

inline double LutPredictor::nearest_signature(const LutOp& op) const {
  if (tables_.empty()) throw Error("LutPredictor: the table is empty (build or load it first)");
  const double q_macs = double(std::max<int64_t>(op.macs, 1));
  const double q_log_mpp = std::log(q_macs / double(std::max<int64_t>(op.out_hw, 1)));
  const Entry* best = nullptr;
  double best_d = std::numeric_limits<double>::infinity();
  for (int pass = 0; pass < 2 && !best; ++pass)
    for (const auto& [sig, t] : tables_) {
      if (pass == 0 && (sig.kind != op.sig.kind || sig.grouping != op.sig.grouping)) continue;
      for (size_t i = 0; i < t.entries.size(); ++i) {
        const double d = std::abs(t.log_mpp[i] - q_log_mpp);
        if (d < best_d) best_d = d, best = &t.entries[i];
      }
    }
  return best->ms * q_macs / double(std::max<int64_t>(best->macs, 1));
}

inline void LutPredictor::save(const std::string& path) const {
  write_file_atomically(path, [&](std::ostream& out) {
    std::string s = std::string(kFormat) + " " + std::to_string(kFormatVersion) + "\n";
    s += fingerprint_.to_json().dump() + "\n";
    s += "entries " + std::to_string(entries()) + "\n";
    s += "columns type in_h in_w kernel stride grouping fused_relu in_c out_c out_hw macs ms samples\n";
    for (const auto& [sig, t] : tables_)
      for (const Entry& e : t.entries)
        s += std::string(to_string(sig.kind)) + " " + std::to_string(sig.in_h) + " " + std::to_string(sig.in_w) + " " +
             std::to_string(sig.kernel) + " " + std::to_string(sig.stride) + " " + sig.grouping + " " +
             (sig.fused_relu ? "1" : "0") + " " + std::to_string(e.in_c) + " " + std::to_string(e.out_c) + " " +
             std::to_string(e.out_hw) + " " + std::to_string(e.macs) + " " + detail::shortest(e.ms) + " " +
             std::to_string(e.samples) + "\n";
    s += "end\n";
    out << s;
  });
}

inline LutPredictor LutPredictor::load(const std::string& path, const Fingerprint* expected) {
  detail::TextModelReader in(path, "lut latency predictor");
  LutPredictor p(in.read_header(kFormat, kFormatVersion));
  in.check_fingerprint(p.fingerprint_, expected);
  auto t = in.next_tokens("entries");
  if (t.size() != 2) in.fail("expected 'entries <n>'");
  const int64_t n = in.to_int(t[1]);
  if (n < 0) in.fail("negative entry count");
  t = in.next_tokens("columns");
  const std::vector<std::string> columns = {"columns", "type",  "in_h", "in_w", "kernel", "stride", "grouping",
                                            "fused_relu", "in_c", "out_c", "out_hw", "macs",  "ms",   "samples"};
  if (t != columns) in.fail("unexpected column list");
  std::set<std::tuple<LutSignature, int64_t, int64_t>> seen;
  for (int64_t i = 0; i < n; ++i) {
    t = in.next_tokens();
    if (t.size() != 13) in.fail("expected 13 fields, found " + std::to_string(t.size()));
    LutOp op;
    try {
      op.sig.kind = parse_layer_kind(t[0]);
    } catch (const Error& e) {
      in.fail(e.what());
    }
    op.sig.in_h = in.to_int(t[1]), op.sig.in_w = in.to_int(t[2]);
    op.sig.kernel = in.to_int(t[3]), op.sig.stride = in.to_int(t[4]);
    op.sig.grouping = t[5];
    if (op.sig.grouping != "dense" && op.sig.grouping != "depthwise" && op.sig.grouping != "grouped")
      in.fail("grouping must be dense, depthwise or grouped, found '" + t[5] + "'");
    if (t[6] != "0" && t[6] != "1") in.fail("fused_relu must be 0 or 1");
    op.sig.fused_relu = t[6] == "1";
    op.in_c = in.to_int(t[7]), op.out_c = in.to_int(t[8]), op.out_hw = in.to_int(t[9]), op.macs = in.to_int(t[10]);
    const double ms = in.to_double(t[11]);
    const int64_t samples = in.to_int(t[12]);
    if (!(ms > 0) || samples < 1) in.fail("latency must be positive and samples ≥ 1");
    if (!seen.insert({op.sig, op.in_c, op.out_c}).second) in.fail("duplicate entry");
    p.tables_[op.sig].entries.push_back({op.in_c, op.out_c, op.out_hw, op.macs, ms, int(samples)});
  }
  in.next_tokens("end");
  for (auto& [sig, table] : p.tables_) table.sort();
  return p;
}

}  // namespace hwaware::hw
