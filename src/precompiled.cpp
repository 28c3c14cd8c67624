// The hwaware::precompiled library: the entry points core/precompiled.hpp names, compiled once so
// that a program linking it compiles only its own code. Built with HWAWARE_PRECOMPILED and
// HWAWARE_BUILDING_PRECOMPILED (CMakeLists.txt).
#include <hwaware/zerobn.hpp>

namespace hwaware {
template class ZeroBN<hw::MlpLatencyPredictor, zerobn::GlobalBnRanking, hw::OnednnCpuDevice>;
}  // namespace hwaware

namespace hwaware::hw {
template MlpLatencyPredictor cached_mlp_predictor<MlpLatencyPredictor>(OnednnCpuDevice&, const std::string&,
                                                                      const std::string&, PredictorCacheOptions);
template KernelMlpPredictor cached_mlp_predictor<KernelMlpPredictor>(OnednnCpuDevice&, const std::string&,
                                                                    const std::string&, PredictorCacheOptions);
}  // namespace hwaware::hw
