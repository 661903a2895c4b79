// The Conv1d test grid, read from tests/fixtures/conv1d/cases.txt (written by
// tests/fixtures/generate_conv1d.py together with PyTorch's results). The parity
// and gradcheck tests both walk this one table.
#pragma once

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/io.hpp"
#include "ops/ops.hpp"
#include "nn/conv1d.hpp"
#include "nn/functional.hpp"

namespace conv1d_cases {

using namespace xgrad;

struct Case {
  std::string name;
  std::int64_t batch = 0;  // 0: unbatched input (C_in, L)
  std::int64_t in_channels = 0, out_channels = 0, length = 0, kernel_size = 0, stride = 1;
  std::string padding;  // an integer, "same" or "valid"
  std::int64_t dilation = 1, groups = 1;
  bool bias = true;
  std::string padding_mode;

  nn::Padding padding_option() const {
    if (padding == "same" || padding == "valid") return nn::Padding(padding);
    return nn::Padding(std::stoll(padding));
  }
  nn::Conv1dOptions module_options(Dtype dtype) const {
    return {.stride = stride, .padding = padding_option(), .dilation = dilation, .groups = groups, .bias = bias,
            .padding_mode = padding_mode, .dtype = dtype};
  }
  // The explicit (left, right) padding, computed here from the documented rule
  // (independently of the library): "same" pads d(k-1) in total, the odd one on the right.
  std::pair<std::int64_t, std::int64_t> explicit_padding() const {
    if (padding == "valid") return {0, 0};
    if (padding == "same") {
      const std::int64_t total = dilation * (kernel_size - 1);
      return {total / 2, total - total / 2};
    }
    return {std::stoll(padding), std::stoll(padding)};
  }
  // The same convolution as the module, written with the functional API.
  Tensor functional(const Tensor& input, const Tensor& weight, const Tensor& bias_tensor) const {
    if (padding_mode == "zeros") {
      return nn::functional::conv1d(input, weight, bias_tensor,
                                    {.stride = stride, .padding = padding_option(), .dilation = dilation, .groups = groups});
    }
    const auto [left, right] = explicit_padding();
    return nn::functional::conv1d(nn::functional::pad1d(input, left, right, padding_mode), weight, bias_tensor,
                                  {.stride = stride, .padding = 0, .dilation = dilation, .groups = groups});
  }
  Shape input_shape() const {
    return batch == 0 ? Shape{in_channels, length} : Shape{batch, in_channels, length};
  }
};

inline std::string fixtures_dir() { return std::string(XGRAD_FIXTURES_DIR) + "/conv1d"; }

inline std::vector<Case> load_cases() {
  std::ifstream file(fixtures_dir() + "/cases.txt");
  if (!file) throw std::runtime_error("cannot open " + fixtures_dir() + "/cases.txt; run tests/fixtures/generate_conv1d.py");
  std::vector<Case> cases;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    Case c;
    int bias = 1;
    in >> c.name >> c.batch >> c.in_channels >> c.out_channels >> c.length >> c.kernel_size >> c.stride >> c.padding >>
        c.dilation >> c.groups >> bias >> c.padding_mode;
    if (!in) throw std::runtime_error("malformed line in cases.txt: " + line);
    c.bias = bias != 0;
    cases.push_back(c);
  }
  return cases;
}

// tests/fixtures/conv1d/<case>.<f32|f64>.<tensor>.npy
inline Tensor load_fixture(const Case& c, Dtype dtype, const std::string& tensor) {
  return load_npy(fixtures_dir() + "/" + c.name + (dtype == kFloat32 ? ".f32." : ".f64.") + tensor + ".npy");
}

// Largest |actual - expected| and the largest |expected| (the scale errors are judged against).
struct Difference {
  double max_error = 0, scale = 0;
};
inline Difference difference(const Tensor& actual, const Tensor& expected) {
  Difference d;
  if (actual.shape() != expected.shape()) {
    d.max_error = INFINITY;
    return d;
  }
  const Tensor a = actual.detach().to(kFloat64), e = expected.detach().to(kFloat64);
  const double* av = a.data_ptr<double>();
  const double* ev = e.data_ptr<double>();
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double error = std::abs(av[i] - ev[i]);
    d.max_error = std::isnan(error) ? INFINITY : std::max(d.max_error, error);
    d.scale = std::max(d.scale, std::abs(ev[i]));
  }
  return d;
}

}  // namespace conv1d_cases
