#pragma once
// PredictedDevice: a Device whose "measurement" is a predictor's figure. For runs without the
// target hardware at hand (a budget on a device this machine is not), and for tests: the methods
// keep one code path, and the fingerprint says the figures are predictions.
#include <string>
#include <vector>

#include "hwaware/hw/device_concept.hpp"
#include "hwaware/hw/predictor_concept.hpp"
#include "hwaware/nn/module.hpp"

namespace hwaware::hw {

template <Predictor P>
class PredictedDevice {
 public:
  static constexpr bool noise_free = true;
  explicit PredictedDevice(P predictor) : predictor_(std::move(predictor)) {}

  Fingerprint fingerprint() const { return {.device = "predicted:" + std::string(predictor_.name())}; }
  Measurement measure(nn::Module& m, const std::vector<int64_t>& chw) {
    const double ms = predictor_.predict_ms(m.describe(chw));
    return {.median_ms = ms, .min_ms = ms, .runs = 1};
  }
  std::vector<Measurement> measure_many(const std::vector<nn::Module*>& nets, const std::vector<int64_t>& chw) {
    std::vector<Measurement> r;
    for (auto* n : nets) r.push_back(measure(*n, chw));
    return r;
  }
  const P& predictor() const { return predictor_; }

 private:
  P predictor_;
};

}  // namespace hwaware::hw
