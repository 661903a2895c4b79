#include "keyword_spotting/dataset.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include <xgrad.hpp>

#include "common/progress.hpp"
#include "keyword_spotting/speech_synth.hpp"

namespace kws {
namespace {

namespace fs = std::filesystem;

// Bump when the way clips are made changes, so every existing cache is regenerated.
constexpr int kCacheFormat = 3;  // 3: labels and voice ids as float32 (xgrad's .npy files)
constexpr const char* kManifestTitle = "xgrad keyword_spotting cache";

uint64_t fnv1a64(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

// A generator that depends only on the seed and the name given, never on generation order, so
// each clip is the same whatever the worker count or the set of other voices.
std::mt19937_64 rng_for(uint64_t seed, const std::string& name) {
  return std::mt19937_64(fnv1a64(fmt::format("{}|{}", seed, name)));
}

Split split_of(size_t dialect_index, size_t variant_index) {
  size_t k = (dialect_index + variant_index) % 10;
  if (k >= 8) return Split::test;
  if (k == 7) return Split::valid;
  return Split::train;
}

Prosody prosody_for(const Config& cfg, const Voice& voice, int word, int rendition) {
  std::mt19937_64 rng = rng_for(cfg.seed, fmt::format("{}|{}|{}", voice.name(), word, rendition));
  std::uniform_real_distribution<double> speed(0.8, 1.25);
  std::uniform_int_distribution<int> pitch_offset(-10, 10);
  std::uniform_int_distribution<int> pitch_range(25, 75);
  Prosody prosody;
  prosody.rate = static_cast<int>(std::lround(voice.base_rate * speed(rng)));
  prosody.pitch = std::clamp(voice.base_pitch + pitch_offset(rng), 0, 100);
  prosody.pitch_range = pitch_range(rng);
  return prosody;
}

const char* quality_name(ResampleQuality quality) {
  switch (quality) {
    case ResampleQuality::best: return "best";
    case ResampleQuality::medium: return "medium";
    case ResampleQuality::fastest: return "fastest";
  }
  return "?";
}

Dataset& dataset_for(Splits& splits, Split split) {
  return split == Split::train ? splits.train : split == Split::valid ? splits.valid : splits.test;
}
const Dataset& dataset_for(const Splits& splits, Split split) {
  return dataset_for(const_cast<Splits&>(splits), split);
}
constexpr std::array<Split, 3> kSplits = {Split::train, Split::valid, Split::test};

// The cache is .npy files through xgrad's own reader and writer. xgrad tensors hold float32 or
// float64, so labels and voice ids are stored as float32 (exact for integers below 2^24).
template <typename T>
void save_rows(const std::string& path, const std::vector<T>& values, const xgrad::Shape& shape) {
  xgrad::Tensor tensor = xgrad::empty(shape);
  std::copy(values.begin(), values.end(), tensor.data_ptr<float>());
  xgrad::save_npy(path, tensor);
}

// Reads a float32 array of exactly `shape`; anything else is a CacheError.
template <typename T>
std::vector<T> load_rows(const std::string& path, const xgrad::Shape& shape) {
  xgrad::Tensor tensor;
  try {
    tensor = xgrad::load_npy(path);
  } catch (const xgrad::Error& error) {
    throw CacheError(error.what());
  }
  if (tensor.dtype() != xgrad::kFloat32 || tensor.shape() != shape) {
    throw CacheError(fmt::format("'{}' is not a float32 array of shape {}", path, shape));
  }
  const float* data = tensor.data_ptr<float>();
  if constexpr (std::is_integral_v<T>) {  // checked before converting: a NaN or 1e30 must not reach the cast
    for (int64_t i = 0; i < tensor.numel(); ++i) {
      if (!(std::abs(data[i]) <= 16777216.0f) || std::trunc(data[i]) != data[i]) {
        throw CacheError(fmt::format("'{}' holds {} at {}, not an integer id", path, data[i], i));
      }
    }
  }
  return std::vector<T>(data, data + tensor.numel());
}

}  // namespace

std::vector<std::string> default_dialects() {
  // The gmw/ English voices of espeak-ng 1.51 (`espeak-ng --voices=en`); the mb/ ones need mbrola.
  return {"en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc"};
}

std::vector<std::string> default_variants() {
  // From espeak-ng-data/voices/!v: male and female formant sets, Klatt synthesis, odd timbres.
  return {"m1", "m2",    "m3",     "m4",     "m5",      "m6",      "m7",   "f1",   "f2",    "f3",
          "f4", "f5",    "croak",  "klatt",  "klatt2",  "klatt3",  "Andy", "Annie", "grandma", "whisper"};
}

const char* split_name(Split split) {
  switch (split) {
    case Split::train: return "train";
    case Split::valid: return "valid";
    case Split::test: return "test";
  }
  return "?";
}

std::vector<Voice> list_voices(const Config& cfg) {
  std::vector<Voice> voices;
  for (size_t d = 0; d < cfg.dialects.size(); ++d) {
    for (size_t v = 0; v < cfg.variants.size(); ++v) {
      Voice voice{.dialect = cfg.dialects[d], .variant = cfg.variants[v], .split = split_of(d, v)};
      std::mt19937_64 rng = rng_for(cfg.seed, voice.name());
      voice.base_pitch = std::uniform_int_distribution<int>(35, 65)(rng);
      voice.base_rate = std::uniform_int_distribution<int>(135, 185)(rng);
      voices.push_back(voice);
    }
  }
  return voices;
}

std::string describe(const Config& cfg) {
  return fmt::format("format={} espeak-ng={} dialects={} variants={} renditions={} seed={} resample={} clip={}@{}Hz",
                     kCacheFormat, SpeechSynthesizer::version(), fmt::join(cfg.dialects, ","),
                     fmt::join(cfg.variants, ","), cfg.renditions, cfg.seed, quality_name(cfg.quality), kClipSamples,
                     kSampleRate);
}

std::string config_hash(const Config& cfg) { return fmt::format("{:016x}", fnv1a64(describe(cfg))); }

namespace {

// Memory shared with the worker processes: the clips in voice-major order plus, per clip, the
// word's length (0 = silent), and per voice an error message.
struct SharedResults {
  float* audio = nullptr;
  int64_t* word_samples = nullptr;
  char* errors = nullptr;
  static constexpr size_t kErrorSize = 512;
  void* base = nullptr;
  size_t bytes = 0;

  SharedResults(int64_t clips, int64_t voices) {
    bytes = size_t(clips) * (kClipSamples * sizeof(float) + sizeof(int64_t)) + size_t(voices) * kErrorSize;
    base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::runtime_error(fmt::format("Could not map {} bytes of shared memory.", bytes));
    audio = static_cast<float*>(base);
    word_samples = reinterpret_cast<int64_t*>(audio + clips * kClipSamples);
    errors = reinterpret_cast<char*>(word_samples + clips);
  }
  ~SharedResults() { munmap(base, bytes); }
  SharedResults(const SharedResults&) = delete;
  SharedResults& operator=(const SharedResults&) = delete;
};

// Runs in a worker process: speaks every word of one voice and fits the clips into `shared`.
void make_voice_clips(const Config& cfg, const Voice& voice, int64_t voice_id, SpeechSynthesizer& synth,
                      SharedResults& shared) {
  for (int word = 0; word < int(kWords.size()); ++word) {
    for (int rendition = 0; rendition < cfg.renditions; ++rendition) {
      int64_t index = (voice_id * int64_t(kWords.size()) + word) * cfg.renditions + rendition;
      std::vector<float> spoken = synth.speak(kWords[word], voice.name(), prosody_for(cfg, voice, word, rendition));
      std::vector<float> audio = resample(spoken, synth.sample_rate(), kSampleRate, cfg.quality);
      shared.word_samples[index] = fit_clip(audio, {shared.audio + index * kClipSamples, size_t(kClipSamples)});
    }
  }
}

}  // namespace

Splits make_splits(const Config& cfg, bool verbose) {
  if (cfg.renditions < 1) throw std::invalid_argument(fmt::format("Config::renditions must be >= 1, got {}.", cfg.renditions));
  auto start = std::chrono::steady_clock::now();
  std::vector<Voice> voices = list_voices(cfg);
  if (voices.empty()) throw std::invalid_argument("Config needs at least one dialect and one variant.");
  auto clips_per_voice = int64_t(kWords.size()) * cfg.renditions;
  auto total_clips = int64_t(voices.size()) * clips_per_voice;
  SharedResults shared(total_clips, int64_t(voices.size()));

  // libespeak-ng is not thread-safe, and each utterance changes its internal state, so the same
  // call gives slightly different audio depending on what was said before. So: initialise it
  // here without speaking, then fork one process per voice. Every voice starts from the same
  // fresh engine, which makes the data independent of the worker count and of the other voices,
  // and the voices are made in parallel.
  SpeechSynthesizer synth;
  synth.select_voice(voices.front().name());  // loads the English dictionary once, for every worker
  int workers = cfg.threads > 0 ? cfg.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  std::optional<xgrad_examples::ProgressBar> bar;
  if (verbose) bar.emplace(total_clips, "synthesizing");
  std::fflush(nullptr);  // a child must not flush the parent's buffered output again

  std::map<pid_t, int64_t> running;  // pid -> voice id
  std::vector<std::string> failures;
  int64_t done = 0;
  auto wait_for_one = [&] {
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) throw std::runtime_error(fmt::format("waitpid failed: {}.", std::strerror(errno)));
    int64_t id = running.at(pid);
    running.erase(pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::string message(shared.errors + id * SharedResults::kErrorSize);
      if (message.empty()) message = WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status)) : "failed";
      failures.push_back(fmt::format("voice {}: {}", voices[size_t(id)].name(), message));
    }
    done += clips_per_voice;
    if (bar) bar->update(done, {}, done);
  };
  for (size_t id = 0; id < voices.size(); ++id) {
    if (int(running.size()) == workers) wait_for_one();
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(fmt::format("fork failed: {}.", std::strerror(errno)));
    if (pid == 0) {
      int code = 0;
      try {
        make_voice_clips(cfg, voices[id], int64_t(id), synth, shared);
      } catch (const std::exception& error) {
        std::snprintf(shared.errors + id * SharedResults::kErrorSize, SharedResults::kErrorSize, "%s", error.what());
        code = 1;
      }
      _exit(code);  // no destructors, no atexit handlers: they belong to the parent
    }
    running[pid] = int64_t(id);
  }
  while (!running.empty()) wait_for_one();
  if (bar) bar->finish();
  if (!failures.empty()) {
    throw std::runtime_error(fmt::format("{} voices failed to synthesize, e.g. {}.", failures.size(), failures.front()));
  }

  // Gather the clips into the splits, checking that every word of every voice has sound.
  Splits splits;
  std::vector<std::string> names;
  for (const Voice& voice : voices) names.push_back(voice.name());
  std::vector<std::string> silent;
  int64_t longer_than_clip = 0;
  for (Split split : kSplits) {
    Dataset& dataset = dataset_for(splits, split);
    dataset.voice_names = names;
    for (size_t id = 0; id < voices.size(); ++id) {
      if (voices[id].split != split) continue;
      for (int64_t k = 0; k < clips_per_voice; ++k) {
        int64_t index = int64_t(id) * clips_per_voice + k;
        int word = int(k / cfg.renditions);
        if (shared.word_samples[index] == 0) silent.push_back(fmt::format("{} saying '{}'", names[id], kWords[word]));
        if (shared.word_samples[index] > kClipSamples) ++longer_than_clip;
        dataset.labels.push_back(word);
        dataset.voice_ids.push_back(int64_t(id));
        dataset.audio.insert(dataset.audio.end(), shared.audio + index * kClipSamples,
                             shared.audio + (index + 1) * kClipSamples);
      }
    }
  }
  if (!silent.empty()) {
    throw std::runtime_error(fmt::format("{} clips came out silent, e.g. {}.", silent.size(), silent.front()));
  }
  if (verbose) {
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("made {} clips from {} voices in {:.1f} s ({} worker processes)\n", total_clips, voices.size(), total, workers);
    if (longer_than_clip > 0) fmt::print("{} words were longer than 1 s and kept their middle second\n", longer_than_clip);
  }
  return splits;
}

void save_cache(const std::string& cache_dir, const Config& cfg, const Splits& splits) {
  fs::path dir(cache_dir);
  fs::create_directories(dir);
  fs::path manifest = dir / "manifest.txt";
  fs::remove(manifest);  // from here until the new one is in place, the cache counts as absent

  for (Split split : kSplits) {
    const Dataset& dataset = dataset_for(splits, split);
    std::string prefix = (dir / split_name(split)).string();
    save_rows(prefix + "_x.npy", dataset.audio, {dataset.size(), kClipSamples});
    save_rows(prefix + "_y.npy", dataset.labels, {dataset.size()});
    save_rows(prefix + "_voice.npy", dataset.voice_ids, {dataset.size()});
  }

  std::vector<Voice> voices = list_voices(cfg);
  std::string text = fmt::format("{}\nformat {}\nconfig_hash {}\nconfig {}\nclip_samples {}\nsample_rate {}\nvoices {}\n",
                                 kManifestTitle, kCacheFormat, config_hash(cfg), describe(cfg), kClipSamples,
                                 kSampleRate, voices.size());
  for (size_t id = 0; id < voices.size(); ++id) {
    text += fmt::format("voice {} {} {}\n", id, split_name(voices[id].split), voices[id].name());
  }
  for (Split split : kSplits) text += fmt::format("{} {}\n", split_name(split), dataset_for(splits, split).size());

  try {
    xgrad::write_file_atomically(manifest.string(), text, "save_cache");  // the cache appears whole or not at all
  } catch (const xgrad::Error& error) {
    throw std::runtime_error(error.what());
  }
}

Splits load_cache(const std::string& cache_dir, const Config& cfg) {
  fs::path dir(cache_dir);
  std::error_code missing;
  if (!fs::exists(dir / "manifest.txt", missing)) throw CacheError(fmt::format("there is no cache in '{}'", cache_dir));
  // Read through xgrad's checked reader: a manifest that is /dev/zero, a FIFO or a huge file is a
  // clear error, never an endless read.
  std::string text;
  try {
    xgrad::InputFile file((dir / "manifest.txt").string(), "load_cache");
    constexpr std::uint64_t kMaxManifestBytes = 1 << 20;
    if (file.size() > kMaxManifestBytes) {
      throw CacheError(fmt::format("'{}' has {} bytes, more than a manifest ({} at most)", file.path(), file.size(),
                                   kMaxManifestBytes));
    }
    text.resize(size_t(file.size()));
    file.read_exact(text.data(), text.size(), "the manifest");
  } catch (const xgrad::Error& error) {
    throw CacheError(error.what());
  }
  std::istringstream manifest(text);

  std::string title;
  std::getline(manifest, title);
  if (title != kManifestTitle) throw CacheError(fmt::format("'{}' is not a keyword_spotting cache manifest", (dir / "manifest.txt").string()));
  std::map<std::string, std::string> fields;
  std::vector<std::string> voice_lines;
  for (std::string line; std::getline(manifest, line);) {
    size_t space = line.find(' ');
    std::string key = line.substr(0, space), value = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "voice") voice_lines.push_back(value);
    else fields[key] = value;
  }
  std::string want_hash = config_hash(cfg);
  if (fields["config_hash"] != want_hash) {
    throw CacheError(fmt::format("the cache in '{}' was made with another config (hash {}, this one is {})", cache_dir,
                                 fields["config_hash"], want_hash));
  }

  // The hash matched, so everything below should hold; checking anyway turns a damaged or
  // hand-edited cache into a clear message instead of out-of-range reads later.
  std::vector<Voice> voices = list_voices(cfg);
  std::vector<std::string> names;
  for (size_t id = 0; id < voices.size(); ++id) {
    names.push_back(voices[id].name());
    std::string expected = fmt::format("{} {} {}", id, split_name(voices[id].split), names.back());
    if (id >= voice_lines.size() || voice_lines[id] != expected) {
      throw CacheError(fmt::format("the cache's voice list does not match the config at voice {}", id));
    }
  }

  Splits splits;
  for (Split split : kSplits) {
    Dataset& dataset = dataset_for(splits, split);
    std::string name = split_name(split);
    int64_t count = -1;
    try {
      count = std::stoll(fields.at(name));
    } catch (const std::exception&) {
      throw CacheError(fmt::format("the manifest has no valid '{}' count", name));
    }
    std::string prefix = (dir / name).string();
    dataset.audio = load_rows<float>(prefix + "_x.npy", {count, kClipSamples});
    dataset.labels = load_rows<int64_t>(prefix + "_y.npy", {count});
    dataset.voice_ids = load_rows<int64_t>(prefix + "_voice.npy", {count});
    dataset.voice_names = names;
    for (int64_t i = 0; i < count; ++i) {
      int64_t label = dataset.labels[size_t(i)], voice = dataset.voice_ids[size_t(i)];
      if (label < 0 || label >= int64_t(kWords.size()) || voice < 0 || voice >= int64_t(voices.size()) ||
          voices[size_t(voice)].split != split) {
        throw CacheError(fmt::format("{} row {} has an invalid label {} or voice {}", name, i, label, voice));
      }
    }
    if (!std::all_of(dataset.audio.begin(), dataset.audio.end(), [](float s) { return std::isfinite(s); })) {
      throw CacheError(fmt::format("{}_x.npy holds NaN or infinite samples", name));
    }
  }
  return splits;
}

Splits load_or_make(const std::string& cache_dir, const Config& cfg, bool verbose) {
  try {
    auto start = std::chrono::steady_clock::now();
    Splits splits = load_cache(cache_dir, cfg);
    if (verbose) {
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      fmt::print("loaded the keyword_spotting dataset from '{}' in {:.2f} s\n", cache_dir, seconds);
    }
    return splits;
  } catch (const CacheError& error) {
    if (verbose) fmt::print("making the keyword_spotting dataset: {}\n", error.what());
  }
  Splits splits = make_splits(cfg, verbose);
  try {
    save_cache(cache_dir, cfg, splits);
    if (verbose) fmt::print("saved it to '{}'\n", cache_dir);
  } catch (const std::exception& error) {
    fmt::print(stderr, "warning: could not save the dataset cache to '{}': {}\n", cache_dir, error.what());
  }
  return splits;
}

}  // namespace kws
