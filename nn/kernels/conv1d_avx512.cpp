// The Conv1d tiles for AVX-512F (32 zmm registers): 8 x 3-vector direct tiles, 4 x 6 reduce tiles.
// Compiled with -mavx512f (cmake/XgradKernels.cmake); only called when the CPU and OS support it.
#include "nn/kernels/conv1d_tiles.hpp"

#if defined(__x86_64__)
#define XGRAD_TILE_NAMESPACE avx512
#define XGRAD_VECTOR_BYTES 64
#include "nn/kernels/conv1d_tiles_impl.hpp"

namespace xgrad::nn::kernels::detail {
// (The same shapes as conv1d_avx512_on_avx2.cpp, which tests them on CPUs without AVX-512.)
const IsaKernels avx512_kernels = {"avx512", avx512::make_tile_kernels<float, 8, 3, 4, 6>(),
                                   avx512::make_tile_kernels<double, 8, 3, 4, 6>()};
}
#endif
