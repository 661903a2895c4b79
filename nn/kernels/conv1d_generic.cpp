// The Conv1d tiles for any CPU: 16-byte vectors (SSE2 on x86-64, NEON elsewhere), no extra flags.
#include "nn/kernels/conv1d_tiles.hpp"

#define XGRAD_TILE_NAMESPACE generic
#define XGRAD_VECTOR_BYTES 16
#include "nn/kernels/conv1d_tiles_impl.hpp"

namespace xgrad::nn::kernels::detail {
constinit const IsaKernels generic_kernels = {"generic", generic::make_tile_kernels<float, 4, 2, 4, 2>(),
                                             generic::make_tile_kernels<double, 4, 2, 4, 2>()};
}
