#pragma once
// ZeroBN: one-shot, budget-guaranteed channel pruning inside one training run, with its
// baselines (Network Slimming, uniform width) as Pruner policies, and what a program using it
// needs besides: the zoo, Fashion-MNIST, this CPU as the device, the cached latency predictor.
#include "hwaware/data/dataset.hpp"
#include "hwaware/hw/device.hpp"
#include "hwaware/hw/predicted_device.hpp"
#include "hwaware/hw/predictor_cache.hpp"
#include "hwaware/methods/zerobn/baselines.hpp"
#include "hwaware/methods/zerobn/ranking.hpp"
#include "hwaware/methods/zerobn/zerobn.hpp"
#include "hwaware/models/zoo.hpp"
