// The reference Conv1d kernels: plain loops that read like the formula, the oracle the fast kernels
// (conv1d_direct.cpp, conv1d_backward_weight.cpp) are tested against. Correct for every valid
// geometry, fast for none.
//
//   output[n, o, l] = bias[o] + sum_{c < C_in/groups, k < K} weight[o, c, k] * x[n, g*C_in/groups + c, l*stride + k*dilation - pad_left]
//
// where g = o / (C_out/groups) is the group of output channel o and x is zero outside [0, in_length).
// Each backward kernel sums the same products over the other indices.
#include "nn/kernels/conv1d_kernels.hpp"

namespace xgrad::nn::kernels {
namespace {

// The input position read by output position l through tap k, or -1 when it falls in the padding.
int64_t input_position(const Conv1dGeometry& g, int64_t l, int64_t k) {
  const int64_t position = l * g.stride + k * g.dilation - g.pad_left;
  return position >= 0 && position < g.in_length ? position : -1;
}

}  // namespace

template <class T>
void conv1d_forward_reference(const Conv1dGeometry& g, const T* input, const T* weight, const T* bias, T* output) {
  const int64_t in_per_group = g.in_channels / g.groups, out_per_group = g.out_channels / g.groups;
  const int64_t out_length = g.out_length();
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t o = 0; o < g.out_channels; ++o) {
      const int64_t first_in = (o / out_per_group) * in_per_group;
      for (int64_t l = 0; l < out_length; ++l) {
        T sum = bias ? bias[o] : T(0);
        for (int64_t c = 0; c < in_per_group; ++c)
          for (int64_t k = 0; k < g.kernel_size; ++k)
            if (const int64_t i = input_position(g, l, k); i >= 0)
              sum += weight[(o * in_per_group + c) * g.kernel_size + k] * input[(n * g.in_channels + first_in + c) * g.in_length + i];
        output[(n * g.out_channels + o) * out_length + l] = sum;
      }
    }
}

// d output[n, o, l] / d x[n, c, i] = weight[o, c, k] wherever i = l*stride + k*dilation - pad_left.
template <class T>
void conv1d_backward_input_reference(const Conv1dGeometry& g, const T* grad_output, const T* weight, T* grad_input) {
  const int64_t in_per_group = g.in_channels / g.groups, out_per_group = g.out_channels / g.groups;
  const int64_t out_length = g.out_length();
  for (int64_t i = 0; i < g.batch * g.in_channels * g.in_length; ++i) grad_input[i] = T(0);
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t o = 0; o < g.out_channels; ++o) {
      const int64_t first_in = (o / out_per_group) * in_per_group;
      for (int64_t l = 0; l < out_length; ++l)
        for (int64_t c = 0; c < in_per_group; ++c)
          for (int64_t k = 0; k < g.kernel_size; ++k)
            if (const int64_t i = input_position(g, l, k); i >= 0)
              grad_input[(n * g.in_channels + first_in + c) * g.in_length + i] +=
                  weight[(o * in_per_group + c) * g.kernel_size + k] * grad_output[(n * g.out_channels + o) * out_length + l];
    }
}

// d output[n, o, l] / d weight[o, c, k] = x[n, g*C_in/groups + c, l*stride + k*dilation - pad_left].
template <class T>
void conv1d_backward_weight_reference(const Conv1dGeometry& g, const T* grad_output, const T* input, T* grad_weight) {
  const int64_t in_per_group = g.in_channels / g.groups, out_per_group = g.out_channels / g.groups;
  const int64_t out_length = g.out_length();
  for (int64_t o = 0; o < g.out_channels; ++o) {
    const int64_t first_in = (o / out_per_group) * in_per_group;
    for (int64_t c = 0; c < in_per_group; ++c)
      for (int64_t k = 0; k < g.kernel_size; ++k) {
        T sum = T(0);
        for (int64_t n = 0; n < g.batch; ++n)
          for (int64_t l = 0; l < out_length; ++l)
            if (const int64_t i = input_position(g, l, k); i >= 0)
              sum += grad_output[(n * g.out_channels + o) * out_length + l] * input[(n * g.in_channels + first_in + c) * g.in_length + i];
        grad_weight[(o * in_per_group + c) * g.kernel_size + k] = sum;
      }
  }
}

// d output[n, o, l] / d bias[o] = 1.
template <class T>
void conv1d_backward_bias_reference(const Conv1dGeometry& g, const T* grad_output, T* grad_bias) {
  const int64_t out_length = g.out_length();
  for (int64_t o = 0; o < g.out_channels; ++o) {
    T sum = T(0);
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t l = 0; l < out_length; ++l) sum += grad_output[(n * g.out_channels + o) * out_length + l];
    grad_bias[o] = sum;
  }
}

#define XGRAD_INSTANTIATE_REFERENCE(T)                                                                   \
  template void conv1d_forward_reference<T>(const Conv1dGeometry&, const T*, const T*, const T*, T*); \
  template void conv1d_backward_input_reference<T>(const Conv1dGeometry&, const T*, const T*, T*);    \
  template void conv1d_backward_weight_reference<T>(const Conv1dGeometry&, const T*, const T*, T*);   \
  template void conv1d_backward_bias_reference<T>(const Conv1dGeometry&, const T*, T*);
XGRAD_INSTANTIATE_REFERENCE(float)
XGRAD_INSTANTIATE_REFERENCE(double)
#undef XGRAD_INSTANTIATE_REFERENCE

}  // namespace xgrad::nn::kernels
