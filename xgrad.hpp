// xgrad: the umbrella header. Each layer's headers also stand on their own.
#pragma once

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "core/creation.hpp"
#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/io.hpp"
#include "core/ops.hpp"
#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"
#include "core/xtensor_interop.hpp"
#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/gradcheck.hpp"
#include "nn/module.hpp"
#include "nn/activation.hpp"
#include "nn/batchnorm.hpp"
#include "nn/checkpoint.hpp"
#include "nn/container.hpp"
#include "nn/dropout.hpp"
#include "nn/functional/training_ops.hpp"
#include "nn/linear.hpp"
#include "nn/loss.hpp"
#include "nn/pooling.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/optimizer.hpp"
#include "optim/sgd.hpp"
