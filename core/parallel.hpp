#pragma once
#include <cstdint>
#include <functional>
namespace xgrad {
void set_num_threads(int n);   // n >= 1, else throws (see below); default: all cores (std::thread::hardware_concurrency)
int get_num_threads();
// Runs fn(begin, end) over [0, n) split into at most 4 * get_num_threads() contiguous chunks of at least `grain` items,
// claimed dynamically by a persistent pool (the calling thread takes chunks too). Serial when n < 2 * grain or one
// thread. Nested calls run serially.
// Exceptions thrown by fn are rethrown in the caller.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);
}
