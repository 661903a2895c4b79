// Gradient clipping, as torch.nn.utils: call between backward() and the
// optimizer's step().
//
//   loss.backward();
//   double norm = nn::utils::clip_grad_norm_(model.parameters(), 1.0);
//   optimizer.step();
#pragma once

#include <vector>

#include "core/tensor.hpp"

namespace xgrad::nn::utils {

// Scales the gradients of `parameters` in place so that their total norm (the
// norm_type-norm of all gradients together, as if concatenated) is at most
// max_norm: each is multiplied by min(1, max_norm / (total_norm + 1e-6)), as
// PyTorch does. norm_type is a positive p, or INFINITY for the largest |g|.
// Parameters without a gradient are skipped; with none, the norm is 0. Returns
// the total norm before clipping, computed in the gradients' dtype as PyTorch
// computes it. error_if_nonfinite: throw (and change nothing) when the total is
// NaN or infinite.
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every gradient of `parameters` into [-clip_value, clip_value] in place.
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);

}  // namespace xgrad::nn::utils
