#pragma once
// ZeroBN: one-shot, budget-guaranteed channel pruning inside one training run, with its
// baselines (Network Slimming, uniform width) as Pruner policies, and what a program using it
// needs besides: the zoo, Fashion-MNIST, this CPU as the device, the cached latency predictor.
#include "hwaware/core/precompiled.hpp"
#include "hwaware/data/dataset.hpp"
#include "hwaware/hw/device.hpp"
#include "hwaware/hw/predicted_device.hpp"
#include "hwaware/hw/predictor_cache.hpp"
#include "hwaware/methods/zerobn/baselines.hpp"
#include "hwaware/methods/zerobn/ranking.hpp"
#include "hwaware/methods/zerobn/zerobn.hpp"
#include "hwaware/models/zoo.hpp"

#if !HWAWARE_ENTRY_DEFINITIONS  // compiled once into hwaware::precompiled (core/precompiled.hpp)
namespace hwaware {
extern template class ZeroBN<hw::MlpLatencyPredictor, zerobn::GlobalBnRanking, hw::OnednnCpuDevice>;
}  // namespace hwaware
#endif
