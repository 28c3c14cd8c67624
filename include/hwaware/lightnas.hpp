#pragma once
// LightNAS (Luo et al., TCAD 2022 / DAC 2022, "you only search once"): differentiable search that
// lands on a latency or energy target in one search by learning its trade-off λ. The search space,
// the weight-sharing supernet, Gumbel-softmax sampling with its straight-through gradient, the
// learned multiplier with the authors' safeguards, costs differentiable in the encoding (MACs, the
// latency models of a device, energy), the search with the device's calibration and landing, and
// the Searcher policies (LightNAS, FBNet's fixed-λ sweep).
#include "hwaware/methods/lightnas/cost_model.hpp"
#include "hwaware/methods/lightnas/gumbel.hpp"
#include "hwaware/methods/lightnas/lambda.hpp"
#include "hwaware/methods/lightnas/latency_model.hpp"
#include "hwaware/methods/lightnas/search.hpp"
#include "hwaware/methods/lightnas/search_space.hpp"
#include "hwaware/methods/lightnas/searchers.hpp"
#include "hwaware/methods/lightnas/supernet.hpp"
