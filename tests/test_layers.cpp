// Layer behaviour through the public API: PyTorch's reprs, Sequential's
// container API, Linear's init, Dropout's train/eval behaviour, argument errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/random.hpp"
#include "nn/activation.hpp"
#include "nn/batchnorm.hpp"
#include "nn/container.hpp"
#include "nn/dropout.hpp"
#include "nn/linear.hpp"
#include "nn/loss.hpp"
#include "nn/functional.hpp"
#include "nn/pooling.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using std::make_shared;

TEST_CASE("layer reprs read exactly like PyTorch's") {
  // Strings from /usr/bin/python3 print(module) with PyTorch 1.13.
  CHECK(nn::Linear(4, 8).repr() == "Linear(in_features=4, out_features=8, bias=True)");
  CHECK(nn::Linear(4, 8, {.bias = false}).repr() == "Linear(in_features=4, out_features=8, bias=False)");
  CHECK(nn::ReLU().repr() == "ReLU()");
  CHECK(nn::Tanh().repr() == "Tanh()");
  CHECK(nn::Sigmoid().repr() == "Sigmoid()");
  CHECK(nn::Softmax(1).repr() == "Softmax(dim=1)");
  CHECK(nn::LogSoftmax(1).repr() == "LogSoftmax(dim=1)");
  CHECK(nn::Flatten().repr() == "Flatten(start_dim=1, end_dim=-1)");
  CHECK(nn::MaxPool1d(4).repr() == "MaxPool1d(kernel_size=4, stride=4, padding=0, dilation=1, ceil_mode=False)");
  CHECK(nn::MaxPool1d(3, {.stride = 2, .padding = 1, .dilation = 2, .ceil_mode = true}).repr() ==
        "MaxPool1d(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)");
  CHECK(nn::AvgPool1d(3).repr() == "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))");
  CHECK(nn::AvgPool1d(3, {.stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false}).repr() ==
        "AvgPool1d(kernel_size=(3,), stride=(2,), padding=(1,))");
  CHECK(nn::AdaptiveAvgPool1d(1).repr() == "AdaptiveAvgPool1d(output_size=1)");
  CHECK(nn::BatchNorm1d(32).repr() == "BatchNorm1d(32, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  CHECK(nn::BatchNorm1d(3, {.eps = 1e-3, .momentum = 0.01}).repr() ==
        "BatchNorm1d(3, eps=0.001, momentum=0.01, affine=True, track_running_stats=True)");
  CHECK(nn::BatchNorm1d(4, {.momentum = std::nullopt, .affine = false, .track_running_stats = false}).repr() ==
        "BatchNorm1d(4, eps=1e-05, momentum=None, affine=False, track_running_stats=False)");
  CHECK(nn::Dropout().repr() == "Dropout(p=0.5, inplace=False)");
  CHECK(nn::Dropout(0.0).repr() == "Dropout(p=0.0, inplace=False)");
  CHECK(nn::CrossEntropyLoss().repr() == "CrossEntropyLoss()");
  CHECK(nn::MSELoss().repr() == "MSELoss()");
  CHECK(nn::NLLLoss().repr() == "NLLLoss()");
  nn::Sequential seq({make_shared<nn::Linear>(4, 8), make_shared<nn::ReLU>()});
  CHECK(seq.repr() ==
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        ")");
  CHECK(fmt::format("{}", nn::ReLU()) == "ReLU()");
}

TEST_CASE("Sequential: construction forms, push_back, indexing, names, forward") {
  manual_seed(0);
  nn::Sequential a({make_shared<nn::Linear>(4, 8), make_shared<nn::ReLU>()});
  nn::Sequential b(make_shared<nn::Linear>(4, 8), make_shared<nn::ReLU>());
  nn::Sequential c;
  c.push_back(make_shared<nn::Linear>(4, 8));
  c.push_back(make_shared<nn::Tanh>());
  CHECK(a.size() == 2);
  CHECK(b.size() == 2);
  CHECK(c.size() == 2);
  CHECK(c[1]->type_name() == "Tanh");
  CHECK(c[-1]->type_name() == "Tanh");
  CHECK(c.at<nn::Linear>(0)->out_features == 8);
  CHECK_THROWS_AS(c.at<nn::ReLU>(0), Error);
  CHECK_THROWS_AS(c[2], Error);
  CHECK_THROWS_AS(c.push_back(nullptr), Error);

  std::vector<std::string> names;
  for (const auto& [name, p] : a.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias"});

  const Tensor x = randn({3, 4});
  const Tensor expected = a.at<nn::Linear>(0)->forward(x).relu();
  const Tensor y = a(x);
  CHECK(y.shape() == Shape{3, 8});
  CHECK((y - expected).abs().sum().item<double>() == 0.0);
  CHECK(nn::Sequential().forward(x).impl() == x.impl());  // empty: identity
}

TEST_CASE("Linear init is U(-1/sqrt(in), 1/sqrt(in)) and reproducible, dtype option") {
  manual_seed(123);
  nn::Linear first(16, 32);
  manual_seed(123);
  nn::Linear second(16, 32);
  CHECK((first.weight - second.weight).abs().sum().item<double>() == 0.0);
  const float* w = first.weight.data_ptr<float>();
  float low = 1, high = -1;
  for (std::int64_t i = 0; i < first.weight.numel(); ++i) low = std::min(low, w[i]), high = std::max(high, w[i]);
  CHECK(low >= -0.25f);
  CHECK(high < 0.25f);
  CHECK(high - low > 0.4f);  // actually spread over the interval
  CHECK(first.weight.requires_grad());
  nn::Linear doubles(3, 2, {.dtype = kFloat64});
  CHECK(doubles.weight.dtype() == kFloat64);
  CHECK(doubles.bias.dtype() == kFloat64);
  CHECK_THROWS_WITH_AS(first(randn({2, 5})), doctest::Contains("linear: input shape [2, 5] has 5 features"), Error);
}

TEST_CASE("Dropout: identity in eval, zeroes about p and scales the rest by 1/(1-p) in train") {
  manual_seed(1);
  nn::Dropout dropout(0.25);
  const Tensor x = ones({100, 100}, {.requires_grad = true});
  Tensor y = dropout(x);
  const float* v = y.data_ptr<float>();
  std::int64_t zeros_count = 0;
  bool values_ok = true;
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    if (v[i] == 0.0f) {
      ++zeros_count;
    } else {
      values_ok = values_ok && std::abs(v[i] - 1.0f / 0.75f) < 1e-6f;
    }
  }
  CHECK(values_ok);
  CHECK(zeros_count > 2200);
  CHECK(zeros_count < 2800);
  y.sum().backward();  // the gradient is the mask scaled
  CHECK((x.grad() - y.detach()).abs().sum().item<double>() == 0.0);

  dropout.eval();
  CHECK(dropout(x).impl() == x.impl());
  dropout.train();
  CHECK(nn::Dropout(1.0)(x).abs().sum().item<double>() == 0.0);
  CHECK_THROWS_WITH_AS(nn::Dropout(1.5), "Dropout: dropout probability has to be between 0 and 1, but got 1.5", Error);
  CHECK_THROWS_AS(nn::Dropout(-0.1), Error);
}

TEST_CASE("BatchNorm1d: batch statistics in train, running statistics in eval, counts batches") {
  manual_seed(2);
  nn::BatchNorm1d bn(2);
  const Tensor x = randn({8, 2, 5}) * 3.0 + 1.0;
  const Tensor train_out = bn(x);
  // Training output has per-channel mean ~0 and biased variance ~1.
  const Tensor mean = train_out.mean({0, 2});
  CHECK(std::abs(mean.data_ptr<float>()[0]) < 1e-5);
  CHECK(bn.num_batches_tracked.item<double>() == 1.0);
  bn.eval();
  const Tensor eval_out = bn(x);
  CHECK(bn.num_batches_tracked.item<double>() == 1.0);  // eval doesn't count
  CHECK((eval_out - train_out).abs().sum().item<double>() > 1.0);  // running stats differ from batch stats
  bn.train();
  CHECK_THROWS_WITH_AS(bn(randn({1, 2})), doctest::Contains("more than 1 value per channel"), Error);
  CHECK(bn.num_batches_tracked.item<double>() == 1.0);  // a refused batch is not counted
  CHECK_THROWS_WITH_AS(bn(randn({4, 3, 5})), doctest::Contains("expected 2 channels"), Error);
  CHECK_THROWS_AS(bn(randn({4, 2, 5, 1})), Error);
}

TEST_CASE("pooling: output lengths and argument errors") {
  const Tensor x = randn({2, 3, 8000});
  CHECK(nn::MaxPool1d(4)(x).shape() == Shape{2, 3, 2000});
  CHECK(nn::AdaptiveAvgPool1d(1)(x).shape() == Shape{2, 3, 1});
  CHECK(nn::AvgPool1d(3, {.stride = 2, .padding = 1})(x).shape() == Shape{2, 3, 4000});
  CHECK_THROWS_WITH_AS(nn::MaxPool1d(4, {.padding = 3}),
                       doctest::Contains("padding should be at most half of kernel size, but got padding=3 and kernel_size=4"),
                       Error);
  CHECK_THROWS_AS(nn::MaxPool1d(0), Error);
  CHECK_THROWS_AS(nn::AvgPool1d(3, {.padding = 2}), Error);
  CHECK_THROWS_AS(nn::AdaptiveAvgPool1d(0), Error);
  CHECK_THROWS_WITH_AS(nn::MaxPool1d(5)(randn({1, 1, 3})), doctest::Contains("too short"), Error);
  CHECK_THROWS_WITH_AS(nn::MaxPool1d(2)(randn({5})), doctest::Contains("expected a 2-D (C, L) or 3-D (N, C, L) input"),
                       Error);
}

namespace {

// PyTorch's max_pool1d window: the first largest element, or the window's last NaN; -1 if empty.
std::int64_t reference_max_position(const std::vector<double>& row, std::int64_t start, std::int64_t kernel,
                                    std::int64_t dilation) {
  std::int64_t best = -1;
  for (std::int64_t j = 0; j < kernel; ++j) {
    const std::int64_t pos = start + j * dilation;
    if (pos < 0 || pos >= static_cast<std::int64_t>(row.size())) continue;
    if (best < 0 || row[pos] > row[best] || std::isnan(row[pos])) best = pos;
  }
  return best;
}

bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

}  // namespace

TEST_CASE("max_pool1d: NaN and infinities pick the element PyTorch picks") {
  // Windows of MaxPool1d(4) and what PyTorch 1.13 returns (value, index), from /usr/bin/python3
  // torch.nn.functional.max_pool1d(x, 4, return_indices=True).
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<double> windows = {1, nan, 2, nan, nan, 5, nan, 1, inf, -inf, 1, 2, -inf, -inf, -inf, -inf, 0.0, -0.0, 0.0, 1};
  const std::vector<double> expected_value = {nan, nan, inf, -inf, 1};
  const std::vector<std::int64_t> expected_index = {3, 6, 8, 12, 19};
  for (Dtype dtype : {kFloat32, kFloat64}) {
    CAPTURE(dtype);
    Tensor x = reshape(testing::from_values(windows, false, dtype), {1, 1, 20}).detach().requires_grad_(true);
    Tensor y = nn::MaxPool1d(4)(x);
    y.sum().backward();
    const std::vector<double> value = testing::values(y), grad = testing::values(x.grad());
    for (std::size_t o = 0; o < expected_value.size(); ++o) {
      CAPTURE(o);
      CHECK(same_value(value[o], expected_value[o]));
      for (std::int64_t i = 0; i < 4; ++i) CHECK(grad[4 * o + i] == (4 * std::int64_t(o) + i == expected_index[o] ? 1.0 : 0.0));
    }
  }
}

TEST_CASE("max_pool1d: long rows with planted NaN and infinities match the reference on every path") {
  // Kernel 2, 3 and 4 with their default stride run windows inside the row a block at a time
  // (vectorized); others, padding, dilation and ceil_mode's last windows go one at a time.
  struct Case {
    std::int64_t kernel, stride, padding, dilation;
    bool ceil_mode;
  };
  const Case cases[] = {{2, 2, 0, 1, false}, {3, 3, 1, 1, true}, {4, 4, 0, 1, false}, {4, 4, 2, 1, true},
                        {5, 5, 0, 1, false}, {4, 2, 1, 1, false}, {3, 3, 1, 2, true}};
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::uniform_int_distribution<int> pick(0, 99);
  const double special[] = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                            -std::numeric_limits<double>::infinity(), 0.0};
  for (const Case& c : cases)
    for (Dtype dtype : {kFloat32, kFloat64}) {
      CAPTURE(c.kernel);
      CAPTURE(c.stride);
      CAPTURE(c.padding);
      CAPTURE(c.dilation);
      CAPTURE(dtype);
      const std::int64_t rows = 3, length = 1203;  // > 256 windows per row, and a ragged end
      std::vector<double> data(static_cast<std::size_t>(rows * length));
      for (double& v : data) v = pick(rng) < 3 ? special[pick(rng) % 4] : std::round(uniform(rng) * 8) / 8;  // ties too
      Tensor x = reshape(testing::from_values(data, false, dtype), {1, rows, length}).detach().requires_grad_(true);
      Tensor y = nn::functional::max_pool1d(
          x, c.kernel, {.stride = c.stride, .padding = c.padding, .dilation = c.dilation, .ceil_mode = c.ceil_mode});
      y.sum().backward();
      const std::vector<double> value = testing::values(y), grad = testing::values(x.grad());
      const std::int64_t out_length = y.size(2);
      std::vector<double> expected_grad(data.size(), 0.0);
      int mismatches = 0;
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::vector<double> row(data.begin() + r * length, data.begin() + (r + 1) * length);
        for (std::int64_t o = 0; o < out_length; ++o) {
          const std::int64_t best = reference_max_position(row, o * c.stride - c.padding, c.kernel, c.dilation);
          REQUIRE(best >= 0);
          const double expected = dtype == kFloat32 ? double(float(row[best])) : row[best];
          mismatches += !same_value(value[r * out_length + o], expected);
          expected_grad[r * length + best] += 1.0;
        }
      }
      CHECK(mismatches == 0);
      CHECK(grad == expected_grad);
    }
}
