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
#include "autograd/anomaly.hpp"
#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/gradcheck.hpp"
#include "nn/conv1d.hpp"
#include "nn/functional.hpp"
#include "nn/init.hpp"
#include "nn/module.hpp"
