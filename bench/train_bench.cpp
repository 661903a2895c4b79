// Framework-level benchmark: the same training step in xgrad and in LibTorch, in one process.
//
// Part "shapes": for each of the project's Conv1d shapes, an nn::Conv1d module forward (graph
// recorded) and a training step (zero_grad, forward, loss = y.sum(), loss.backward() through the
// autograd engine: input, weight and bias gradients) against torch::nn::Conv1d and torch autograd,
// so allocation, graph recording and dispatch are counted, not just the kernels.
// Part "flagship": training throughput of the M5-style keyword-spotting net (8000-sample clips,
// batch 64, cross_entropy, SGD momentum 0.9) in both frameworks.
//
// Both frameworks get the same weights, inputs and thread count; they alternate rep by rep; each
// cell is a median; their outputs and gradients are checked against each other. Medians are wall
// time; at 1 thread the process CPU time is reported too (robust against a shared machine).
// `--only xgrad|torch` runs only one framework's flagship steps and prints its peak RSS (VmHWM),
// which scripts/bench.sh uses to compare memory in separate processes.
//
// Usage: xgrad_train_bench [--part shapes|flagship|all] [--threads 12] [--seconds 0.5] [--filter NAME]
//                          [--only xgrad|torch] [--steps N]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"
#include "xgrad.hpp"

#ifdef XGRAD_BENCH_WITH_TORCH
#include <torch/torch.h>
#endif

namespace {

using xgrad::bench::alternate_medians;
using xgrad::bench::geomean;
using xgrad::bench::median;
using xgrad::bench::process_cpu_seconds;
using xgrad::bench::Timing;

namespace nn = xgrad::nn;
using xgrad::Tensor;

using xgrad::bench::Shape;
using xgrad::bench::shapes;

struct Options {
  std::string part = "all", filter, only, threads = "12";
  double seconds = 0.5;
  int steps = 20;
};

// Largest |a - b| over the largest |b|.
double relative_error(const float* a, const float* b, int64_t count) {
  double scale = 1e-30, worst = 0;
  for (int64_t i = 0; i < count; ++i) scale = std::max(scale, double(std::abs(b[i])));
  for (int64_t i = 0; i < count; ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
  return worst / scale;
}

std::vector<float> random_values(int64_t count, float low, float high, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& v : values) v = uniform(rng);
  return values;
}

Tensor xgrad_tensor(const std::vector<float>& values, const xgrad::Shape& shape) {
  Tensor t = xgrad::empty(shape);
  std::copy(values.begin(), values.end(), t.data_ptr<float>());
  return t;
}

// VmHWM or VmRSS of this process in MiB (from /proc/self/status).
double status_mib(const char* field) {
  FILE* file = std::fopen("/proc/self/status", "r");
  if (!file) return 0;
  char line[256];
  double kib = 0;
  while (std::fgets(line, sizeof line, file))
    if (std::strncmp(line, field, std::strlen(field)) == 0) kib = std::atof(line + std::strlen(field) + 1);
  std::fclose(file);
  return kib / 1024;
}

// ---------------------------------------------------------------- the flagship model

std::shared_ptr<nn::Sequential> xgrad_m5() {
  using std::make_shared;
  auto block = [](std::shared_ptr<nn::Sequential>& net, int64_t in, int64_t out, int64_t kernel, int64_t stride) {
    net->push_back(make_shared<nn::Conv1d>(in, out, kernel, nn::Conv1dOptions{.stride = stride}));
    net->push_back(make_shared<nn::BatchNorm1d>(out));
    net->push_back(make_shared<nn::ReLU>());
    net->push_back(make_shared<nn::MaxPool1d>(4));
  };
  auto net = make_shared<nn::Sequential>();
  block(net, 1, 32, 80, 4);
  block(net, 32, 32, 3, 1);
  block(net, 32, 64, 3, 1);
  block(net, 64, 64, 3, 1);
  net->push_back(make_shared<nn::AdaptiveAvgPool1d>(1));
  net->push_back(make_shared<nn::Flatten>());
  net->push_back(make_shared<nn::Linear>(64, 10));
  return net;
}

constexpr int64_t flagship_batch = 64, flagship_length = 8000, flagship_classes = 10;

struct XgradFlagship {
  std::shared_ptr<nn::Sequential> model = xgrad_m5();
  xgrad::optim::SGD optimizer{model->parameters(), {.lr = 0.01, .momentum = 0.9}};
  Tensor input, labels, loss;
  XgradFlagship(const std::vector<float>& x, const std::vector<float>& y)
      : input(xgrad_tensor(x, {flagship_batch, 1, flagship_length})), labels(xgrad_tensor(y, {flagship_batch}).to(xgrad::kInt64)) {}
  void step() {
    optimizer.zero_grad();
    loss = nn::functional::cross_entropy((*model)(input), labels);
    loss.backward();
    optimizer.step();
  }
};

#ifdef XGRAD_BENCH_WITH_TORCH
torch::nn::Sequential torch_m5() {
  torch::nn::Sequential net;
  auto block = [&](int64_t in, int64_t out, int64_t kernel, int64_t stride) {
    net->push_back(torch::nn::Conv1d(torch::nn::Conv1dOptions(in, out, kernel).stride(stride)));
    net->push_back(torch::nn::BatchNorm1d(out));
    net->push_back(torch::nn::ReLU());
    net->push_back(torch::nn::MaxPool1d(4));
  };
  block(1, 32, 80, 4);
  block(32, 32, 3, 1);
  block(32, 64, 3, 1);
  block(64, 64, 3, 1);
  net->push_back(torch::nn::AdaptiveAvgPool1d(1));
  net->push_back(torch::nn::Flatten());
  net->push_back(torch::nn::Linear(64, 10));
  return net;
}

struct TorchFlagship {
  torch::nn::Sequential model = torch_m5();
  torch::optim::SGD optimizer{model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9)};
  torch::Tensor input, labels, loss;
  TorchFlagship(const std::vector<float>& x, const std::vector<float>& y)
      : input(torch::from_blob(const_cast<float*>(x.data()), {flagship_batch, 1, flagship_length}).clone()),
        labels(torch::from_blob(const_cast<float*>(y.data()), {flagship_batch}).to(torch::kLong)) {}
  void step() {
    for (auto& parameter : model->parameters()) parameter.mutable_grad().reset();  // zero_grad(set_to_none), as xgrad's
    loss = torch::nn::functional::cross_entropy(model->forward(input), labels);
    loss.backward();
    optimizer.step();
  }
};

// Copies xgrad parameters into torch ones (same order and shapes), so both start equal.
void copy_parameters(const std::vector<Tensor>& from, const std::vector<torch::Tensor>& to) {
  torch::NoGradGuard no_grad;
  if (from.size() != to.size()) {
    std::fprintf(stderr, "parameter count differs: xgrad %zu, torch %zu\n", from.size(), to.size());
    std::exit(2);
  }
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i].numel() != to[i].numel()) {
      std::fprintf(stderr, "parameter %zu differs in size: xgrad %lld, torch %lld\n", i, (long long)from[i].numel(),
                   (long long)to[i].numel());
      std::exit(2);
    }
    to[i].copy_(torch::from_blob(const_cast<float*>(from[i].data_ptr<float>()), to[i].sizes()));
  }
}

double torch_error(const Tensor& ours, const torch::Tensor& theirs) {
  const torch::Tensor t = theirs.contiguous();
  return relative_error(ours.data_ptr<float>(), t.data_ptr<float>(), ours.numel());
}
#endif

std::vector<float> random_labels(std::mt19937& rng) {
  std::vector<float> labels(flagship_batch);
  for (float& label : labels) label = float(rng() % flagship_classes);
  return labels;
}

// ---------------------------------------------------------------- parts

bool wanted(int threads, const Options& options) { return options.threads.find(char('0' + threads)) != std::string::npos; }

void set_threads(int threads) {
  xgrad::set_num_threads(threads);
#ifdef XGRAD_BENCH_WITH_TORCH
  torch::set_num_threads(threads);
#endif
}

bool run_shapes(const Options& options, double peak) {
  bool agree = true;
#ifdef XGRAD_BENCH_WITH_TORCH
  std::printf("| shape | threads | torch fwd ms | xgrad fwd ms | fwd ratio | torch fwd+bwd ms | xgrad fwd+bwd ms | fwd+bwd ratio "
              "| fwd+bwd CPU-time ratio | xgrad fwd+bwd GFLOP/s | fwd+bwd %% peak |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<double> forward_ratios[3], training_ratios[3];
  for (int threads : {1, 2}) {
    if (!wanted(threads, options)) continue;
    set_threads(threads);
    for (const Shape& s : shapes) {
      if (std::string(s.name).find(options.filter) == std::string::npos) continue;
      std::mt19937 rng(7);
      nn::Conv1d conv(s.in_channels, s.out_channels, s.kernel,
                      {.stride = s.stride, .padding = s.padding, .dilation = s.dilation, .groups = s.groups});
      const auto input = random_values(s.batch * s.in_channels * s.length, -1, 1, rng);
      Tensor x = xgrad_tensor(input, {s.batch, s.in_channels, s.length});
      x.requires_grad_(true);
      torch::nn::Conv1d torch_conv(torch::nn::Conv1dOptions(s.in_channels, s.out_channels, s.kernel)
                                       .stride(s.stride)
                                       .padding(s.padding)
                                       .dilation(s.dilation)
                                       .groups(s.groups));
      copy_parameters({conv.weight, conv.bias}, {torch_conv->weight, torch_conv->bias});
      torch::Tensor tx = torch::from_blob(const_cast<float*>(input.data()), {s.batch, s.in_channels, s.length}).clone();
      tx.requires_grad_(true);
      Tensor y;
      torch::Tensor ty;
      auto xgrad_forward = [&] { y = conv(x); };
      auto torch_forward = [&] { ty = torch_conv->forward(tx); };
      auto xgrad_training = [&] {
        conv.zero_grad();
        x.mutable_grad() = Tensor();
        y = conv(x);
        y.sum().backward();
      };
      auto torch_training = [&] {
        torch_conv->zero_grad(true);
        tx.mutable_grad().reset();
        ty = torch_conv->forward(tx);
        ty.sum().backward();
      };
      const auto forward = alternate_medians({torch_forward, xgrad_forward}, options.seconds);
      const auto training = alternate_medians({torch_training, xgrad_training}, options.seconds);
      const double errors[] = {torch_error(y, ty), torch_error(x.grad(), tx.grad()), torch_error(conv.weight.grad(), torch_conv->weight.grad()),
                               torch_error(conv.bias.grad(), torch_conv->bias.grad())};
      for (double e : errors)
        if (!(e < 1e-4)) {
          agree = false;
          std::printf("MISMATCH on %s: relative errors %g %g %g %g\n", s.name, errors[0], errors[1], errors[2], errors[3]);
          break;
        }
      const double flops = 2.0 * double(s.batch * s.out_channels * s.out_length()) * double(s.in_channels / s.groups * s.kernel);
      const double training_flops = 3 * flops;
      const double forward_ratio = forward[0].wall_ms / forward[1].wall_ms;
      const double training_ratio = training[0].wall_ms / training[1].wall_ms;
      forward_ratios[threads].push_back(forward_ratio);
      training_ratios[threads].push_back(training_ratio);
      const double gflops = training_flops / training[1].wall_ms * 1e-6;
      std::printf("| %s | %d | %.3f | %.3f | %.2f | %.3f | %.3f | %.2f | %.2f | %.1f | %.0f%% |\n", s.name, threads, forward[0].wall_ms,
                  forward[1].wall_ms, forward_ratio, training[0].wall_ms, training[1].wall_ms, training_ratio,
                  training[0].cpu_ms / training[1].cpu_ms, gflops, 100 * gflops / (peak * threads));
      std::fflush(stdout);
    }
  }
  std::printf("\nGeometric mean of LibTorch/xgrad wall-time ratios (> 1: xgrad faster):\n");
  for (int threads : {1, 2})
    if (!forward_ratios[threads].empty())
      std::printf("  %d thread%s: forward %.2f, forward+backward %.2f\n", threads, threads > 1 ? "s" : "",
                  geomean(forward_ratios[threads]), geomean(training_ratios[threads]));
  std::printf("Framework-level results %s LibTorch's.\n\n", agree ? "agree with" : "DO NOT agree with");
#else
  (void)options;
  (void)peak;
  std::printf("(framework-level shapes need LibTorch)\n");
#endif
  return agree;
}

bool run_flagship(const Options& options) {
  bool agree = true;
  std::mt19937 rng(11);
  const auto input = random_values(flagship_batch * flagship_length, -1, 1, rng);
  const auto labels = random_labels(rng);
  std::printf("Flagship (M5 keyword spotting, batch %lld, 8000 samples, SGD momentum 0.9): training samples/s\n\n",
              (long long)flagship_batch);
#ifdef XGRAD_BENCH_WITH_TORCH
  std::printf("| threads | torch ms/step | xgrad ms/step | torch samples/s | xgrad samples/s | ratio | CPU-time ratio |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (int threads : {1, 2}) {
    if (!wanted(threads, options)) continue;
    set_threads(threads);
    XgradFlagship ours(input, labels);
    TorchFlagship theirs(input, labels);
    copy_parameters(ours.model->parameters(), theirs.model->parameters());
    {
      // One step from equal weights, in float64: the losses and every gradient must agree to
      // round-off. (In float32 the frameworks' different summation orders flip the odd near-tie of
      // ReLU or MaxPool, which moves a whole gradient value: not comparable element by element.)
      XgradFlagship ours64(input, labels);
      TorchFlagship theirs64(input, labels);
      copy_parameters(ours.model->parameters(), theirs64.model->parameters());
      for (size_t i = 0; i < ours.model->parameters().size(); ++i) {
        Tensor to = ours64.model->parameters()[i];
        std::memcpy(to.data_ptr<float>(), ours.model->parameters()[i].data_ptr<float>(), sizeof(float) * size_t(to.numel()));
      }
      ours64.model->to(xgrad::Dtype::Float64);
      ours64.input = ours64.input.to(xgrad::Dtype::Float64);
      theirs64.model->to(torch::kFloat64);
      theirs64.input = theirs64.input.to(torch::kFloat64);
      ours64.step();
      theirs64.step();
      const auto ours_parameters = ours64.model->parameters();
      const auto theirs_parameters = theirs64.model->parameters();
      // Relative to each parameter's largest gradient, or to 1e-3 of the largest of all for the conv
      // biases, whose gradient is zero up to rounding (BatchNorm subtracts any per-channel shift).
      double largest = 0;
      for (const auto& p : theirs_parameters) largest = std::max(largest, p.grad().abs().max().item<double>());
      double worst = std::abs(ours64.loss.item<double>() - theirs64.loss.item<double>()) / std::abs(theirs64.loss.item<double>());
      for (size_t i = 0; i < ours_parameters.size(); ++i) {
        const torch::Tensor theirs_grad = theirs_parameters[i].grad().contiguous();
        const torch::Tensor ours_grad = torch::from_blob(const_cast<double*>(ours_parameters[i].grad().data_ptr<double>()),
                                                         theirs_grad.sizes(), torch::kFloat64);
        const double scale = std::max(theirs_grad.abs().max().item<double>(), 1e-3 * largest);
        worst = std::max(worst, (ours_grad - theirs_grad).abs().max().item<double>() / scale);
      }
      if (!(worst < 1e-8)) agree = false;
      std::printf("(first step in float64: losses %.12f and %.12f, worst relative gradient difference %.1e)\n",
                  ours64.loss.item<double>(), theirs64.loss.item<double>(), worst);
    }
    const auto timing = alternate_medians({[&] { theirs.step(); }, [&] { ours.step(); }}, std::max(options.seconds, 1.0));
    std::printf("| %d | %.2f | %.2f | %.0f | %.0f | %.2f | %.2f |\n", threads, timing[0].wall_ms, timing[1].wall_ms,
                1e3 * flagship_batch / timing[0].wall_ms, 1e3 * flagship_batch / timing[1].wall_ms,
                timing[0].wall_ms / timing[1].wall_ms, timing[0].cpu_ms / timing[1].cpu_ms);
    std::fflush(stdout);
  }
  std::printf("Flagship loss and gradients (float64, one step) %s LibTorch's (relative differences under 1e-8).\n\n", agree ? "agree with" : "DO NOT agree with");
#else
  std::printf("| threads | xgrad ms/step | xgrad samples/s |\n|---|---|---|\n");
  for (int threads : {1, 2}) {
    if (!wanted(threads, options)) continue;
    set_threads(threads);
    XgradFlagship ours(input, labels);
    const auto timing = alternate_medians({[&] { ours.step(); }}, std::max(options.seconds, 1.0));
    std::printf("| %d | %.2f | %.0f |\n", threads, timing[0].wall_ms, 1e3 * flagship_batch / timing[0].wall_ms);
  }
#endif
  return agree;
}

// Only one framework's flagship steps in this process, then its peak RSS.
int run_memory(const Options& options) {
  std::mt19937 rng(11);
  const auto input = random_values(flagship_batch * flagship_length, -1, 1, rng);
  const auto labels = random_labels(rng);
  const int threads = options.threads.find('2') != std::string::npos ? 2 : 1;
  set_threads(threads);
  const double before = status_mib("VmRSS:");
  if (options.only == "xgrad") {
    XgradFlagship ours(input, labels);
    for (int i = 0; i < options.steps; ++i) ours.step();
#ifdef XGRAD_BENCH_WITH_TORCH
  } else if (options.only == "torch") {
    TorchFlagship theirs(input, labels);
    for (int i = 0; i < options.steps; ++i) theirs.step();
#endif
  } else {
    std::fprintf(stderr, "--only takes xgrad or torch (torch needs LibTorch)\n");
    return 2;
  }
  const double peak = status_mib("VmHWM:");
  std::printf("peak memory %s (%d thread%s, %d steps): VmHWM %.1f MiB, RSS before the model %.1f MiB, growth %.1f MiB\n",
              options.only.c_str(), threads, threads > 1 ? "s" : "", options.steps, peak, before, peak - before);
  return 0;
}

}  // namespace

double measure_fma_peak_gflops(const char** isa);

int main(int argc, char** argv) {
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--part") options.part = value;
    else if (flag == "--filter") options.filter = value;
    else if (flag == "--only") options.only = value;
    else if (flag == "--threads") options.threads = value;
    else if (flag == "--seconds") options.seconds = std::atof(value.c_str());
    else if (flag == "--steps") options.steps = std::atoi(value.c_str());
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  if (!options.only.empty()) return run_memory(options);
  const char* isa = "";
  const double peak = measure_fma_peak_gflops(&isa);
  std::printf("measured single-core fp32 FMA peak (%s): %.1f GFLOP/s\n\n", isa, peak);
  bool agree = true;
  if (options.part == "all" || options.part == "shapes") agree = run_shapes(options, peak) && agree;
  if (options.part == "all" || options.part == "flagship") agree = run_flagship(options) && agree;
  return agree ? 0 : 1;
}
