#pragma once
#include <cstdint>
namespace xgrad::nn::kernels {
// Geometry of one 1-D convolution (cross-correlation, as PyTorch). All buffers contiguous, row-major:
// input (batch, in_channels, in_length), weight (out_channels, in_channels/groups, kernel_size),
// bias (out_channels) or null, output (batch, out_channels, out_length()).
// pad_left/pad_right are implicit zero padding (they may differ: "same" with an odd total pads right more).
struct Conv1dGeometry {
  int64_t batch, in_channels, out_channels, in_length;
  int64_t kernel_size, stride, dilation, groups;
  int64_t pad_left, pad_right;
  int64_t out_length() const { return (in_length + pad_left + pad_right - dilation * (kernel_size - 1) - 1) / stride + 1; }
};
// The reference kernels: plain loops that read like the formula; the oracle for the fast ones.
template <class T> void conv1d_forward_reference(const Conv1dGeometry& g, const T* input, const T* weight, const T* bias, T* output);
template <class T> void conv1d_backward_input_reference(const Conv1dGeometry& g, const T* grad_output, const T* weight, T* grad_input);   // overwrites grad_input
template <class T> void conv1d_backward_weight_reference(const Conv1dGeometry& g, const T* grad_output, const T* input, T* grad_weight); // overwrites
template <class T> void conv1d_backward_bias_reference(const Conv1dGeometry& g, const T* grad_output, T* grad_bias);                      // overwrites
// The fast kernels: same contracts (T = float or double), used by the framework.
template <class T> void conv1d_forward(const Conv1dGeometry& g, const T* input, const T* weight, const T* bias, T* output);
template <class T> void conv1d_backward_input(const Conv1dGeometry& g, const T* grad_output, const T* weight, T* grad_input);
template <class T> void conv1d_backward_weight(const Conv1dGeometry& g, const T* grad_output, const T* input, T* grad_weight);
template <class T> void conv1d_backward_bias(const Conv1dGeometry& g, const T* grad_output, T* grad_bias);
}
