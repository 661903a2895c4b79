// xgrad: the umbrella header, floor by floor (README "The folder says the layer").
// Each floor's headers also stand on their own.
#pragma once

#include <fmt/format.h>
#include <fmt/ostream.h>

// core: tensors, storage, creation, I/O
#include "core/creation.hpp"
#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/file_io.hpp"
#include "core/hooks.hpp"
#include "core/io.hpp"
#include "core/memory.hpp"
#include "core/parallel.hpp"
#include "core/random.hpp"
#include "core/scalar.hpp"
#include "core/serialization/state_dict_file.hpp"
#include "core/serialization/tensor_file.hpp"
#include "core/shape.hpp"
#include "core/state_dict.hpp"
#include "core/tensor.hpp"
#include "core/xtensor_interop.hpp"

// autograd: the graph and the engine
#include "autograd/anomaly.hpp"
#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/graphviz.hpp"
#include "autograd/node.hpp"

// ops: the differentiable tensor ops
#include "ops/indexing.hpp"
#include "ops/ops.hpp"

// nn: modules, functional, init
#include "nn/activation.hpp"
#include "nn/batchnorm.hpp"
#include "nn/container.hpp"
#include "nn/conv1d.hpp"
#include "nn/dropout.hpp"
#include "nn/functional.hpp"
#include "nn/init.hpp"
#include "nn/linear.hpp"
#include "nn/loss.hpp"
#include "nn/module.hpp"
#include "nn/pooling.hpp"
#include "nn/utils.hpp"

// data: data sets, samplers, DataLoader
#include "data/dataloader.hpp"
#include "data/dataset.hpp"
#include "data/sampler.hpp"

// optim: optimizers, schedulers, checkpoints
#include "optim/checkpoint.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/optimizer.hpp"
#include "optim/sgd.hpp"
