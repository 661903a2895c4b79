// Measures one core's fp32 FMA peak: independent FMA chains on the widest vectors the CPU has.
#include <cstdint>
#include <ctime>

namespace {

template <int Bytes>
struct Vectors {
  typedef float Vec __attribute__((vector_size(Bytes)));
};

// 12 independent accumulators hide the FMA latency on both 2-port and 1-port designs.
#define XGRAD_FMA_LOOP(Bytes)                                              \
  using Vec = Vectors<Bytes>::Vec;                                         \
  Vec acc[12];                                                             \
  for (int i = 0; i < 12; ++i) acc[i] = Vec{} + 1.0f + 0.001f * i;         \
  const Vec a = Vec{} + 0.9999f, b = Vec{} + 0.0001f;                      \
  for (int64_t it = 0; it < iterations; ++it) {                            \
    _Pragma("GCC unroll 12") for (int i = 0; i < 12; ++i) acc[i] = acc[i] * a + b; \
  }                                                                        \
  float sum = 0;                                                           \
  for (int i = 0; i < 12; ++i) sum += acc[i][0];                           \
  return sum;

__attribute__((target("avx2,fma"))) float fma_loop_avx2(int64_t iterations) { XGRAD_FMA_LOOP(32) }
__attribute__((target("avx512f"))) float fma_loop_avx512(int64_t iterations) { XGRAD_FMA_LOOP(64) }

}  // namespace

double thread_cpu_seconds() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return double(now.tv_sec) + 1e-9 * double(now.tv_nsec);
}

// GFLOP/s of one thread: best of a few runs, timed in thread CPU time so that a shared machine
// descheduling the thread does not lower it (the peak is an upper bound).
double measure_fma_peak_gflops(const char** isa) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  *isa = avx512 ? "avx512" : "avx2";
  const int64_t iterations = 20'000'000;
  const double flops = double(iterations) * 12 * (avx512 ? 16 : 8) * 2;
  double best = 0;
  volatile float sink = 0;
  for (int run = 0; run < 5; ++run) {
    const double start = thread_cpu_seconds();
    sink = sink + (avx512 ? fma_loop_avx512(iterations) : fma_loop_avx2(iterations));
    const double seconds = thread_cpu_seconds() - start;
    if (flops / seconds > best) best = flops / seconds;
  }
  return best * 1e-9;
}
