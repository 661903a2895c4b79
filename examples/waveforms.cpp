// waveforms: the whole supervised training loop for 1-D signals in one page — a data set,
// shuffled mini-batches from a data::DataLoader, a small Conv1d network with BatchNorm, cross-entropy, SGD with momentum,
// train() / eval() modes, and a held-out accuracy.
//
// Each signal is a sine, square, sawtooth or triangle wave with a random frequency, phase and
// amplitude, buried in Gaussian noise. Stacked convolutions learn the shapes' local features
// (edges, ramps, corners) and global average pooling makes the answer independent of where in
// the window they occur. Target: >= 98% accuracy on test signals never seen in training.
//
//   waveforms [--epochs 10] [--train-size 4000] [--out-dir out/waveforms]
#include <CLI/CLI.hpp>
#include <xgrad.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <random>

#include "common/cli.hpp"
#include "common/metrics_csv.hpp"
#include "common/plot.hpp"
#include "common/progress.hpp"

using namespace xgrad;
namespace ex = xgrad_examples;

constexpr int64_t kLength = 256;  // samples per signal
const std::vector<std::string> kClasses = {"sine", "square", "sawtooth", "triangle"};

// `count` signals, classes in turn: 4 to 16 periods per window, amplitude 0.5 to 1.5, noise std
// 0.05 to 0.3 (an SNR from about 2 to 30 dB). Samples: {signal (1, kLength) float32, class (int64)}.
data::TensorDataset make_waveforms(int64_t count, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> periods(4.0, 16.0), phase(0.0, 1.0), amplitude(0.5, 1.5), noise_std(0.05, 0.3);
  std::normal_distribution<double> gaussian(0.0, 1.0);
  Tensor signals = empty({count, 1, kLength}), labels = empty({count}, {.dtype = kInt64});
  for (int64_t i = 0; i < count; ++i) {
    int64_t label = i % int64_t(kClasses.size());
    double f = periods(rng) / kLength, p = phase(rng), a = amplitude(rng), sigma = noise_std(rng);
    for (int64_t t = 0; t < kLength; ++t) {
      double cycle = f * double(t) + p, frac = cycle - std::floor(cycle);  // position in the period, [0, 1)
      double saw = 2 * frac - 1;
      double clean = label == 0 ? std::sin(2 * std::numbers::pi * cycle)
                   : label == 1 ? (frac < 0.5 ? 1.0 : -1.0)
                   : label == 2 ? saw
                                : 2 * std::abs(saw) - 1;
      signals.data_ptr<float>()[i * kLength + t] = float(a * clean + sigma * gaussian(rng));
    }
    labels.data_ptr<int64_t>()[i] = label;
  }
  return data::TensorDataset({signals, labels});
}

// Conv -> BatchNorm -> ReLU blocks, halving the length between them; then one vector per signal.
std::shared_ptr<nn::Sequential> make_model(int64_t width) {
  auto block = [](int64_t in, int64_t out) {
    return std::vector<std::shared_ptr<nn::Module>>{std::make_shared<nn::Conv1d>(in, out, 9, nn::Conv1dOptions{.padding = 4}),
                                                    std::make_shared<nn::BatchNorm1d>(out), std::make_shared<nn::ReLU>()};
  };
  auto model = std::make_shared<nn::Sequential>();
  for (auto& m : block(1, width)) model->push_back(m);                 // (N, 1, 256) -> (N, w, 256)
  model->push_back(std::make_shared<nn::MaxPool1d>(2));               // -> (N, w, 128)
  for (auto& m : block(width, 2 * width)) model->push_back(m);        // -> (N, 2w, 128)
  model->push_back(std::make_shared<nn::MaxPool1d>(2));               // -> (N, 2w, 64)
  for (auto& m : block(2 * width, 2 * width)) model->push_back(m);    // -> (N, 2w, 64)
  model->push_back(std::make_shared<nn::AdaptiveAvgPool1d>(1));       // -> (N, 2w, 1)
  model->push_back(std::make_shared<nn::Flatten>());                  // -> (N, 2w)
  model->push_back(std::make_shared<nn::Linear>(2 * width, int64_t(kClasses.size())));  // -> (N, 4) logits
  return model;
}

// Fraction of `data` the model classifies correctly (eval mode, no graph).
double accuracy(nn::Module& model, const data::TensorDataset& data) {
  NoGradGuard no_grad;
  model.eval();
  int64_t correct = 0;
  for (data::Batch& batch : data::DataLoader(data, {.batch_size = 256})) {
    auto [best, predicted] = model(batch[0]).max(1);
    correct += (predicted == batch[1]).sum().item<int64_t>();
  }
  model.train();
  return double(correct) / double(data.size());
}

int run(int argc, char** argv) {
  CLI::App app{"Classifies noisy sine / square / sawtooth / triangle waves with a small Conv1d network."};
  int epochs = 10, width = 16;
  int64_t train_size = 4000, test_size = 2000, batch_size = 32;
  double lr = 0.05, target = 0.98;
  std::string out_dir = "out/waveforms";
  app.add_option("--epochs", epochs)->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--train-size", train_size, "Training signals")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--test-size", test_size, "Held-out test signals")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--batch-size", batch_size)->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  app.add_option("--width", width, "Channels of the first convolution (the others have twice as many)")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--lr", lr, "SGD learning rate (momentum 0.9, cosine schedule)")->capture_default_str()->check(ex::finite_in(1e-12, 1e6));
  app.add_option("--min-accuracy", target, "Target test accuracy (the exit status says if it was met)")->capture_default_str()->check(ex::finite_in(0, 1));
  app.add_option("--out-dir", out_dir, "Where metrics.csv and curves.png go")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  manual_seed(0);                // parameter init
  std::mt19937_64 rng(0);        // data and shuffling

  data::TensorDataset train = make_waveforms(train_size, rng), test = make_waveforms(test_size, rng);
  auto model = make_model(width);
  fmt::print("{}\n{} training and {} test signals of {} samples\n", *model, train.size(), test.size(), kLength);

  nn::CrossEntropyLoss criterion;
  optim::SGD optimizer(model->parameters(), {.lr = lr, .momentum = 0.9, .weight_decay = 1e-4});
  optim::CosineAnnealingLR scheduler(optimizer, epochs);
  std::filesystem::create_directories(out_dir);
  ex::MetricsCsv csv(out_dir + "/metrics.csv", {"epoch", "train_loss", "train_acc", "test_acc"});

  // A new shuffle every epoch, from the loader's own seeded generator.
  data::DataLoader loader(train, {.batch_size = batch_size, .shuffle = true, .seed = 0});
  double test_accuracy = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    ex::ProgressBar bar(loader.size(), fmt::format("epoch {}/{}", epoch, epochs));
    double loss_sum = 0;
    int64_t correct = 0, seen = 0, step = 0;
    for (data::Batch& batch : loader) {
      const Tensor &x = batch[0], &y = batch[1];  // (count, 1, kLength) float32, (count) int64
      const int64_t count = x.size(0);
      Tensor logits = (*model)(x);
      Tensor loss = criterion(logits, y);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();

      auto [best, predicted] = logits.detach().max(1);
      correct += (predicted == y).sum().item<int64_t>();
      loss_sum += loss.item<float>() * double(count);
      seen += count;
      bar.update(++step, {{"loss", loss_sum / double(seen)}, {"acc", double(correct) / double(seen)}}, seen);
    }
    scheduler.step();
    bar.finish();
    test_accuracy = accuracy(*model, test);
    fmt::print("epoch {}/{}: train loss {:.4f}, train accuracy {:.2f}%, test accuracy {:.2f}%\n", epoch, epochs,
               loss_sum / double(seen), 100.0 * double(correct) / double(seen), 100 * test_accuracy);
    csv.row({double(epoch), loss_sum / double(seen), double(correct) / double(seen), test_accuracy});
  }

  ex::plot_curves(csv.path(), out_dir + "/curves.png", "waveforms: noisy wave shapes, Conv1d classifier",
                  {"train_loss", "train_acc", "test_acc"});
  bool ok = test_accuracy >= target;
  fmt::print("test accuracy {:.2f}%: {} the target >= {:.2f}%\n", 100 * test_accuracy, ok ? "meets" : "MISSES", 100 * target);
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    fmt::print(stderr, "waveforms: {}\n", error.what());
    return 2;
  }
}
