// The op table: one row per differentiable op (see op_table.hpp). To add an op, copy the row of a
// similar one: its gradcheck cases (plain call first, then each option or broadcast that takes its
// own backward path), a NaN probe (or a rule), and each way a caller can misuse it.
#include "support/op_table.hpp"

#include <cmath>
#include <limits>
#include <tuple>

namespace xgrad::testing {

namespace {

namespace F = nn::functional;
using In = std::vector<Tensor>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Away from non-differentiable points and singularities.
const Domain kPositive{.low = 0.2, .high = 2.0};               // log, sqrt, pow with fractional exponent
const Domain kNonZero{.low = -2.0, .high = 2.0, .avoid = {0.0}, .keep_away = 0.3};  // relu, abs, division
const Domain kClampSafe{.low = -2.0, .high = 2.0, .avoid = {-0.5, 0.5}, .keep_away = 0.1};
const Domain kNormal{.normal = true};                          // N(0, 1): activations for layers and losses

// A fixed kBool mask of `shape`: elements alternate true/false in row-major order.
Tensor mask(const Shape& shape) {
  Tensor m = empty(shape, {.dtype = kBool});
  for (std::int64_t i = 0; i < m.numel(); ++i) m.data_ptr<bool>()[i] = i % 2 == 0;
  return m;
}

// Class indices as int64 (never a gradient), as the losses take them.
Tensor classes(const std::vector<std::int64_t>& values) {
  Tensor t = empty({static_cast<std::int64_t>(values.size())}, {.dtype = kInt64});
  for (std::size_t i = 0; i < values.size(); ++i) t.data_ptr<std::int64_t>()[i] = values[i];
  return t;
}

// Per-class loss weights, float64 without gradient.
Tensor class_weights(const std::vector<double>& values) { return from_values(values, false); }

// Tensors the misuse rows share: undefined, float32 [2, 3], float32 [4, 5], float64 [2, 3].
struct Operands {
  Tensor u;
  Tensor a = ones({2, 3});
  Tensor b = ones({4, 5});
  Tensor d = ones({2, 3}, {.dtype = kFloat64});
};

// A NaN in a conv1d input reaches exactly the outputs whose window covers it, and in backward
// only the weight gradients of the channel it sits in.
void conv1d_nan_rule() {
  for (Dtype dtype : {kFloat32, kFloat64}) {
    for (auto [stride, padding, dilation] : {std::tuple{1, 1, 1}, std::tuple{2, 2, 2}, std::tuple{1, 0, 3}}) {
      CAPTURE(dtype);
      CAPTURE(stride);
      CAPTURE(padding);
      CAPTURE(dilation);
      manual_seed(1);
      Tensor weight = randn({5, 2, 3}, {.dtype = dtype, .requires_grad = true});
      Tensor x = randn({2, 2, 17}, {.dtype = dtype});
      const std::int64_t bad = 8;
      dispatch(dtype, [&](auto type_tag) {
        using T = decltype(type_tag);
        x.data_ptr<T>()[1 * 17 + bad] = static_cast<T>(kNaN);
      });
      x.requires_grad_();
      Tensor y = F::conv1d(x, weight, Tensor(), {.stride = stride, .padding = padding, .dilation = dilation});
      const std::int64_t out_length = y.size(2);
      const std::vector<double> out = values(y);
      for (std::int64_t n = 0; n < 2; ++n) {
        for (std::int64_t c = 0; c < 5; ++c) {
          for (std::int64_t l = 0; l < out_length; ++l) {
            bool covers = false;
            for (std::int64_t k = 0; k < 3; ++k) covers |= l * stride - padding + k * dilation == bad;
            const double v = out[static_cast<std::size_t>((n * 5 + c) * out_length + l)];
            CHECK_MESSAGE(std::isnan(v) == (n == 0 && covers), "n ", n, " c ", c, " l ", l, " value ", v);
          }
        }
      }
      CHECK_NOTHROW(y.sum().backward());
      CHECK(x.grad().shape() == x.shape());
      // The weight gradient sees the NaN input in channel 1 only: weight (5, 2, 3), [0][1][0] is flat 3.
      CHECK(std::isnan(values(weight.grad())[3]));
      CHECK(std::isfinite(values(weight.grad())[0]));
    }
  }
}

std::vector<OpRow> build_table() {
  using namespace xgrad::indexing;
  const Operands o;
  const Tensor f = ones({2}), f64 = ones({2}, {.dtype = kFloat64});
  const Tensor t23 = ones({2, 3}), t25 = ones({2, 5});
  const Tensor conv_x = ones({2, 4, 10}), conv_w = ones({2, 4, 3});
  // A dtype-matched constant for NaN probes that need a second operand.
  auto like = [](const Tensor& x, const Shape& shape, double value) { return full(shape, value, {.dtype = x.dtype()}); };
  const Tensor running_mean = from_values({0.3, -0.2, 0.1}, false);
  const Tensor running_var = from_values({0.9, 1.4, 0.6}, false);

  return {
      // ---------------------------------------------------------------- arithmetic
      {.op = "add",
       .grad = {{"", [](const In& x) { return x[0] + x[1]; }, {{2, 3}, {2, 3}}},
                {"scalar", [](const In& x) { return x[0] + 1.5; }, {{2, 3}}},
                {"scalar first", [](const In& x) { return 1.5 + x[0]; }, {{2, 3}}},
                {"broadcast b to a", [](const In& x) { return x[0] + x[1]; }, {{2, 3, 4}, {4}}},
                {"broadcast a to b", [](const In& x) { return x[0] + x[1]; }, {{3, 1}, {2, 3, 4}}},
                {"function form", [](const In& x) { return add(x[0], x[1]); }, {{2, 3}, {2, 3}}}},
       .nan = {{"x + x", [](const Tensor& x) { return x + x; }},
               {"broadcast", [like](const Tensor& x) { return (x.reshape({6, 1}) + like(x, {1, 2}, 0.0)).sum({1}) * 0.5; }}},
       .misuses = {{"shape mismatch", [] { (void)(ones({2, 3}) + ones({4})); }, "add: shapes [2, 3] and [4] cannot be broadcast"},
                   {"dtype mismatch", [f, f64] { (void)(f + f64); }, "add: operands have different dtypes (float32 [2] and float64 [2])"},
                   {"undefined operand", [] { (void)(Tensor() + ones({1})); }, "add: an operand is an undefined tensor"},
                   {"scalar to undefined", [o] { (void)(o.u + 1.0); }, "add"}}},
      {.op = "sub",
       .grad = {{"", [](const In& x) { return x[0] - x[1]; }, {{2, 3}, {2, 3}}},
                {"scalar", [](const In& x) { return x[0] - 1.5; }, {{2, 3}}},
                {"broadcast both ranks", [](const In& x) { return x[0] - x[1]; }, {{2, 1, 4}, {3, 1}}}},
       .nan = {{"x - 0.5", [](const Tensor& x) { return x - 0.5; }}},
       .misuses = {{"dtype mismatch", [o] { (void)(o.a - o.d); }, "sub"}}},
      {.op = "rsub",
       .grad = {{"scalar - x", [](const In& x) { return 1.5 - x[0]; }, {{2, 3}}}},
       .nan = {{"1 - x", [](const Tensor& x) { return 1.0 - x; }}},
       .misuses = {{"undefined", [o] { (void)(1.0 - o.u); }, "rsub"}}},
      {.op = "mul",
       .grad = {{"", [](const In& x) { return x[0] * x[1]; }, {{2, 3}, {2, 3}}},
                {"scalar", [](const In& x) { return x[0] * -2.5; }, {{2, 3}}},
                {"scalar first", [](const In& x) { return -2.5 * x[0]; }, {{2, 3}}},
                {"broadcast both", [](const In& x) { return x[0] * x[1]; }, {{3, 1}, {1, 4}}},
                {"0-dim", [](const In& x) { return x[0] * x[1]; }, {{}, {2, 3}}},
                {"x * x (used twice)", [](const In& x) { return x[0] * x[0]; }, {{2, 3}}},
                {"diamond: tanh feeding exp, mul and add", [](const In& x) { Tensor h = x[0].tanh(); return h * h.exp() + h; }, {{2, 3}}}},
       .nan = {{"x * x", [](const Tensor& x) { return x * x; }}},
       .misuses = {{"shape mismatch", [] { (void)(ones({2, 3}) * ones({3, 3})); }, "mul: shapes [2, 3] and [3, 3]"},
                   {"undefined right operand", [o] { (void)mul(o.a, o.u); }, "mul"}}},
      {.op = "div",
       .grad = {{"", [](const In& x) { return x[0] / x[1]; }, {{2, 3}, {2, 3}}, kNonZero},
                {"scalar", [](const In& x) { return x[0] / 4.0; }, {{2, 3}}},
                {"broadcast both", [](const In& x) { return x[0] / x[1]; }, {{1, 3}, {2, 1}}, kNonZero}},
       .nan = {{"x / (x * x + 1)", [](const Tensor& x) { return x / (x * x + 1.0); }}},
       .misuses = {{"shape mismatch", [o] { (void)(o.a / o.b); }, "div"},
                   {"dtype mismatch", [f, f64] { (void)(f64 / f); }, "div: operands have different dtypes"}}},
      {.op = "rdiv",
       .grad = {{"scalar / x", [](const In& x) { return 3.0 / x[0]; }, {{2, 3}}, kNonZero}},
       .nan = {{"1 / x", [](const Tensor& x) { return 1.0 / x; }}},
       .misuses = {{"undefined", [o] { (void)(1.0 / o.u); }, "rdiv"}}},
      {.op = "neg",
       .grad = {{"", [](const In& x) { return -x[0]; }, {{2, 3}}}},
       .nan = {{"-x", [](const Tensor& x) { return -x; }}},
       .misuses = {{"undefined", [o] { (void)neg(o.u); }, "neg"}}},
      // ---------------------------------------------------------------- unary
      {.op = "pow",
       .grad = {{"2", [](const In& x) { return x[0].pow(2.0); }, {{2, 3}}},
                {"3, function form", [](const In& x) { return pow(x[0], 3.0); }, {{2, 3}}},
                {"-1.5", [](const In& x) { return x[0].pow(-1.5); }, {{2, 3}}, kPositive},
                {"0.5", [](const In& x) { return x[0].pow(0.5); }, {{2, 3}}, kPositive},
                {"0", [](const In& x) { return x[0].pow(0.0); }, {{2, 3}}}},
       .nan = {{"pow 2", [](const Tensor& x) { return x.pow(2.0); }}, {"pow 0.5", [](const Tensor& x) { return x.pow(0.5); }}},
       .misuses = {{"undefined", [o] { (void)pow(o.u, 2.0); }, "pow"}}},
      {.op = "exp",
       .grad = {{"", [](const In& x) { return x[0].exp(); }, {{2, 3}}}},
       .nan = {{"exp", [](const Tensor& x) { return x.exp(); }}},
       .misuses = {{"undefined", [] { (void)Tensor().exp(); }, "exp: an operand is an undefined tensor"}}},
      {.op = "log",
       .grad = {{"", [](const In& x) { return x[0].log(); }, {{2, 3}}, kPositive}},
       .nan = {{"log", [](const Tensor& x) { return x.log(); }}},
       .misuses = {{"undefined", [o] { (void)log(o.u); }, "log"}}},
      {.op = "tanh",
       .grad = {{"", [](const In& x) { return x[0].tanh(); }, {{2, 3}}}},
       .nan = {{"tanh", [](const Tensor& x) { return x.tanh(); }}},
       .misuses = {{"undefined", [o] { (void)tanh(o.u); }, "tanh"}}},
      {.op = "sigmoid",
       .grad = {{"", [](const In& x) { return x[0].sigmoid(); }, {{2, 3}}, Domain{.low = -8, .high = 8}}},
       .nan = {{"sigmoid", [](const Tensor& x) { return x.sigmoid(); }}},
       .misuses = {{"undefined", [o] { (void)sigmoid(o.u); }, "sigmoid"}}},
      {.op = "relu",
       .grad = {{"", [](const In& x) { return x[0].relu(); }, {{3, 4}}, kNonZero}},
       .nan = {{"relu", [](const Tensor& x) { return x.relu(); }}},
       .misuses = {{"undefined", [o] { (void)relu(o.u); }, "relu"}}},
      {.op = "sqrt",
       .grad = {{"", [](const In& x) { return x[0].sqrt(); }, {{2, 3}}, kPositive}},
       .nan = {{"sqrt", [](const Tensor& x) { return x.sqrt(); }}},
       .misuses = {{"undefined", [o] { (void)sqrt(o.u); }, "sqrt"}}},
      {.op = "abs",
       .grad = {{"", [](const In& x) { return x[0].abs(); }, {{3, 4}}, kNonZero}},
       .nan = {{"abs", [](const Tensor& x) { return x.abs(); }}},
       .misuses = {{"undefined", [o] { (void)abs(o.u); }, "abs"}}},
      // maximum/minimum: a in [-2, -1) or [1, 2) vs b in [-1, 1): never tied.
      {.op = "maximum",
       .grad = {{"", [](const In& x) { return maximum(x[0] * 3.0, x[1]); }, {{2, 3}, {2, 3}}, kNonZero},
                {"broadcast", [](const In& x) { return maximum(x[0] * 3.0, x[1]); }, {{2, 1}, {3}}, kNonZero}},
       .nan = {{"NaN left", [](const Tensor& x) { return maximum(x, zeros_like(x)); }},
               {"NaN right", [](const Tensor& x) { return maximum(zeros_like(x), x); }}},
       .misuses = {{"shape mismatch", [] { (void)maximum(ones({2}), ones({5})); }, "maximum: shapes [2] and [5]"}}},
      {.op = "minimum",
       .grad = {{"", [](const In& x) { return minimum(x[0] * 3.0, x[1]); }, {{2, 3}, {2, 3}}, kNonZero},
                {"broadcast", [](const In& x) { return minimum(x[0], x[1] * 3.0); }, {{3}, {2, 1}}, kNonZero}},
       .nan = {{"NaN left", [](const Tensor& x) { return minimum(x, zeros_like(x)); }},
               {"NaN right", [](const Tensor& x) { return minimum(zeros_like(x), x); }}},
       .misuses = {{"dtype mismatch", [o] { (void)minimum(o.a, o.d); }, "minimum"}}},
      {.op = "clamp",
       .grad = {{"", [](const In& x) { return clamp(x[0], -0.5, 0.5); }, {{3, 4}}, kClampSafe}},
       .nan = {{"clamp", [](const Tensor& x) { return clamp(x, -1.0, 1.0); }}},
       .misuses = {{"low > high", [] { (void)clamp(ones({3}), 1.0, -1.0); }, "clamp: low (1) is greater than high (-1)"},
                   {"undefined", [o] { (void)clamp(o.u, 0.0, 1.0); }, "clamp"}}},
      // ---------------------------------------------------------------- matmul
      {.op = "matmul",
       .grad = {{"1-D . 1-D", [](const In& x) { return matmul(x[0], x[1]); }, {{4}, {4}}},
                {"2-D", [](const In& x) { return matmul(x[0], x[1]); }, {{2, 3}, {3, 4}}},
                {"1-D x 2-D", [](const In& x) { return matmul(x[0], x[1]); }, {{3}, {3, 2}}},
                {"2-D x 1-D", [](const In& x) { return matmul(x[0], x[1]); }, {{2, 3}, {3}}},
                {"batched", [](const In& x) { return matmul(x[0], x[1]); }, {{2, 2, 3}, {2, 3, 2}}},
                {"broadcast batch", [](const In& x) { return matmul(x[0], x[1]); }, {{2, 1, 2, 3}, {3, 3, 2}}},
                {"batched x 2-D, member form", [](const In& x) { return x[0].matmul(x[1]); }, {{2, 2, 3}, {3, 2}}},
                {"1-D x batched", [](const In& x) { return matmul(x[0], x[1]); }, {{3}, {2, 3, 2}}},
                {"batched x 1-D", [](const In& x) { return matmul(x[0], x[1]); }, {{2, 2, 3}, {3}}}},
       .nan = {{"[2, 3] x ones [3, 2]", [like](const Tensor& x) { return matmul(x.reshape({2, 3}), like(x, {3, 2}, 1.0)); },
                {kNaN, kNaN, 1.5, 1.5}}},
       .misuses = {{"2-D mismatch", [] { (void)matmul(ones({2, 3}), ones({4, 5})); }, "matmul: shapes [2, 3] and [4, 5] cannot be multiplied"},
                   {"1-D mismatch", [] { (void)matmul(ones({3}), ones({4})); }, "matmul: shapes [3] and [4]"},
                   {"batch mismatch", [] { (void)matmul(ones({2, 2, 3}), ones({3, 3, 1})); }, "matmul: shapes [2] and [3] cannot be broadcast"},
                   {"0-dim", [] { (void)matmul(ones({}), ones({3})); }, "matmul: both operands need at least one dimension"},
                   {"dtype mismatch", [f, f64] { (void)matmul(f, f64); }, "matmul: operands have different dtypes"},
                   {"undefined", [o] { (void)matmul(o.u, o.a); }, "matmul"}}},
      // ---------------------------------------------------------------- reductions
      {.op = "sum",
       .grad = {{"all", [](const In& x) { return x[0].sum(); }, {{2, 3, 4}}},
                {"dim 0", [](const In& x) { return x[0].sum({0}); }, {{2, 3, 4}}},
                {"dim 1", [](const In& x) { return x[0].sum({1}); }, {{2, 3, 4}}},
                {"dim 2", [](const In& x) { return x[0].sum({2}); }, {{2, 3, 4}}},
                {"dim -1 keepdim", [](const In& x) { return x[0].sum({-1}, true); }, {{2, 3, 4}}},
                {"dims 0,2", [](const In& x) { return x[0].sum({0, 2}); }, {{2, 3, 4}}},
                {"dims 2,0 keepdim", [](const In& x) { return x[0].sum({2, 0}, true); }, {{2, 3, 4}}},
                {"0-dim", [](const In& x) { return x[0].sum(); }, {{}}}},
       .nan = {{"all", [](const Tensor& x) { return x.sum(); }, {kNaN}},
               {"dim 1 of [2, 3]", [](const Tensor& x) { return x.reshape({2, 3}).sum({1}); }, {kNaN, 1.5}}},
       .misuses = {{"dim out of range", [t23] { (void)t23.sum({2}); }, "sum: dimension 2 is out of range for a tensor of rank 2 (expected -2 to 1)"},
                   {"negative dim out of range", [t23] { (void)t23.sum({-3}); }, "sum: dimension -3 is out of range"},
                   {"repeated dim", [t23] { (void)t23.sum({0, -2}); }, "sum: dim 0 appears more than once in dims [0, -2]"},
                   {"undefined", [o] { (void)sum(o.u); }, "sum"}}},
      {.op = "mean",
       .grad = {{"all", [](const In& x) { return x[0].mean(); }, {{2, 3, 4}}},
                {"dim 0", [](const In& x) { return x[0].mean({0}); }, {{2, 3, 4}}},
                {"dim 1 keepdim", [](const In& x) { return x[0].mean({1}, true); }, {{2, 3, 4}}},
                {"dim 2", [](const In& x) { return x[0].mean({2}); }, {{2, 3, 4}}},
                {"dims 0,1", [](const In& x) { return x[0].mean({0, 1}); }, {{2, 3, 4}}},
                {"dims 1,2 keepdim", [](const In& x) { return x[0].mean({1, 2}, true); }, {{2, 3, 4}}}},
       .nan = {{"all", [](const Tensor& x) { return x.mean(); }, {kNaN}}},
       .misuses = {{"repeated dim", [t23] { (void)t23.mean({1, 1}); }, "mean: dim 1 appears more than once"},
                   {"dim out of range", [o] { (void)o.a.mean({-3}); }, "mean"},
                   {"undefined", [o] { (void)mean(o.u); }, "mean"}}},
      // random draws are tie-free almost surely; the tests seed the generator
      {.op = "max",
       .grad = {{"dim 0", [](const In& x) { return std::get<0>(x[0].max(0)); }, {{3, 4}}},
                {"dim 1", [](const In& x) { return std::get<0>(x[0].max(1)); }, {{3, 4}}},
                {"dim -1 keepdim", [](const In& x) { return std::get<0>(max(x[0], -1, true)); }, {{2, 3, 4}}},
                {"dim 1 of 3-D", [](const In& x) { return std::get<0>(max(x[0], 1)); }, {{2, 3, 4}}}},
       // max picks NaN, as PyTorch
       .nan = {{"dim 1 of [2, 3]", [](const Tensor& x) { return std::get<0>(x.reshape({2, 3}).max(1)); }, {kNaN, 3.0}}},
       .misuses = {{"dim out of range", [t23] { (void)t23.max(2); }, "max: dimension 2 is out of range"},
                   {"empty dim", [] { (void)ones({2, 0}).max(1); }, "max: cannot reduce over dimension 1 of size 0"},
                   {"undefined", [o] { (void)max(o.u, 0); }, "max"}}},
      {.op = "min",
       .grad = {{"dim 1", [](const In& x) { return std::get<0>(x[0].min(1)); }, {{3, 4}}},
                {"dim 0 keepdim", [](const In& x) { return std::get<0>(min(x[0], 0, true)); }, {{3, 4}}}},
       .nan = {{"dim 1 of [2, 3]", [](const Tensor& x) { return std::get<0>(x.reshape({2, 3}).min(1)); }, {kNaN, -2.0}}},
       .misuses = {{"dim out of range", [t23] { (void)t23.min(-3); }, "min: dimension -3 is out of range"}}},
      // ---------------------------------------------------------------- shapes
      {.op = "reshape",
       .grad = {{"", [](const In& x) { return x[0].reshape({3, 2, 2}); }, {{2, 6}}},
                {"-1", [](const In& x) { return x[0].reshape({-1, 4}); }, {{2, 3, 4}}}},
       .nan = {{"round trip", [](const Tensor& x) { return x.reshape({2, 3}).reshape({6}); }}},
       .misuses = {{"different count", [t23] { (void)t23.reshape({4, 2}); }, "reshape: shape [4, 2] is invalid for input of size 6 (shape [2, 3])"},
                   {"two -1", [t23] { (void)t23.reshape({-1, -1}); }, "reshape: only one dimension can be -1, got shape [-1, -1]"},
                   {"-1 that does not divide", [t23] { (void)t23.reshape({-1, 4}); }, "reshape: shape [-1, 4] is invalid for input of size 6"},
                   {"negative extents", [t23] { (void)t23.reshape({-2, -3}); }, "reshape: invalid shape [-2, -3]"},
                   {"0 with -1", [t23] { (void)t23.reshape({0, -1}); }, "reshape: shape [0, -1] is invalid"},
                   {"undefined", [o] { (void)reshape(o.u, {1}); }, "reshape"}}},
      {.op = "view",
       .grad = {{"", [](const In& x) { return x[0].view({6}); }, {{2, 3}}}},
       .nan = {{"round trip", [](const Tensor& x) { return x.view({3, 2}).view({6}); }}},
       .misuses = {{"different count", [t23] { (void)t23.view({5}); }, "reshape: shape [5] is invalid for input of size 6"}}},
      {.op = "flatten",
       .grad = {{"", [](const In& x) { return x[0].flatten(); }, {{2, 3, 4}}},
                {"1..2", [](const In& x) { return x[0].flatten(1, 2); }, {{2, 3, 4}}}},
       .nan = {{"of [2, 3]", [](const Tensor& x) { return x.reshape({2, 3}).flatten(); }}},
       .misuses = {{"start after end", [t23] { (void)t23.flatten(1, 0); }, "flatten: start_dim 1 comes after end_dim 0"},
                   {"undefined", [o] { (void)flatten(o.u); }, "flatten"}}},
      {.op = "transpose",
       .grad = {{"", [](const In& x) { return x[0].transpose(0, 1); }, {{2, 3}}},
                {"3-D", [](const In& x) { return x[0].transpose(-1, 0); }, {{2, 3, 4}}}},
       .nan = {{"there and back", [](const Tensor& x) { return x.reshape({2, 3}).transpose(0, 1).transpose(0, 1).reshape({6}); }}},
       .misuses = {{"dim out of range", [t23] { (void)t23.transpose(0, 2); }, "transpose: dimension 2 is out of range"},
                   {"undefined", [o] { (void)transpose(o.u, 0, 1); }, "transpose"}}},
      {.op = "permute",
       .grad = {{"", [](const In& x) { return permute(x[0], {2, 0, 1}); }, {{2, 3, 4}}}},
       .nan = {{"there and back", [](const Tensor& x) { return permute(permute(x.reshape({2, 3}), {1, 0}), {1, 0}).reshape({6}); }}},
       .misuses = {{"repeated dim", [t23] { (void)permute(t23, {0, 0}); }, "permute: dim 0 appears more than once in [0, 0]"},
                   {"too few dims", [t23] { (void)permute(t23, {0}); }, "permute: expected 2 dims for a tensor of shape [2, 3], got [0]"},
                   {"undefined", [o] { (void)permute(o.u, {0}); }, "permute"}}},
      {.op = "unsqueeze",
       .grad = {{"", [](const In& x) { return x[0].unsqueeze(1); }, {{2, 3}}},
                {"-1", [](const In& x) { return x[0].unsqueeze(-1); }, {{2, 3}}}},
       .nan = {{"dim 1", [](const Tensor& x) { return x.unsqueeze(1).reshape({6}); }}},
       .misuses = {{"dim out of range", [t23] { (void)t23.unsqueeze(4); }, "unsqueeze: dimension 4 is out of range for a tensor of rank 3"},
                   {"undefined", [o] { (void)unsqueeze(o.u, 0); }, "unsqueeze"}}},
      {.op = "squeeze",
       .grad = {{"all", [](const In& x) { return x[0].squeeze(); }, {{1, 3, 1}}},
                {"dim", [](const In& x) { return x[0].squeeze(2); }, {{1, 3, 1}}}},
       .nan = {{"dim 1 of [6, 1]", [](const Tensor& x) { return x.reshape({6, 1}).squeeze(1); }}},
       .misuses = {{"dim out of range", [t23] { (void)t23.squeeze(-3); }, "squeeze: dimension -3"},
                   {"undefined", [o] { (void)squeeze(o.u); }, "squeeze"}}},
      {.op = "narrow",
       .grad = {{"", [](const In& x) { return x[0].narrow(1, 1, 2); }, {{2, 4}}},
                {"negative start", [](const In& x) { return narrow(x[0], 0, -2, 2); }, {{3, 2}}}},
       .nan = {{"whole", [](const Tensor& x) { return x.narrow(0, 0, 6); }}},
       .misuses = {{"past the end", [t25] { (void)t25.narrow(1, 3, 3); }, "narrow: start 3 and length 3 are out of range for dimension 1 of size 5 (shape [2, 5])"},
                   {"negative length", [t25] { (void)t25.narrow(1, 0, -1); }, "narrow: start 0 and length -1"},
                   {"negative start out of range", [t25] { (void)t25.narrow(0, -3, 1); }, "narrow: start -1"},
                   {"dim out of range", [t25] { (void)t25.narrow(2, 0, 1); }, "narrow: dimension 2 is out of range"},
                   {"undefined", [o] { (void)narrow(o.u, 0, 0, 1); }, "narrow"}}},
      {.op = "slice",
       .grad = {{"", [](const In& x) { return x[0].slice(1, 1, 4); }, {{2, 5}}},
                {"step 2", [](const In& x) { return x[0].slice(0, 0, 5, 2); }, {{5, 3}}},
                {"step 3 negative", [](const In& x) { return slice(x[0], -1, -6, 100, 3); }, {{2, 7}}}},
       .nan = {{"whole", [](const Tensor& x) { return x.slice(0, 0, 6); }}},
       .misuses = {{"step 0", [t25] { (void)t25.slice(1, 0, 5, 0); }, "slice: step must be positive, got 0"},
                   {"negative step", [o] { (void)o.a.slice(1, 0, 3, -1); }, "slice"},
                   {"0-dim", [] { (void)ones({}).slice(0, 0, 1); }, "slice: cannot slice a 0-dim tensor"},
                   {"undefined", [o] { (void)slice(o.u, 0, 0, 1); }, "slice"}}},
      {.op = "cat",
       .grad = {{"dim 0", [](const In& x) { return cat({x[0], x[1]}, 0); }, {{2, 3}, {1, 3}}},
                {"dim 1 three", [](const In& x) { return cat({x[0], x[1], x[2]}, 1); }, {{2, 1}, {2, 3}, {2, 2}}},
                {"dim -1 3-D", [](const In& x) { return cat({x[0], x[1]}, -1); }, {{2, 2, 1}, {2, 2, 3}}}},
       .nan = {{"with itself", [](const Tensor& x) { return cat({x, x}).narrow(0, 0, 6); }}},
       .misuses = {{"sizes differ", [] { (void)cat({ones({2, 3}), ones({3, 3})}, 1); },
                    "cat: sizes must match except in dimension 1: tensor 1 has shape [3, 3], tensor 0 has shape [2, 3]"},
                   {"ranks differ", [] { (void)cat({ones({2, 3}), ones({3})}); }, "cat: tensor 1 has shape [3], expected rank 2"},
                   {"nothing", [] { (void)cat({}); }, "cat: expected a non-empty list"},
                   {"0-dim", [] { (void)cat({ones({}), ones({})}); }, "cat: zero-dimensional tensors cannot be concatenated"},
                   {"undefined", [] { (void)cat({ones({2}), Tensor()}); }, "cat: called on an undefined tensor"},
                   {"dtype mismatch", [f, f64] { (void)cat({f, f64}); }, "cat: tensor 1 has dtype float64, expected float32"},
                   {"dim out of range", [t23] { (void)cat({t23, t23}, 2); }, "cat: dimension 2 is out of range"}}},
      {.op = "stack",
       .grad = {{"dim 0", [](const In& x) { return stack({x[0], x[1]}); }, {{2, 3}, {2, 3}}},
                {"dim -1", [](const In& x) { return stack({x[0], x[1], x[0]}, -1); }, {{2, 3}, {2, 3}}}},
       .nan = {{"of one", [](const Tensor& x) { return stack({x}).reshape({6}); }}},
       .misuses = {{"shapes differ", [] { (void)stack({ones({2}), ones({3})}); }, "stack"}}},
      {.op = "pad",
       .grad = {{"last", [](const In& x) { return pad(x[0], {1, 2}); }, {{2, 3}}},
                {"last two, value", [](const In& x) { return pad(x[0], {1, 0, 2, 1}, 3.5); }, {{2, 3}}},
                {"crop", [](const In& x) { return pad(x[0], {-1, -1}); }, {{2, 4}}},
                {"mixed crop and pad", [](const In& x) { return pad(x[0], {2, -1, -1, 1}); }, {{3, 4}}}},
       .nan = {{"pad 1, 1", [](const Tensor& x) { return pad(x, {1, 1}).narrow(0, 1, 6); }}},
       .misuses = {{"odd count", [] { (void)pad(ones({2, 3}), {1}); }, "pad: expected an even number of padding values, got [1]"},
                   {"more dims than the tensor", [] { (void)pad(ones({3}), {1, 1, 1, 1}); }, "pad: 4 padding values pad 2 dims, but the input has shape [3]"},
                   {"cropping below zero", [] { (void)pad(ones({3}), {-2, -2}); },
                    "pad: padding [-2, -2] makes dimension 0 of input shape [3] negative (-1)"},
                   {"undefined", [o] { (void)pad(o.u, {1, 1}); }, "pad"}}},
      {.op = "broadcast_to",
       .grad = {{"", [](const In& x) { return broadcast_to(x[0], {2, 3, 4}); }, {{3, 1}}},
                {"new dims", [](const In& x) { return broadcast_to(x[0], {2, 4}); }, {{4}}}},
       .nan = {{"[6, 1] to [6, 2]", [](const Tensor& x) { return broadcast_to(x.reshape({6, 1}), {6, 2}).sum({1}) * 0.5; }}},
       .misuses = {{"incompatible", [] { (void)broadcast_to(ones({3}), {2, 4}); }, "broadcast_to"},
                   {"smaller shape", [] { (void)broadcast_to(ones({2, 3}), {3}); }, "broadcast_to: cannot broadcast shape [2, 3] to shape [3]"},
                   {"undefined", [o] { (void)broadcast_to(o.u, {3}); }, "broadcast_to"}}},
      {.op = "flip",
       .grad = {{"", [](const In& x) { return x[0].flip({0, -1}); }, {{2, 3, 4}}}},
       .nan = {{"twice", [](const Tensor& x) { return x.flip({0}).flip({0}); }}},
       .misuses = {{"dim out of range", [t23] { (void)t23.flip({2}); }, "flip"}}},
      {.op = "roll",
       .grad = {{"dims", [](const In& x) { return x[0].roll({1, -5}, {0, 1}); }, {{3, 4}}},
                {"flat", [](const In& x) { return roll(x[0], {2}); }, {{2, 3}}}},
       .nan = {{"there and back", [](const Tensor& x) { return x.roll({1}, {0}).roll({-1}, {0}); }}},
       .misuses = {{"shifts and dims differ in count", [t23] { (void)t23.roll({1, 2}, {0}); }, "roll"}}},
      // ---------------------------------------------------------------- selection by mask (constant masks)
      {.op = "where",
       .grad = {{"", [](const In& x) { return where(mask({2, 3}), x[0], x[1]); }, {{2, 3}, {2, 3}}},
                {"broadcast", [](const In& x) { return where(mask({2, 1}), x[0], x[1]); }, {{2, 3}, {3}}},
                {"scalar", [](const In& x) { return where(mask({2, 3}), x[0], 0.5); }, {{2, 3}}},
                {"scalar first", [](const In& x) { return where(mask({3}), -1, x[0]); }, {{2, 3}}},
                {"from a comparison", [](const In& x) { return where(x[0].detach() > 0, x[0], x[0] * x[1]); }, {{2, 3}, {2, 3}}, kNonZero}},
       .nan = {{"all selected", [](const Tensor& x) { return where(ones({6}, {.dtype = kBool}), x, 0.0); }}},
       .misuses = {{"condition not bool", [t23] { (void)where(t23, t23, t23); }, "where"}}},
      {.op = "masked_fill",
       .grad = {{"", [](const In& x) { return x[0].masked_fill(mask({2, 3}), -1.5); }, {{2, 3}}},
                {"broadcast mask", [](const In& x) { return masked_fill(x[0], mask({3}), 2.0); }, {{2, 3}}}},
       .nan = {{"nothing filled", [](const Tensor& x) { return x.masked_fill(zeros({6}, {.dtype = kBool}), 1.0); }}},
       .misuses = {{"mask not bool", [t23] { (void)t23.masked_fill(t23, 1.0); }, "masked_fill"}}},
      // ---------------------------------------------------------------- indexing (repeated indices accumulate)
      {.op = "index_select",
       .grad = {{"dim 1 repeats", [](const In& x) { return x[0].index_select(1, int64_values({2, 0, 2})); }, {{2, 4}}},
                {"dim 0", [](const In& x) { return index_select(x[0], 0, int64_values({1})); }, {{3, 2}}}},
       .nan = {{"every index", [](const Tensor& x) { return x.index_select(0, int64_values({0, 1, 2, 3, 4, 5})); }}},
       .misuses = {{"index out of range", [t23] { (void)t23.index_select(1, int64_values({3})); }, "index_select"}}},
      {.op = "gather",
       .grad = {{"dim 1", [](const In& x) { return x[0].gather(1, int64_values({2, 0, 0, 1, 1, 3}).reshape({2, 3})); }, {{2, 4}}},
                {"dim 0 smaller", [](const In& x) { return gather(x[0], 0, int64_values({2, 2, 0}).reshape({1, 3})); }, {{3, 4}}}},
       .nan = {{"every index", [](const Tensor& x) { return x.gather(0, int64_values({0, 1, 2, 3, 4, 5})); }}},
       .misuses = {{"index out of range", [t23] { (void)t23.gather(1, int64_values({5, 0}).reshape({2, 1})); }, "gather"}}},
      {.op = "index",
       .grad = {{"integer and slice", [](const In& x) { return x[0].index({Slice(1, None), 0}); }, {{3, 4}}},
                {"step, None, Ellipsis", [](const In& x) { return x[0].index({None, Ellipsis, Slice(None, None, 2)}); }, {{2, 3, 5}}},
                {"negative integer", [](const In& x) { return x[0].index({-1}); }, {{3, 4}}},
                {"bool mask", [](const In& x) { return x[0].index({mask({2, 3})}); }, {{2, 3, 2}}},
                {"bool mask on dim 1", [](const In& x) { return x[0].index({Slice(), mask({3})}); }, {{2, 3}}},
                {"int64 tensor", [](const In& x) { return x[0].index({Ellipsis, int64_values({-1, 0, -1}).reshape({3, 1})}); }, {{2, 4}}}},
       .nan = {{"whole slice", [](const Tensor& x) { return x.index({Slice()}); }}},
       .misuses = {{"integer out of range", [t23] { (void)t23.index({2}); }, "index"}}},
      // ---------------------------------------------------------------- in place, recorded (the clone keeps the leaf out of it)
      {.op = "add_",
       .grad = {{"tensor", [](const In& x) { Tensor t = x[0].clone(); t.add_(x[1]); return t; }, {{2, 3}, {2, 3}}},
                {"tensor alpha broadcast", [](const In& x) { Tensor t = x[0].clone(); t.add_(x[1], -2.5); return t; }, {{2, 3}, {3}}},
                {"+= -= *= chained", [](const In& x) { Tensor t = x[0] + 0.0; t += x[1]; t *= x[0]; t -= 2; return t; }, {{2, 3}, {2, 3}}},
                {"into a fresh tensor", [](const In& x) { Tensor t = zeros({2, 3}, {.dtype = kFloat64}); t += x[0]; return t; }, {{2, 3}}}},
       .nan = {{"t += x", [](const Tensor& x) { Tensor t = x * 1.0; t.add_(x); return t; }}},
       .misuses = {{"shape that does not broadcast into self", [] { Tensor t = zeros({3}); t.add_(ones({2, 3})); }, "add_"}}},
      {.op = "sub_",
       .grad = {{"scalar", [](const In& x) { Tensor t = x[0] * 1.0; t.sub_(1.5); return t; }, {{2, 3}}}},
       .nan = {{"t -= 1", [](const Tensor& x) { Tensor t = x * 1.0; t.sub_(1.0); return t; }}},
       .misuses = {{"dtype mismatch", [] { Tensor t = zeros({2}); t.sub_(ones({2}, {.dtype = kFloat64})); }, "sub: operands have different dtypes"}}},
      {.op = "mul_",
       .grad = {{"tensor", [](const In& x) { Tensor t = x[0].clone(); t.mul_(x[1]); return t * t; }, {{2, 3}, {2, 3}}},
                {"itself", [](const In& x) { Tensor t = x[0].clone(); t.mul_(t); return t; }, {{2, 3}}}},
       .nan = {{"t *= x", [](const Tensor& x) { Tensor t = x * 1.0; t.mul_(x); return t; }}},
       .misuses = {{"undefined operand", [] { Tensor t = zeros({2}); t.mul_(Tensor()); }, "mul_"}}},
      {.op = "div_",
       .grad = {{"tensor", [](const In& x) { Tensor t = x[0].clone(); t /= x[1]; return t; }, {{2, 3}, {2, 3}}, kNonZero},
                {"scalar", [](const In& x) { Tensor t = x[0] * 1.0; t /= 4; return t.tanh(); }, {{2, 3}}}},
       .nan = {{"t /= 4", [](const Tensor& x) { Tensor t = x * 1.0; t /= 4; return t; }}},
       .misuses = {{"shape mismatch", [] { Tensor t = zeros({2}); t /= ones({3}); }, "div: shapes [2] and [3] cannot be broadcast"}}},
      {.op = "clamp_",
       .grad = {{"", [](const In& x) { Tensor t = x[0].clone(); t.clamp_(-0.5, 0.5); return t; }, {{3, 4}}, kClampSafe}},
       .nan = {{"clamp_", [](const Tensor& x) { Tensor t = x * 1.0; t.clamp_(-1.0, 1.0); return t; }}},
       .misuses = {{"low > high", [] { Tensor t = zeros({2}); t.clamp_(1.0, 0.0); }, "clamp"}}},
      {.op = "masked_fill_",
       .grad = {{"", [](const In& x) { Tensor t = x[0].clone(); t.masked_fill_(mask({2, 3}), 0.25); return t; }, {{2, 3}}}},
       .nan = {{"nothing filled", [](const Tensor& x) { Tensor t = x * 1.0; t.masked_fill_(zeros({6}, {.dtype = kBool}), 1.0); return t; }}},
       .misuses = {{"mask not bool", [] { Tensor t = zeros({2}); t.masked_fill_(ones({2}), 1.0); }, "masked_fill"}}},
      // ---------------------------------------------------------------- conversions
      {.op = "clone",
       .grad = {{"", [](const In& x) { return x[0].clone(); }, {{2, 3}}}},
       .nan = {{"clone", [](const Tensor& x) { return x.clone(); }}},
       .misuses = {{"undefined", [o] { (void)o.u.clone(); }, "clone"}}},
      // float64 -> float32 -> float64 rounds to float32: test_gradcheck_ops.cpp checks it with a wider eps.
      {.op = "to",
       .grad = {{"float64 (no-op)", [](const In& x) { return x[0].to(kFloat64) * 2.0; }, {{2, 3}}}},
       .nan = {{"to float64 and back", [](const Tensor& x) { return x.to(kFloat64).to(x.dtype()); }}},
       .misuses = {{"undefined", [o] { (void)o.u.to(kFloat64); }, "to"}}},
      // ---------------------------------------------------------------- nn::functional
      {.op = "linear",
       .grad = {{"", [](const In& x) { return F::linear(x[0], x[1], x[2]); }, {{4, 5}, {3, 5}, {3}}, kNormal},
                {"3-D, no bias", [](const In& x) { return F::linear(x[0], x[1]); }, {{2, 3, 5}, {2, 5}}, kNormal},
                {"1-D input, weight only", [](const In& x) { return F::linear(x[0], x[1], x[2]); }, {{4}, {3, 4}, {3}}, kNormal, {0, 2}}},
       .nan = {{"one feature", [like](const Tensor& x) { return F::linear(x.reshape({6, 1}), like(x, {1, 1}, 2.0)).reshape({6}); }}},
       .misuses = {{"features differ", [] { (void)F::linear(ones({2, 3}), ones({4, 5})); }, "linear"}}},
      {.op = "conv1d",
       .grad = {{"", [](const In& x) { return F::conv1d(x[0], x[1], x[2]); }, {{2, 4, 7}, {3, 4, 3}, {3}}},
                {"stride 2, padding 1, dilation 2, groups 2",
                 [](const In& x) { return F::conv1d(x[0], x[1], Tensor(), {.stride = 2, .padding = 1, .dilation = 2, .groups = 2}); },
                 {{1, 4, 9}, {2, 2, 3}}},
                {"padding same, even kernel", [](const In& x) { return F::conv1d(x[0], x[1], Tensor(), {.padding = "same"}); },
                 {{1, 2, 6}, {2, 2, 4}}}},
       .nan_rule = conv1d_nan_rule,
       .misuses = {{"undefined weight", [conv_x] { (void)F::conv1d(conv_x, Tensor()); }, "conv1d"},
                   {"2-D weight", [conv_x] { (void)F::conv1d(conv_x, ones({2, 4})); }, "conv1d"},
                   {"wrong bias shape", [conv_x, conv_w] { (void)F::conv1d(conv_x, conv_w, ones({3})); }, "bias"},
                   {"bias dtype", [conv_x, conv_w] { (void)F::conv1d(conv_x, conv_w, ones({2}, {.dtype = kFloat64})); }, "bias"}}},
      {.op = "pad1d",
       .grad = {{"zeros", [](const In& x) { return F::pad1d(x[0], 2, 1, "zeros"); }, {{1, 2, 5}}},
                {"reflect", [](const In& x) { return F::pad1d(x[0], 2, 1, "reflect"); }, {{1, 2, 5}}},
                {"replicate", [](const In& x) { return F::pad1d(x[0], 2, 1, "replicate"); }, {{1, 2, 5}}},
                {"circular", [](const In& x) { return F::pad1d(x[0], 2, 1, "circular"); }, {{2, 5}}}},
       .nan = {{"zeros 1, 1", [](const Tensor& x) { return F::pad1d(x.reshape({1, 6}), 1, 1, "zeros").narrow(1, 1, 6).reshape({6}); }}},
       .misuses = {{"unknown mode", [conv_x] { (void)F::pad1d(conv_x, 1, 1, "wrap"); }, "pad1d"},
                   {"negative", [conv_x] { (void)F::pad1d(conv_x, -1, 1, "zeros"); }, "pad1d"},
                   {"0-dim", [] { (void)F::pad1d(scalar_tensor(1.0), 1, 1, "zeros"); }, "pad1d"},
                   {"circular wider than the input", [conv_x] { (void)F::pad1d(conv_x, 11, 0, "circular"); }, "pad1d"}}},
      {.op = "max_pool1d",
       .grad = {{"", [](const In& x) { return F::max_pool1d(x[0], 3); }, {{2, 2, 10}}, kNormal},
                {"stride padding dilation ceil",
                 [](const In& x) { return F::max_pool1d(x[0], 3, {.stride = 2, .padding = 1, .dilation = 2, .ceil_mode = true}); },
                 {{2, 2, 11}}, kNormal},
                {"(C, L), overlapping windows", [](const In& x) { return F::max_pool1d(x[0], 4, {.stride = 1}); }, {{2, 7}}, kNormal}},
       .nan = {{"kernel 1", [](const Tensor& x) { return F::max_pool1d(x.reshape({1, 6}), 1).reshape({6}); }}},
       .misuses = {{"kernel_size 0", [] { (void)F::max_pool1d(ones({1, 4}), 0); }, "max_pool1d"}}},
      {.op = "avg_pool1d",
       .grad = {{"padding ceil include pad",
                 [](const In& x) { return F::avg_pool1d(x[0], 3, {.stride = 2, .padding = 1, .ceil_mode = true}); }, {{2, 2, 10}}, kNormal},
                {"exclude pad",
                 [](const In& x) {
                   return F::avg_pool1d(x[0], 4, {.stride = 3, .padding = 2, .ceil_mode = true, .count_include_pad = false});
                 },
                 {{2, 2, 12}}, kNormal}},
       .nan = {{"kernel 1", [](const Tensor& x) { return F::avg_pool1d(x.reshape({1, 6}), 1).reshape({6}); }}},
       .misuses = {{"kernel_size 0", [] { (void)F::avg_pool1d(ones({1, 4}), 0); }, "avg_pool1d"}}},
      {.op = "adaptive_avg_pool1d",
       .grad = {{"3 of 7", [](const In& x) { return F::adaptive_avg_pool1d(x[0], 3); }, {{2, 2, 7}}, kNormal},
                {"1 (global)", [](const In& x) { return F::adaptive_avg_pool1d(x[0], 1); }, {{3, 9}}, kNormal},
                {"5 of 3 (overlapping)", [](const In& x) { return F::adaptive_avg_pool1d(x[0], 5); }, {{2, 3}}, kNormal}},
       .nan = {{"6 of 6", [](const Tensor& x) { return F::adaptive_avg_pool1d(x.reshape({1, 6}), 6).reshape({6}); }}},
       .misuses = {{"output_size 0", [] { (void)F::adaptive_avg_pool1d(ones({1, 4}), 0); }, "adaptive_avg_pool1d"}}},
      {.op = "batch_norm",
       .grad = {{"training (N, C, L)",
                 [](const In& x) { return F::batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], {.training = true}); },
                 {{3, 3, 4}, {3}, {3}}, kNormal},
                {"training (N, C), no affine",
                 [](const In& x) { return F::batch_norm(x[0], Tensor(), Tensor(), Tensor(), Tensor(), {.training = true}); },
                 {{5, 3}}, kNormal},
                {"training (N, C, L), weight only, updating running stats",
                 [running_mean, running_var](const In& x) {
                   return F::batch_norm(x[0], running_mean.clone(), running_var.clone(), x[1], Tensor(), {.training = true});
                 },
                 {{2, 3, 3}, {3}}, kNormal},
                {"eval",
                 [running_mean, running_var](const In& x) {
                   return F::batch_norm(x[0], running_mean, running_var, x[1], x[2], {.training = false});
                 },
                 {{2, 3, 4}, {3}, {3}}, kNormal},
                {"eval (N, C), no affine",
                 [running_mean, running_var](const In& x) { return F::batch_norm(x[0], running_mean, running_var); },
                 {{4, 3}}, kNormal},
                {"eval, bias only, input without grad",
                 [running_mean, running_var](const In& x) {
                   return F::batch_norm(x[0], running_mean, running_var, Tensor(), x[1], {.training = false});
                 },
                 {{2, 3, 2}, {3}}, kNormal, {0}}},
       // eval normalizes each element by the running statistics alone
       .nan = {{"eval, one channel",
                [like](const Tensor& x) {
                  return F::batch_norm(x.reshape({6, 1}), like(x, {1}, 0.0), like(x, {1}, 1.0), Tensor(), Tensor(), {.training = false})
                      .reshape({6});
                }}},
       .misuses = {{"running_mean of the wrong size",
                    [] { (void)F::batch_norm(ones({2, 3}), zeros({2}), ones({3}), Tensor(), Tensor(), {.training = false}); },
                    "batch_norm"}}},
      {.op = "dropout",
       .grad = {{"fixed seed",
                 [](const In& x) {
                   manual_seed(42);  // the same mask in every evaluation
                   return F::dropout(x[0], 0.4, true);
                 },
                 {{4, 5}}, kNormal}},
       .nan = {{"p 0", [](const Tensor& x) { return F::dropout(x, 0.0, true); }}},
       .misuses = {{"p above 1", [] { (void)F::dropout(ones({2}), 1.5); }, "dropout"}}},
      {.op = "log_softmax",
       .grad = {{"dim 1", [](const In& x) { return F::log_softmax(x[0], 1); }, {{3, 4, 2}}, kNormal},
                {"dim -1", [](const In& x) { return F::log_softmax(x[0], -1); }, {{2, 5}}, kNormal}},
       .nan = {{"one class", [](const Tensor& x) { return F::log_softmax(x.reshape({6, 1}), 1).reshape({6}); }}},
       .misuses = {{"dim out of range", [] { (void)F::log_softmax(ones({2, 3}), 2); }, "log_softmax"}}},
      {.op = "softmax",
       .grad = {{"dim -1", [](const In& x) { return F::softmax(x[0], -1); }, {{3, 5}}, kNormal},
                {"dim 0", [](const In& x) { return F::softmax(x[0], 0); }, {{4, 2, 2}}, kNormal}},
       .nan = {{"one class", [](const Tensor& x) { return F::softmax(x.reshape({6, 1}), 1).reshape({6}); }}},
       .misuses = {{"dim out of range", [] { (void)F::softmax(ones({2, 3}), -3); }, "softmax"}}},
      {.op = "cross_entropy",
       .grad = {{"mean", [](const In& x) { return F::cross_entropy(x[0], classes({0, 2, 1, 2})); }, {{4, 3}}, kNormal},
                {"sum, ignore_index",
                 [](const In& x) { return F::cross_entropy(x[0], classes({1, -100, 0, 2}), {.reduction = "sum"}); }, {{4, 3}}, kNormal},
                {"none (N, C, d)",
                 [](const In& x) {
                   return F::cross_entropy(x[0], classes({0, 2, 1, 1, 0, 2}).reshape({2, 3}), {.reduction = "none"});
                 },
                 {{2, 3, 3}}, kNormal},
                {"(C), 0-dim target", [](const In& x) { return F::cross_entropy(x[0], classes({3}).reshape({})); }, {{5}}, kNormal},
                {"weight, mean, ignore_index",
                 [](const In& x) {
                   return F::cross_entropy(x[0], classes({2, 0, -100, 1}), {.weight = class_weights({0.3, 1.7, 1.1})});
                 },
                 {{4, 3}}, kNormal},
                {"label_smoothing, mean, ignore_index",
                 [](const In& x) { return F::cross_entropy(x[0], classes({2, -100, 0, 1}), {.label_smoothing = 0.2}); },
                 {{4, 3}}, kNormal},
                {"label_smoothing and weight, none (N, C, d)",
                 [](const In& x) {
                   return F::cross_entropy(x[0], classes({1, -100, 2, 0}).reshape({2, 2}),
                                           {.weight = class_weights({0.5, 2.0, 1.5}), .reduction = "none", .label_smoothing = 0.3});
                 },
                 {{2, 3, 2}}, kNormal},
                {"label_smoothing and weight, sum, (C)",
                 [](const In& x) {
                   return F::cross_entropy(x[0], classes({1}).reshape({}),
                                           {.weight = class_weights({0.5, 2.0, 1.5}), .reduction = "sum", .label_smoothing = 0.1});
                 },
                 {{3}}, kNormal},
                {"probabilities, mean", [](const In& x) { return F::cross_entropy(x[0], F::softmax(x[1], 1)); },
                 {{4, 3}, {4, 3}}, kNormal},
                {"probabilities, weight and label_smoothing, sum (N, C, d)",
                 [](const In& x) {
                   return F::cross_entropy(x[0], F::softmax(x[1], 1), {.weight = x[2], .reduction = "sum", .label_smoothing = 0.25});
                 },
                 {{2, 3, 2}, {2, 3, 2}, {3}}, kNormal},
                {"probabilities, none, (C)",
                 [](const In& x) { return F::cross_entropy(x[0], F::softmax(x[1], 0), {.reduction = "none", .label_smoothing = 0.1}); },
                 {{4}, {4}}, kNormal}},
       .nan = {{"one class, none",
                [](const Tensor& x) { return F::cross_entropy(x.reshape({6, 1}), zeros({6}, {.dtype = kInt64}), {.reduction = "none"}); }}},
       .misuses = {{"class out of range", [] { (void)F::cross_entropy(ones({2, 3}), classes({0, 3})); }, "Target 3 is out of bounds"},
                   {"float class indices", [] { (void)F::cross_entropy(ones({2, 3}), zeros({2})); }, "must be int64"},
                   {"label_smoothing above 1", [] { (void)F::cross_entropy(ones({2, 3}), classes({0, 1}), {.label_smoothing = 1.5}); },
                    "label_smoothing"}}},
      {.op = "nll_loss",
       .grad = {{"sum, ignore_index",
                 [](const In& x) { return F::nll_loss(x[0], classes({1, -100, 0}), {.reduction = "sum"}); }, {{3, 2}}, kNormal},
                {"mean", [](const In& x) { return F::nll_loss(x[0], classes({1, 3, 0})); }, {{3, 4}}, kNormal},
                {"none (N, C, d), ignore_index",
                 [](const In& x) { return F::nll_loss(x[0], classes({1, -100, 0, 2}).reshape({2, 2}), {.reduction = "none"}); },
                 {{2, 3, 2}}, kNormal},
                {"weight, mean, ignore_index",
                 [](const In& x) { return F::nll_loss(x[0], classes({1, -100, 0, 2}), {.weight = class_weights({0.5, 2.0, 1.5})}); },
                 {{4, 3}}, kNormal},
                {"weight, none (N, C, d)",
                 [](const In& x) {
                   return F::nll_loss(x[0], classes({1, 0, 2, 2}).reshape({2, 2}),
                                      {.weight = class_weights({0.5, 2.0, 1.5}), .reduction = "none"});
                 },
                 {{2, 3, 2}}, kNormal}},
       .nan = {{"one class, none",
                [](const Tensor& x) { return F::nll_loss(x.reshape({6, 1}), zeros({6}, {.dtype = kInt64}), {.reduction = "none"}); }}},
       .misuses = {{"unknown reduction", [] { (void)F::nll_loss(ones({2, 3}), classes({0, 1}), {.reduction = "average"}); }, "average"},
                   {"weight of the wrong shape", [] { (void)F::nll_loss(ones({2, 3}), classes({0, 1}), {.weight = ones({2})}); },
                    "weight"}}},
      {.op = "mse_loss",
       .grad = {{"", [](const In& x) { return F::mse_loss(x[0], x[1]); }, {{3, 4}, {3, 4}}, kNormal},
                {"sum", [](const In& x) { return F::mse_loss(x[0], x[1], {.reduction = "sum"}); }, {{2, 3}, {2, 3}}, kNormal},
                {"none, target without grad", [](const In& x) { return F::mse_loss(x[0], x[1], {.reduction = "none"}); },
                 {{2, 3}, {2, 3}}, kNormal, {1}}},
       .nan = {{"none against 0", [](const Tensor& x) { return F::mse_loss(x, zeros_like(x), {.reduction = "none"}); }}},
       .misuses = {{"shapes differ", [] { (void)F::mse_loss(ones({2, 3}), ones({3, 2})); }, "mse_loss: input shape [2, 3] and target shape [3, 2] differ"}}},
  };
}

}  // namespace

const std::vector<OpRow>& op_table() {
  static const std::vector<OpRow> table = build_table();
  return table;
}

Tensor special_values(Dtype dtype) {
  return from_values({kNaN, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), 0.5, -2.0, 3.0},
                     true, dtype);
}

}  // namespace xgrad::testing
