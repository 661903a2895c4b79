#pragma once
#include <cstdint>
#include <functional>
namespace xgrad {
// n in [1, 1024], else throws; default: all cores (std::thread::hardware_concurrency). When the system
// cannot create that many threads (process or memory limits), xgrad keeps the ones it could start,
// get_num_threads() says how many, and set_num_threads throws xgrad::Error saying so (parallel_for,
// starting the default count, instead warns once on stderr and runs with what it has).
void set_num_threads(int n);
int get_num_threads();
// Runs fn(begin, end) over [0, n) split into at most 4 * get_num_threads() contiguous chunks of at least `grain` items,
// claimed dynamically by a persistent pool (the calling thread takes chunks too). Serial when n < 2 * grain or one
// thread. Nested calls run serially.
// Exceptions thrown by fn are rethrown in the caller.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);
}
