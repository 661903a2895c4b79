#include "distributed/runtime.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "core/dtype.hpp"
#include "core/error.hpp"
#include "distributed/mpi_runtime.hpp"

namespace xgrad::distributed {

namespace {

// Plain data, never destroyed: the exit handler below reads it after main returned.
struct Runtime {
  bool initialized = false;
  bool owns_mpi = false;  // xgrad called MPI_Init_thread, so xgrad finalizes (or aborts)
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  int world_size = 1;
  int thread_level = MPI_THREAD_SINGLE;
  std::thread::id init_thread;
};
Runtime state;
std::terminate_handler previous_terminate = nullptr;

// exit(status), including a return from main: 0 finalizes MPI; anything else
// aborts the job, because the other ranks may be waiting in a collective for
// this one and MPI_Finalize would wait for them in turn.
void finish_at_exit(int status, void*) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!state.initialized || finalized) return;
  if (status != 0) {
    std::fprintf(stderr, "xgrad::distributed: rank %d exits with status %d; aborting the job\n", state.rank, status);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
  }
  MPI_Comm_free(&state.comm);
  state.initialized = false;
  MPI_Finalize();
}

// An uncaught exception on any thread: name it and this rank, then end the whole job.
void terminate_job() {
  if (std::exception_ptr error = std::current_exception()) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "xgrad::distributed: rank %d: uncaught exception: %s\n", state.rank, e.what());
    } catch (...) {
      std::fprintf(stderr, "xgrad::distributed: rank %d: uncaught exception of unknown type\n", state.rank);
    }
  }
  std::fprintf(stderr, "xgrad::distributed: rank %d terminates; aborting the job\n", state.rank);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  if (previous_terminate != nullptr) previous_terminate();
  std::abort();
}

void init_with(int* argc, char*** argv) {
  std::lock_guard lock(detail::mpi_mutex());
  if (state.initialized) return;
  int already = 0, finalized = 0;
  MPI_Initialized(&already);
  MPI_Finalized(&finalized);
  XGRAD_CHECK(!finalized, "init: MPI was already finalized in this process; it cannot be initialized again");
  int provided = MPI_THREAD_SINGLE;
  if (already == 0) {
    // Open MPI's non-blocking all-reduce (libnbc) picks a binomial tree for two ranks, which moves
    // the whole buffer log2(P) times: 2.3x a blocking MPI_Allreduce on a 25 MiB bucket. The ring is
    // bandwidth-optimal, as the blocking one is. Read by MPI_Init; a value the user set wins.
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", /*overwrite=*/0);
    const int code = MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    XGRAD_CHECK(code == MPI_SUCCESS, "init: MPI_Init_thread failed with error code {}", code);
    state.owns_mpi = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  } else {
    MPI_Query_thread(&provided);
  }
  XGRAD_CHECK(provided >= MPI_THREAD_FUNNELED,
              "init: MPI provides thread level {} (MPI_THREAD_SINGLE); xgrad needs MPI_THREAD_FUNNELED or higher "
              "(initialize MPI with MPI_Init_thread, or let xgrad::distributed::init do it)",
              provided);
  MPI_Comm comm = MPI_COMM_NULL;
  detail::check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "init");
  detail::check(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "init");
  detail::check(MPI_Comm_rank(comm, &state.rank), "init");
  detail::check(MPI_Comm_size(comm, &state.world_size), "init");
  state.comm = comm;
  state.thread_level = provided;
  state.init_thread = std::this_thread::get_id();
  if (state.owns_mpi) {
    on_exit(finish_at_exit, nullptr);
    previous_terminate = std::set_terminate(terminate_job);
  }
  state.initialized = true;
}

}  // namespace

void init(int& argc, char**& argv) { init_with(&argc, &argv); }
void init() { init_with(nullptr, nullptr); }

bool is_initialized() { return state.initialized; }

int rank() {
  XGRAD_CHECK(state.initialized, "rank: call xgrad::distributed::init(argc, argv) first");
  return state.rank;
}

int world_size() {
  XGRAD_CHECK(state.initialized, "world_size: call xgrad::distributed::init(argc, argv) first");
  return state.world_size;
}

void abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (state.initialized) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

namespace detail {

std::mutex& mpi_mutex() {
  static std::mutex mutex;
  return mutex;
}

MPI_Comm communicator(const char* op) {
  XGRAD_CHECK(state.initialized, "{}: call xgrad::distributed::init(argc, argv) first", op);
  XGRAD_CHECK(state.thread_level > MPI_THREAD_FUNNELED || std::this_thread::get_id() == state.init_thread,
              "{}: called from a thread other than the one that called init(), but this MPI provides only "
              "MPI_THREAD_FUNNELED",
              op);
  return state.comm;
}

void check(int code, const char* op) {
  if (code == MPI_SUCCESS) return;
  char message[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, message, &length) != MPI_SUCCESS) length = 0;
  fail("{}: MPI error on rank {}: {} (error code {})", op, state.rank,
       length > 0 ? std::string(message, static_cast<std::size_t>(length)) : std::string("unknown error"), code);
}

MPI_Datatype mpi_type(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32: return MPI_FLOAT;
    case Dtype::Float64: return MPI_DOUBLE;
    case Dtype::Int64: return MPI_INT64_T;
    case Dtype::Bool: return MPI_UINT8_T;  // one byte, 0 or 1; Max and Min keep it so
  }
  fail("xgrad::distributed: no MPI type for dtype {}", dtype);
}

}  // namespace detail

}  // namespace xgrad::distributed
