// The smallest real xgrad program: the umbrella header, a graph, backward,
// xtensor interop and printing. Exits non-zero when a result is wrong.
#include <xgrad.hpp>

using namespace xgrad;

int main() {
  manual_seed(0);
  Tensor w = randn({3, 2}, {.requires_grad = true});
  Tensor x = from_xarray(xt::xarray<float>{{1, 2, 3}});
  Tensor loss = matmul(x, w).tanh().sum();
  loss.backward();
  fmt::print("loss = {}\ngrad = {}\n", loss, w.grad());
  const bool ok = w.grad().defined() && w.grad().shape() == Shape{3, 2} && loss.grad_fn_name() == "SumBackward" &&
                  from_xarray(xt::xarray<double>{1.5}).to_xarray<double>()(0) == 1.5;
  return ok ? 0 : 1;
}
