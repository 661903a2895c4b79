// The flagship's network, M5, shared by keyword_spotting and graph_picture. Only xgrad is needed.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <xgrad.hpp>

namespace kws {

constexpr std::int64_t kM5Classes = 10;  // the spoken digits "zero" to "nine"

// M5 (Dai et al., 2017, "Very deep convolutional neural networks for raw waveforms"): a wide first
// convolution with a large stride acts as a learned filter bank; each block then sees 4x longer
// stretches of time. (N, 1, 8000) -> (N, 10) logits; lengths for 1 s at 8 kHz in the comments.
struct M5Block {
  std::int64_t in, out, kernel, stride;
};
inline std::vector<M5Block> m5_blocks(std::int64_t width) {
  return {{1, width, 80, 4},              // (N, w, 1981) -> pool (N, w, 495): 10 ms windows, 0.5 ms hop
          {width, width, 3, 1},           // (N, w, 493)  -> (N, w, 123)
          {width, 2 * width, 3, 1},       // (N, 2w, 121) -> (N, 2w, 30)
          {2 * width, 2 * width, 3, 1}};  // (N, 2w, 28)  -> (N, 2w, 7)
}

inline std::shared_ptr<xgrad::nn::Sequential> make_m5(std::int64_t width) {
  auto model = std::make_shared<xgrad::nn::Sequential>();
  for (const M5Block& b : m5_blocks(width)) {
    model->push_back(std::make_shared<xgrad::nn::Conv1d>(b.in, b.out, b.kernel, xgrad::nn::Conv1dOptions{.stride = b.stride}));
    model->push_back(std::make_shared<xgrad::nn::BatchNorm1d>(b.out));
    model->push_back(std::make_shared<xgrad::nn::ReLU>());
    model->push_back(std::make_shared<xgrad::nn::MaxPool1d>(4));
  }
  model->push_back(std::make_shared<xgrad::nn::AdaptiveAvgPool1d>(1));  // (N, 2w, 1): the whole second
  model->push_back(std::make_shared<xgrad::nn::Flatten>());
  model->push_back(std::make_shared<xgrad::nn::Linear>(2 * width, kM5Classes));
  return model;
}

}  // namespace kws
