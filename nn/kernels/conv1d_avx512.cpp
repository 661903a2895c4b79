// The Conv1d tiles for AVX-512F (32 zmm registers): 8 x 2-vector direct tiles, 4 x 3 reduce tiles;
// work much narrower than a tile runs on the AVX2 tiles instead (`narrower`).
// Compiled with -mavx512f (cmake/XgradKernels.cmake); only called when the CPU and OS support it.
#include "nn/kernels/conv1d_tiles.hpp"

#if defined(__x86_64__)
#define XGRAD_TILE_NAMESPACE avx512
#define XGRAD_VECTOR_BYTES 64
#include "nn/kernels/conv1d_tiles_impl.hpp"

namespace xgrad::nn::kernels::detail {
constinit const IsaKernels avx512_kernels = {
    "avx512",
    avx512::make_tile_kernels<float, avx512_direct_rows, avx512_direct_vectors, avx512_reduce_rows, avx512_reduce_taps>(
        &avx2_kernels.f32),
    avx512::make_tile_kernels<double, avx512_direct_rows, avx512_direct_vectors, avx512_reduce_rows,
                              avx512_reduce_taps>(&avx2_kernels.f64)};
}
#endif
