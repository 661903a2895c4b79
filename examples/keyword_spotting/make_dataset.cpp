// Builds the keyword-spotting dataset cache and shows what is in it: counts per split and word,
// the voices, how long it took; optionally a few clips as WAV files to listen to, and per-voice
// pitch and spectral centroid to check that the voices really differ.
//
//   kws_make_dataset [--cache-dir cache/keyword_spotting] [--dump-wav out/kws_wav] [--voice-stats]
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <numbers>

#include "keyword_spotting/dataset.hpp"

namespace {

constexpr int kFrame = 256;  // 32 ms at 8 kHz

struct ClipStats {
  double pitch_sum = 0;     // Hz, over voiced frames
  int64_t voiced = 0;
  double centroid_sum = 0;  // Hz, over frames with sound
  int64_t frames = 0;
};

// Adds one clip's frames to `stats`: a frame is voiced when its normalised autocorrelation peaks
// above 0.6 at a lag between 60 and 400 Hz; the centroid is the power-weighted mean frequency.
void add_clip_stats(std::span<const float> clip, ClipStats& stats) {
  static const auto table = [] {  // cos/sin of a 256-point DFT, bins 0..128
    std::vector<std::array<float, 2>> t(kFrame * (kFrame / 2 + 1));
    for (int k = 0; k <= kFrame / 2; ++k)
      for (int n = 0; n < kFrame; ++n) {
        double angle = 2 * std::numbers::pi * k * n / kFrame;
        t[k * kFrame + n] = {float(std::cos(angle)), float(std::sin(angle))};
      }
    return t;
  }();
  double loudest = 0;
  std::vector<double> energies;
  for (int64_t start = 0; start + kFrame <= int64_t(clip.size()); start += kFrame / 2) {
    double e = 0;
    for (int n = 0; n < kFrame; ++n) e += double(clip[start + n]) * clip[start + n];
    energies.push_back(e);
    loudest = std::max(loudest, e);
  }
  for (size_t f = 0; f < energies.size(); ++f) {
    if (energies[f] < 0.01 * loudest) continue;
    const float* x = clip.data() + f * (kFrame / 2);
    double weighted = 0, total = 0;
    for (int k = 1; k <= kFrame / 2; ++k) {
      double re = 0, im = 0;
      for (int n = 0; n < kFrame; ++n) {
        re += x[n] * table[k * kFrame + n][0];
        im += x[n] * table[k * kFrame + n][1];
      }
      double power = re * re + im * im;
      weighted += power * k * 8000.0 / kFrame;
      total += power;
    }
    stats.centroid_sum += weighted / total;
    ++stats.frames;
    double best = 0;
    int best_lag = 0;
    for (int lag = 20; lag <= 133; ++lag) {  // 400 Hz .. 60 Hz
      double r = 0, e0 = 0, e1 = 0;
      for (int n = 0; n + lag < kFrame; ++n) {
        r += double(x[n]) * x[n + lag];
        e0 += double(x[n]) * x[n];
        e1 += double(x[n + lag]) * x[n + lag];
      }
      double normalised = r / std::sqrt(e0 * e1 + 1e-12);
      if (normalised > best) best = normalised, best_lag = lag;
    }
    if (best > 0.6) {
      stats.pitch_sum += 8000.0 / best_lag;
      ++stats.voiced;
    }
  }
}

void print_voice_stats(const kws::Splits& data, int renditions) {
  fmt::print("\n{:<28} {:>5} {:>8} {:>7} {:>12}\n", "voice (rendition 0, 10 words)", "split", "f0 Hz", "voiced", "centroid Hz");
  for (const kws::Dataset* dataset : {&data.train, &data.valid, &data.test}) {
    std::map<int64_t, ClipStats> per_voice;
    for (int64_t i = 0; i < dataset->size(); i += renditions) add_clip_stats(dataset->clip(i), per_voice[dataset->voice_ids[i]]);
    for (const auto& [voice, stats] : per_voice) {
      std::string split = dataset == &data.train ? "train" : dataset == &data.valid ? "valid" : "test";
      fmt::print("{:<28} {:>5} {:>8.0f} {:>6.0f}% {:>12.0f}\n", dataset->voice_names[voice], split,
                 stats.voiced ? stats.pitch_sum / stats.voiced : 0.0, 100.0 * stats.voiced / std::max<int64_t>(stats.frames, 1),
                 stats.frames ? stats.centroid_sum / stats.frames : 0.0);
    }
  }
}

void print_counts(const kws::Splits& data) {
  fmt::print("\n{:<6} {:>6} {:>7}", "split", "clips", "voices");
  for (const char* word : kws::kWords) fmt::print(" {:>5}", word);
  fmt::print("\n");
  for (const auto& [name, dataset] : {std::pair{"train", &data.train}, {"valid", &data.valid}, {"test", &data.test}}) {
    std::array<int64_t, kws::kWords.size()> per_word{};
    for (int64_t label : dataset->labels) ++per_word[size_t(label)];
    std::vector<int64_t> voices(dataset->voice_ids);
    std::sort(voices.begin(), voices.end());
    auto distinct = std::unique(voices.begin(), voices.end()) - voices.begin();
    fmt::print("{:<6} {:>6} {:>7}", name, dataset->size(), distinct);
    for (int64_t count : per_word) fmt::print(" {:>5}", count);
    fmt::print("\n");
  }
}

// The quietest clip of all, as evidence that none is silent.
void print_quietest(const kws::Splits& data) {
  double lowest = 1e9;
  std::string which;
  for (const kws::Dataset* dataset : {&data.train, &data.valid, &data.test}) {
    for (int64_t i = 0; i < dataset->size(); ++i) {
      double sum = 0;
      for (float s : dataset->clip(i)) sum += double(s) * s;
      double rms = std::sqrt(sum / kws::kClipSamples);
      if (rms < lowest) lowest = rms, which = fmt::format("{} saying '{}'", dataset->voice(i), kws::kWords[dataset->labels[i]]);
    }
  }
  fmt::print("quietest clip: RMS {:.4f} ({:.1f} dBFS), {}\n", lowest, 20 * std::log10(lowest), which);
}

// Rendition 0 of every word for the first `voices_per_split` voices of each split.
void dump_wavs(const kws::Splits& data, const std::string& dir, int renditions, int voices_per_split) {
  std::filesystem::create_directories(dir);
  int written = 0;
  for (const auto& [name, dataset] : {std::pair{"train", &data.train}, {"valid", &data.valid}, {"test", &data.test}}) {
    std::vector<int64_t> seen;
    for (int64_t i = 0; i < dataset->size(); i += renditions) {
      int64_t voice = dataset->voice_ids[i];
      if (std::find(seen.begin(), seen.end(), voice) == seen.end()) {
        if (int(seen.size()) == voices_per_split) break;
        seen.push_back(voice);
      }
      std::string path = fmt::format("{}/{}_{}_{}.wav", dir, name, dataset->voice(i), kws::kWords[dataset->labels[i]]);
      kws::save_wav(path, dataset->clip(i), kws::kSampleRate);
      ++written;
    }
  }
  fmt::print("wrote {} WAV files to {}\n", written, dir);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Builds the keyword-spotting (spoken digits) dataset cache and reports what is in it."};
  std::string cache_dir = "cache/keyword_spotting";
  std::string dump_dir;
  std::string quality = "medium";
  int dump_voices = 2;
  bool force = false, voice_stats = false;
  kws::Config cfg;
  app.add_option("--cache-dir", cache_dir, "Where the dataset cache lives")->capture_default_str();
  app.add_option("--dialects", cfg.dialects, "espeak-ng English dialects")->delimiter(',')->capture_default_str();
  app.add_option("--variants", cfg.variants, "espeak-ng voice variants")->delimiter(',')->capture_default_str();
  app.add_option("--renditions", cfg.renditions, "Times each voice says each word")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--seed", cfg.seed, "Seed for voice and rendition prosody")->capture_default_str();
  app.add_option("--threads", cfg.threads, "Resampling threads (0 = one per core)")->capture_default_str();
  app.add_option("--quality", quality, "libsamplerate converter")->capture_default_str()->check(CLI::IsMember({"best", "medium", "fastest"}));
  app.add_flag("--force", force, "Regenerate even if the cache is valid");
  app.add_option("--dump-wav", dump_dir, "Write every word of a few voices per split as WAV files here");
  app.add_option("--dump-voices", dump_voices, "Voices per split for --dump-wav")->capture_default_str();
  app.add_flag("--voice-stats", voice_stats, "Print mean pitch and spectral centroid per voice");
  CLI11_PARSE(app, argc, argv);
  cfg.quality = quality == "best" ? kws::ResampleQuality::best
              : quality == "fastest" ? kws::ResampleQuality::fastest : kws::ResampleQuality::medium;

  try {
    auto start = std::chrono::steady_clock::now();
    if (force) std::filesystem::remove(std::filesystem::path(cache_dir) / "manifest.txt");
    kws::Splits data = kws::load_or_make(cache_dir, cfg, true);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::vector<kws::Voice> voices = kws::list_voices(cfg);
    fmt::print("\n{} voices = {} dialects x {} variants; config hash {}\n", voices.size(), cfg.dialects.size(),
               cfg.variants.size(), kws::config_hash(cfg));
    for (kws::Split split : {kws::Split::valid, kws::Split::test}) {
      std::vector<std::string> names;
      for (const kws::Voice& voice : voices) if (voice.split == split) names.push_back(voice.name());
      fmt::print("{} voices ({}): {}\n", kws::split_name(split), names.size(), fmt::join(names, " "));
    }
    print_counts(data);
    print_quietest(data);
    fmt::print("total time {:.1f} s\n", seconds);
    if (!dump_dir.empty()) dump_wavs(data, dump_dir, cfg.renditions, dump_voices);
    if (voice_stats) print_voice_stats(data, cfg.renditions);
  } catch (const std::exception& error) {
    fmt::print(stderr, "kws_make_dataset: {}\n", error.what());
    return 1;
  }
  return 0;
}
