#pragma once
// DenseMlp: the small fully connected network the learned predictors share (Eigen, double):
// ReLU hidden layers, a linear output, forward and back-propagation to the weights and to the
// inputs (the input gradient is what a differentiable search needs).
#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <span>
#include <vector>

#include "hwaware/optim/adam.hpp"

namespace hwaware::hw {

/// Runs Eigen single-threaded while in scope: the products of these small networks are far
/// slower split over OpenMP threads (a fit took 28 s instead of 1 s on 2 busy cores).
class EigenSingleThread {
 public:
  EigenSingleThread() : saved_(Eigen::nbThreads()) { Eigen::setNbThreads(1); }
  ~EigenSingleThread() { Eigen::setNbThreads(saved_); }
  EigenSingleThread(const EigenSingleThread&) = delete;
  EigenSingleThread& operator=(const EigenSingleThread&) = delete;

 private:
  int saved_;
};

struct DenseMlp {
  std::vector<Eigen::MatrixXd> w;  // per layer: out × in
  std::vector<Eigen::VectorXd> b;

  size_t depth() const { return w.size(); }

  /// He-initialised layers of sizes[0] → … → sizes.back() (the output layer scaled by
  /// `output_scale`), biases 0, drawn from `rng` layer by layer.
  static DenseMlp he_init(const std::vector<int>& sizes, std::mt19937_64& rng, double output_scale = 0.1) {
    DenseMlp mlp;
    for (size_t l = 0; l + 1 < sizes.size(); ++l) {
      const bool last = l + 2 == sizes.size();
      std::normal_distribution<double> g(0.0, (last ? output_scale : 1.0) * std::sqrt(2.0 / sizes[l]));
      Eigen::MatrixXd wl(sizes[l + 1], sizes[l]);
      for (Eigen::Index i = 0; i < wl.size(); ++i) wl.data()[i] = g(rng);
      mlp.w.push_back(std::move(wl));
      mlp.b.push_back(Eigen::VectorXd::Zero(sizes[l + 1]));
    }
    return mlp;
  }

  /// x: inputs × N. Fills z (pre-activations) and a (a[0] = x, a[l+1] = relu(z[l]) for hidden
  /// layers); returns the outputs (1 × N).
  Eigen::RowVectorXd forward(const Eigen::MatrixXd& x, std::vector<Eigen::MatrixXd>& z,
                             std::vector<Eigen::MatrixXd>& a) const {
    z.resize(depth());
    a.resize(depth());
    a[0] = x;
    for (size_t l = 0; l < depth(); ++l) {
      z[l].noalias() = w[l] * a[l];
      z[l].colwise() += b[l];
      if (l + 1 < depth()) a[l + 1] = z[l].cwiseMax(0.0);
    }
    return z.back().row(0);
  }

  /// Back-propagates dL/d(outputs) (1 × N). Fills the weight and bias gradients when gw/gb are
  /// given and dL/dx when dx is.
  void backward(const std::vector<Eigen::MatrixXd>& z, const std::vector<Eigen::MatrixXd>& a,
                const Eigen::RowVectorXd& d_out, std::vector<Eigen::MatrixXd>* gw, std::vector<Eigen::VectorXd>* gb,
                Eigen::MatrixXd* dx) const {
    Eigen::MatrixXd dz = d_out;
    for (size_t l = depth(); l-- > 0;) {
      if (gw) (*gw)[l].noalias() = dz * a[l].transpose();
      if (gb) (*gb)[l] = dz.rowwise().sum();
      if (l == 0 && !dx) break;
      Eigen::MatrixXd da = w[l].transpose() * dz;
      if (l == 0) {
        *dx = std::move(da);
        break;
      }
      dz = (z[l - 1].array() > 0.0).select(da, 0.0);
    }
  }
};

/// Adam (Kingma & Ba 2015, β (0.9, 0.999)) over every parameter of a DenseMlp: its moments and
/// room for the gradients (gw, gb) a backward fills.
struct DenseMlpAdam {
  std::vector<Eigen::MatrixXd> mw, vw, gw;
  std::vector<Eigen::VectorXd> mb, vb, gb;

  explicit DenseMlpAdam(const DenseMlp& mlp)
      : mw(mlp.depth()), vw(mlp.depth()), gw(mlp.depth()), mb(mlp.depth()), vb(mlp.depth()), gb(mlp.depth()) {
    for (size_t l = 0; l < mlp.depth(); ++l) {
      mw[l] = vw[l] = Eigen::MatrixXd::Zero(mlp.w[l].rows(), mlp.w[l].cols());
      mb[l] = vb[l] = Eigen::VectorXd::Zero(mlp.b[l].size());
    }
  }

  /// One step (`step` ≥ 1) with the gradients in gw/gb: L2 decay on the weights, none on biases.
  void step(DenseMlp& mlp, int step, double lr, double weight_decay) {
    const optim::AdamOptions adam{.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .decoupled = false};
    auto span_of = [](auto& x) { return std::span<double>(x.data(), size_t(x.size())); };
    for (size_t l = 0; l < mlp.depth(); ++l) {
      optim::adam_step<double>(span_of(mlp.w[l]), span_of(gw[l]), span_of(mw[l]), span_of(vw[l]), step, lr,
                               weight_decay > 0 ? weight_decay : 0.0, adam);
      optim::adam_step<double>(span_of(mlp.b[l]), span_of(gb[l]), span_of(mb[l]), span_of(vb[l]), step, lr, 0.0,
                               adam);
    }
  }
};

}  // namespace hwaware::hw
