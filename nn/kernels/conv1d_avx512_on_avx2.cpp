// The AVX-512 tiles' shapes and vector width (8 x 2 direct tiles of 16-float vectors, 4 x 3 reduce
// tiles), compiled for AVX2 + FMA: GCC and Clang split each 64-byte vector operation into two
// 32-byte ones. Never picked automatically and no faster than the AVX2 tiles; it exists so that the
// AVX-512 kernels' logic (tile sizes, tails, 16-lane sums, streaming stores) is tested against the
// reference on CPUs without AVX-512 (XGRAD_CONV1D_ISA / set_conv1d_kernel_isa("avx512-on-avx2")).
#include "nn/kernels/conv1d_tiles.hpp"

#if defined(__x86_64__)
#define XGRAD_TILE_NAMESPACE avx512_on_avx2
#define XGRAD_VECTOR_BYTES 64
#include "nn/kernels/conv1d_tiles_impl.hpp"

namespace xgrad::nn::kernels::detail {
constinit const IsaKernels avx512_on_avx2_kernels = {
    "avx512-on-avx2",
    avx512_on_avx2::make_tile_kernels<float, avx512_direct_rows, avx512_direct_vectors, avx512_reduce_rows,
                                      avx512_reduce_taps>(&avx2_kernels.f32),
    avx512_on_avx2::make_tile_kernels<double, avx512_direct_rows, avx512_direct_vectors, avx512_reduce_rows,
                                      avx512_reduce_taps>(&avx2_kernels.f64)};
}
#endif
