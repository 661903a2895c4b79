// The Conv1d tiles for AVX2 + FMA (16 ymm registers): 4 x 3-vector direct tiles, 4 x 3 reduce tiles.
// Compiled with -mavx2 -mfma (cmake/XgradKernels.cmake); only called when the CPU has both.
#include "nn/kernels/conv1d_tiles.hpp"

#if defined(__x86_64__)
#define XGRAD_TILE_NAMESPACE avx2
#define XGRAD_VECTOR_BYTES 32
#include "nn/kernels/conv1d_tiles_impl.hpp"

namespace xgrad::nn::kernels::detail {
constinit const IsaKernels avx2_kernels = {"avx2", avx2::make_tile_kernels<float, 4, 3, 4, 3>(),
                                           avx2::make_tile_kernels<double, 4, 3, 4, 3>()};
}
#endif
