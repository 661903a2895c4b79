// In-place arithmetic: add_ sub_ mul_ div_ clamp_ masked_fill_ (and += -= *= /=).
// Each computes the out-of-place result (recorded when grad mode is on and an
// input requires grad), writes it into this tensor's storage, bumps the version
// counter, and gives this tensor the result's grad_fn (PyTorch's rebase_history).
// The recorded op reads a clone of the old value, so the write cannot corrupt
// what its backward saved; a backward that saved the old value elsewhere sees
// the version bump and throws.
#include <array>
#include <cstring>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "ops/ops.hpp"

namespace xgrad {

namespace {

// alpha * value as a Scalar: integral when both are, floating otherwise.
Scalar times(Scalar value, Scalar alpha) {
  if (value.is_floating_point() || alpha.is_floating_point()) return value.to_double() * alpha.to_double();
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(value.to_int64()) *
                                   static_cast<std::uint64_t>(alpha.to_int64()));
}

bool is_one(Scalar alpha) { return alpha.to_double() == 1.0; }

// Runs compute(old value of self, operand as the computation must read it) and
// writes the result into self. `operand` may be undefined (scalar ops).
template <class Compute>
Tensor& apply_in_place(Tensor& self, const char* op, const Tensor& operand, Compute compute) {
  XGRAD_CHECK(self.defined(), "{}: called on an undefined tensor", op);
  XGRAD_CHECK(!(self.requires_grad() && self.is_leaf() && autograd::is_grad_enabled()),
              "{}: a leaf tensor that requires grad (shape {}) is being modified in place; wrap the update in "
              "NoGradGuard (as optimizers and nn::init do)",
              op, self.shape());
  const bool recording = autograd::needs_graph(std::array{self, operand});
  Tensor old_value = self;
  if (recording) {
    // Aliases of this storage keep their own (now stale) graphs: refuse rather than compute wrong gradients.
    XGRAD_CHECK(self.impl()->storage.use_count() == 1,
                "{}: this tensor (shape {}) shares its storage with another tensor (a view such as reshape's or "
                "unsqueeze's output, a detach(), or an op's output saved for backward), whose graph an in-place op "
                "cannot update; use the out-of-place op (t = t + other) or run it under NoGradGuard",
                op, self.shape());
    old_value = self.clone();  // the value before the write, with self's history (CloneBackward)
  }
  // An operand that is self itself reads the old value too.
  const bool operand_is_self = operand.defined() && operand.impl() == self.impl();
  Tensor result = compute(old_value, operand_is_self ? old_value : operand);
  XGRAD_CHECK(result.dtype() == self.dtype(),
              "{}: the result is {}, which cannot be written into this {} tensor (shape {}) in place; use the "
              "out-of-place op, or convert first with .to()",
              op, result.dtype(), self.dtype(), self.shape());
  XGRAD_CHECK(result.shape() == self.shape(),
              "{}: the result has shape {}, but this tensor has shape {}; an in-place op's operand must broadcast to "
              "the tensor's own shape",
              op, result.shape(), self.shape());
  const std::size_t bytes = static_cast<std::size_t>(self.numel()) * element_size(self.dtype());
  if (bytes > 0) std::memcpy(self.impl()->storage->data(), result.impl()->storage->data(), bytes);
  self.impl()->storage->bump_version(op);
  if (recording) {
    self.impl()->grad_fn = result.grad_fn();
    self.impl()->requires_grad = result.requires_grad();
  }
  return self;
}

void check_operand(const Tensor& other, const char* op) {
  XGRAD_CHECK(other.defined(), "{}: the operand is an undefined tensor", op);
}

}  // namespace

Tensor& Tensor::add_(const Tensor& other, Scalar alpha) {
  check_operand(other, "add_");
  return apply_in_place(*this, "add_", other, [alpha](const Tensor& self, const Tensor& b) {
    return is_one(alpha) ? xgrad::add(self, b) : xgrad::add(self, mul(b, alpha));
  });
}

Tensor& Tensor::add_(Scalar other, Scalar alpha) {
  return apply_in_place(*this, "add_", Tensor(), [other, alpha](const Tensor& self, const Tensor&) {
    return xgrad::add(self, times(other, alpha));
  });
}

Tensor& Tensor::sub_(const Tensor& other, Scalar alpha) {
  check_operand(other, "sub_");
  return apply_in_place(*this, "sub_", other, [alpha](const Tensor& self, const Tensor& b) {
    return is_one(alpha) ? sub(self, b) : sub(self, mul(b, alpha));
  });
}

Tensor& Tensor::sub_(Scalar other, Scalar alpha) {
  return apply_in_place(*this, "sub_", Tensor(), [other, alpha](const Tensor& self, const Tensor&) {
    return sub(self, times(other, alpha));
  });
}

Tensor& Tensor::mul_(const Tensor& other) {
  check_operand(other, "mul_");
  return apply_in_place(*this, "mul_", other, [](const Tensor& self, const Tensor& b) { return mul(self, b); });
}

Tensor& Tensor::mul_(Scalar other) {
  return apply_in_place(*this, "mul_", Tensor(), [other](const Tensor& self, const Tensor&) { return mul(self, other); });
}

Tensor& Tensor::div_(const Tensor& other) {
  check_operand(other, "div_");
  return apply_in_place(*this, "div_", other, [](const Tensor& self, const Tensor& b) { return div(self, b); });
}

Tensor& Tensor::div_(Scalar other) {
  return apply_in_place(*this, "div_", Tensor(), [other](const Tensor& self, const Tensor&) { return div(self, other); });
}

Tensor& Tensor::clamp_(Scalar low, Scalar high) {
  return apply_in_place(*this, "clamp_", Tensor(),
                        [low, high](const Tensor& self, const Tensor&) { return xgrad::clamp(self, low, high); });
}

Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar value) {
  XGRAD_CHECK(mask.defined(), "masked_fill_: the mask is an undefined tensor");
  return apply_in_place(*this, "masked_fill_", Tensor(),
                        [&mask, value](const Tensor& self, const Tensor&) { return xgrad::masked_fill(self, mask, value); });
}

}  // namespace xgrad
