#pragma once
// MeasuredDevice: the measurement protocol every method decides on, over any Device. A shared
// host moves a network's latency, and even the ratio of two networks, between sessions seconds
// apart; one reading must not decide a budget. So:
//   - a figure is the median of `sessions` sessions, each measuring the network interleaved with
//     a reference network (the full one), and scaled by reference-at-start / reference-now (the
//     machine's drift since the run started);
//   - an architecture's latency is the median of all its figures in the run (keyed by the
//     caller's architecture key);
//   - a judgment against a budget re-measures a near miss (within recheck_margin) before it
//     counts, and does not believe a miss taken while the reference reads beyond drift_tolerance
//     off its start: that figure is dropped and taken again after a pause.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hwaware/hw/device_concept.hpp"
#include "hwaware/nn/module.hpp"
#include "hwaware/report/log.hpp"

namespace hwaware::hw {

/// How device figures are taken (see the top of this header).
struct MeasurementProtocol {
  int sessions = 3;                // a figure is the median of this many interleaved sessions
  bool drift_reference = true;     // measure beside the reference and correct for its drift
  int rechecks = 2;                // a near miss is measured again up to this often ...
  double recheck_margin = 0.15;    // ... when it misses by less than this share of the budget
  double drift_tolerance = 0.15;   // a miss while the reference reads this far off its start ...
  int drift_waits = 20;            // ... is dropped and re-measured after a pause, this often per run
  double drift_wait_seconds = 3;
};

/// One device figure of an architecture.
struct Figure {
  double ms = 0;                           // drift-corrected (the median session)
  double raw_ms = 0;                       // the same session before the correction
  std::optional<double> reference_now_ms;  // the reference in that session (none: no reference)
  double median_ms = 0;                    // median of all figures of this architecture so far
  size_t count = 0;                        // how many figures that median has
};

/// The outcome of judging an architecture against a budget.
struct Verdict {
  bool met = false;
  double ms = 0;      // the median the verdict rests on
  Figure last;        // the last figure taken
  int figures = 0;    // figures taken for this verdict (rechecks included)
  int waits = 0;      // figures dropped because the machine had drifted
};

/// A Device wrapped with the protocol above. Holds a reference to the device (which must
/// outlive it) and, once `set_reference` is called, the reference network.
template <Device D>
class MeasuredDevice {
 public:
  using Key = std::vector<int64_t>;

  MeasuredDevice(D& device, MeasurementProtocol protocol, std::vector<int64_t> chw, report::Log log = report::Log{false})
      : device_(device), protocol_(protocol), chw_(std::move(chw)), log_(log) {
    if constexpr (NoiseFreeDevice<D>) protocol_.sessions = 1, protocol_.rechecks = 0;  // repeats add nothing
  }

  D& device() { return device_; }
  const MeasurementProtocol& protocol() const { return protocol_; }
  const std::vector<int64_t>& input_chw() const { return chw_; }

  /// Medians over `sessions` interleaved sessions of `a` and `b` (no drift correction): how the
  /// run's starting point (the reference and the smallest network, say) is taken.
  std::pair<double, double> measure_both(nn::Module& a, nn::Module& b) {
    std::vector<double> x, y;
    for (int i = 0; i < std::max(1, protocol_.sessions); ++i) {
      const auto [ma, mb] = session(a, &b);
      x.push_back(ma), y.push_back(*mb);
    }
    return {median(x), median(y)};
  }
  /// The same, taken again after a pause (up to `rechecks` times) while `holds(a_ms, b_ms)` is
  /// false: a rejection rests on more than one reading of a machine that may be busy.
  template <class Holds>
  std::pair<double, double> measure_both(nn::Module& a, nn::Module& b, Holds&& holds) {
    auto m = measure_both(a, b);
    for (int i = 0; i < protocol_.rechecks && !holds(m.first, m.second); ++i) {
      std::this_thread::sleep_for(std::chrono::duration<double>(protocol_.drift_wait_seconds));
      m = measure_both(a, b);
    }
    return m;
  }

  /// From here on figures are corrected by the drift of `net`, whose latency now is `ms`.
  /// Without an interleaving device or with drift_reference off, nothing is corrected.
  void set_reference(std::unique_ptr<nn::Module> net, double ms) {
    if (!protocol_.drift_reference || !InterleavingDevice<D>) return;
    reference_ = std::move(net), reference_ms_ = ms;
  }
  std::optional<double> reference_ms() const {
    return reference_ ? std::optional<double>(reference_ms_) : std::nullopt;
  }
  /// The reference as last measured (none before the first figure or without a reference).
  std::optional<double> reference_now_ms() const { return reference_now_; }
  /// True when the reference last read beyond drift_tolerance off its start.
  bool drifted() const {
    return reference_ && reference_now_ && std::abs(*reference_now_ / reference_ms_ - 1) > protocol_.drift_tolerance;
  }

  /// A figure of `net` (not recorded in any history).
  Figure measure(nn::Module& net) { return measure_at(net, chw_); }
  /// The same on inputs of another per-image shape (a network at a scaled resolution); the
  /// reference keeps its own, so the device must measure mixed shapes in one session.
  Figure measure_at(nn::Module& net, const std::vector<int64_t>& chw) {
    ++figures_;
    struct Session {
      double corrected, raw;
      std::optional<double> ref;
    };
    std::vector<Session> s;
    for (int i = 0; i < std::max(1, protocol_.sessions); ++i) {
      const auto [ms, ref] = session(net, reference_.get(), chw);
      s.push_back({ref ? ms * reference_ms_ / *ref : ms, ms, ref});
    }
    std::stable_sort(s.begin(), s.end(), [](const Session& a, const Session& b) { return a.corrected < b.corrected; });
    const Session& m = s[(s.size() - 1) / 2];  // the median session (the lower one of an even count)
    if (m.ref) reference_now_ = m.ref;
    return {m.corrected, m.raw, m.ref, m.corrected, 1};
  }

  /// A figure of `net`, recorded under `key`; its median_ms is the median of all of key's figures.
  Figure measure(nn::Module& net, const Key& key) { return measure(net, key, chw_); }
  Figure measure(nn::Module& net, const Key& key, const std::vector<int64_t>& chw) {
    Figure f = measure_at(net, chw);
    auto& h = history_[key];
    h.push_back(f.ms);
    f.median_ms = median(h), f.count = h.size();
    log_.line("device: %s %.4f ms (median of its %zu figures %.4f ms)", key_str(key).c_str(), f.ms, f.count,
              f.median_ms);
    return f;
  }

  /// Median of the figures recorded under `key` (none if it was never measured).
  std::optional<double> known_ms(const Key& key) const {
    const auto it = history_.find(key);
    return it == history_.end() || it->second.empty() ? std::nullopt : std::optional<double>(median(it->second));
  }

  /// Judges `net` (recorded under `key`) against `budget_ms` with the rechecks and drift pauses.
  Verdict judge(nn::Module& net, const Key& key, double budget_ms) { return judge(net, key, budget_ms, chw_); }
  Verdict judge(nn::Module& net, const Key& key, double budget_ms, const std::vector<int64_t>& chw) {
    Verdict v;
    auto take = [&] {
      v.last = measure(net, key, chw), ++v.figures;
      // A miss on a drifted machine is not evidence: drop it, pause, take it again.
      while (v.last.median_ms > budget_ms && drifted() && waits_ < protocol_.drift_waits) {
        ++waits_, ++v.waits;
        history_[key].pop_back();
        log_.line("device: the reference reads %.3f× its start, %.4f ms not counted; pausing %.0f s",
                  *reference_now_ / reference_ms_, v.last.ms, protocol_.drift_wait_seconds);
        std::this_thread::sleep_for(std::chrono::duration<double>(protocol_.drift_wait_seconds));
        v.last = measure(net, key, chw), ++v.figures;
      }
    };
    take();
    for (int k = 0; k < protocol_.rechecks && v.last.median_ms > budget_ms &&
                    v.last.median_ms <= (1 + protocol_.recheck_margin) * budget_ms;
         ++k)
      take();
    v.ms = v.last.median_ms, v.met = v.ms <= budget_ms;
    return v;
  }

  int figures() const { return figures_; }        // figures taken (each `sessions` sessions)
  int drift_waits() const { return waits_; }      // figures dropped on a drifted machine

  static std::string key_str(const Key& k) {
    std::string out;
    for (auto c : k) out += (out.empty() ? "" : ",") + std::to_string(c);
    return out;
  }

 private:
  /// One session: `net`'s median, and `other`'s beside it (interleaved when the device can).
  std::pair<double, std::optional<double>> session(nn::Module& net, nn::Module* other) { return session(net, other, chw_); }
  /// The same with `net` on inputs of shape `chw` (`other` keeps the device's).
  std::pair<double, std::optional<double>> session(nn::Module& net, nn::Module* other, const std::vector<int64_t>& chw) {
    if (!other) return {device_.measure(net, chw).median_ms, std::nullopt};
    if (chw != chw_) {
      if constexpr (ShapedInterleavingDevice<D>) {
        const auto m = device_.measure_many(std::vector<nn::Module*>{&net, other}, std::vector<std::vector<int64_t>>{chw, chw_});
        return {m[0].median_ms, m[1].median_ms};
      } else {
        const double a = device_.measure(net, chw).median_ms;
        return {a, device_.measure(*other, chw_).median_ms};
      }
    } else if constexpr (InterleavingDevice<D>) {
      const auto m = device_.measure_many(std::vector<nn::Module*>{&net, other}, chw_);
      return {m[0].median_ms, m[1].median_ms};
    } else {
      const double a = device_.measure(net, chw_).median_ms;
      return {a, device_.measure(*other, chw_).median_ms};
    }
  }

  D& device_;
  MeasurementProtocol protocol_;
  std::vector<int64_t> chw_;
  report::Log log_;
  std::unique_ptr<nn::Module> reference_;
  double reference_ms_ = 0;
  std::optional<double> reference_now_;
  std::map<Key, std::vector<double>> history_;
  int figures_ = 0, waits_ = 0;
};

}  // namespace hwaware::hw
