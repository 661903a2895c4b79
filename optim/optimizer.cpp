#include "optim/optimizer.hpp"

#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
#include "core/file_io.hpp"
#include "core/serialization/tensor_file.hpp"

namespace xgrad::optim {

Optimizer::Optimizer(std::vector<Tensor> params, std::string name) : params_(std::move(params)), name_(std::move(name)) {
  XGRAD_CHECK(!params_.empty(), "{}: optimizer got an empty parameter list", name_);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    XGRAD_CHECK(params_[i].defined(), "{}: parameter {} is an undefined tensor", name_, i);
    XGRAD_CHECK(params_[i].is_leaf(),
                "{}: can't optimize a non-leaf tensor (parameter {}, shape {}, made by {}); pass leaves such as "
                "model.parameters()",
                name_, i, params_[i].shape(), params_[i].grad_fn_name());
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  autograd::zero_grad(params_, set_to_none);
}

void Optimizer::save(const std::string& path) const { xgrad::save_tensors(path, state_dict(), name_ + "::save"); }

void Optimizer::load(const std::string& path) {
  const std::string op = name_ + "::load";
  with_file_errors(op, path, [&] {
    const nn::StateDict state = xgrad::load_tensors(path, op);
    try {
      load_state_dict(state);
    } catch (const Error& error) {
      fail("{}: '{}': {}", op, path, error.what());
    }
  });
}

}  // namespace xgrad::optim
