// The fast Conv1d kernels' backward weight (and bias). Two forms, picked by shape. Dot products
// along the output length, between output-gradient rows and the same packed input phase rows as
// forward (reduce tiles do rows x taps of them at once): best for depthwise and for long outputs.
// Or, when many taps share each of few output positions or the kernel is long, matrix products run
// by the forward's direct tile (see backward_weight_by_products and conv1d_backward_weight's
// choice). Batch items are split over threads, each with its own partial sum.
// Measurements behind the rules: bench/README.md, "Tuning decisions".
#include <algorithm>
#include <atomic>
#include <cstring>

#include "core/parallel.hpp"
#include "nn/kernels/conv1d_blocking.hpp"
#include "nn/kernels/conv1d_dispatch.hpp"
#include "nn/kernels/conv1d_kernels.hpp"
#include "nn/kernels/conv1d_tiles.hpp"

namespace xgrad::nn::kernels {

using namespace blocking;  // NOLINT: the helpers these kernels are written in

namespace {

template <class T>
void backward_weight_by_dot_products(const TileKernels<T>& kernels, const Conv1dGeometry& g, const T* grad_output,
                                     const T* input, T* grad_weight) {
  const Plan plan(g);
  const detail::ReduceTile<T>& tile =
      plan.out_per_group >= kernels.reduce_wide.rows ? kernels.reduce_wide : thin_reduce_tile(kernels, plan.taps);
  const int64_t width = kernels.vector_width;
  const int64_t row_length = padded_row_length<T>(plan.out_length + plan.max_shift);
  const int64_t weight_size = g.out_channels * plan.taps;
  const int64_t work = g.batch * g.out_channels * plan.out_length * plan.taps;
  // Batch items are split over threads; chunk 0 sums into grad_weight, the others into partials.
  const int64_t chunks = work >= min_parallel_work ? std::min<int64_t>(get_num_threads(), g.batch) : 1;
  T* partials = chunks > 1 ? scratch<T>(Slot::partial, (chunks - 1) * weight_size) : nullptr;
  // Length blocks keep one block of output-gradient rows near (L2) while all taps stream past it;
  // long blocks amortize the horizontal sums at the end of each tile; past 4096 positions nothing
  // more is gained.
  const int64_t length_block = std::max<int64_t>(width, 4096 / width * width);

  parallel_for(chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      T* sums = chunk == 0 ? grad_weight : partials + (chunk - 1) * weight_size;
      std::fill(sums, sums + weight_size, T(0));
      T* source = scratch<T>(Slot::source, plan.in_per_group * g.stride * row_length);
      int64_t* offsets = scratch<int64_t>(Slot::offsets, plan.taps);
      phase_offsets(g, plan.in_per_group, row_length, offsets);
      for (int64_t n = g.batch * chunk / chunks; n < g.batch * (chunk + 1) / chunks; ++n)
        for (int64_t group = 0; group < g.groups; ++group) {
          pack_phase_rows(g, input + (n * g.in_channels + group * plan.in_per_group) * g.in_length, plan.in_per_group,
                          0, row_length, source);
          const T* gradient = grad_output + (n * g.out_channels + group * plan.out_per_group) * plan.out_length;
          T* out = sums + group * plan.out_per_group * plan.taps;
          for (int64_t l = 0; l < plan.out_length; l += length_block) {
            const int64_t block = std::min(length_block, plan.out_length - l);
            // Taps in chunks whose input rows fit in L2, so each output-gradient row block (in L1)
            // meets them there instead of streaming every channel's rows from L3 once per row block.
            const int64_t chunk_taps = round_up(
                channels_in_l2(g.stride * block * int64_t(sizeof(T)), plan.in_per_group) * g.kernel_size, tile.taps);
            for (int64_t first_tap = 0; first_tap < plan.taps; first_tap += chunk_taps)
              for (int64_t o = 0; o < plan.out_per_group; o += tile.rows)
                for (int64_t t = first_tap; t < std::min(plan.taps, first_tap + chunk_taps); t += tile.taps)
                  tile.run(gradient + o * plan.out_length + l, plan.out_length,
                           static_cast<int>(std::min<int64_t>(tile.rows, plan.out_per_group - o)), source + l,
                           offsets + t, static_cast<int>(std::min<int64_t>(tile.taps, plan.taps - t)), block,
                           out + o * plan.taps + t, plan.taps);
          }
        }
    }
  });
  for (int64_t chunk = 1; chunk < chunks; ++chunk)
    for (int64_t i = 0; i < weight_size; ++i) grad_weight[i] += partials[(chunk - 1) * weight_size + i];
}

// Backward weight as matrix products on the forward's direct tile: m = output channel, the
// reduction over output positions l, and the tile's columns j either
//   - over input channels (many channels, short kernels, short outputs; tuned on wide with the
//     method forced, which now takes dot products): K products dW[:, :, k] = dY . X_k,
//     where row l of X_k is the input transposed (one length block at a time), at padded position
//     l*stride + k*dilation (row stride padded so rows a power of two apart do not share L1 sets);
//     sums accumulate as [k][o][c] (whole vectors along c) and are transposed at the end; or
//   - over kernel taps (long kernels, dilation 1: the audio front-end's K = 80): per input channel c,
//     dW[:, c, :] = dY . X_c with row l of X_c the zero-padded input row from l*stride on, so the
//     tile reads the input in place (no transposition) and sums land in [o][c][k] directly.
// The tile's "weights" are the output gradient packed as [row block][l][row], its offsets l*stride
// rows apart. Blocking: `length_block` output positions at a time; per column tile the source slice
// stays near (L1 over channels, L1/L2 over taps) while every output-channel block passes over it.
template <class T>
void backward_weight_by_products(const TileKernels<T>& kernels, const Conv1dGeometry& g, const T* grad_output,
                                 const T* input, T* grad_weight, bool over_taps) {
  const Plan plan(g);
  const detail::DirectTile<T>& tile = kernels.direct_wide;
  const int64_t channels = plan.in_per_group, padded_length = g.pad_left + g.in_length + g.pad_right;
  // Over channels: transposed rows (padded position, channel), row stride = whole vectors + one cache line.
  // Over taps: one zero-padded row per channel.
  const int64_t row_stride =
      over_taps ? padded_length + tile.cols : round_up(channels, kernels.vector_width) + 64 / int64_t(sizeof(T));
  const int64_t position_stride = over_taps ? 1 : row_stride;  // distance between padded positions in the source
  const int64_t weight_size = g.out_channels * plan.taps;
  const int64_t group_size = plan.out_per_group * plan.taps;
  const int64_t work = g.batch * g.out_channels * plan.out_length * plan.taps;
  const int64_t chunks = work >= min_parallel_work ? std::min<int64_t>(get_num_threads(), g.batch) : 1;
  // Over taps, chunk 0 sums straight into grad_weight (same layout); otherwise every chunk has its own.
  T* partials = scratch<T>(Slot::partial, (over_taps ? chunks - 1 : chunks) * weight_size);
  // Over channels each reduction step reads a tile's columns from a new transposed row (a cache line
  // or two), so the block's slice of the source fits L1 (about 20 KiB) while every output-channel
  // block passes over it. Over taps the slice is one short stretch of each input row, and longer
  // blocks do as well or better.
  const int64_t slice_bytes_per_position = round_up(tile.cols * int64_t(sizeof(T)), 64) + 64;
  const int64_t length_block =
      std::min<int64_t>(plan.out_length, over_taps ? 512 : std::max<int64_t>(32, 20 * 1024 / slice_bytes_per_position));
  const int64_t row_blocks = ceil_div(plan.out_per_group, tile.rows);
  // Over channels the input is transposed one length block at a time (the padded positions that
  // block reads) into a buffer that stays in L2 while the block's tiles run, rather than a whole
  // (batch item, group) at once into a buffer in L3.
  const int64_t block_positions = (length_block - 1) * g.stride + (g.kernel_size - 1) * g.dilation + 1;
  const int64_t source_size = over_taps ? channels * row_stride : block_positions * row_stride + tile.cols;

  constexpr int64_t line = line_elements<T>;
  parallel_for(chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    T* source = scratch<T>(Slot::source, source_size);
    T* packed = scratch<T>(Slot::weights, row_blocks * length_block * tile.rows);
    int64_t* offsets = scratch<int64_t>(Slot::offsets, length_block);
    for (int64_t l = 0; l < length_block; ++l) offsets[l] = l * g.stride * position_stride;
    T* zeros = scratch<T>(Slot::zeros, length_block);  // stands in for output-gradient rows past the last
    std::fill(zeros, zeros + length_block, T(0));
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      T* sums = over_taps ? (chunk == 0 ? grad_weight : partials + (chunk - 1) * weight_size)
                          : partials + chunk * weight_size;
      std::fill(sums, sums + weight_size, T(0));
      std::fill(source, source + source_size, T(0));  // padding positions and tail lanes stay zero
      for (int64_t n = g.batch * chunk / chunks; n < g.batch * (chunk + 1) / chunks; ++n)
        for (int64_t group = 0; group < g.groups; ++group) {
          const T* x = input + (n * g.in_channels + group * channels) * g.in_length;
          if (over_taps)
            for (int64_t c = 0; c < channels; ++c)
              std::memcpy(source + c * row_stride + g.pad_left, x + c * g.in_length,
                          static_cast<size_t>(g.in_length) * sizeof(T));
          const T* gradient = grad_output + (n * g.out_channels + group * plan.out_per_group) * plan.out_length;
          T* out = sums + group * group_size;
          for (int64_t l0 = 0; l0 < plan.out_length; l0 += length_block) {
            const int64_t block = std::min(length_block, plan.out_length - l0);
            if (!over_taps) {  // source row r: padded position l0*stride + r, channels along the row
              const int64_t first_input = l0 * g.stride - g.pad_left;  // input position of row 0
              const int64_t rows = std::min(block_positions, padded_length - l0 * g.stride);
              const int64_t valid_begin = std::clamp<int64_t>(-first_input, 0, rows);
              const int64_t valid_end = std::clamp<int64_t>(g.in_length - first_input, valid_begin, rows);
              for (int64_t r = 0; r < rows; ++r)
                if (r < valid_begin || r >= valid_end)
                  std::fill(source + r * row_stride, source + r * row_stride + channels, T(0));
              // Along each input row: one read stream (several rows at once, in_length apart, could
              // share one L1 set), writes to the block's lines, which stay in L1 across channels; the
              // row 8 channels on is prefetched, and the output-gradient rows two row blocks on below,
              // so their misses overlap the packing.
              constexpr int64_t ahead = 8;
              for (int64_t c = 0; c < channels; ++c) {
                const T* in = x + c * g.in_length + first_input;
                if (c + ahead < channels)
                  for (int64_t r = valid_begin; r < valid_end; r += line)
                    __builtin_prefetch(in + ahead * g.in_length + r);
                for (int64_t r = valid_begin; r < valid_end; ++r) source[r * row_stride + c] = in[r];
              }
            }
            for (int64_t o0 = 0; o0 < row_blocks * tile.rows; o0 += tile.rows) {  // [row block][l][row]
              // A row block's rows read side by side (several misses in flight), written in order.
              const T* rows[16];
              for (int m = 0; m < tile.rows; ++m)
                rows[m] = o0 + m < plan.out_per_group ? gradient + (o0 + m) * plan.out_length + l0 : zeros;
              for (int64_t m = o0 + 2 * tile.rows; m < std::min<int64_t>(o0 + 3 * tile.rows, plan.out_per_group); ++m)
                for (int64_t l = 0; l < block; l += line) __builtin_prefetch(gradient + m * plan.out_length + l0 + l);
              T* out_block = packed + (o0 / tile.rows) * length_block * tile.rows;
              if (tile.rows == 4) interleave_rows<4>(rows, block, out_block);
              else if (tile.rows == 8) interleave_rows<8>(rows, block, out_block);
              else interleave_rows(rows, tile.rows, block, out_block);
            }
            // One product per (k) over channel columns, or per (c) over tap columns.
            const int64_t products = over_taps ? channels : g.kernel_size,
                          columns = over_taps ? g.kernel_size : channels;
            for (int64_t p = 0; p < products; ++p) {
              const T* first =
                  over_taps ? source + p * row_stride + l0 * g.stride : source + p * g.dilation * row_stride;
              for (int64_t j = 0; j < columns; j += tile.cols)
                for (int64_t o = 0; o < plan.out_per_group; o += tile.rows) {
                  T* at = over_taps ? out + o * plan.taps + p * g.kernel_size + j
                                    : out + (p * plan.out_per_group + o) * channels + j;
                  tile.run(first + j, offsets, block, packed + (o / tile.rows) * length_block * tile.rows, nullptr,
                           static_cast<int>(std::min<int64_t>(tile.rows, plan.out_per_group - o)),
                           static_cast<int>(std::min<int64_t>(tile.cols, columns - j)), at,
                           over_taps ? plan.taps : channels, 1);
                }
            }
          }
        }
    }
  });
  if (over_taps) {
    for (int64_t chunk = 1; chunk < chunks; ++chunk)
      for (int64_t i = 0; i < weight_size; ++i) grad_weight[i] += partials[(chunk - 1) * weight_size + i];
    return;
  }
  for (int64_t group = 0; group < g.groups; ++group)
    for (int64_t o = 0; o < plan.out_per_group; ++o)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t k = 0; k < g.kernel_size; ++k) {
          const int64_t at = group * group_size + (k * plan.out_per_group + o) * channels + c;
          T sum = partials[at];
          for (int64_t chunk = 1; chunk < chunks; ++chunk) sum += partials[chunk * weight_size + at];
          grad_weight[(group * plan.out_per_group + o) * plan.taps + c * g.kernel_size + k] = sum;
        }
}

std::atomic<BackwardWeightMethod> backward_weight_method{BackwardWeightMethod::automatic};

}  // namespace

void set_conv1d_backward_weight_method(BackwardWeightMethod method) { backward_weight_method.store(method); }

template <class T>
void conv1d_backward_weight(const Conv1dGeometry& g, const T* grad_output, const T* input, T* grad_weight) {
  BackwardWeightMethod method = backward_weight_method.load();
  const Plan plan(g);
  const TileKernels<T>& kernels = tiles<T>(plan.out_length, plan.out_per_group);
  const auto& tile = kernels.direct_wide;
  if (method == BackwardWeightMethod::automatic) {
    // Matrix products need at least a tile of output channels, and columns to fill: long kernels
    // (over taps; audio front-end, K = 80), or many input channels when many taps share each of
    // few output positions (over channels; the flagship's 32 -> 64 and 64 -> 64 layers: 96 taps over
    // 121 positions, 192 over 28). Dot products win on depthwise convolutions and once the output
    // is long enough to amortize each tile's horizontal sums, however many the taps: from 512
    // positions on 32-byte vectors; from 2048 on 64-byte vectors (AVX-512), where every shifted
    // tap's load straddles two cache lines.
    const int64_t long_output = kernels.vector_width * int64_t(sizeof(T)) >= 64 ? 2048 : 512;
    if (plan.out_per_group >= tile.rows && g.dilation == 1 && g.kernel_size >= tile.cols)
      method = BackwardWeightMethod::tap_products;
    else if (plan.out_per_group >= tile.rows && plan.in_per_group >= tile.cols / 2 &&
             4 * plan.taps >= plan.out_length && plan.out_length < long_output)
      method = BackwardWeightMethod::channel_products;
    else
      method = BackwardWeightMethod::dot_products;
  }
  if (method == BackwardWeightMethod::tap_products && g.dilation != 1) method = BackwardWeightMethod::channel_products;
  if (method == BackwardWeightMethod::dot_products)
    backward_weight_by_dot_products(kernels, g, grad_output, input, grad_weight);
  else
    backward_weight_by_products(kernels, g, grad_output, input, grad_weight,
                                method == BackwardWeightMethod::tap_products);
}

template <class T>
void conv1d_backward_bias(const Conv1dGeometry& g, const T* grad_output, T* grad_bias) {
  const int64_t out_length = g.out_length();
  const auto& kernels = isa_tiles<T>();
  const int64_t work = g.batch * g.out_channels * out_length;
  parallel_for(g.out_channels, work >= 8 * min_parallel_work ? 1 : g.out_channels, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      T sum = T(0);
      for (int64_t n = 0; n < g.batch; ++n)
        sum += kernels.sum(grad_output + (n * g.out_channels + o) * out_length, out_length);
      grad_bias[o] = sum;
    }
  });
}

#define XGRAD_INSTANTIATE_BACKWARD_WEIGHT(T)                                                  \
  template void conv1d_backward_weight<T>(const Conv1dGeometry&, const T*, const T*, T*); \
  template void conv1d_backward_bias<T>(const Conv1dGeometry&, const T*, T*);
XGRAD_INSTANTIATE_BACKWARD_WEIGHT(float)
XGRAD_INSTANTIATE_BACKWARD_WEIGHT(double)
#undef XGRAD_INSTANTIATE_BACKWARD_WEIGHT

}  // namespace xgrad::nn::kernels
