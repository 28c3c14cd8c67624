#pragma once
// The hardware model: devices and their measurements, latency data sets, and the predictors
// (learned MLPs per layer and per planned kernel, lookup table, analytic) behind one Predictor
// concept, with their accuracy metrics.
#include "hwaware/hw/analytic_predictor.hpp"
#include "hwaware/hw/command_device.hpp"
#include "hwaware/hw/device.hpp"
#include "hwaware/hw/fast_channels.hpp"
#include "hwaware/hw/features.hpp"
#include "hwaware/hw/fingerprint.hpp"
#include "hwaware/hw/kernel_features.hpp"
#include "hwaware/hw/kernel_mlp_predictor.hpp"
#include "hwaware/hw/lut_predictor.hpp"
#include "hwaware/hw/metrics.hpp"
#include "hwaware/hw/mlp_predictor.hpp"
#include "hwaware/hw/predictor_concept.hpp"
#include "hwaware/hw/samples.hpp"
