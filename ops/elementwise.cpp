// Elementwise ops. Each op is one function: the forward computation, then the
// backward lambda right below it, with the derivative it implements in a comment.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/loops.hpp"

namespace xgrad {

using autograd::NeedsGrad;
using autograd::record;
using autograd::SavedTensor;

namespace {

void check_operand(const Tensor& t, const char* op) {
  XGRAD_CHECK(t.defined(), "{}: an operand is an undefined tensor", op);
}

// out = f(a) elementwise; f is a generic lambda over float or double (or, with
// dispatch_all as Dispatch, over int64 and bool too).
template <bool AllDtypes = false, class F>
Tensor map(const Tensor& a, const char* op, F f) {
  check_operand(a, op);
  Tensor out = make_uninitialized(a.shape(), a.dtype(), op);
  auto body = [&](auto tag) {
    using T = decltype(tag);
    detail::unary_loop(a.data_ptr<T>(), out.data_ptr<T>(), a.numel(), [&](T x) { return static_cast<T>(f(x)); });
  };
  if constexpr (AllDtypes) {
    dispatch_all(a.dtype(), body);
  } else {
    dispatch(a.dtype(), body);
  }
  return out;
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  check_operand(a, op);
  check_operand(b, op);
  XGRAD_CHECK(a.dtype() == b.dtype(), "{}: operands have different dtypes ({} {} and {} {}); convert one with .to()",
              op, a.dtype(), a.shape(), b.dtype(), b.shape());
}

// out = f(a, b) elementwise with broadcasting.
template <bool AllDtypes = false, class F>
Tensor map2(const Tensor& a, const Tensor& b, const char* op, F f) {
  check_same_dtype(a, b, op);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = make_uninitialized(out_shape, a.dtype(), op);
  auto body = [&](auto tag) {
    using T = decltype(tag);
    detail::binary_loop(a.data_ptr<T>(), a.shape(), b.data_ptr<T>(), b.shape(), out.data_ptr<T>(), out_shape,
                        [&](T x, T y) { return static_cast<T>(f(x, y)); });
  };
  if constexpr (AllDtypes) {
    dispatch_all(a.dtype(), body);
  } else {
    dispatch(a.dtype(), body);
  }
  return out;
}

// Integer arithmetic wraps around in two's complement, as PyTorch's does (signed
// overflow would be undefined behaviour in C++).
std::int64_t wrap(std::uint64_t value) { return static_cast<std::int64_t>(value); }
std::uint64_t bits(std::int64_t value) { return static_cast<std::uint64_t>(value); }

// x + y, x - y, x * y for every element type; on bool, + is "or" and * is "and" (PyTorch's).
template <class T>
T add_values(T x, T y) {
  if constexpr (std::is_same_v<T, bool>) return x || y;
  else if constexpr (std::is_same_v<T, std::int64_t>) return wrap(bits(x) + bits(y));
  else return x + y;
}
template <class T>
T sub_values(T x, T y) {
  if constexpr (std::is_same_v<T, std::int64_t>) return wrap(bits(x) - bits(y));
  else return x - y;
}
template <class T>
T mul_values(T x, T y) {
  if constexpr (std::is_same_v<T, bool>) return x && y;
  else if constexpr (std::is_same_v<T, std::int64_t>) return wrap(bits(x) * bits(y));
  else return x * y;
}

// The floating-point-only ops name themselves when given int64 or bool.
void check_floating(const Tensor& a, const char* op) {
  check_operand(a, op);
  XGRAD_CHECK(is_floating_point(a.dtype()), "{}: expected a floating-point tensor (float32 or float64), got {} {}; "
              "convert it with .to(kFloat32)", op, a.dtype(), a.shape());
}

void check_not_bool(const Tensor& a, const char* op, const char* advice) {
  check_operand(a, op);
  XGRAD_CHECK(a.dtype() != kBool, "{}: not supported on bool tensors (shape {}){}", op, a.shape(), advice);
}

// The input converted to float32 when it is int64 or bool: ops that PyTorch
// computes in floating point (true division, exp, log, ...) promote integers so.
Tensor promoted_to_float(const Tensor& a, const char* op) {
  check_operand(a, op);
  return is_floating_point(a.dtype()) ? a : a.to(kFloat32);
}

// True inside a backward run with create_graph (the engine turns grad mode on
// only then): a backward must then compute with recorded ops, so that its
// result is differentiable; otherwise it may use one fused loop.
bool recording_backward() { return autograd::is_grad_enabled(); }

template <class T>
bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(x);
  else return false;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = map2<true>(a, b, "add", [](auto x, auto y) { return add_values(x, y); });
  return record("AddBackward", out, {a, b}, [](const Tensor& g, const NeedsGrad&) {
    // d(a+b)/da = 1, d(a+b)/db = 1 (the engine sums broadcast dims away)
    return std::vector<Tensor>{g, g};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_not_bool(a, "sub", "; use logical_xor-style masks (a != b) instead");
  Tensor out = map2<true>(a, b, "sub", [](auto x, auto y) { return sub_values(x, y); });
  return record("SubBackward", out, {a, b}, [](const Tensor& g, const NeedsGrad& needs) {
    // d(a-b)/da = 1, d(a-b)/db = -1
    return std::vector<Tensor>{g, needs[1] ? neg(g) : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = map2<true>(a, b, "mul", [](auto x, auto y) { return mul_values(x, y); });
  return record("MulBackward", out, {a, b}, [a = SavedTensor(a), b = SavedTensor(b)](const Tensor& g, const NeedsGrad& needs) {
    // d(a*b)/da = b, d(a*b)/db = a
    return std::vector<Tensor>{needs[0] ? mul(g, b) : Tensor(), needs[1] ? mul(g, a) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "div");
  // True division, as PyTorch's: int64 and bool operands divide as float32.
  if (!is_floating_point(a.dtype())) return div(a.to(kFloat32), b.to(kFloat32));
  Tensor out = map2(a, b, "div", [](auto x, auto y) { return x / y; });
  return record("DivBackward", out, {a, b}, [a = SavedTensor(a), b = SavedTensor(b)](const Tensor& g, const NeedsGrad& needs) {
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
    const Tensor bv = b;
    Tensor grad_a = needs[0] ? div(g, bv) : Tensor();
    Tensor grad_b = needs[1] ? neg(div(mul(g, a), mul(bv, bv))) : Tensor();
    return std::vector<Tensor>{grad_a, grad_b};
  });
}

Tensor neg(const Tensor& a) {
  check_not_bool(a, "neg", "; use logical_not() to invert a mask");
  Tensor out = map<true>(a, "neg", [](auto x) {
    if constexpr (std::is_same_v<decltype(x), std::int64_t>) return wrap(0 - bits(x));
    else return -x;
  });
  return record("NegBackward", out, {a}, [](const Tensor& g, const NeedsGrad&) {
    // d(-a)/da = -1
    return std::vector<Tensor>{neg(g)};
  });
}

Tensor add(const Tensor& a, Scalar b) {
  check_operand(a, "add");
  const Dtype type = result_type(a.dtype(), b.kind());
  if (type != a.dtype()) return add(a.to(type), b);
  Tensor out = map<true>(a, "add", [b](auto x) { return add_values(x, b.to<decltype(x)>()); });
  return record("AddBackward", out, {a}, [](const Tensor& g, const NeedsGrad&) {
    // d(a+c)/da = 1
    return std::vector<Tensor>{g};
  });
}

Tensor sub(const Tensor& a, Scalar b) {
  check_not_bool(a, "sub", "; use logical_xor-style masks (a != b) instead");
  const Dtype type = result_type(a.dtype(), b.kind());
  if (type != a.dtype()) return sub(a.to(type), b);
  Tensor out = map<true>(a, "sub", [b](auto x) { return sub_values(x, b.to<decltype(x)>()); });
  return record("SubBackward", out, {a}, [](const Tensor& g, const NeedsGrad&) {
    // d(a-c)/da = 1
    return std::vector<Tensor>{g};
  });
}

Tensor mul(const Tensor& a, Scalar b) {
  check_operand(a, "mul");
  const Dtype type = result_type(a.dtype(), b.kind());
  if (type != a.dtype()) return mul(a.to(type), b);
  Tensor out = map<true>(a, "mul", [b](auto x) { return mul_values(x, b.to<decltype(x)>()); });
  return record("MulBackward", out, {a}, [b](const Tensor& g, const NeedsGrad&) {
    // d(a*c)/da = c
    return std::vector<Tensor>{mul(g, b)};
  });
}

Tensor rsub(const Tensor& a, Scalar b) {
  check_not_bool(a, "rsub", "; use logical_not() to invert a mask");
  const Dtype type = result_type(a.dtype(), b.kind());
  if (type != a.dtype()) return rsub(a.to(type), b);
  Tensor out = map<true>(a, "rsub", [b](auto x) { return sub_values(b.to<decltype(x)>(), x); });
  return record("RsubBackward", out, {a}, [](const Tensor& g, const NeedsGrad&) {
    // d(c-a)/da = -1
    return std::vector<Tensor>{neg(g)};
  });
}

Tensor rdiv(const Tensor& a, Scalar b) {
  const Tensor x = promoted_to_float(a, "rdiv");
  const double c = b.to_double();
  Tensor out = map(x, "rdiv", [c](auto v) { return static_cast<decltype(v)>(c) / v; });
  return record("RdivBackward", out, {x}, [a = SavedTensor(x), c](const Tensor& g, const NeedsGrad&) {
    // d(c/a)/da = -c/a^2
    const Tensor av = a;
    return std::vector<Tensor>{mul(div(g, mul(av, av)), -c)};
  });
}

Tensor div(const Tensor& a, Scalar b) {
  const Tensor x = promoted_to_float(a, "div");
  const double c = b.to_double();
  Tensor out = map(x, "div", [c](auto v) { return v / static_cast<decltype(v)>(c); });
  return record("DivBackward", out, {x}, [c](const Tensor& g, const NeedsGrad&) {
    // d(a/c)/da = 1/c
    return std::vector<Tensor>{div(g, c)};
  });
}

Tensor pow(const Tensor& a, double exponent) {
  check_floating(a, "pow");
  Tensor out = map(a, "pow", [exponent](auto x) { return std::pow(x, static_cast<decltype(x)>(exponent)); });
  return record("PowBackward", out, {a}, [a = SavedTensor(a), exponent](const Tensor& g, const NeedsGrad&) {
    // d(a^e)/da = e * a^(e-1)  (zero when e == 0, as PyTorch)
    if (exponent == 0.0) {
      return std::vector<Tensor>{mul(g, 0.0)};
    }
    if (recording_backward()) {
      return std::vector<Tensor>{mul(g, mul(pow(a, exponent - 1.0), exponent))};
    }
    Tensor local = map(a, "pow_backward", [exponent](auto x) {
      using T = decltype(x);
      return static_cast<T>(exponent) * std::pow(x, static_cast<T>(exponent - 1.0));
    });
    return std::vector<Tensor>{mul(g, local)};
  });
}

Tensor exp(const Tensor& input) {
  const Tensor a = promoted_to_float(input, "exp");
  Tensor out = map(a, "exp", [](auto x) { return std::exp(x); });
  return record("ExpBackward", out, {a}, [out = SavedTensor::output(out)](const Tensor& g, const NeedsGrad&) {
    // d(e^a)/da = e^a
    return std::vector<Tensor>{mul(g, out)};
  });
}

Tensor log(const Tensor& input) {
  const Tensor a = promoted_to_float(input, "log");
  Tensor out = map(a, "log", [](auto x) { return std::log(x); });
  return record("LogBackward", out, {a}, [a = SavedTensor(a)](const Tensor& g, const NeedsGrad&) {
    // d(log a)/da = 1/a
    return std::vector<Tensor>{div(g, a)};
  });
}

Tensor tanh(const Tensor& input) {
  const Tensor a = promoted_to_float(input, "tanh");
  Tensor out = map(a, "tanh", [](auto x) { return std::tanh(x); });
  return record("TanhBackward", out, {a}, [out = SavedTensor::output(out)](const Tensor& g, const NeedsGrad&) {
    // d(tanh a)/da = 1 - tanh(a)^2
    if (recording_backward()) {
      const Tensor y = out;
      return std::vector<Tensor>{mul(g, rsub(mul(y, y), 1.0))};
    }
    return std::vector<Tensor>{map2(g, out, "tanh_backward", [](auto gv, auto y) { return gv * (1 - y * y); })};
  });
}

Tensor sigmoid(const Tensor& input) {
  const Tensor a = promoted_to_float(input, "sigmoid");
  // 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) otherwise: no overflow for large |x|.
  Tensor out = map(a, "sigmoid", [](auto x) {
    using T = decltype(x);
    if (x >= 0) {
      return T(1) / (T(1) + std::exp(-x));
    }
    const T e = std::exp(x);
    return e / (T(1) + e);
  });
  return record("SigmoidBackward", out, {a}, [out = SavedTensor::output(out)](const Tensor& g, const NeedsGrad&) {
    // d(sigmoid a)/da = s * (1 - s)
    if (recording_backward()) {
      const Tensor s = out;
      return std::vector<Tensor>{mul(g, mul(s, rsub(s, 1.0)))};
    }
    return std::vector<Tensor>{map2(g, out, "sigmoid_backward", [](auto gv, auto s) { return gv * s * (1 - s); })};
  });
}

Tensor relu(const Tensor& a) {
  check_not_bool(a, "relu", "");
  // NaN stays NaN (as PyTorch): `x > 0 ? x : 0` alone would turn it into a silent 0.
  Tensor out = map<true>(a, "relu", [](auto x) {
    if constexpr (std::is_floating_point_v<decltype(x)>) return x > 0 || std::isnan(x) ? x : decltype(x)(0);
    else return x > 0 ? x : decltype(x)(0);
  });
  return record("ReluBackward", out, {a}, [out = SavedTensor::output(out)](const Tensor& g, const NeedsGrad&) {
    // d(max(a, 0))/da = 1 where a > 0, else 0 (a constant mask: its own derivative is 0)
    if (recording_backward()) {
      return std::vector<Tensor>{mul(g, map(out.get().detach(), "relu_backward", [](auto y) { return y > 0 ? 1 : 0; }))};
    }
    return std::vector<Tensor>{map2(g, out, "relu_backward", [](auto gv, auto y) { return y > 0 ? gv : decltype(gv)(0); })};
  });
}

Tensor sqrt(const Tensor& input) {
  const Tensor a = promoted_to_float(input, "sqrt");
  Tensor out = map(a, "sqrt", [](auto x) { return std::sqrt(x); });
  return record("SqrtBackward", out, {a}, [out = SavedTensor::output(out)](const Tensor& g, const NeedsGrad&) {
    // d(sqrt a)/da = 1 / (2 sqrt a)
    if (recording_backward()) {
      return std::vector<Tensor>{div(g, mul(out, 2.0))};
    }
    return std::vector<Tensor>{map2(g, out, "sqrt_backward", [](auto gv, auto y) { return gv / (2 * y); })};
  });
}

Tensor abs(const Tensor& a) {
  check_not_bool(a, "abs", "");
  Tensor out = map<true>(a, "abs", [](auto x) {
    if constexpr (std::is_same_v<decltype(x), std::int64_t>) return x < 0 ? wrap(0 - bits(x)) : x;
    else return std::abs(x);
  });
  return record("AbsBackward", out, {a}, [a = SavedTensor(a)](const Tensor& g, const NeedsGrad&) {
    // d|a|/da = sign(a), with sign(0) = 0 as PyTorch (a constant: its own derivative is 0)
    if (recording_backward()) {
      return std::vector<Tensor>{mul(g, map(a.get().detach(), "abs_backward", [](auto x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }))};
    }
    return std::vector<Tensor>{map2(g, a, "abs_backward", [](auto gv, auto x) {
      using T = decltype(gv);
      return x > 0 ? gv : (x < 0 ? -gv : T(0));
    })};
  });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  // A NaN in either input gives NaN (as PyTorch), whichever side it is on.
  Tensor out = map2<true>(a, b, "maximum", [](auto x, auto y) { return x > y || is_nan(x) ? x : y; });
  return record("MaximumBackward", out, {a, b}, [a = SavedTensor(a), b = SavedTensor(b)](const Tensor& g, const NeedsGrad& needs) {
    // The larger input gets the gradient; ties split it evenly (PyTorch's rule);
    // both get it when a NaN makes them unordered (as PyTorch).
    auto share = [](auto x, auto y) {
      using T = decltype(x);
      return x > y ? T(1) : (x == y ? T(0.5) : (x < y ? T(0) : T(1)));
    };
    Tensor grad_a = needs[0] ? mul(g, map2(a, b, "maximum_backward", share)) : Tensor();
    Tensor grad_b = needs[1] ? mul(g, map2(b, a, "maximum_backward", share)) : Tensor();
    return std::vector<Tensor>{grad_a, grad_b};
  });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor out = map2<true>(a, b, "minimum", [](auto x, auto y) { return x < y || is_nan(x) ? x : y; });
  return record("MinimumBackward", out, {a, b}, [a = SavedTensor(a), b = SavedTensor(b)](const Tensor& g, const NeedsGrad& needs) {
    // The smaller input gets the gradient; ties split it evenly; both when unordered (NaN).
    auto share = [](auto x, auto y) {
      using T = decltype(x);
      return x < y ? T(1) : (x == y ? T(0.5) : (x > y ? T(0) : T(1)));
    };
    Tensor grad_a = needs[0] ? mul(g, map2(a, b, "minimum_backward", share)) : Tensor();
    Tensor grad_b = needs[1] ? mul(g, map2(b, a, "minimum_backward", share)) : Tensor();
    return std::vector<Tensor>{grad_a, grad_b};
  });
}

Tensor clamp(const Tensor& input, Scalar low_bound, Scalar high_bound) {
  check_not_bool(input, "clamp", "");
  XGRAD_CHECK(!(low_bound.to_double() > high_bound.to_double()), "clamp: low ({}) is greater than high ({})",
              low_bound, high_bound);
  // As PyTorch: an int64 tensor clamped to a floating bound is clamped in float32.
  const bool floating_bound = low_bound.is_floating_point() || high_bound.is_floating_point();
  const Tensor a = floating_bound ? promoted_to_float(input, "clamp") : input;
  if (!is_floating_point(a.dtype())) {
    const std::int64_t lo = low_bound.to_int64(), hi = high_bound.to_int64();
    return map<true>(a, "clamp", [lo, hi](auto x) { return static_cast<decltype(x)>(std::min<std::int64_t>(std::max<std::int64_t>(x, lo), hi)); });
  }
  const double low = low_bound.to_double(), high = high_bound.to_double();
  Tensor out = map(a, "clamp", [low, high](auto x) {
    using T = decltype(x);
    return std::min(std::max(x, static_cast<T>(low)), static_cast<T>(high));
  });
  return record("ClampBackward", out, {a}, [a = SavedTensor(a), low, high](const Tensor& g, const NeedsGrad&) {
    // 1 inside [low, high], 0 where clamped (a constant mask: its own derivative is 0)
    if (recording_backward()) {
      return std::vector<Tensor>{mul(g, map(a.get().detach(), "clamp_backward", [low, high](auto x) {
        using T = decltype(x);
        return x >= static_cast<T>(low) && x <= static_cast<T>(high) ? 1 : 0;
      }))};
    }
    return std::vector<Tensor>{map2(g, a, "clamp_backward", [low, high](auto gv, auto x) {
      using T = decltype(gv);
      return x >= static_cast<T>(low) && x <= static_cast<T>(high) ? gv : T(0);
    })};
  });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, Scalar b) { return add(a, b); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, b); }
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, b); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, b); }
Tensor operator+(Scalar a, const Tensor& b) { return add(b, a); }
Tensor operator-(Scalar a, const Tensor& b) { return rsub(b, a); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(b, a); }
Tensor operator/(Scalar a, const Tensor& b) { return rdiv(b, a); }

Tensor Tensor::clamp(Scalar low, Scalar high) const { return xgrad::clamp(*this, low, high); }

}  // namespace xgrad
