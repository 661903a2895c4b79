// The fast Conv1d kernels. For now they forward to the reference kernels so that the framework
// can be built against the final interface; the blocked SIMD kernels replace this file next.
#include "nn/kernels/conv1d_kernels.hpp"

#include <cstring>

#include "nn/kernels/conv1d_dispatch.hpp"

namespace xgrad::nn::kernels {

const char* conv1d_kernel_isa() { return "generic"; }
bool conv1d_isa_supported(const char* isa) { return std::strcmp(isa, "generic") == 0; }
bool set_conv1d_kernel_isa(const char* isa) { return conv1d_isa_supported(isa); }

template <class T>
void conv1d_forward(const Conv1dGeometry& g, const T* input, const T* weight, const T* bias, T* output) {
  conv1d_forward_reference(g, input, weight, bias, output);
}
template <class T>
void conv1d_backward_input(const Conv1dGeometry& g, const T* grad_output, const T* weight, T* grad_input) {
  conv1d_backward_input_reference(g, grad_output, weight, grad_input);
}
template <class T>
void conv1d_backward_weight(const Conv1dGeometry& g, const T* grad_output, const T* input, T* grad_weight) {
  conv1d_backward_weight_reference(g, grad_output, input, grad_weight);
}
template <class T>
void conv1d_backward_bias(const Conv1dGeometry& g, const T* grad_output, T* grad_bias) {
  conv1d_backward_bias_reference(g, grad_output, grad_bias);
}

#define XGRAD_INSTANTIATE_FAST(T)                                                               \
  template void conv1d_forward<T>(const Conv1dGeometry&, const T*, const T*, const T*, T*); \
  template void conv1d_backward_input<T>(const Conv1dGeometry&, const T*, const T*, T*);    \
  template void conv1d_backward_weight<T>(const Conv1dGeometry&, const T*, const T*, T*);   \
  template void conv1d_backward_bias<T>(const Conv1dGeometry&, const T*, T*);
XGRAD_INSTANTIATE_FAST(float)
XGRAD_INSTANTIATE_FAST(double)
#undef XGRAD_INSTANTIATE_FAST

}  // namespace xgrad::nn::kernels
