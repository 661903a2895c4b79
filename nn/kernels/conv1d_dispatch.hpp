#pragma once
#include <cstdint>

// Which instruction set the fast Conv1d kernels use. They pick the best one the CPU supports at
// first use; tests and benchmarks may force another ("avx512", "avx2" or "generic"), or
// "avx512-on-avx2": the AVX-512 tiles compiled for AVX2, so that their logic is tested on CPUs
// without AVX-512 (never picked by itself).
namespace xgrad::nn::kernels {
const char* conv1d_kernel_isa();
bool conv1d_isa_supported(const char* isa);
bool set_conv1d_kernel_isa(const char* isa);  // false (and no change) when unsupported here
}

namespace xgrad::nn::kernels {
// How the fast backward-weight kernel sums: dot products along the output length (long outputs,
// few taps, depthwise), or matrix products over tiles of output channels x input channels (many
// taps per output position) or x kernel taps (long kernels; dilation 1, else it falls back to
// channel products). `automatic` picks by shape; tests and benchmarks may force any.
enum class BackwardWeightMethod { automatic, dot_products, channel_products, tap_products };
void set_conv1d_backward_weight_method(BackwardWeightMethod method);
}

namespace xgrad::nn::kernels {
// Outputs of at least this many bytes that one-row tiles write (depthwise forward, and backward
// input at stride 1) are stored past the caches, with non-temporal stores: too big to stay cached
// for their next reader, and a normal store first reads every line it writes. Default 16 MiB;
// tests set 0 to stream every such output. Returns the previous threshold.
int64_t set_conv1d_streaming_bytes(int64_t bytes);
}
