// Internal to xgrad::distributed: the MPI side of runtime.hpp (MPI's header
// stays out of the public headers).
#pragma once

#include <mpi.h>

#include <mutex>
#include <string>

#include "core/dtype.hpp"

namespace xgrad::distributed::detail {

// xgrad's communicator (MPI_ERRORS_RETURN set); throws xgrad::Error before
// init() and, when MPI provides only MPI_THREAD_FUNNELED, on any thread but the
// one that called init(). `op` names the caller in that error.
MPI_Comm communicator(const char* op);

// Every MPI call xgrad makes holds this lock: MPI_THREAD_SERIALIZED allows one
// call at a time from any thread.
std::mutex& mpi_mutex();

// Throws xgrad::Error naming `op`, this rank and MPI's message unless `code` is MPI_SUCCESS.
void check(int code, const char* op);

MPI_Datatype mpi_type(Dtype dtype);

}  // namespace xgrad::distributed::detail
