// fir_filter: a Conv1d layer *is* an FIR filter, and gradient descent on the mean squared error
// recovers a filter's taps from nothing but signals that went in and came out of it.
//
// A known 9-tap filter (an asymmetric band-pass impulse response h) filters white noise; a single
// Conv1d(1, 1, 9, bias=false) starts from random taps and learns them from (input, output) pairs.
// conv1d is a cross-correlation, y[n] = sum_k w[k] x[n + k], as in PyTorch, so the weight it
// learns is h reversed. Target: every learned tap within 1e-3 of the true one.
//
//   fir_filter [--epochs 20] [--signals 256] [--noise 0.01] [--out-dir out/fir_filter]
#include <CLI/CLI.hpp>
#include <xgrad.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "common/cli.hpp"
#include "common/metrics_csv.hpp"
#include "common/plot.hpp"
#include "common/progress.hpp"

using namespace xgrad;
namespace ex = xgrad_examples;

int run(int argc, char** argv) {
  CLI::App app{"Learns a known FIR filter's taps with a single Conv1d."};
  int epochs = 20, signals = 256, length = 256, batch_size = 32;
  double lr = 0.05, noise = 0.01, max_error_target = 1e-3;
  std::string out_dir = "out/fir_filter";
  app.add_option("--epochs", epochs, "Passes over the training signals")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--signals", signals, "Training signals (another quarter as many are held out)")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--length", length, "Samples per input signal (at least the filter's 9 taps)")->capture_default_str()->check(CLI::Range(9, 1 << 20));
  app.add_option("--batch-size", batch_size)->capture_default_str()->check(CLI::Range(1, 1 << 16));
  app.add_option("--lr", lr, "SGD learning rate (momentum 0.9, cosine schedule)")->capture_default_str()->check(ex::finite_in(1e-12, 1e6));
  app.add_option("--noise", noise, "Std of the measurement noise added to the filter's output")->capture_default_str()->check(ex::finite_in(0, 1e6));
  app.add_option("--max-error", max_error_target, "Target: largest |learned - true| tap")->capture_default_str()->check(ex::finite_in(0, 1e6));
  app.add_option("--out-dir", out_dir, "Where metrics.csv and curves.png go")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  manual_seed(0);

  // The filter to discover: a decaying, asymmetric band-pass impulse response h[0..8].
  const std::vector<float> h = {0.40f, 0.25f, -0.30f, -0.20f, 0.15f, 0.10f, -0.05f, -0.03f, 0.01f};
  const auto taps = static_cast<int64_t>(h.size());
  Tensor true_weight = empty({1, 1, taps});  // (C_out, C_in, K): h reversed, since conv1d correlates
  std::reverse_copy(h.begin(), h.end(), true_weight.data_ptr<float>());

  // Data: white noise in, filtered noise (plus a little measurement noise) out. "valid" padding,
  // so every output sample sees a full window: (N, 1, L) -> (N, 1, L - 8).
  auto make_signals = [&](int64_t count) {
    Tensor x = randn({count, 1, length});
    NoGradGuard no_grad;
    Tensor y = nn::functional::conv1d(x, true_weight);
    return std::pair{x, y + randn(y.shape()) * noise};
  };
  auto [train_x, train_y] = make_signals(signals);
  auto [test_x, test_y] = make_signals(std::max(1, signals / 4));

  nn::Conv1d filter(1, 1, taps, {.bias = false});
  nn::MSELoss criterion;
  optim::SGD optimizer(filter.parameters(), {.lr = lr, .momentum = 0.9});
  optim::CosineAnnealingLR scheduler(optimizer, epochs);
  auto max_tap_error = [&] {
    NoGradGuard no_grad;
    auto [largest, index] = (filter.weight - true_weight).abs().flatten().max(0);
    return largest.item<float>();
  };
  fmt::print("{}: learning {} taps from {} signals of {} samples\n", filter, taps, signals, length);

  std::filesystem::create_directories(out_dir);
  ex::MetricsCsv csv(out_dir + "/metrics.csv", {"epoch", "train_loss", "test_loss", "max_tap_error"});
  data::DataLoader loader(data::TensorDataset({train_x, train_y}), {.batch_size = batch_size});  // in order
  const int64_t steps = loader.size();
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    ex::ProgressBar bar(steps, fmt::format("epoch {}/{}", epoch, epochs));
    double loss_sum = 0;
    int64_t step = 0, seen = 0;
    for (data::Batch& batch : loader) {
      Tensor loss = criterion(filter(batch[0]), batch[1]);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<float>();
      seen += batch[0].size(0);
      bar.update(++step, {{"loss", loss_sum / double(step)}}, seen);
    }
    scheduler.step();
    bar.finish();
    NoGradGuard no_grad;
    double test_loss = criterion(filter(test_x), test_y).item<float>();
    csv.row({double(epoch), loss_sum / double(steps), test_loss, max_tap_error()});
  }

  float error = max_tap_error();
  fmt::print("\n tap   true (h reversed)   learned\n");
  const float* learned = filter.weight.data_ptr<float>();
  for (int64_t k = 0; k < taps; ++k) {
    fmt::print("{:>4}   {:>17.5f}   {:>7.5f}\n", k, true_weight.data_ptr<float>()[k], learned[k]);
  }
  ex::plot_curves(csv.path(), out_dir + "/curves.png", "fir_filter: learning a 9-tap FIR filter",
                  {"train_loss", "test_loss", "max_tap_error"}, /*log_scale=*/true);
  bool ok = error < max_error_target;
  fmt::print("max |learned - true| tap error {:.2e}: {} the target < {:.0e}\n", error, ok ? "meets" : "MISSES",
             max_error_target);
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    fmt::print(stderr, "fir_filter: {}\n", error.what());
    return 2;
  }
}
