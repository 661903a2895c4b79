// Every function that takes a dim, on a 0-dim tensor, against what PyTorch 1.13 does: a 0-dim
// tensor takes dim -1 or 0 in reductions and shape ops (and behaves as one element), other dims
// are out of range; size(d) has nothing to return for any d; narrow, slice and cat refuse it.
// Each call runs in a child process: zeros({}).size(0) used to be a SIGSEGV, and a crash must
// fail its row, not end the run.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "nn/activation.hpp"
#include "nn/batchnorm.hpp"
#include "nn/container.hpp"
#include "nn/conv1d.hpp"
#include "nn/functional.hpp"
#include "nn/linear.hpp"
#include "nn/pooling.hpp"
#include "support/isolated_process.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::contains;
namespace F = nn::functional;

namespace {

// One call on a 0-dim tensor and PyTorch's answer: the result's shape, or an error whose
// message contains `error`.
struct DimCase {
  std::string name;
  std::function<Tensor(const Tensor&)> call;
  Shape shape = {};
  std::string error = "";
};

// The scalar tensor every row is called on (float64, 2.5, requires grad so backward runs too).
Tensor scalar() { return full({}, 2.5, {.dtype = kFloat64, .requires_grad = true}); }

void check_rows(const std::vector<DimCase>& rows) {
  for (const DimCase& row : rows) {
    INFO("call on a 0-dim tensor: ", row.name);
    const testing::isolated::ChildOutcome outcome = testing::isolated::run_in_child([&] {
      const Tensor out = row.call(scalar());
      // An accepted call must give PyTorch's shape; say which one we got through the error.
      if (out.shape() != row.shape || !row.error.empty()) fail("returned shape {}", out.shape());
      if (out.numel() == 1) out.sum().backward();  // and its backward must run
    });
    if (row.error.empty()) {
      CHECK_MESSAGE(outcome.returned(), outcome.describe());
    } else {
      CHECK_MESSAGE(outcome.is_xgrad_error(), outcome.describe());
      CHECK_MESSAGE(contains(outcome.message, row.error), outcome.message);
    }
  }
}

const std::string kOutOfRange = "out of range for a tensor of rank 0 (expected -1 to 0)";

}  // namespace

TEST_CASE("Tensor::size on a 0-dim tensor is an error for every dim, never a crash") {
  for (std::int64_t dim : {-2, -1, 0, 1, 5}) {
    INFO("size(", dim, ")");
    const std::string message = testing::isolated::child_error([dim] { (void)zeros({}).size(dim); });
    CHECK(message == fmt::format("size: dimension specified as {} but tensor has no dimensions", dim));
  }
  // One dimension is enough for every in-range dim to work.
  CHECK(zeros({4}).size(0) == 4);
  CHECK(zeros({4}).size(-1) == 4);
}

TEST_CASE("reductions over dims of a 0-dim tensor: dim -1 and 0 reduce the one element, others are errors") {
  std::vector<DimCase> rows;
  for (std::int64_t d : {-1, 0}) {
    rows.push_back({fmt::format("sum({{{}}})", d), [d](const Tensor& x) { return x.sum({d}); }, {}});
    rows.push_back({fmt::format("sum({{{}}}, keepdim)", d), [d](const Tensor& x) { return x.sum({d}, true); }, {}});
    rows.push_back({fmt::format("mean({{{}}})", d), [d](const Tensor& x) { return x.mean({d}); }, {}});
    rows.push_back({fmt::format("max({})", d), [d](const Tensor& x) { return std::get<0>(x.max(d)); }, {}});
    rows.push_back({fmt::format("max({}, keepdim)", d), [d](const Tensor& x) { return std::get<0>(x.max(d, true)); }, {}});
    rows.push_back({fmt::format("softmax({})", d), [d](const Tensor& x) { return F::softmax(x, d); }, {}});
    rows.push_back({fmt::format("log_softmax({})", d), [d](const Tensor& x) { return F::log_softmax(x, d); }, {}});
    rows.push_back({fmt::format("nn::Softmax({})", d), [d](const Tensor& x) { return nn::Softmax(d)(x); }, {}});
    rows.push_back({fmt::format("nn::LogSoftmax({})", d), [d](const Tensor& x) { return nn::LogSoftmax(d)(x); }, {}});
  }
  for (std::int64_t d : {-2, 1, 7}) {
    rows.push_back({fmt::format("sum({{{}}})", d), [d](const Tensor& x) { return x.sum({d}); }, {}, kOutOfRange});
    rows.push_back({fmt::format("mean({{{}}})", d), [d](const Tensor& x) { return x.mean({d}); }, {}, kOutOfRange});
    rows.push_back({fmt::format("max({})", d), [d](const Tensor& x) { return std::get<0>(x.max(d)); }, {}, kOutOfRange});
    rows.push_back({fmt::format("softmax({})", d), [d](const Tensor& x) { return F::softmax(x, d); }, {}, kOutOfRange});
    rows.push_back({fmt::format("log_softmax({})", d), [d](const Tensor& x) { return F::log_softmax(x, d); }, {}, kOutOfRange});
    rows.push_back({fmt::format("nn::Softmax({})", d), [d](const Tensor& x) { return nn::Softmax(d)(x); }, {}, kOutOfRange});
  }
  rows.push_back({"sum({0, -1}) (the same dim twice)", [](const Tensor& x) { return x.sum({0, -1}); }, {},
                  "appears more than once"});
  rows.push_back({"sum({0, 0})", [](const Tensor& x) { return x.sum({0, 0}); }, {}, "appears more than once"});
  check_rows(rows);
}

TEST_CASE("shape ops with dims on a 0-dim tensor follow PyTorch") {
  std::vector<DimCase> rows;
  for (std::int64_t d : {-1, 0}) {
    rows.push_back({fmt::format("transpose({}, 0)", d), [d](const Tensor& x) { return x.transpose(d, 0); }, {}});
    rows.push_back({fmt::format("transpose(-1, {})", d), [d](const Tensor& x) { return x.transpose(-1, d); }, {}});
    rows.push_back({fmt::format("unsqueeze({})", d), [d](const Tensor& x) { return x.unsqueeze(d); }, {1}});
    rows.push_back({fmt::format("squeeze({})", d), [d](const Tensor& x) { return x.squeeze(d); }, {}});
    rows.push_back({fmt::format("flatten({})", d), [d](const Tensor& x) { return x.flatten(d); }, {1}});
    rows.push_back({fmt::format("flatten(0, {})", d), [d](const Tensor& x) { return x.flatten(0, d); }, {1}});
    rows.push_back({fmt::format("nn::Flatten({})", d), [d](const Tensor& x) { return nn::Flatten(d)(x); }, {1}});
  }
  for (std::int64_t d : {-2, 1, 3}) {
    rows.push_back({fmt::format("transpose({}, 0)", d), [d](const Tensor& x) { return x.transpose(d, 0); }, {}, kOutOfRange});
    rows.push_back({fmt::format("transpose(0, {})", d), [d](const Tensor& x) { return x.transpose(0, d); }, {}, kOutOfRange});
    rows.push_back({fmt::format("squeeze({})", d), [d](const Tensor& x) { return x.squeeze(d); }, {}, kOutOfRange});
    rows.push_back({fmt::format("flatten({})", d), [d](const Tensor& x) { return x.flatten(d); }, {}, kOutOfRange});
    rows.push_back({fmt::format("flatten(0, {})", d), [d](const Tensor& x) { return x.flatten(0, d); }, {}, kOutOfRange});
    rows.push_back({fmt::format("permute({{{}}})", d), [d](const Tensor& x) { return permute(x, {d}); }, {}, "expected 0 dims"});
  }
  // unsqueeze inserts a dim: its range is that of a rank-1 result, [-1, 0] here too.
  for (std::int64_t d : {-2, 1}) {
    rows.push_back({fmt::format("unsqueeze({})", d), [d](const Tensor& x) { return x.unsqueeze(d); }, {},
                    "out of range for a tensor of rank 1"});
  }
  rows.push_back({"nn::Flatten() (start_dim 1, as torch.nn.Flatten)", [](const Tensor& x) { return nn::Flatten()(x); }, {},
                  kOutOfRange});
  rows.push_back({"permute({})", [](const Tensor& x) { return permute(x, {}); }, {}});
  rows.push_back({"squeeze()", [](const Tensor& x) { return x.squeeze(); }, {}});
  for (std::int64_t d : {-1, 0, 1}) {
    rows.push_back({fmt::format("narrow({}, 0, 1)", d), [d](const Tensor& x) { return x.narrow(d, 0, 1); }, {},
                    "narrow: cannot narrow a 0-dim tensor"});
    rows.push_back({fmt::format("slice({}, 0, 1)", d), [d](const Tensor& x) { return x.slice(d, 0, 1); }, {},
                    "slice: cannot slice a 0-dim tensor"});
    rows.push_back({fmt::format("cat({{x, x}}, {})", d), [d](const Tensor& x) { return cat({x, x}, d); }, {},
                    "zero-dimensional tensors cannot be concatenated"});
  }
  check_rows(rows);
}

TEST_CASE("layers and ops that read an input's dims refuse a 0-dim tensor with an error, never a crash") {
  const Tensor weight = zeros({2, 1, 3}, {.dtype = kFloat64});
  const std::vector<DimCase> rows = {
      {"conv1d(input 0-dim)", [&](const Tensor& x) { return F::conv1d(x, weight); }, {}, "conv1d: expected a 2-D"},
      {"conv1d(weight 0-dim)", [](const Tensor& x) { return F::conv1d(zeros({1, 1, 4}, {.dtype = kFloat64}), x); }, {},
       "conv1d: expected a 3-D weight"},
      {"conv1d(bias 0-dim)", [&](const Tensor& x) { return F::conv1d(zeros({1, 1, 4}, {.dtype = kFloat64}), weight, x); },
       {}, "conv1d: expected bias of shape [2]"},
      {"nn::Conv1d replicate", [](const Tensor& x) {
         return nn::Conv1d(1, 1, 3, {.padding = 1, .padding_mode = "replicate", .dtype = kFloat64})(x);
       }, {}, "conv1d: expected a 2-D"},
      {"pad1d", [](const Tensor& x) { return F::pad1d(x, 1, 1, "reflect"); }, {}, "0-dim"},
      {"pad", [](const Tensor& x) { return pad(x, {1, 1}); }, {}, "pad: 2 padding values pad 1 dims"},
      {"max_pool1d", [](const Tensor& x) { return F::max_pool1d(x, 1); }, {}, "max_pool1d: expected a 2-D"},
      {"avg_pool1d", [](const Tensor& x) { return F::avg_pool1d(x, 1); }, {}, "avg_pool1d: expected a 2-D"},
      {"adaptive_avg_pool1d", [](const Tensor& x) { return F::adaptive_avg_pool1d(x, 1); }, {}, "adaptive_avg_pool1d: expected"},
      {"linear", [](const Tensor& x) { return F::linear(x, zeros({2, 1}, {.dtype = kFloat64})); }, {}, "linear: input must have"},
      {"nn::BatchNorm1d", [](const Tensor& x) { return nn::BatchNorm1d(1, {.dtype = kFloat64})(x); }, {}, "BatchNorm1d: expected 2D"},
      {"batch_norm", [](const Tensor& x) { return F::batch_norm(x, Tensor(), Tensor()); }, {}, "batch_norm: expected a 2-D"},
      {"cross_entropy", [](const Tensor& x) { return F::cross_entropy(x, zeros({})); }, {}, "cross_entropy: input must be"},
      {"matmul", [](const Tensor& x) { return matmul(x, x); }, {}, "matmul: both operands need at least one dimension"},
  };
  check_rows(rows);
}
