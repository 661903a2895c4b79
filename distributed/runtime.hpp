// The process group of a data-parallel job: every process that mpirun started.
//
//   int main(int argc, char** argv) {
//     xgrad::distributed::init(argc, argv);    // once, before any other call below
//     fmt::print("rank {} of {}\n", xgrad::distributed::rank(), xgrad::distributed::world_size());
//   }
//
// Built on Open MPI (MPI_Init_thread): launch with `mpirun -np 4 ./train`. A
// program started without mpirun is a job of one process.
#pragma once

namespace xgrad::distributed {

// Initializes MPI (MPI_Init_thread, asking for MPI_THREAD_SERIALIZED; at least
// MPI_THREAD_FUNNELED is required) and xgrad's communicator (a duplicate of
// MPI_COMM_WORLD whose MPI errors are returned, then thrown as xgrad::Error).
// Idempotent: later calls do nothing. When MPI was already initialized by the
// program, xgrad uses it and leaves finalizing to the program.
//
// When xgrad initialized MPI it also decides how the process ends, so that one
// failing rank ends the whole job instead of leaving the others waiting forever:
// exit status 0 finalizes MPI; a non-zero status, an uncaught exception or a
// call to abort() calls MPI_Abort, which makes mpirun stop every rank.
void init(int& argc, char**& argv);
void init();  // the same, without passing the command line to MPI

bool is_initialized();

// This process's rank in [0, world_size()), and the number of processes.
// Throw xgrad::Error before init().
int rank();
int world_size();

// Ends every process of the job with `code` (MPI_Abort); never returns. Before
// init() it ends this process alone (std::_Exit).
[[noreturn]] void abort(int code = 1);

}  // namespace xgrad::distributed
