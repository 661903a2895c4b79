// The op table (minitorch's way): one row per differentiable op, core ops and nn functional ops.
// A row says how to differentiate the op (gradcheck cases: function, input shapes, input domain),
// what it makes of NaN and Inf, and how misusing it fails. The gradcheck, gradgradcheck, NaN and
// misuse tests (tests/test_op_table.cpp) all read it, so adding an op is adding one row here.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <xgrad.hpp>

#include "support/testing.hpp"

namespace xgrad::testing {

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

// One call of the op to differentiate: gradcheck and gradgradcheck evaluate `fn` at float64 inputs
// drawn from `domain` (one per shape, from a fixed seed).
struct GradCase {
  std::string name;                        // the configuration, shown on failure, e.g. "broadcast both"
  OpFn fn;                                 // the op under test (it may compose others around it)
  std::vector<Shape> shapes;               // one input per shape
  Domain domain = {};                      // where every input is drawn from
  std::vector<std::size_t> constant = {};  // inputs that do not require grad
};

// NaN and Inf in: `fn` maps x = [NaN, Inf, -Inf, 0.5, -2, 3] (float32 and float64, requires grad)
// to the op's result, and its backward must run. Without `expected`, the result has x's shape,
// result[0] is NaN (never a silent number) and result[3] stays finite.
struct NanProbe {
  std::string name;
  std::function<Tensor(const Tensor&)> fn;
  std::vector<double> expected = {};  // the exact result, NaN where NaN must come out
};

struct OpRow {
  std::string op;               // the public name, as declared (a Tensor member when it has no free function)
  std::vector<GradCase> grad = {};  // the plain call first, then each option or broadcast with its own backward
  std::vector<NanProbe> nan = {};   // NaN propagates: the probes that show it
  // NaN behaviour that is a rule of its own (which outputs turn NaN), checked by a callable with
  // doctest CHECKs; used when a probe cannot say it.
  std::function<void()> nan_rule = {};
  std::vector<Misuse> misuses = {};
};

// Every row; built once.
const std::vector<OpRow>& op_table();

// x = [NaN, Inf, -Inf, 0.5, -2, 3] as `dtype`, a leaf that requires grad: the NaN probes' input.
Tensor special_values(Dtype dtype);

}  // namespace xgrad::testing
