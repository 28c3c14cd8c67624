#pragma once
// Every policy's contract in one place. Each concept is declared beside the types it speaks of
// and documented there as a named requirement (required expressions, what they guarantee):
//
// | concept                    | header                          | default policy                     |
// |----------------------------|---------------------------------|------------------------------------|
// | KernelBackend              | backend/kernel_backend.hpp      | onednn::Backend (reference: oracle)|
// | hw::Device                 | hw/device_concept.hpp           | hw::OnednnCpuDevice                |
// | hw::InterleavingDevice     | hw/device_concept.hpp           | hw::OnednnCpuDevice                |
// | hw::ShapedInterleavingDevice| hw/device_concept.hpp          | hw::OnednnCpuDevice                |
// | hw::NoiseFreeDevice        | hw/device_concept.hpp           | hw::PredictedDevice<P>             |
// | hw::Predictor              | hw/predictor_concept.hpp        | hw::MlpLatencyPredictor            |
// | hw::DifferentiablePredictor| hw/predictor_concept.hpp        | hw::MlpLatencyPredictor            |
// | hw::EnergyPredictor        | hw/predictor_concept.hpp        | hw::AnalyticPredictor              |
// | zerobn::Ranking            | methods/zerobn/ranking.hpp      | zerobn::GlobalBnRanking            |
// | Pruner                     | methods/common/policies.hpp     | ZeroBN<>                           |
// | Shrinker                   | methods/common/policies.hpp     | smartscissor::CompoundShrinking<>  |
// | ScalingMeter               | methods/common/scaling_meter.hpp| MacsMeter (latency: DeviceMeter)   |
// | Searcher                   | methods/common/policies.hpp     | lightnas::LightNas<>               |
#include "hwaware/backend/kernel_backend.hpp"
#include "hwaware/hw/device_concept.hpp"
#include "hwaware/hw/predictor_concept.hpp"
#include "hwaware/methods/common/policies.hpp"
#include "hwaware/methods/common/scaling_meter.hpp"
#include "hwaware/methods/zerobn/ranking.hpp"
