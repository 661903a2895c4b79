// xgrad::distributed: data-parallel training across processes and machines, on
// Open MPI. Link xgrad::distributed (built when CMake finds MPI) and launch the
// program with mpirun. Each header also stands on its own.
#pragma once

#include "distributed/collectives.hpp"
#include "distributed/data_parallel.hpp"
#include "distributed/runtime.hpp"
#include "distributed/sampler.hpp"
