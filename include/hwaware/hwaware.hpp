#pragma once
// Everything of the core: tensors, backends, autograd, nn, the zoo, optimizers, data, training.
#include "hwaware/autograd/ops.hpp"
#include "hwaware/backend/backend.hpp"
#include "hwaware/data/batcher.hpp"
#include "hwaware/data/dataset.hpp"
#include "hwaware/models/zoo.hpp"
#include "hwaware/nn/blocks.hpp"
#include "hwaware/optim/optimizer.hpp"
#include "hwaware/optim/schedule.hpp"
#include "hwaware/train/trainer.hpp"
