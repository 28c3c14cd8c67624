#pragma once
// KernelMlpPredictor: a learned latency model over the kernels the runtime executes. The network's
// description is first planned (runtime::plan_kernels under the rules of the device's fingerprint:
// its threads, batch, serial-work threshold and conv layouts), then one MLP maps each planned kernel's
// standardised features (kernel_features.hpp) to that kernel's latency, summed (nn-Meter's
// per-kernel sum). A per-layer model sees a conv whose BN, residual add, ReLU, layout, reorders
// and thread count it cannot see; here they are features.
//
//   per kernel:  ms_k = exp(MLP(x_k))          the same MLP, training and float kernel as
//   network:     ms   = Σ_k ms_k + exp(κ)      MlpLatencyPredictor (mlp_predictor.hpp), with
//                                              its loss, options and layer-sample weight
//
// File format (text): MlpLatencyPredictor's layout with its own first line and feature set,
//   hwaware-kernel-mlp-latency 2
//   {"device":...}                           the Fingerprint (its runtime names the serial threshold
//                                            and, below AVX-512, nhwc-convs)
//   vector_block 16
//   features 37 log1p_in_hw ...              kernel_features.hpp's names, checked on load
//   activations relu exp / network_log_ms / sizes / scaling_mean / scaling_scale / weights / end
// The version changes whenever the plan or the feature set does: a file of another version is
// refused (cached predictors are then fitted again).
#include <string>
#include <vector>

#include "hwaware/hw/kernel_features.hpp"
#include "hwaware/hw/mlp_predictor.hpp"

namespace hwaware::hw {

/// Latency predictor: an MLP over the runtime plan's kernels, summed (see the header comment).
/// Satisfies Predictor (not DifferentiablePredictor: the plan is a staircase in the widths).
class KernelMlpPredictor {
 public:
  using FitOptions = MlpFitOptions;
  static constexpr const char* kFormat = "hwaware-kernel-mlp-latency";
  static constexpr int kFormatVersion = 2;

  /// An unfitted predictor for a device; `vector_block` is the channel block nChw16c pads to.
  explicit KernelMlpPredictor(Fingerprint fingerprint = {}, int vector_block = 16)
      : fingerprint_(std::move(fingerprint)), block_(vector_block), config_(runtime_config_of(fingerprint_)) {
    if (block_ < 1) throw Error("KernelMlpPredictor: vector_block must be ≥ 1 (got " + std::to_string(block_) + ")");
  }

  /// Trains on measured samples (kind "network" and/or "layer"), each planned under this
  /// predictor's fingerprint. Deterministic for a given seed. Replaces any previous fit.
  MlpFitReport fit(const std::vector<const LatencySample*>& samples, const FitOptions& options = {}) {
    detail::MlpModel m;
    const auto rep = detail::fit_mlp(
        samples, options, [&](const LatencySample& s) { return network_kernel_features(s.layers, config_, block_); },
        "KernelMlpPredictor::fit", m);
    model_ = std::move(m);
    build_kernel();
    return rep;
  }

  /// Latency (ms) of a network; 0 for an empty description.
  double predict_ms(const NetDesc& net) const {
    double r = 0;
    run_batch(1, [&](size_t) -> const NetDesc& { return net; }, &r);
    return r;
  }

  /// Latencies (ms) of many networks: their planned kernels run through the float kernel in chunks
  /// of up to 128 of one category (detail::run_mlp_batch).
  std::vector<double> predict_batch_ms(const std::vector<NetDesc>& nets) const {
    std::vector<double> r(nets.size());
    run_batch(nets.size(), [&](size_t i) -> const NetDesc& { return nets[i]; }, r.data());
    return r;
  }

  /// The planned kernels of a network with each one's predicted latency (ms, without κ).
  std::vector<std::pair<runtime::Kernel, double>> predict_kernels_ms(const NetDesc& net) const {
    require_fitted("predict_kernels_ms");
    std::vector<std::pair<runtime::Kernel, double>> out;
    const double params = network_params(net);
    for (const auto& k : runtime::plan_kernels(net, config_)) out.emplace_back(k, one_kernel_ms(k, params));
    return out;
  }

  /// Writes the model atomically (temp file + rename).
  void save(const std::string& path) const {
    require_fitted("save");
    detail::save_mlp_model(path, kFormat, kFormatVersion, fingerprint_, block_, kernel_feature_names(), model_);
  }

  /// Reads a model; refuses another format or version, a file fitted under another fingerprint
  /// than `expected` (when given) and a corrupt file, with FileError naming the file and line.
  static KernelMlpPredictor load(const std::string& path, const Fingerprint* expected = nullptr) {
    detail::TextModelReader in(path, "kernel mlp latency predictor");
    const Fingerprint fp = in.read_header(kFormat, kFormatVersion);
    in.check_fingerprint(fp, expected);
    KernelMlpPredictor p(fp, detail::read_vector_block(in));
    p.model_ = detail::read_mlp_model(in, kernel_feature_names());
    p.build_kernel();
    return p;
  }

  std::string name() const { return "kernel-mlp"; }
  bool fitted() const { return model_.mlp.depth() > 0; }
  const Fingerprint& fingerprint() const { return fingerprint_; }
  void set_fingerprint(Fingerprint f) {
    fingerprint_ = std::move(f);
    config_ = runtime_config_of(fingerprint_);
  }
  int vector_block() const { return block_; }
  /// The rules networks are planned under (from the fingerprint).
  const runtime::RuntimeConfig& runtime_config() const { return config_; }
  double network_constant_ms() const { return std::exp(model_.net_log_ms); }
  std::vector<int> sizes() const { return kernel_.sizes; }

 private:
  void require_fitted(const char* what) const {
    if (!fitted()) throw Error(std::string("KernelMlpPredictor::") + what + ": the predictor is not fitted (call fit or load)");
  }
  /// The float kernel's weights, the 0/1 features (kind, layouts, ReLU, groups) folded into per-category biases.
  void build_kernel() {
    kernel_ = detail::build_kernel_weights(model_.mlp, model_.scaling, kKernelLogFeatureCount, kKernelDenseFeatureCount,
                                           kernel_category_hot());
  }
  double one_kernel_ms(const runtime::Kernel& k, double net_params) const {
    Eigen::VectorXd x(kKernelFeatureCount);
    write_raw_kernel_features(k, block_, net_params, x.data());
    x.head(kKernelLogFeatureCount) = x.head(kKernelLogFeatureCount).array().log1p().matrix();
    std::vector<Eigen::MatrixXd> z, a;
    return std::exp(model_.mlp.forward(model_.scaling.apply(x), z, a)[0]);
  }
  template <class NetAt>
  void run_batch(size_t n, NetAt&& net_at, double* result) const {
    require_fitted("predict");
    auto rows = [&](size_t k, auto&& put) {
      const NetDesc& net = net_at(k);
      const double params = network_params(net);
      runtime::for_each_planned_kernel(net, config_, [&](const runtime::Kernel& kern) {
        put(kernel_category(kern),
            [&](float* out, std::ptrdiff_t stride) { write_raw_kernel_dense(kern, block_, params, out, stride); });
      });
    };
    detail::run_mlp_batch(kernel_, model_.net_log_ms, n, rows, result);
  }

  Fingerprint fingerprint_;
  int block_ = 16;
  runtime::RuntimeConfig config_;
  detail::MlpModel model_;
  detail::MlpKernelWeights kernel_;
};

static_assert(Predictor<KernelMlpPredictor>);

}  // namespace hwaware::hw
