// Every op on int64 and bool inputs, from one table: each row either works as
// PyTorch 1.13 does (the result's dtype and values) or throws an xgrad::Error
// that names the op and the dtype. No op may silently misbehave or crash.
#include <doctest/doctest.h>

#include <functional>
#include <optional>

#include <xgrad.hpp>

#include "support/testing.hpp"

using namespace xgrad;
using testing::values;
namespace F = nn::functional;

namespace {

struct DtypeCase {
  std::string name;
  std::function<Tensor()> fn;
  std::optional<Dtype> dtype;     // the result's dtype when the op works
  std::vector<double> expected;   // its values (empty: not checked here)
  std::string error = {};         // otherwise: text the error must contain (op name and dtype)
};

Tensor L() { return testing::int64_values({3, -2, 0, 5}); }
Tensor B() { return testing::bool_values({true, false, true, false}); }
Tensor L2() { return testing::int64_values({3, -2, 0, 5}).reshape({2, 2}); }

std::vector<DtypeCase> dtype_table() {
  const std::vector<double> l = {3, -2, 0, 5};
  return {
      // --- arithmetic, tensor-tensor ---
      {"int64 + int64", [] { return L() + L(); }, kInt64, {6, -4, 0, 10}},
      {"int64 - int64", [] { return L() - testing::int64_values({1, 1, 1, 1}); }, kInt64, {2, -3, -1, 4}},
      {"int64 * int64", [] { return L() * L(); }, kInt64, {9, 4, 0, 25}},
      {"int64 / int64 is true division in float32", [] { return L() / testing::int64_values({2, 2, 2, 2}); }, kFloat32,
       {1.5, -1, 0, 2.5}},
      {"bool + bool is or", [] { return B() + testing::bool_values({false, false, true, true}); }, kBool, {1, 0, 1, 1}},
      {"bool * bool is and", [] { return B() * testing::bool_values({true, true, false, false}); }, kBool, {1, 0, 0, 0}},
      {"bool - bool", [] { return B() - B(); }, std::nullopt, {}, "sub: not supported on bool"},
      {"bool / bool", [] { return B() / B(); }, kFloat32, {1, std::nan(""), 1, std::nan("")}},
      {"int64 + float32", [] { return L() + ones({4}); }, std::nullopt, {}, "add: operands have different dtypes (int64"},
      {"-int64", [] { return -L(); }, kInt64, {-3, 2, 0, -5}},
      {"-bool", [] { return -B(); }, std::nullopt, {}, "neg: not supported on bool"},
      // --- arithmetic with a scalar: an integer keeps int64, a floating one gives float32 ---
      {"int64 + 1", [] { return L() + 1; }, kInt64, {4, -1, 1, 6}},
      {"int64 + 1.5", [] { return L() + 1.5; }, kFloat32, {4.5, -0.5, 1.5, 6.5}},
      {"int64 - 1", [] { return L() - 1; }, kInt64, {2, -3, -1, 4}},
      {"int64 * 2", [] { return L() * 2; }, kInt64, {6, -4, 0, 10}},
      {"int64 * 2.0", [] { return L() * 2.0; }, kFloat32, {6, -4, 0, 10}},
      {"int64 / 2", [] { return L() / 2; }, kFloat32, {1.5, -1, 0, 2.5}},
      {"10 - int64", [] { return 10 - L(); }, kInt64, {7, 12, 10, 5}},
      {"12 / int64", [] { return 12 / testing::int64_values({3, -4}); }, kFloat32, {4, -3}},
      {"bool + 1 is int64", [] { return B() + 1; }, kInt64, {2, 1, 2, 1}},
      {"bool * 2.0 is float32", [] { return B() * 2.0; }, kFloat32, {2, 0, 2, 0}},
      {"bool + true", [] { return B() + true; }, kBool, {1, 1, 1, 1}},
      {"1 - bool", [] { return 1 - B(); }, std::nullopt, {}, "rsub: not supported on bool"},
      {"int64 wraps on overflow", [] { return testing::int64_values({std::numeric_limits<std::int64_t>::max()}) + 1; },
       kInt64, {static_cast<double>(std::numeric_limits<std::int64_t>::min())}},
      // --- unary: floating functions compute integers in float32 ---
      {"exp int64", [] { return testing::int64_values({0, 1}).exp(); }, kFloat32, {1, std::exp(1.0f)}},
      {"log bool", [] { return B().log(); }, kFloat32, {0, -INFINITY, 0, -INFINITY}},
      {"tanh int64", [] { return testing::int64_values({0}).tanh(); }, kFloat32, {0}},
      {"sigmoid int64", [] { return testing::int64_values({0}).sigmoid(); }, kFloat32, {0.5}},
      {"sqrt int64", [] { return testing::int64_values({4, 9}).sqrt(); }, kFloat32, {2, 3}},
      {"pow int64", [] { return L().pow(2.0); }, std::nullopt, {}, "pow: expected a floating-point tensor (float32 or float64), got int64"},
      {"pow bool", [] { return pow(B(), 2.0); }, std::nullopt, {}, "pow: expected a floating-point tensor (float32 or float64), got bool"},
      {"relu int64", [] { return L().relu(); }, kInt64, {3, 0, 0, 5}},
      {"relu bool", [] { return B().relu(); }, std::nullopt, {}, "relu: not supported on bool"},
      {"abs int64", [] { return L().abs(); }, kInt64, {3, 2, 0, 5}},
      {"abs bool", [] { return B().abs(); }, std::nullopt, {}, "abs: not supported on bool"},
      {"maximum int64", [] { return maximum(L(), testing::int64_values({0, 0, 0, 0})); }, kInt64, {3, 0, 0, 5}},
      {"minimum bool", [] { return minimum(B(), testing::bool_values({true, true, false, false})); }, kBool, {1, 0, 0, 0}},
      {"clamp int64 to integers", [] { return clamp(L(), 0, 2); }, kInt64, {2, 0, 0, 2}},
      {"clamp int64 to floats", [] { return clamp(L(), 0.5, 2.5); }, kFloat32, {2.5, 0.5, 0.5, 2.5}},
      {"clamp bool", [] { return B().clamp(0, 1); }, std::nullopt, {}, "clamp: not supported on bool"},
      // --- reductions ---
      {"sum int64", [] { return L().sum(); }, kInt64, {6}},
      {"sum bool counts", [] { return B().sum(); }, kInt64, {2}},
      {"sum int64 dim", [] { return L2().sum({1}); }, kInt64, {1, 5}},
      {"mean int64", [] { return L().mean(); }, std::nullopt, {}, "mean: expected a floating-point tensor, got int64"},
      {"mean bool", [] { return B().mean({0}); }, std::nullopt, {}, "mean: expected a floating-point tensor, got bool"},
      {"max int64 values", [] { return std::get<0>(L2().max(1)); }, kInt64, {3, 5}},
      {"max int64 indices", [] { return std::get<1>(L2().max(1)); }, kInt64, {0, 1}},
      {"min bool", [] { return std::get<0>(B().min(0)); }, kBool, {0}},
      {"argmax int64", [] { return L().argmax(); }, kInt64, {3}},
      {"argmin bool", [] { return B().argmin(); }, kInt64, {1}},
      {"matmul int64", [] { return matmul(L2(), L2()); }, std::nullopt, {}, "matmul: expected floating-point tensors"},
      // --- shapes and indexing keep the dtype ---
      {"reshape", [] { return L().reshape({2, 2}); }, kInt64, l},
      {"flatten", [] { return L2().flatten(); }, kInt64, l},
      {"transpose", [] { return L2().transpose(0, 1); }, kInt64, {3, 0, -2, 5}},
      {"permute bool", [] { return permute(B().reshape({2, 2}), {1, 0}); }, kBool, {1, 1, 0, 0}},
      {"unsqueeze/squeeze", [] { return L().unsqueeze(0).squeeze(); }, kInt64, l},
      {"narrow", [] { return L().narrow(0, 1, 2); }, kInt64, {-2, 0}},
      {"slice", [] { return L().slice(0, 0, 4, 2); }, kInt64, {3, 0}},
      {"cat", [] { return cat({L(), L()}); }, kInt64, {3, -2, 0, 5, 3, -2, 0, 5}},
      {"stack bool", [] { return stack({B(), B()}, 1); }, kBool, {1, 1, 0, 0, 1, 1, 0, 0}},
      {"pad int64", [] { return pad(L(), {1, 0}, 7); }, kInt64, {7, 3, -2, 0, 5}},
      {"broadcast_to", [] { return broadcast_to(L(), {2, 4}); }, kInt64, {3, -2, 0, 5, 3, -2, 0, 5}},
      {"flip", [] { return L().flip({0}); }, kInt64, {5, 0, -2, 3}},
      {"roll", [] { return L().roll({1}); }, kInt64, {5, 3, -2, 0}},
      {"index_select of int64 labels", [] { return L().index_select(0, testing::int64_values({3, 0})); }, kInt64, {5, 3}},
      {"gather bool", [] { return B().gather(0, testing::int64_values({1, 0})); }, kBool, {0, 1}},
      {"index with a mask", [] { return L().index({L() > 0}); }, kInt64, {3, 5}},
      {"clone", [] { return L().clone(); }, kInt64, l},
      // --- comparisons and selections ---
      {"int64 > 0", [] { return L() > 0; }, kBool, {1, 0, 0, 1}},
      {"int64 == 2.5", [] { return L() == 2.5; }, kBool, {0, 0, 0, 0}},
      {"bool == 1", [] { return B() == 1; }, kBool, {1, 0, 1, 0}},
      {"where int64", [] { return where(B(), L(), -L()); }, kInt64, {3, 2, 0, -5}},
      {"masked_fill int64 truncates the value", [] { return L().masked_fill(B(), 2.5); }, kInt64, {2, -2, 2, 5}},
      {"logical_not int64", [] { return L().logical_not(); }, kBool, {0, 0, 1, 0}},
      // --- in place: the result dtype must be the tensor's ---
      {"int64 add_ 2", [] { Tensor t = L(); t.add_(2); return t; }, kInt64, {5, 0, 2, 7}},
      {"int64 *= int64", [] { Tensor t = L(); t *= L(); return t; }, kInt64, {9, 4, 0, 25}},
      {"int64 add_ 1.5", [] { Tensor t = L(); t.add_(1.5); return t; }, std::nullopt, {}, "add_: the result is float32, which cannot be written into this int64 tensor"},
      {"int64 div_ 2", [] { Tensor t = L(); t.div_(2); return t; }, std::nullopt, {}, "div_: the result is float32"},
      {"int64 clamp_", [] { Tensor t = L(); t.clamp_(0, 4); return t; }, kInt64, {3, 0, 0, 4}},
      {"bool add_ 1", [] { Tensor t = B(); t.add_(1); return t; }, std::nullopt, {}, "add_: the result is int64, which cannot be written into this bool tensor"},
      {"int64 fill_", [] { Tensor t = L(); t.fill_(-7.9); return t; }, kInt64, {-7, -7, -7, -7}},
      // --- nn::functional: floating-point kernels say so and name the dtype ---
      {"softmax int64", [] { return F::softmax(L2(), 1); }, std::nullopt, {}, "expected a floating-point tensor (float32 or float64), got int64"},
      {"log_softmax bool", [] { return F::log_softmax(B().reshape({2, 2}), 1); }, std::nullopt, {}, "expected a floating-point tensor (float32 or float64), got bool"},
      {"mse_loss int64", [] { return F::mse_loss(L(), L()); }, std::nullopt, {}, "int64"},
      {"dropout int64", [] { return F::dropout(L(), 0.5, true); }, std::nullopt, {}, "int64"},
      {"linear int64", [] { return F::linear(L2(), L2()); }, std::nullopt, {}, "int64"},
      {"max_pool1d int64", [] { return F::max_pool1d(L().reshape({1, 1, 4}), 2); }, std::nullopt, {}, "int64"},
      {"conv1d int64", [] { return F::conv1d(L().reshape({1, 1, 4}), ones({1, 1, 2})); }, std::nullopt, {}, "int64"},
      {"avg_pool1d int64", [] { return F::avg_pool1d(L().reshape({1, 1, 4}), 2); }, std::nullopt, {}, "int64"},
      {"adaptive_avg_pool1d bool", [] { return F::adaptive_avg_pool1d(B().reshape({1, 1, 4}), 1); }, std::nullopt, {}, "bool"},
      {"batch_norm int64", [] { return F::batch_norm(L2(), Tensor(), Tensor(), Tensor(), Tensor(), {.training = true}); },
       std::nullopt, {}, "int64"},
      {"pad1d reflect int64", [] { return F::pad1d(L().reshape({1, 1, 4}), 1, 1, "reflect"); }, std::nullopt, {}, "int64"},
      {"nn::init on int64", [] { Tensor t = L(); nn::init::uniform_(t); return t; }, std::nullopt, {}, "uniform_: random values need a floating-point tensor, this one is int64"},
      {"backward of an int64 sum", [] { L().sum().backward(); return Tensor(); }, std::nullopt, {}, "does not require grad"},
      {"gradcheck of int64 inputs", [] { autograd::gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {L()}); return Tensor(); },
       std::nullopt, {}, "gradcheck: input 0 (shape [4]) is int64"},
  };
}

}  // namespace

TEST_CASE("dtype ops: every op on int64 and bool works as PyTorch or names op and dtype") {
  for (const DtypeCase& c : dtype_table()) {
    CAPTURE(c.name);
    if (c.dtype) {
      Tensor out;
      try {
        out = c.fn();
      } catch (const std::exception& e) {
        FAIL_CHECK(c.name, " threw: ", e.what());
        continue;
      }
      CHECK_MESSAGE(out.dtype() == *c.dtype, c.name, ": dtype ", out.dtype(), ", expected ", *c.dtype);
      const std::vector<double> got = values(out);
      REQUIRE_MESSAGE(got.size() == c.expected.size(), c.name, ": ", to_string(out));
      for (std::size_t i = 0; i < got.size(); ++i) {
        const bool same = got[i] == c.expected[i] || (std::isnan(got[i]) && std::isnan(c.expected[i])) ||
                          std::abs(got[i] - c.expected[i]) <= 1e-6 * std::abs(c.expected[i]);
        CHECK_MESSAGE(same, c.name, ": element ", i, " is ", got[i], ", expected ", c.expected[i]);
      }
    } else {
      const std::string message = testing::error_of(c.fn);
      CHECK_MESSAGE(testing::contains(message, c.error), c.name, ": got \"", message, "\", expected it to contain \"",
                    c.error, "\"");
    }
  }
}
