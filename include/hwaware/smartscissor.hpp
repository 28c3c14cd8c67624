#pragma once
// SmartScissor (Kong et al., ICCAD 2022): crop each image to its object (Grad-CAM boxes), then
// shrink depth, width and resolution together under a budget guided by a fitted accuracy model;
// with the data it is evaluated on (Cluttered Fashion-MNIST) and the Shrinker policies it is
// compared with (EfficientNet's fixed rule, one dimension alone).
#include "hwaware/data/cluttered.hpp"
#include "hwaware/data/image_ops.hpp"
#include "hwaware/methods/common/compound_scaling.hpp"
#include "hwaware/methods/common/training.hpp"
#include "hwaware/methods/smartscissor/accuracy_model.hpp"
#include "hwaware/methods/smartscissor/box_predictor.hpp"
#include "hwaware/methods/smartscissor/gradcam.hpp"
#include "hwaware/methods/smartscissor/shrinkers.hpp"
#include "hwaware/models/zoo.hpp"
