// Comparisons and masks: eq/ne/lt/le/gt/ge and the logical ops give kBool
// tensors (never part of the graph); where and masked_fill choose between values
// and are differentiable in the values they choose.
#include <type_traits>

#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/loops.hpp"

namespace xgrad {

using autograd::NeedsGrad;
using autograd::record;

namespace {

void check_operand(const Tensor& t, const char* op) {
  XGRAD_CHECK(t.defined(), "{}: an operand is an undefined tensor", op);
}

// out (kBool) = pred(a, b) elementwise with broadcasting; a and b share a dtype.
template <class Pred>
Tensor compare(const Tensor& a, const Tensor& b, const char* op, Pred pred) {
  check_operand(a, op);
  check_operand(b, op);
  XGRAD_CHECK(a.dtype() == b.dtype(), "{}: operands have different dtypes ({} {} and {} {}); convert one with .to()",
              op, a.dtype(), a.shape(), b.dtype(), b.shape());
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = make_uninitialized(out_shape, kBool, op);
  const std::int64_t n = out.numel();
  if (n == 0) return out;
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // Compare through the broadcast loop into a scratch tensor of T, then narrow to bool.
    if constexpr (std::is_same_v<T, bool>) {
      detail::binary_loop(a.data_ptr<bool>(), a.shape(), b.data_ptr<bool>(), b.shape(), out.data_ptr<bool>(),
                          out_shape, [&](bool x, bool y) { return static_cast<bool>(pred(x, y)); });
    } else {
      std::vector<T> scratch(static_cast<std::size_t>(n));
      detail::binary_loop(a.data_ptr<T>(), a.shape(), b.data_ptr<T>(), b.shape(), scratch.data(), out_shape,
                          [&](T x, T y) { return static_cast<T>(pred(x, y) ? 1 : 0); });
      bool* o = out.data_ptr<bool>();
      for (std::int64_t i = 0; i < n; ++i) o[i] = scratch[i] != T(0);
    }
  });
  return out;
}

// out (kBool) = pred(a, s) elementwise, compared as PyTorch compares after type
// promotion: a floating tensor with the scalar in its dtype, an int64 or bool
// tensor with an integer scalar as int64 and with a floating one as double.
template <class Pred>
Tensor compare(const Tensor& a, Scalar s, const char* op, Pred pred) {
  check_operand(a, op);
  Tensor out = make_uninitialized(a.shape(), kBool, op);
  bool* o = out.data_ptr<bool>();
  const std::int64_t n = a.numel();
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data_ptr<T>();
    if constexpr (std::is_floating_point_v<T>) {
      const T v = s.to<T>();
      for (std::int64_t i = 0; i < n; ++i) o[i] = pred(x[i], v);
    } else if (s.is_floating_point()) {
      const double v = s.to_double();
      for (std::int64_t i = 0; i < n; ++i) o[i] = pred(static_cast<double>(x[i]), v);
    } else {
      const std::int64_t v = s.to_int64();
      for (std::int64_t i = 0; i < n; ++i) o[i] = pred(static_cast<std::int64_t>(x[i]), v);
    }
  });
  return out;
}

}  // namespace

// The one place each comparison is spelled: tensor-tensor, tensor-scalar, scalar-tensor.
#define XGRAD_COMPARISON(name, symbol, mirrored)                                                                  \
  Tensor name(const Tensor& a, const Tensor& b) {                                                                 \
    return compare(a, b, #name, [](auto x, auto y) { return x symbol y; });                                       \
  }                                                                                                               \
  Tensor name(const Tensor& a, Scalar b) {                                                                        \
    return compare(a, b, #name, [](auto x, auto y) { return x symbol y; });                                       \
  }                                                                                                               \
  Tensor operator symbol(const Tensor& a, const Tensor& b) { return name(a, b); }                                 \
  Tensor operator symbol(const Tensor& a, Scalar b) { return name(a, b); }                                        \
  Tensor operator symbol(Scalar a, const Tensor& b) { return mirrored(b, a); }                                    \
  Tensor Tensor::name(const Tensor& other) const { return xgrad::name(*this, other); }                           \
  Tensor Tensor::name(Scalar other) const { return xgrad::name(*this, other); }

XGRAD_COMPARISON(eq, ==, eq)
XGRAD_COMPARISON(ne, !=, ne)
XGRAD_COMPARISON(lt, <, gt)
XGRAD_COMPARISON(le, <=, ge)
XGRAD_COMPARISON(gt, >, lt)
XGRAD_COMPARISON(ge, >=, le)

#undef XGRAD_COMPARISON

Tensor logical_not(const Tensor& a) { return eq(a, 0); }

Tensor logical_and(const Tensor& a, const Tensor& b) {
  check_operand(a, "logical_and");
  check_operand(b, "logical_and");
  return compare(a.to(kBool), b.to(kBool), "logical_and", [](bool x, bool y) { return x && y; });
}

Tensor logical_or(const Tensor& a, const Tensor& b) {
  check_operand(a, "logical_or");
  check_operand(b, "logical_or");
  return compare(a.to(kBool), b.to(kBool), "logical_or", [](bool x, bool y) { return x || y; });
}

namespace {
void check_mask(const Tensor& mask, const char* op, const char* role) {
  XGRAD_CHECK(mask.defined(), "{}: the {} is an undefined tensor", op, role);
  XGRAD_CHECK(mask.dtype() == kBool, "{}: the {} must be a kBool tensor, got {} {} (compare to make one: t > 0)", op,
              role, mask.dtype(), mask.shape());
}
}  // namespace

Tensor operator~(const Tensor& mask) {
  check_mask(mask, "operator~", "operand");
  return logical_not(mask);
}

Tensor operator&(const Tensor& a, const Tensor& b) {
  check_mask(a, "operator&", "left operand");
  check_mask(b, "operator&", "right operand");
  return logical_and(a, b);
}

Tensor operator|(const Tensor& a, const Tensor& b) {
  check_mask(a, "operator|", "left operand");
  check_mask(b, "operator|", "right operand");
  return logical_or(a, b);
}

Tensor Tensor::logical_not() const { return xgrad::logical_not(*this); }

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_mask(condition, "where", "condition");
  check_operand(a, "where");
  check_operand(b, "where");
  XGRAD_CHECK(a.dtype() == b.dtype(), "where: the two value tensors have different dtypes ({} {} and {} {}); convert "
              "one with .to()", a.dtype(), a.shape(), b.dtype(), b.shape());
  const Shape out_shape =
      broadcast_shapes(broadcast_shapes(condition.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = make_uninitialized(out_shape, a.dtype(), "where");
  const std::int64_t n = out.numel();
  if (n > 0) {
    const Shape strides_c = detail::broadcast_strides(condition.shape(), out_shape);
    const Shape strides_a = detail::broadcast_strides(a.shape(), out_shape);
    const Shape strides_b = detail::broadcast_strides(b.shape(), out_shape);
    const auto rank = static_cast<std::int64_t>(out_shape.size());
    dispatch_all(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const bool* c = condition.data_ptr<bool>();
      const T* x = a.data_ptr<T>();
      const T* y = b.data_ptr<T>();
      T* o = out.data_ptr<T>();
      // Odometer over the output, tracking the three broadcast offsets.
      std::vector<std::int64_t> index(static_cast<std::size_t>(rank), 0);
      std::int64_t oc = 0, oa = 0, ob = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        o[i] = c[oc] ? x[oa] : y[ob];
        for (std::int64_t d = rank - 1; d >= 0; --d) {
          oc += strides_c[d];
          oa += strides_a[d];
          ob += strides_b[d];
          if (++index[d] < out_shape[d]) break;
          oc -= strides_c[d] * out_shape[d];
          oa -= strides_a[d] * out_shape[d];
          ob -= strides_b[d] * out_shape[d];
          index[d] = 0;
        }
      }
    });
  }
  return record("WhereBackward", out, {a, b}, [saved = autograd::SavedTensor(condition)](const Tensor& g, const NeedsGrad& needs) {
    // d/da = 1 where the condition holds, d/db = 1 elsewhere (the engine sums broadcast dims away)
    const Tensor condition = saved.get();
    const Tensor none = zeros({}, {.dtype = g.dtype()});
    return std::vector<Tensor>{needs[0] ? where(condition, g, none) : Tensor(),
                               needs[1] ? where(condition, none, g) : Tensor()};
  });
}

namespace {
// A 0-dim tensor holding `value` in `dtype`.
Tensor scalar_of(Scalar value, Dtype dtype) {
  Tensor out = make_uninitialized({}, dtype, "where");
  dispatch_all(dtype, [&](auto tag) { *out.data_ptr<decltype(tag)>() = value.to<decltype(tag)>(); });
  return out;
}
}  // namespace

Tensor where(const Tensor& condition, const Tensor& a, Scalar b) {
  check_operand(a, "where");
  const Dtype type = result_type(a.dtype(), b.kind());
  const Tensor x = type == a.dtype() ? a : a.to(type);
  return where(condition, x, scalar_of(b, type));
}

Tensor where(const Tensor& condition, Scalar a, const Tensor& b) {
  check_operand(b, "where");
  const Dtype type = result_type(b.dtype(), a.kind());
  const Tensor y = type == b.dtype() ? b : b.to(type);
  return where(condition, scalar_of(a, type), y);
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, Scalar value) {
  check_operand(a, "masked_fill");
  check_mask(mask, "masked_fill", "mask");
  // The value takes the input's dtype, as in PyTorch (2.5 fills an int64 tensor with 2).
  return where(mask, scalar_of(value, a.dtype()), a);
}

Tensor Tensor::masked_fill(const Tensor& mask, Scalar value) const { return xgrad::masked_fill(*this, mask, value); }

}  // namespace xgrad
