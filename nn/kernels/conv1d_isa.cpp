// Instruction-set selection of the fast Conv1d kernels: the best the CPU supports (checked with
// __builtin_cpu_supports), unless XGRAD_CONV1D_ISA or set_conv1d_kernel_isa names another it supports.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "nn/kernels/conv1d_blocking.hpp"
#include "nn/kernels/conv1d_dispatch.hpp"
#include "nn/kernels/conv1d_tiles.hpp"

namespace xgrad::nn::kernels {
namespace {

using detail::IsaKernels;

bool cpu_supports(const IsaKernels& kernels) {
#if defined(__x86_64__)
  if (&kernels == &detail::avx512_kernels) return __builtin_cpu_supports("avx512f");
  if (&kernels == &detail::avx2_kernels || &kernels == &detail::avx512_on_avx2_kernels)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return &kernels == &detail::generic_kernels;
}

const IsaKernels* find_isa(const char* name) {
#if defined(__x86_64__)
  for (const IsaKernels* kernels :
       {&detail::avx512_kernels, &detail::avx2_kernels, &detail::avx512_on_avx2_kernels, &detail::generic_kernels})
#else
  for (const IsaKernels* kernels : {&detail::generic_kernels})
#endif
    if (std::strcmp(kernels->name, name) == 0) return kernels;
  return nullptr;
}

// The best instruction set the CPU supports, or the one named by XGRAD_CONV1D_ISA if supported.
const IsaKernels* best_isa() {
  if (const char* forced = std::getenv("XGRAD_CONV1D_ISA"))
    if (const IsaKernels* kernels = find_isa(forced); kernels && cpu_supports(*kernels)) return kernels;
  for (const char* name : {"avx512", "avx2"})
    if (const IsaKernels* kernels = find_isa(name); kernels && cpu_supports(*kernels)) return kernels;
  return &detail::generic_kernels;
}

std::atomic<const IsaKernels*> selected_isa{nullptr};

}  // namespace

namespace blocking {

const IsaKernels& isa() {
  const IsaKernels* kernels = selected_isa.load(std::memory_order_acquire);
  if (!kernels) {
    kernels = best_isa();
    selected_isa.store(kernels, std::memory_order_release);
  }
  return *kernels;
}

}  // namespace blocking

const char* conv1d_kernel_isa() { return blocking::isa().name; }

bool conv1d_isa_supported(const char* name) {
  const IsaKernels* kernels = find_isa(name);
  return kernels && cpu_supports(*kernels);
}

bool set_conv1d_kernel_isa(const char* name) {
  if (!conv1d_isa_supported(name)) return false;
  selected_isa.store(find_isa(name), std::memory_order_release);
  return true;
}

}  // namespace xgrad::nn::kernels
