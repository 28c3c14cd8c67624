#pragma once
// ZeroBN: one-shot, latency-guaranteed channel pruning inside one training run.
#include "hwaware/methods/zerobn/ranking.hpp"
#include "hwaware/methods/zerobn/zerobn.hpp"
#include "hwaware/methods/zerobn/baselines.hpp"
