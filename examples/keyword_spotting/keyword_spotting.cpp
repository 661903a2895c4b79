// keyword_spotting: the flagship. Recognises the spoken digits "zero".."nine" from raw 8 kHz audio,
// and teaches a real training run end to end: a dataset split by speaker (the test voices are never
// heard in training), batches assembled and augmented on the fly by a data::DataLoader's worker
// thread while the model trains, an M5-style raw-waveform network with
// BatchNorm (train() vs eval()), SGD with momentum and a cosine schedule, model selection on a
// validation split, a confusion matrix, a checkpoint, and inference on a WAV file.
//
//   keyword_spotting                                   make (or load) the data, train, test, save
//   keyword_spotting --classify word.wav               top-3 words for a WAV file, from the checkpoint
//
// Exit status: training 0 (target met), 1 (missed), 2 (error); --classify 0 (a word), 1 (no speech
// found: the loudest 10 ms is below kSpeechDbfs), 2 (error). A bad option is CLI11's error status.
//
// The data (about 8,000 one-second clips spoken by 160 espeak-ng voices) is made on first use and
// cached in --cache-dir. Target: >= 95% accuracy on the held-out test voices.
#include <CLI/CLI.hpp>
#include <xgrad.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <random>

#include "common/cli.hpp"
#include "common/metrics_csv.hpp"
#include "common/plot.hpp"
#include "common/progress.hpp"
#include "keyword_spotting/augment.hpp"
#include "keyword_spotting/data_parallel.hpp"
#include "keyword_spotting/dataset.hpp"
#include "keyword_spotting/m5.hpp"

using namespace xgrad;
namespace ex = xgrad_examples;
using kws::M5Block;
using kws::m5_blocks;
using kws::make_m5;
constexpr int64_t kClasses = kws::kM5Classes;
static_assert(kClasses == int64_t(kws::kWords.size()), "M5 predicts one class per word");
constexpr int64_t kMaxWidth = 1024;  // --width, and the widest model --classify accepts from a checkpoint
// --classify hears no speech when the loudest 10 ms of the file is quieter than this (RMS, dBFS).
// The training words peak near -7 dBFS, speech recorded at a low gain near -30, a quiet room's
// noise floor lies below -60: rather than normalizing noise up to a word and guessing, it says so.
constexpr double kSpeechDbfs = -50;

// The state_dict names and shapes of make_m5(width), without building it.
std::map<std::string, Shape> m5_shapes(int64_t width) {
  std::map<std::string, Shape> shapes;
  int64_t index = 0;
  for (const M5Block& b : m5_blocks(width)) {
    shapes[fmt::format("{}.weight", index)] = {b.out, b.in, b.kernel};
    shapes[fmt::format("{}.bias", index)] = {b.out};
    for (const char* name : {"weight", "bias", "running_mean", "running_var"}) {
      shapes[fmt::format("{}.{}", index + 1, name)] = {b.out};
    }
    shapes[fmt::format("{}.num_batches_tracked", index + 1)] = {};
    index += 4;
  }
  shapes[fmt::format("{}.weight", index + 2)] = {kClasses, 2 * width};
  shapes[fmt::format("{}.bias", index + 2)] = {kClasses};
  return shapes;
}

// The width of the M5 model whose state `state` (from `checkpoint`) is, checked name by name and
// shape by shape against the file before any model is built: a small crafted file must not make
// --classify build a huge model only to find out that it does not fit.
int64_t m5_width(const nn::StateDict& state, const std::string& checkpoint) {
  int64_t width = 0;  // the model's width is the first convolution's output channels
  for (const auto& [name, tensor] : state) {
    if (name != "0.weight") continue;
    if (tensor.dim() != 3) {  // the other extents are checked with every entry below
      throw std::runtime_error(fmt::format("'{}' does not hold an M5 model (0.weight has shape {}, not [width, 1, 80]).",
                                           checkpoint, tensor.shape()));
    }
    width = tensor.shape()[0];
  }
  if (width <= 0) throw std::runtime_error(fmt::format("'{}' does not hold an M5 model (no 0.weight).", checkpoint));
  std::map<std::string, Shape> expected = m5_shapes(width);
  std::vector<std::string> problems;
  for (const auto& [name, tensor] : state) {
    auto it = expected.find(name);
    if (it == expected.end()) {
      problems.push_back(fmt::format("unexpected '{}'", name));
    } else {
      // BatchNorm's step counter is int64, as in PyTorch; everything else is float32.
      const Dtype dtype = name.ends_with(".num_batches_tracked") ? kInt64 : kFloat32;
      if (tensor.shape() != it->second || tensor.dtype() != dtype) {
        problems.push_back(fmt::format("'{}' is {} {}, not {} {}", name, tensor.dtype(), tensor.shape(), dtype, it->second));
      }
    }
    if (it != expected.end()) expected.erase(it);
  }
  for (const auto& [name, shape] : expected) problems.push_back(fmt::format("no '{}'", name));
  if (problems.size() > 4) {
    const size_t more = problems.size() - 3;
    problems.resize(3);
    problems.push_back(fmt::format("{} more differences", more));
  }
  if (!problems.empty()) {
    throw std::runtime_error(fmt::format("'{}' does not hold an M5 model of width {} ({}).", checkpoint, width,
                                         fmt::join(problems, "; ")));
  }
  return width;
}

// A split's clips as a data set: samples {clip (1, 8000) float32, word (int64)}. With an augment
// seed, every clip is shifted, scaled and maybe noised (kws::augment) with a generator of its own,
// seeded by (seed, epoch, index): the batches do not depend on how many loader workers assemble
// them, and each epoch augments afresh.
class ClipDataset : public data::Dataset {
 public:
  ClipDataset(const kws::Dataset& clips, std::optional<uint64_t> augment_seed = std::nullopt)
      : clips_(clips), augment_seed_(augment_seed) {}
  // Call between epochs only (the loader's workers read it).
  void set_epoch(int64_t epoch) { epoch_ = epoch; }

  int64_t size() const override { return clips_.size(); }
  std::vector<Tensor> get(int64_t index) const override {
    std::vector<Tensor> batch = get_batch({index});
    return {batch[0].squeeze(0), batch[1].squeeze(0)};
  }
  // Copies the clips straight into the batch: one allocation per field, not one per clip.
  std::vector<Tensor> get_batch(const std::vector<int64_t>& indices) const override {
    const auto count = int64_t(indices.size());
    Tensor x = empty({count, 1, kws::kClipSamples}), y = empty({count}, {.dtype = kInt64});
    for (int64_t b = 0; b < count; ++b) {
      const int64_t row = indices[size_t(b)];
      if (row < 0 || row >= size()) throw std::out_of_range(fmt::format("clip {} of {}", row, size()));
      std::span<float> clip(x.data_ptr<float>() + b * kws::kClipSamples, size_t(kws::kClipSamples));
      std::ranges::copy(clips_.clip(row), clip.begin());
      if (augment_seed_) {
        std::seed_seq seed{*augment_seed_, uint64_t(epoch_), uint64_t(row)};
        std::mt19937_64 rng(seed);
        kws::augment(clip, rng);
      }
      y.data_ptr<int64_t>()[b] = clips_.labels[size_t(row)];
    }
    return {x, y};
  }

 private:
  const kws::Dataset& clips_;
  std::optional<uint64_t> augment_seed_;
  int64_t epoch_ = 0;
};

// confusion[true][predicted] over a whole split, in eval mode without a graph.
using Confusion = std::vector<std::vector<int64_t>>;
Confusion evaluate(nn::Module& model, const kws::Dataset& clips, int64_t batch_size) {
  NoGradGuard no_grad;
  model.eval();
  Confusion confusion(kClasses, std::vector<int64_t>(kClasses, 0));
  for (data::Batch& batch : data::DataLoader(ClipDataset(clips), {.batch_size = batch_size, .num_workers = 1})) {
    auto [best, predicted] = model(batch[0]).max(1);
    for (int64_t b = 0; b < batch[1].size(0); ++b) {
      ++confusion[size_t(batch[1].data_ptr<int64_t>()[b])][size_t(predicted.data_ptr<int64_t>()[b])];
    }
  }
  model.train();
  return confusion;
}

double accuracy(const Confusion& confusion) {
  int64_t correct = 0, total = 0;
  for (size_t i = 0; i < confusion.size(); ++i) {
    correct += confusion[i][i];
    total += std::accumulate(confusion[i].begin(), confusion[i].end(), int64_t{0});
  }
  return total > 0 ? double(correct) / double(total) : 0.0;
}

void print_confusion(const Confusion& confusion) {
  fmt::print("\nconfusion matrix on the test voices (rows: word spoken, columns: word recognised)\n{:>7}", "");
  for (const char* word : kws::kWords) fmt::print("{:>6}", word);
  fmt::print("\n");
  for (size_t i = 0; i < confusion.size(); ++i) {
    fmt::print("{:>7}", kws::kWords[i]);
    for (int64_t count : confusion[i]) fmt::print("{:>6}", count);
    fmt::print("\n");
  }
}

// The first parameter or buffer of `model` that holds a NaN or an infinity, or "" when all are finite.
std::string first_non_finite(const nn::Module& model) {
  for (const auto& [name, tensor] : model.state_dict()) {
    const Tensor values = tensor.to(kFloat64);
    const double* v = values.data_ptr<double>();
    if (!std::all_of(v, v + values.numel(), [](double x) { return std::isfinite(x); })) return name;
  }
  return "";
}

// --classify: the checkpoint's model on one WAV file (any rate or channel count: mixed to mono,
// resampled to 8 kHz, silence trimmed and the word centred in 1 s, as the training clips).
int classify(const std::string& wav_path, const std::string& checkpoint) {
  const nn::StateDict state = xgrad::load_tensors(checkpoint);  // at most as large as the file
  const int64_t width = m5_width(state, checkpoint);           // every name and shape checked first
  if (width > kMaxWidth) {
    throw std::runtime_error(fmt::format("'{}' holds a model of width {}, more than this program makes (at most {}).",
                                         checkpoint, width, kMaxWidth));
  }
  auto model = make_m5(width);
  model->load_state_dict(state);
  if (std::string name = first_non_finite(*model); !name.empty()) {
    throw std::runtime_error(fmt::format("'{}' holds NaN or infinite values in '{}'; it cannot classify.", checkpoint, name));
  }
  model->eval();
  NoGradGuard no_grad;
  std::vector<float> audio = kws::load_wav_mono_8k(wav_path);  // refuses NaN or infinite samples
  const double level = kws::loudest_frame_dbfs(audio);
  if (!(level >= kSpeechDbfs)) {
    fmt::print("{}: no speech found (the loudest 10 ms is at {:.1f} dBFS, below the {:.0f} dBFS a word needs)\n", wav_path,
               level, kSpeechDbfs);
    return 1;
  }
  Tensor x = zeros({1, 1, kws::kClipSamples});
  kws::fit_clip(audio, {x.data_ptr<float>(), size_t(kws::kClipSamples)});
  Tensor probabilities = nn::functional::softmax((*model)(x), 1);
  const float* p = probabilities.data_ptr<float>();
  if (!std::all_of(p, p + kClasses, [](float v) { return std::isfinite(v); })) {
    throw std::runtime_error(fmt::format("the model's output for '{}' is not finite (its weights overflow).", wav_path));
  }
  std::vector<int64_t> ranked(kClasses);
  std::iota(ranked.begin(), ranked.end(), 0);
  std::ranges::sort(ranked, [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  fmt::print("{}:\n", wav_path);
  for (int i = 0; i < 3; ++i) fmt::print("  {}. {:<6} {:6.2f}%\n", i + 1, kws::kWords[ranked[i]], 100 * p[ranked[i]]);
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"Spoken-digit recognition from raw audio with an M5 Conv1d network (xgrad's flagship example)."};
  int epochs = 6;
  int64_t width = 32, batch_size = 32;
  int workers = 1;
  double lr = 0.05, target = 0.95;
  std::string cache_dir = "cache/keyword_spotting", out_dir = "out/keyword_spotting", checkpoint, classify_path;
  kws::Config data_config;
  app.add_option("--epochs", epochs)->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--batch-size", batch_size)->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  app.add_option("--workers", workers, "Threads that assemble and augment the next batches while the model trains (0: in the training loop)")->capture_default_str()->check(CLI::Range(0, 64));
  app.add_option("--lr", lr, "Peak SGD learning rate (momentum 0.9, cosine schedule)")->capture_default_str()->check(ex::finite_in(1e-12, 1e6));
  app.add_option("--width", width, "Channels of the first two convolutions (the last two have twice as many)")->capture_default_str()->check(CLI::Range(int64_t{1}, kMaxWidth));
  app.add_option("--min-accuracy", target, "Target accuracy on the test voices (the exit status says if it was met)")->capture_default_str()->check(ex::finite_in(0, 1));
  app.add_option("--cache-dir", cache_dir, "Where the synthesized dataset is cached")->capture_default_str();
  app.add_option("--dialects", data_config.dialects, "espeak-ng English dialects (data set)")->delimiter(',')->capture_default_str();
  app.add_option("--variants", data_config.variants, "espeak-ng voice variants (data set)")->delimiter(',')->capture_default_str();
  app.add_option("--renditions", data_config.renditions, "Times each voice says each word (data set)")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--out-dir", out_dir, "Where metrics.csv, curves.png and the checkpoint go")->capture_default_str();
  app.add_option("--checkpoint", checkpoint,
                 "Model file to write (training; only a model that trained to finite weights replaces it) or read "
                 "(--classify); default <out-dir>/model.xgrad");
  app.add_option("--classify", classify_path,
                 fmt::format("Classify this WAV file with the checkpoint instead of training: the top 3 words, or \"no "
                             "speech found\" (exit status 1) when its loudest 10 ms is below {:.0f} dBFS RMS; NaN or "
                             "infinite samples or weights are an error",
                             kSpeechDbfs))
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  if (checkpoint.empty()) checkpoint = out_dir + "/model.xgrad";

  try {
    if (!classify_path.empty()) return classify(classify_path, checkpoint);
    kws::DataParallel parallel(argc, argv);  // under mpirun: a replica per rank; rank 0 prints and writes
    auto start = std::chrono::steady_clock::now();
    manual_seed(0);  // parameter init

    kws::Splits data = parallel.main_first([&] { return kws::load_or_make(cache_dir, data_config, /*verbose=*/true); });
    auto model = make_m5(width);
    std::shared_ptr<nn::Module> trained = parallel.wrap(model);
    int64_t parameter_count = 0;
    for (const Tensor& p : model->parameters()) parameter_count += p.numel();
    fmt::print("{}\n{} parameters; {} train, {} valid, {} test clips (test voices never heard in training)\n", *model,
               parameter_count, data.train.size(), data.valid.size(), data.test.size());

    nn::CrossEntropyLoss criterion;
    optim::SGD optimizer(model->parameters(), {.lr = lr, .momentum = 0.9, .weight_decay = 1e-4});
    optim::CosineAnnealingLR scheduler(optimizer, epochs);
    std::filesystem::create_directories(out_dir);
    std::optional<ex::MetricsCsv> csv;  // rank 0 alone writes outputs
    if (parallel.is_main()) csv.emplace(out_dir + "/metrics.csv", std::vector<std::string>{"epoch", "train_loss", "train_acc", "valid_acc"});

    // Each epoch a new order (this rank's shard of it under mpirun) and new augmentations.
    ClipDataset train_set(data.train, /*augment_seed=*/0);
    batch_size = parallel.local_batch(batch_size);  // --batch-size is the global batch
    data::DataLoader loader(train_set, {.batch_size = batch_size, .num_workers = workers,
                                        .sampler = &parallel.train_sampler(train_set.size())});
    const int64_t steps = loader.size();
    if (steps <= 0) throw std::runtime_error(fmt::format("the training split is empty; '{}' was left as it was.", checkpoint));
    double best_valid = -1, train_seconds = 0;
    bool saved = false;  // a checkpoint is written only for a model that trained (see below)
    int epochs_run = 0;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      ++epochs_run;
      auto epoch_start = std::chrono::steady_clock::now();
      parallel.set_epoch(epoch);
      train_set.set_epoch(epoch);
      ex::ProgressBar bar(steps, fmt::format("epoch {}/{}", epoch, epochs));
      double loss_sum = 0;
      int64_t correct = 0, seen = 0, step = 0;
      for (data::Batch& batch : loader) {
        const Tensor &x = batch[0], &y = batch[1];  // (count, 1, 8000) float32, (count) int64
        const int64_t count = x.size(0);
        Tensor logits = (*trained)(x);
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
      parallel.sum(loss_sum, correct, seen);
      train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
      double valid_accuracy = accuracy(evaluate(*model, data.valid, 128));
      fmt::print("epoch {}/{}: train loss {:.4f}, train accuracy {:.2f}%, valid accuracy {:.2f}%\n", epoch, epochs,
                 loss_sum / double(seen), 100.0 * double(correct) / double(seen), 100 * valid_accuracy);
      if (csv) csv->row({double(epoch), loss_sum / double(seen), double(correct) / double(seen), valid_accuracy});
      // A diverged run (a non-finite loss or weight: the learning rate is too high) must not replace
      // a checkpoint; the epochs after it would only carry the NaNs on. Every rank sees the same sums
      // and weights, so every rank stops.
      if (const std::string name = first_non_finite(*model); !std::isfinite(loss_sum) || !name.empty()) {
        fmt::print(stderr, "keyword_spotting: training diverged in epoch {} (train loss {}{}); stopping\n", epoch,
                   loss_sum / double(seen), name.empty() ? "" : ", non-finite " + name);
        break;
      }
      if (valid_accuracy >= best_valid) {  // keep the epoch that does best on voices it did not train on
        best_valid = valid_accuracy;
        if (parallel.is_main()) model->save(checkpoint);
        saved = true;
      }
    }
    if (!saved) {
      throw std::runtime_error(fmt::format("no epoch trained a usable model; '{}' was left as it was.", checkpoint));
    }
    fmt::print("training: {:.0f} samples/s ({} epochs of {} clips in {})\n",
               train_seconds > 0 ? double(epochs_run * data.train.size()) / train_seconds : 0.0, epochs_run, data.train.size(),
               ex::format_duration(train_seconds));

    if (!parallel.is_main()) return 0;  // rank 0 tests and reports
    model->load(checkpoint);
    Confusion confusion = evaluate(*model, data.test, 128);
    print_confusion(confusion);
    ex::plot_curves(csv->path(), out_dir + "/curves.png", "keyword_spotting: M5 on spoken digits",
                    {"train_loss", "train_acc", "valid_acc"});
    double test_accuracy = accuracy(confusion);
    bool ok = test_accuracy >= target;
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("\nsaved the model (best valid accuracy {:.2f}%) to {}; try: keyword_spotting --classify word.wav\n",
               100 * best_valid, checkpoint);
    fmt::print("accuracy on the held-out test voices {:.2f}%: {} the target >= {:.0f}% (total {})\n", 100 * test_accuracy,
               ok ? "meets" : "MISSES", 100 * target, ex::format_duration(total));
    return ok ? 0 : 1;
  } catch (const std::exception& error) {
    fmt::print(stderr, "keyword_spotting: {}\n", error.what());
    return 2;
  }
}
