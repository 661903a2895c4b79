#pragma once
// Which instruction set the fast Conv1d kernels use. They pick the best one the CPU supports at
// first use; tests and benchmarks may force another ("avx512", "avx2" or "generic").
namespace xgrad::nn::kernels {
const char* conv1d_kernel_isa();
bool conv1d_isa_supported(const char* isa);
bool set_conv1d_kernel_isa(const char* isa);  // false (and no change) when unsupported here
}
