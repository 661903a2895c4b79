// PyTorch parity: tests/fixtures/generate.py saved inputs, forward values and
// gradients (of out.sum()) of composite expressions, in float64 and float32.
// Here xgrad recomputes them from the same inputs and must agree to round-off.
#include <doctest/doctest.h>

#include <map>

#include "support/testing.hpp"

using namespace xgrad;

namespace {

using Inputs = std::map<std::string, Tensor>;
using Expression = std::function<Tensor(Inputs&)>;

// The same expressions as generate.py, written with xgrad's API.
Tensor mlp(Inputs& in) {
  Tensor hidden = (matmul(in["x"], in["w1"]) + in["b1"]).tanh();
  return matmul(hidden, in["w2"]).pow(2.0).mean({1});
}

Tensor softmax_chain(Inputs& in) {
  Tensor x = in["x"];
  Tensor shifted = x - std::get<0>(x.max(1, true));
  Tensor e = shifted.exp();
  Tensor p = e / e.sum({1}, true);
  return -(p.log() * in["w"]).sum({1});
}

Tensor reduction_mix(Inputs& in) {
  Tensor x = in["x"];
  Tensor a = x.sum({0, 2});
  Tensor b = x.mean({1}, true);
  Tensor c = std::get<0>(x.max(2));
  return a.pow(2.0).sum() + (b * x).sum() + (c * c).mean() + x.sigmoid().mean() - (x * x + 1.0).sqrt().sum();
}

Tensor pad_cat_slice(Inputs& in) {
  Tensor x = in["x"], y = in["y"];
  Tensor p = pad(x, {1, 2});
  Tensor q = cat({p, y}, 1);
  Tensor s = q.slice(1, 1, 10, 3);
  Tensor crop = pad(x, {-1, -1}, 0.0);
  return s * crop + q.relu().sum({1}, true) / q.transpose(0, 1).reshape({2, 11}).exp().sum({1}, true);
}

Tensor broadcast_mix(Inputs& in) {
  Tensor a = in["a"], b = in["b"], c = in["c"];
  return maximum(a * b, c) - clamp(minimum(a - c, b / 2.0), -0.5, 0.5) + a / (b * b + 1.0);
}

struct ParityCase {
  std::string name;
  std::vector<std::string> inputs;
  Expression fn;
};

void check_parity(const ParityCase& c, const std::string& dtype_tag) {
  const std::string prefix = "core/" + c.name + "_" + dtype_tag;
  Inputs in;
  for (const std::string& name : c.inputs) {
    in[name] = testing::load_fixture(prefix + "_in_" + name);
    in[name].requires_grad_(true);
  }
  const Tensor expected = testing::load_fixture(prefix + "_out");
  const Dtype dtype = expected.dtype();
  CHECK(dtype == (dtype_tag == "f64" ? kFloat64 : kFloat32));
  const double rtol = testing::parity_rtol(dtype), atol = testing::parity_atol(dtype);
  Tensor out = c.fn(in);
  CHECK_CLOSE(out, expected, rtol, atol);
  out.sum().backward();
  for (const std::string& name : c.inputs) {
    CAPTURE(name);
    CHECK_CLOSE(in[name].grad(), testing::load_fixture(prefix + "_grad_" + name), rtol, atol);
  }
}

const std::vector<ParityCase>& cases() {
  static const std::vector<ParityCase> all = {
      {"mlp", {"x", "w1", "b1", "w2"}, mlp},
      {"softmax", {"x", "w"}, softmax_chain},
      {"reduction", {"x"}, reduction_mix},
      {"pad_cat_slice", {"x", "y"}, pad_cat_slice},
      {"broadcast", {"a", "b", "c"}, broadcast_mix},
  };
  return all;
}

}  // namespace

TEST_CASE("parity with PyTorch: composite expressions, float64") {
  for (const ParityCase& c : cases()) {
    CAPTURE(c.name);
    check_parity(c, "f64");
  }
}

TEST_CASE("parity with PyTorch: composite expressions, float32") {
  for (const ParityCase& c : cases()) {
    CAPTURE(c.name);
    check_parity(c, "f32");
  }
}
