// Bad input end to end: NaN and Inf flow through forward and backward without a
// crash (and without being turned into silent finite values); empty batches,
// zero-size dimensions and absurd sizes are clear errors; and every public
// function, misused, throws xgrad::Error naming itself (one table row per misuse).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "autograd/gradcheck.hpp"
#include "core/parallel.hpp"
#include "core/xtensor_interop.hpp"
#include "nn/conv1d.hpp"
#include "nn/functional.hpp"
#include "nn/init.hpp"
#include "support/testing.hpp"
#include "test_reliability.hpp"

#if defined(__SANITIZE_ADDRESS__)
// An allocation that cannot be satisfied must reach xgrad's bad_alloc handling
// (an xgrad::Error) instead of aborting inside ASan's allocator.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
#endif

using namespace xgrad;
using testing::values;
namespace F = nn::functional;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kHuge = std::int64_t{1} << 62;

// The message of the xgrad::Error `fn` throws; fails the test if it throws
// anything else or nothing.
std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return error.what();
  } catch (const std::exception& other) {
    FAIL("threw a std::exception that is not xgrad::Error: ", other.what());
    return "";
  } catch (...) {
    FAIL("threw something that is not a std::exception");
    return "";
  }
  FAIL("did not throw");
  return "";
}

struct Misuse {
  std::string name;            // what is misused, shown on failure
  std::function<void()> call;  // must throw xgrad::Error ...
  std::string expected;        // ... whose message contains this (the op's name, usually)
};

void check_misuses(const std::vector<Misuse>& rows) {
  for (const Misuse& row : rows) {
    INFO("misuse: ", row.name);
    const std::string message = error_message(row.call);
    INFO("message: ", message);
    CHECK(message.find(row.expected) != std::string::npos);
  }
}

Tensor special_values(Dtype dtype, bool requires_grad = true) {
  Tensor t = testing::from_values({kNaN, kInf, -kInf, 0.5, -2.0, 3.0}, false, dtype);
  return t.requires_grad_(requires_grad);
}

struct NoForward : nn::Module {
  std::string type_name() const override { return "NoForward"; }
};

}  // namespace

// ---------------------------------------------------------------------------
// NaN and Inf

TEST_CASE("reliability: NaN and Inf propagate through every elementwise op, forward and backward") {
  using Op = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, Op>> ops = {
      {"neg", [](const Tensor& x) { return -x; }},
      {"exp", [](const Tensor& x) { return x.exp(); }},
      {"log", [](const Tensor& x) { return x.log(); }},
      {"tanh", [](const Tensor& x) { return x.tanh(); }},
      {"sigmoid", [](const Tensor& x) { return x.sigmoid(); }},
      {"relu", [](const Tensor& x) { return x.relu(); }},
      {"sqrt", [](const Tensor& x) { return x.sqrt(); }},
      {"abs", [](const Tensor& x) { return x.abs(); }},
      {"pow 2", [](const Tensor& x) { return x.pow(2.0); }},
      {"pow 0.5", [](const Tensor& x) { return x.pow(0.5); }},
      {"add", [](const Tensor& x) { return x + x; }},
      {"sub scalar", [](const Tensor& x) { return 1.0 - x; }},
      {"mul", [](const Tensor& x) { return x * x; }},
      {"div", [](const Tensor& x) { return x / (x * x + 1.0); }},
      {"rdiv", [](const Tensor& x) { return 1.0 / x; }},
      {"maximum left", [](const Tensor& x) { return maximum(x, zeros_like(x)); }},
      {"maximum right", [](const Tensor& x) { return maximum(zeros_like(x), x); }},
      {"minimum left", [](const Tensor& x) { return minimum(x, zeros_like(x)); }},
      {"minimum right", [](const Tensor& x) { return minimum(zeros_like(x), x); }},
      {"clamp", [](const Tensor& x) { return clamp(x, -1.0, 1.0); }},
      {"clone", [](const Tensor& x) { return x.clone(); }},
      {"to float64 and back", [](const Tensor& x) { return x.to(kFloat64).to(x.dtype()); }},
      {"reshape", [](const Tensor& x) { return x.reshape({2, 3}).reshape({6}); }},
      {"pad", [](const Tensor& x) { return pad(x, {1, 1}).narrow(0, 1, 6); }},
      {"cat", [](const Tensor& x) { return cat({x, x}).narrow(0, 0, 6); }},
      {"broadcast", [](const Tensor& x) { return (x.reshape({6, 1}) + zeros({1, 2}, {.dtype = x.dtype()})).sum({1}) * 0.5; }},
  };
  for (Dtype dtype : {kFloat32, kFloat64}) {
    for (const auto& [name, op] : ops) {
      INFO("op: ", name, ", dtype: ", dtype);
      Tensor x = special_values(dtype);
      Tensor y;
      REQUIRE_NOTHROW(y = op(x));
      REQUIRE(y.shape() == x.shape());
      CHECK(std::isnan(values(y)[0]));  // NaN in, NaN out: never a silent number
      REQUIRE_NOTHROW(y.sum().backward());
      REQUIRE(x.grad().defined());
      CHECK(x.grad().shape() == x.shape());
      CHECK(std::isfinite(values(y)[3]));  // finite elements stay finite
    }
  }
}

TEST_CASE("reliability: NaN propagates through reductions and matmul, forward and backward") {
  Tensor x = special_values(kFloat64).detach().reshape({2, 3}).requires_grad_();
  CHECK(std::isnan(x.sum().item<double>()));
  CHECK(std::isnan(x.mean().item<double>()));
  const std::vector<double> row_sums = values(x.sum({1}));
  CHECK(std::isnan(row_sums[0]));
  CHECK(row_sums[1] == 1.5);
  auto [top, index] = x.max(1);
  CHECK(std::isnan(values(top)[0]));  // max picks NaN, as PyTorch
  CHECK(values(top)[1] == 3.0);
  Tensor product = matmul(x, ones({3, 2}, {.dtype = kFloat64}));
  CHECK(std::isnan(values(product)[0]));
  CHECK(values(product)[2] == 1.5);
  CHECK_NOTHROW((x.sum() + x.mean() + top.sum() + product.sum()).backward());
  CHECK(x.grad().shape() == Shape{2, 3});
}

TEST_CASE("reliability: a NaN in a Conv1d input reaches exactly the outputs whose window covers it") {
  for (Dtype dtype : {kFloat32, kFloat64}) {
    for (auto [stride, padding, dilation] : {std::tuple{1, 1, 1}, std::tuple{2, 2, 2}, std::tuple{1, 0, 3}}) {
      INFO("dtype ", dtype, " stride ", stride, " padding ", padding, " dilation ", dilation);
      manual_seed(1);
      nn::Conv1d conv(2, 5, 3, {.stride = stride, .padding = padding, .dilation = dilation, .dtype = dtype});
      Tensor x = randn({2, 2, 17}, {.dtype = dtype});
      const std::int64_t bad = 8;
      dispatch(dtype, [&](auto tag) { x.data_ptr<decltype(tag)>()[1 * 17 + bad] = static_cast<decltype(tag)>(kNaN); });
      x.requires_grad_();
      Tensor y = conv(x);
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
      CHECK(std::isnan(values(conv.weight.grad())[3]));
      CHECK(std::isfinite(values(conv.weight.grad())[0]));
    }
  }
}

// ---------------------------------------------------------------------------
// Empty batches, zero-size dimensions, absurd sizes

TEST_CASE("reliability: an empty batch is a clear error at the loss, not a NaN") {
  nn::Conv1d conv(3, 4, 3);
  Tensor empty_batch = zeros({0, 3, 10});
  Tensor y = conv(empty_batch);  // an empty output, as PyTorch
  CHECK(y.shape() == Shape{0, 4, 8});
  const std::string message = error_message([&] { (void)(y - zeros({0, 4, 8})).pow(2.0).mean(); });
  CHECK(message.find("mean: cannot average over zero elements") != std::string::npos);
  CHECK(message.find("[0, 4, 8]") != std::string::npos);
  // Reducing an empty dim to a non-empty output is an error too; empty to empty is fine.
  CHECK(error_message([] { (void)zeros({3, 0}).mean({1}); }).find("mean") != std::string::npos);
  CHECK(zeros({0, 3}).mean({1}).shape() == Shape{0});
  CHECK(zeros({0, 3}).sum().item<double>() == 0.0);
}

TEST_CASE("reliability: zero-size dimensions work where they make sense and are errors where they cannot") {
  CHECK(matmul(zeros({2, 0}), zeros({0, 3})).sum().item<double>() == 0.0);  // an empty inner dimension sums to 0
  CHECK(cat({zeros({0, 2}), ones({1, 2})}).shape() == Shape{1, 2});
  Tensor x = zeros({0, 2}, {.requires_grad = true});
  (x * 2.0).sum().backward();
  CHECK(x.grad().shape() == Shape{0, 2});
  check_misuses({
      {"max over an empty dim", [] { (void)zeros({2, 0}).max(1); }, "max"},
      {"conv1d of an empty length", [] { (void)F::conv1d(zeros({1, 2, 0}), ones({3, 2, 1})); }, "conv1d"},
      {"conv1d of no channels", [] { (void)F::conv1d(zeros({1, 0, 5}), ones({3, 0, 1})); }, "conv1d"},
      {"Conv1d with zero in_channels", [] { nn::Conv1d(0, 2, 3); }, "Conv1d"},
      {"Conv1d with zero out_channels", [] { nn::Conv1d(2, 0, 3); }, "Conv1d"},
      {"Conv1d with kernel_size 0", [] { nn::Conv1d(2, 2, 0); }, "Conv1d"},
      {"input shorter than the kernel", [] { (void)nn::Conv1d(2, 2, 5)(zeros({1, 2, 4})); }, "conv1d"},
      {"input shorter than the dilated kernel", [] { (void)nn::Conv1d(2, 2, 3, {.dilation = 4})(zeros({1, 2, 8})); }, "conv1d"},
      {"item of an empty tensor", [] { (void)zeros({0}).item<float>(); }, "item"},
  });
}

TEST_CASE("reliability: absurd sizes are clear errors, never overflow or a crash") {
  check_misuses({
      {"element count overflowing 64 bits", [] { (void)zeros({kHuge, 4}); }, "zeros"},
      {"element count overflowing through many dims", [] { (void)empty({1 << 20, 1 << 20, 1 << 20, 1 << 20}); }, "empty"},
      {"more elements than the build allows", [] { (void)randn({std::int64_t{1} << 41}); }, "randn"},
      {"negative extent", [] { (void)ones({3, -1}); }, "ones"},
      {"reshape to an overflowing shape", [] { (void)zeros({4}).reshape({kHuge, 4}); }, "reshape"},
      {"pad by an absurd amount", [] { (void)pad(zeros({4}), {kHuge, kHuge}); }, "pad"},
      {"pad1d by an absurd amount", [] { (void)F::pad1d(zeros({1, 4}), kHuge, kHuge, "zeros"); }, "pad"},
      {"pad1d reflect by an absurd amount", [] { (void)F::pad1d(zeros({1, 4}), kHuge, kHuge, "reflect"); }, "pad1d"},
      {"pad1d circular by an absurd amount", [] { (void)F::pad1d(zeros({1, 4}), kHuge, kHuge, "circular"); }, "pad1d"},
      {"pad1d replicate by an absurd amount", [] { (void)F::pad1d(zeros({1, 4}), kHuge, kHuge, "replicate"); }, "pad"},
      {"Conv1d kernel_size 2^62", [] { nn::Conv1d(1, 1, kHuge); },
       "Conv1d(1, 1, kernel_size=4611686018427387904): cannot allocate its weight of shape [1, 1, 4611686018427387904]"},
      {"Conv1d kernel_size 2^40 (representable, too big for memory)", [] { nn::Conv1d(1, 1, std::int64_t{1} << 40); },
       "Conv1d(1, 1, kernel_size=1099511627776): cannot allocate its weight"},
      {"Conv1d padding 2^62", [] { (void)nn::Conv1d(1, 1, 3, {.padding = kHuge})(zeros({1, 1, 4})); }, "onv1d"},
      {"conv1d padding 2^62", [] { (void)F::conv1d(zeros({1, 1, 4}), ones({1, 1, 3}), Tensor(), {.padding = kHuge}); }, "conv1d"},
      {"conv1d dilation 2^62", [] { (void)F::conv1d(zeros({1, 1, 4}), ones({1, 1, 3}), Tensor(), {.dilation = kHuge}); }, "conv1d"},
      {"conv1d stride 2^62 with padding 2^62",
       [] { (void)F::conv1d(zeros({1, 1, 4}), ones({1, 1, 3}), Tensor(), {.stride = kHuge, .padding = kHuge}); }, "conv1d"},
      {"conv1d groups 2^62", [] { (void)F::conv1d(zeros({1, 2, 4}), ones({2, 1, 3}), Tensor(), {.groups = kHuge}); }, "conv1d"},
      {"conv1d negative stride", [] { (void)F::conv1d(zeros({1, 1, 4}), ones({1, 1, 3}), Tensor(), {.stride = -kHuge}); }, "conv1d"},
      {"arange with too many elements", [] { (void)arange(0.0, 1e300, 1e-300); }, "arange"},
      {"slice with an absurd step", [] { (void)zeros({4}).slice(0, 0, 4, 0); }, "slice"},
  });
  // A representable but impossible allocation (4 TiB) is an xgrad::Error, not
  // std::bad_alloc; with memory overcommit it may succeed untouched, which is fine too.
  try {
    Tensor huge = empty({(std::int64_t{1} << 40)});
  } catch (const Error& error) {
    CHECK(std::string(error.what()).find("empty: out of memory") != std::string::npos);
  }
}

// ---------------------------------------------------------------------------
// Misuse of every public function

TEST_CASE("reliability: misusing a tensor creation or query function throws xgrad::Error") {
  const Tensor undefined;
  const Tensor x = ones({2, 3});
  check_misuses({
      {"full with a negative extent", [] { (void)full({-2}, 1.0); }, "full"},
      {"rand with a negative extent", [] { (void)rand({-2}); }, "rand"},
      {"arange with step 0", [] { (void)arange(0.0, 1.0, 0.0); }, "arange"},
      {"arange with NaN", [] { (void)arange(kNaN); }, "arange"},
      {"zeros_like of undefined", [&] { (void)zeros_like(undefined); }, "undefined"},
      {"ones_like of undefined", [&] { (void)ones_like(undefined); }, "undefined"},
      {"Device cuda", [] { (void)Device("cuda:0"); }, "not available"},
      {"Device nonsense", [] { (void)Device("gpu9"); }, "unknown device"},
      {"TensorOptions with a cuda device", [] { (void)zeros({1}, {.device = Device("cuda")}); }, "cuda"},
      {"shape of undefined", [&] { (void)undefined.shape(); }, "shape"},
      {"numel of undefined", [&] { (void)undefined.numel(); }, "undefined"},
      {"dim of undefined", [&] { (void)undefined.dim(); }, "undefined"},
      {"dtype of undefined", [&] { (void)undefined.dtype(); }, "dtype"},
      {"size out of range", [&] { (void)x.size(2); }, "size"},
      {"item of several elements", [&] { (void)x.item<double>(); }, "item"},
      {"item of undefined", [&] { (void)undefined.item<double>(); }, "item"},
      {"data_ptr of the wrong type", [&] { (void)x.data_ptr<double>(); }, "data_ptr"},
      {"data_ptr of undefined", [&] { (void)undefined.data_ptr<float>(); }, "data_ptr"},
      {"grad of undefined", [&] { (void)undefined.grad(); }, "grad"},
      {"requires_grad of undefined", [&] { (void)undefined.requires_grad(); }, "requires_grad"},
      {"grad_fn of undefined", [&] { (void)undefined.grad_fn(); }, "grad_fn"},
      {"is_leaf of undefined", [&] { (void)undefined.is_leaf(); }, "is_leaf"},
      {"detach of undefined", [&] { (void)undefined.detach(); }, "detach"},
      {"clone of undefined", [&] { (void)undefined.clone(); }, "clone"},
      {"to of undefined", [&] { (void)undefined.to(kFloat64); }, "to"},
      {"to_xarray of undefined", [&] { (void)undefined.to_xarray<float>(); }, "undefined"},
      {"backward of undefined", [&] { undefined.backward(); }, "backward"},
  });
}

TEST_CASE("reliability: misusing an in-place function throws xgrad::Error and changes nothing") {
  Tensor undefined;
  Tensor x = full({2, 3}, 4.0);
  Tensor leaf = ones({2}, {.requires_grad = true});
  check_misuses({
      {"copy_ into undefined", [&] { undefined.copy_(x); }, "copy_"},
      {"copy_ from undefined", [&] { x.copy_(undefined); }, "copy_"},
      {"copy_ from a wider shape", [&] { x.copy_(ones({3, 3})); }, "copy_"},
      {"copy_ into a leaf that requires grad", [&] { leaf.copy_(zeros({2})); }, "copy_"},
      {"zero_ on undefined", [&] { undefined.zero_(); }, "zero_"},
      {"fill_ on undefined", [&] { undefined.fill_(1.0); }, "fill_"},
      {"fill_ on a leaf that requires grad", [&] { leaf.fill_(1.0); }, "fill_"},
      {"uniform_ with low > high", [&] { x.uniform_(1.0, 0.0); }, "uniform_"},
      {"normal_ with a negative std", [&] { x.normal_(0.0, -1.0); }, "normal_"},
      {"requires_grad_ on undefined", [&] { undefined.requires_grad_(); }, "requires_grad_"},
      {"requires_grad_(false) on a non-leaf", [&] { (leaf * 2.0).requires_grad_(false); }, "requires_grad_"},
  });
  CHECK(values(x) == std::vector<double>(6, 4.0));
  CHECK(values(leaf) == std::vector<double>{1.0, 1.0});
}

TEST_CASE("reliability: misusing an op throws xgrad::Error naming the op") {
  const Tensor u;
  const Tensor a = ones({2, 3});
  const Tensor b = ones({4, 5});
  const Tensor d = ones({2, 3}, {.dtype = kFloat64});
  check_misuses({
      {"add undefined", [&] { (void)add(u, a); }, "add"},
      {"add shape mismatch", [&] { (void)(a + b); }, "add"},
      {"sub dtype mismatch", [&] { (void)(a - d); }, "sub"},
      {"mul undefined right", [&] { (void)mul(a, u); }, "mul"},
      {"div shape mismatch", [&] { (void)(a / b); }, "div"},
      {"neg undefined", [&] { (void)neg(u); }, "neg"},
      {"add scalar to undefined", [&] { (void)(u + 1.0); }, "add"},
      {"rsub undefined", [&] { (void)(1.0 - u); }, "rsub"},
      {"rdiv undefined", [&] { (void)(1.0 / u); }, "rdiv"},
      {"pow undefined", [&] { (void)pow(u, 2.0); }, "pow"},
      {"exp undefined", [&] { (void)exp(u); }, "exp"},
      {"log undefined", [&] { (void)log(u); }, "log"},
      {"tanh undefined", [&] { (void)tanh(u); }, "tanh"},
      {"sigmoid undefined", [&] { (void)sigmoid(u); }, "sigmoid"},
      {"relu undefined", [&] { (void)relu(u); }, "relu"},
      {"sqrt undefined", [&] { (void)sqrt(u); }, "sqrt"},
      {"abs undefined", [&] { (void)abs(u); }, "abs"},
      {"maximum shape mismatch", [&] { (void)maximum(a, b); }, "maximum"},
      {"minimum dtype mismatch", [&] { (void)minimum(a, d); }, "minimum"},
      {"clamp low > high", [&] { (void)clamp(a, 1.0, 0.0); }, "clamp"},
      {"clamp undefined", [&] { (void)clamp(u, 0.0, 1.0); }, "clamp"},
      {"sum dim out of range", [&] { (void)a.sum({2}); }, "sum"},
      {"sum repeated dim", [&] { (void)a.sum({1, 1}); }, "sum"},
      {"sum undefined", [&] { (void)sum(u); }, "sum"},
      {"mean dim out of range", [&] { (void)a.mean({-3}); }, "mean"},
      {"mean undefined", [&] { (void)mean(u); }, "mean"},
      {"max dim out of range", [&] { (void)a.max(5); }, "max"},
      {"max undefined", [&] { (void)max(u, 0); }, "max"},
      {"broadcast_to a smaller shape", [&] { (void)broadcast_to(a, {3}); }, "broadcast_to"},
      {"broadcast_to undefined", [&] { (void)broadcast_to(u, {3}); }, "broadcast_to"},
      {"reshape to a different count", [&] { (void)a.reshape({4}); }, "reshape"},
      {"reshape with two -1", [&] { (void)a.reshape({-1, -1}); }, "reshape"},
      {"reshape undefined", [&] { (void)reshape(u, {1}); }, "reshape"},
      {"flatten start after end", [&] { (void)a.flatten(1, 0); }, "flatten"},
      {"flatten undefined", [&] { (void)flatten(u); }, "flatten"},
      {"transpose dim out of range", [&] { (void)a.transpose(0, 2); }, "transpose"},
      {"transpose undefined", [&] { (void)transpose(u, 0, 1); }, "transpose"},
      {"permute with a repeated dim", [&] { (void)permute(a, {0, 0}); }, "permute"},
      {"permute with too few dims", [&] { (void)permute(a, {0}); }, "permute"},
      {"permute undefined", [&] { (void)permute(u, {0}); }, "permute"},
      {"unsqueeze out of range", [&] { (void)a.unsqueeze(4); }, "unsqueeze"},
      {"unsqueeze undefined", [&] { (void)unsqueeze(u, 0); }, "unsqueeze"},
      {"squeeze dim out of range", [&] { (void)a.squeeze(3); }, "squeeze"},
      {"squeeze undefined", [&] { (void)squeeze(u); }, "squeeze"},
      {"narrow past the end", [&] { (void)a.narrow(1, 2, 2); }, "narrow"},
      {"narrow negative length", [&] { (void)a.narrow(1, 0, -1); }, "narrow"},
      {"narrow undefined", [&] { (void)narrow(u, 0, 0, 1); }, "narrow"},
      {"slice step 0", [&] { (void)a.slice(1, 0, 3, 0); }, "slice"},
      {"slice negative step", [&] { (void)a.slice(1, 0, 3, -1); }, "slice"},
      {"slice undefined", [&] { (void)slice(u, 0, 0, 1); }, "slice"},
      {"cat of nothing", [&] { (void)cat({}); }, "cat"},
      {"cat with an undefined tensor", [&] { (void)cat({a, u}); }, "cat"},
      {"cat shape mismatch", [&] { (void)cat({a, b}); }, "cat"},
      {"cat dtype mismatch", [&] { (void)cat({a, d}); }, "cat"},
      {"cat dim out of range", [&] { (void)cat({a, a}, 2); }, "cat"},
      {"pad with an odd count", [&] { (void)pad(a, {1}); }, "pad"},
      {"pad more dims than the tensor has", [&] { (void)pad(a, {1, 1, 1, 1, 1, 1}); }, "pad"},
      {"pad cropping below zero", [&] { (void)pad(a, {-2, -2}); }, "pad"},
      {"pad undefined", [&] { (void)pad(u, {1, 1}); }, "pad"},
      {"matmul mismatch", [&] { (void)matmul(a, a); }, "matmul"},
      {"matmul 0-dim", [&] { (void)matmul(scalar_tensor(1.0), a); }, "matmul"},
      {"matmul dtype mismatch", [&] { (void)matmul(a, d.transpose(0, 1)); }, "matmul"},
      {"matmul undefined", [&] { (void)matmul(u, a); }, "matmul"},
  });
}

TEST_CASE("reliability: misusing autograd throws xgrad::Error and leaves gradients alone") {
  Tensor x = ones({3}, {.requires_grad = true});
  Tensor y = x * 2.0;
  y.sum().backward({}, {.retain_graph = true});
  const std::vector<double> before = values(x.grad());
  check_misuses({
      {"backward without grad on a non-scalar", [&] { y.backward(); }, "backward"},
      {"backward with a wrongly shaped grad", [&] { y.backward(ones({4})); }, "backward"},
      {"backward with a wrong dtype grad", [&] { y.backward(ones({3}, {.dtype = kFloat64})); }, "backward"},
      {"backward on a tensor without grad", [&] { ones({1}).backward(); }, "backward"},
      {"gradcheck with float32 inputs", [&] { (void)autograd::gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {x}); }, "gradcheck"},
      {"gradcheck without inputs", [] { (void)autograd::gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {}); }, "gradcheck"},
      {"gradcheck with an undefined result",
       [] {
         (void)autograd::gradcheck([](const std::vector<Tensor>&) { return Tensor(); },
                                   {ones({2}, {.dtype = kFloat64, .requires_grad = true})});
       },
       "gradcheck"},
      {"gradcheck with eps 0",
       [] {
         (void)autograd::gradcheck([](const std::vector<Tensor>& in) { return in[0]; },
                                   {ones({2}, {.dtype = kFloat64, .requires_grad = true})}, {.eps = 0});
       },
       "gradcheck"},
      {"set_num_threads(0)", [] { set_num_threads(0); }, "set_num_threads"},
      {"set_num_threads(-3)", [] { set_num_threads(-3); }, "set_num_threads"},
  });
  CHECK(values(x.grad()) == before);
}

TEST_CASE("reliability: misusing nn::Module, Conv1d, functional and init throws xgrad::Error") {
  struct Net : nn::Module {
    Tensor w = register_parameter("w", ones({2}));
    std::string type_name() const override { return "Net"; }
  };
  Net net;
  NoForward no_forward;
  nn::Conv1d conv(4, 2, 3);
  const Tensor w = ones({2, 4, 3});
  const Tensor x = ones({2, 4, 10});
  check_misuses({
      {"forward not implemented", [&] { (void)no_forward(ones({1})); }, "NoForward"},
      {"register a parameter twice", [&] { net.register_parameter("w", ones({1})); }, "already taken"},
      {"register an empty name", [&] { net.register_parameter("", ones({1})); }, "non-empty"},
      {"register a dotted name", [&] { net.register_buffer("a.b", ones({1})); }, "no '.'"},
      {"register a non-leaf parameter", [&] { net.register_parameter("v", ones({1}, {.requires_grad = true}) * 2.0); }, "leaf"},
      {"register a null module", [&] { net.register_module("child", std::shared_ptr<nn::Conv1d>()); }, "null"},
      {"load_state_dict missing key", [&] { net.load_state_dict({}); }, "missing key 'w'"},
      {"load_state_dict wrong shape", [&] { net.load_state_dict({{"w", ones({3})}}); }, "shape"},
      {"load_state_dict wrong dtype", [&] { net.load_state_dict({{"w", ones({2}, {.dtype = kFloat64})}}); }, "dtype"},
      {"load_state_dict undefined", [&] { net.load_state_dict({{"w", Tensor()}}); }, "undefined"},
      {"load_state_dict unexpected key", [&] { net.load_state_dict({{"w", ones({2})}, {"v", ones({1})}}); }, "unexpected key"},
      {"load_state_dict repeated key", [&] { net.load_state_dict({{"w", ones({2})}, {"w", ones({2})}}); }, "twice"},
      {"Conv1d groups not dividing", [] { nn::Conv1d(4, 3, 3, {.groups = 2}); }, "groups"},
      {"Conv1d padding 'same' with stride 2", [] { nn::Conv1d(4, 4, 3, {.stride = 2, .padding = "same"}); }, "same"},
      {"Conv1d unknown padding string", [] { nn::Conv1d(4, 4, 3, {.padding = "full"}); }, "full"},
      {"Conv1d two-element kernel_size", [] { nn::Conv1d(4, 4, {3, 3}); }, "kernel_size"},
      {"Conv1d negative padding", [] { nn::Conv1d(4, 4, 3, {.padding = -1}); }, "padding"},
      {"Conv1d zero stride", [] { nn::Conv1d(4, 4, 3, {.stride = 0}); }, "stride"},
      {"Conv1d unknown padding_mode", [] { nn::Conv1d(4, 4, 3, {.padding_mode = "mirror"}); }, "mirror"},
      {"Conv1d on a cuda device", [] { nn::Conv1d(4, 4, 3, {.device = "cuda"}); }, "cuda"},
      {"Conv1d wrong channel count", [&] { (void)conv(ones({2, 5, 10})); }, "channels"},
      {"Conv1d 1-D input", [&] { (void)conv(ones({10})); }, "conv1d"},
      {"Conv1d 4-D input", [&] { (void)conv(ones({1, 2, 4, 10})); }, "conv1d"},
      {"Conv1d float64 input", [&] { (void)conv(ones({2, 4, 10}, {.dtype = kFloat64})); }, "conv1d"},
      {"Conv1d undefined input", [&] { (void)conv(Tensor()); }, "conv1d"},
      {"conv1d undefined weight", [&] { (void)F::conv1d(x, Tensor()); }, "conv1d"},
      {"conv1d 2-D weight", [&] { (void)F::conv1d(x, ones({2, 4})); }, "conv1d"},
      {"conv1d wrong bias shape", [&] { (void)F::conv1d(x, w, ones({3})); }, "bias"},
      {"conv1d bias dtype", [&] { (void)F::conv1d(x, w, ones({2}, {.dtype = kFloat64})); }, "bias"},
      {"conv1d reflect padding wider than the input",
       [] { (void)nn::Conv1d(1, 1, 3, {.padding = 5, .padding_mode = "reflect"})(ones({1, 1, 4})); }, "reflect"},
      {"pad1d unknown mode", [&] { (void)F::pad1d(x, 1, 1, "wrap"); }, "pad1d"},
      {"pad1d negative", [&] { (void)F::pad1d(x, -1, 1, "zeros"); }, "pad1d"},
      {"pad1d 0-dim", [&] { (void)F::pad1d(scalar_tensor(1.0), 1, 1, "zeros"); }, "pad1d"},
      {"pad1d circular wider than the input", [&] { (void)F::pad1d(x, 11, 0, "circular"); }, "pad1d"},
      {"fan of a 1-D tensor", [] { (void)nn::init::calculate_fan_in_and_fan_out(ones({3})); }, "fan"},
      {"gain of an unknown nonlinearity", [] { (void)nn::init::calculate_gain("swish"); }, "swish"},
      {"kaiming mode", [] { (void)nn::init::kaiming_uniform_(ones({2, 2}), 0.0, "fan_middle"); }, "fan_middle"},
      {"kaiming on undefined", [] { (void)nn::init::kaiming_normal_(Tensor()); }, "undefined"},
      {"xavier on a 1-D tensor", [] { (void)nn::init::xavier_uniform_(ones({3})); }, "fan"},
      {"uniform_ low > high", [] { (void)nn::init::uniform_(ones({3}), 1.0, 0.0); }, "uniform_"},
      {"normal_ negative std", [] { (void)nn::init::normal_(ones({3}), 0.0, -1.0); }, "normal_"},
      {"constant_ on undefined", [] { (void)nn::init::constant_(Tensor(), 1.0); }, "undefined"},
  });
  CHECK(values(net.w) == std::vector<double>{1.0, 1.0});  // no failed load changed anything
}

TEST_CASE("reliability: misusing .npy I/O throws xgrad::Error naming the file") {
  check_misuses({
      {"load a missing file", [] { (void)load_npy("/nonexistent/dir/x.npy"); }, "/nonexistent/dir/x.npy"},
      {"load a directory", [] { (void)load_npy("/"); }, "load_npy"},
      {"save into a missing directory", [] { save_npy("/nonexistent/dir/x.npy", ones({2})); }, "/nonexistent/dir/x.npy"},
      {"save under a regular file", [] { save_npy("/proc/self/status/x.npy", ones({2})); }, "save_npy"},
      {"save an undefined tensor", [] { save_npy("/tmp/xgrad_undefined.npy", Tensor()); }, "save_npy"},
  });
}

// Found by fuzz_conv1d (tests/fuzz/corpus/conv1d/regression_neg_inf_input_weight_grad_padding_lanes):
// the fast backward-weight kernel once read whole vectors past the output length, where a zero
// output gradient met a real Inf input and 0 * Inf = NaN reached weight gradients the Inf never touches.
TEST_CASE("reliability: an Inf input reaches only the weight gradients it touches (fast kernels = reference)") {
  auto weight_grad = [](bool reference) {
    F::detail::set_conv1d_use_reference(reference);
    Tensor x = zeros({2, 3, 2});
    x.data_ptr<float>()[11] = -std::numeric_limits<float>::infinity();  // (n 1, c 2, l 1)
    Tensor w = ones({2, 3, 4}, {.requires_grad = true});
    F::conv1d(x, w, Tensor(), {.stride = 3, .padding = 1}).sum().backward();
    F::detail::set_conv1d_use_reference(false);
    return values(w.grad());
  };
  const std::vector<double> fast = weight_grad(false), reference = weight_grad(true);
  REQUIRE(fast.size() == reference.size());
  for (std::size_t i = 0; i < fast.size(); ++i) {
    INFO("weight gradient flat index ", i, ": fast ", fast[i], ", reference ", reference[i]);
    CHECK((fast[i] == reference[i] || (std::isnan(fast[i]) && std::isnan(reference[i]))));
  }
}
