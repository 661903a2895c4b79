// custom_op: a differentiable op of your own, outside the library, through <xgrad.hpp> alone.
//
// softplus(x) = log(1 + e^x) is written the way xgrad writes its own ops: the forward computed
// without recording, then autograd::record with the backward right below it. The tensors the
// backward needs are saved as autograd::SavedTensor, so changing one in place before backward is
// a clear error rather than a wrong gradient; the backward uses xgrad ops, so the op has second
// derivatives too. The program checks both with gradcheck and gradgradcheck, then trains a small
// Conv1d model that uses softplus as its activation. Target: both checks pass and the loss falls
// below a tenth of its start.
#include <xgrad.hpp>

#include <cstdlib>

using namespace xgrad;

// softplus(x) = log(1 + e^x), a smooth relu. Stable for large |x|: max(x, 0) + log(1 + e^-|x|).
Tensor softplus(const Tensor& x) {
  Tensor y = [&] {
    NoGradGuard no_grad;  // only the op's own node is recorded, not the ops inside it
    return x.relu() + ((-x.abs()).exp() + 1.0).log();
  }();
  return autograd::record("SoftplusBackward", y, {x},
                          [x = autograd::SavedTensor(x)](const Tensor& grad, const autograd::NeedsGrad&) {
                            // d/dx log(1 + e^x) = e^x / (1 + e^x) = sigmoid(x)
                            return std::vector<Tensor>{grad * x.get().sigmoid()};
                          });
}

struct SoftplusNet : nn::Module {
  std::shared_ptr<nn::Conv1d> conv1 = register_module("conv1", std::make_shared<nn::Conv1d>(1, 8, 5, nn::Conv1dOptions{.padding = "same"}));
  std::shared_ptr<nn::Conv1d> conv2 = register_module("conv2", std::make_shared<nn::Conv1d>(8, 1, 5, nn::Conv1dOptions{.padding = "same"}));
  Tensor forward(const Tensor& x) override { return conv2->forward(softplus(conv1->forward(x))); }
  std::string type_name() const override { return "SoftplusNet"; }
};

int main() {
  manual_seed(0);

  // 1. Its first and second derivatives against finite differences (float64).
  Tensor probe = randn({2, 5}, {.dtype = kFloat64, .requires_grad = true}) * 3.0;
  auto fn = [](const std::vector<Tensor>& in) { return softplus(in[0]); };
  const auto first = autograd::gradcheck(fn, {probe.detach().requires_grad_()});
  const auto second = autograd::gradgradcheck(fn, {probe.detach().requires_grad_()});
  fmt::print("{}\n{}\n", first.message, second.message);

  // 2. Used in a model: learn a smoothed, rectified copy of the signal.
  SoftplusNet model;
  optim::SGD optimizer(model.parameters(), {.lr = 0.05, .momentum = 0.9});
  Tensor signal = randn({16, 1, 64});
  Tensor target = softplus(signal).detach();
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 300; ++step) {
    optimizer.zero_grad();
    Tensor loss = nn::functional::mse_loss(model(signal), target);
    loss.backward();
    optimizer.step();
    if (step == 0) first_loss = loss.item<double>();
    last_loss = loss.item<double>();
  }
  fmt::print("loss {:.4g} -> {:.4g}; the graph's last op: {}\n", first_loss, last_loss,
             nn::functional::mse_loss(model(signal), target).grad_fn_name());

  const bool met = first.passed && second.passed && last_loss < 0.1 * first_loss;
  fmt::print("{}\n", met ? "custom_op: meets the target" : "custom_op: missed the target");
  return met ? EXIT_SUCCESS : EXIT_FAILURE;
}
