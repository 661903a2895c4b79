// The seed example: the reference page's nn.Conv1d example in C++. It teaches the
// smallest complete use of a layer: build it with options, run it, print it.
//
//   >>> m = nn.Conv1d(16, 33, 3, stride=2)
//   >>> output = m(input)          # input (20, 16, 50) -> output (20, 33, 24)
#include <xgrad.hpp>

using namespace xgrad;

int main() {
  manual_seed(0);
  Tensor input = randn({20, 16, 50});      // (N, C_in, L), float32 on "cpu"
  nn::Conv1d m(16, 33, 3, {.stride = 2});  // nn.Conv1d(16, 33, 3, stride=2)
  Tensor output = m(input);                // (20, 33, 24): L_out = floor((50 - 2 - 1) / 2 + 1)
  fmt::print("{}\n", m);                   // Conv1d(16, 33, kernel_size=(3,), stride=(2,))
  fmt::print("output shape: {}\n", output.shape());
}
