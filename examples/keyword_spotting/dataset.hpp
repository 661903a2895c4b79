// Spoken digits "zero".."nine" synthesized on this machine, for a keyword spotter on raw audio.
//
// Every word is spoken by many voices. A voice is an espeak-ng English dialect plus a voice
// variant ("en-gb-scotland+f3"), with its own base pitch and speed; each (voice, word) is spoken
// `renditions` times at different speeds and pitches. Clips are 8 kHz mono float, exactly 1 s,
// the word centred and peak-normalised.
//
// The split is by voice, so test voices are never heard in training. With dialect index d and
// variant index v (their positions in Config::dialects / Config::variants), k = (d + v) % 10:
//   k == 8 or 9 -> test (20% of voices), k == 7 -> valid (10%), otherwise train (70%).
// Every dialect and every variant thus appears in training, but not in the held-out combinations.
//
//   kws::Splits data = kws::load_or_make("cache/keyword_spotting", {}, true);
//   data.train.audio   // (data.train.size(), 8000) float32, row-major
//   data.train.labels  // (data.train.size(),) int64, 0 = "zero" .. 9 = "nine"
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "keyword_spotting/audio.hpp"

namespace kws {

constexpr std::array<const char*, 10> kWords = {"zero", "one", "two",   "three", "four",
                                                "five", "six", "seven", "eight", "nine"};

std::vector<std::string> default_dialects();  // the 8 espeak-ng English dialects
std::vector<std::string> default_variants();  // 20 variants: m1..m7, f1..f5, croak, klatt, whisper, ...

struct Config {
  std::vector<std::string> dialects = default_dialects();
  std::vector<std::string> variants = default_variants();
  int renditions = 5;       // times each voice says each word, each at its own speed and pitch
  uint64_t seed = 1;        // draws each voice's base pitch/speed and each rendition's prosody
  ResampleQuality quality = ResampleQuality::medium;
  int threads = 0;          // worker processes, 0 = one per core; the data does not depend on it
};

enum class Split { train, valid, test };
const char* split_name(Split split);

struct Voice {
  std::string dialect;
  std::string variant;
  Split split = Split::train;
  int base_pitch = 50;  // espeak pitch 0..100 around which this voice's renditions vary
  int base_rate = 160;  // words per minute, likewise
  std::string name() const { return dialect + "+" + variant; }
};

// Every dialect x variant, with its split and base prosody (deterministic in cfg.seed).
std::vector<Voice> list_voices(const Config& cfg);

struct Dataset {
  std::vector<float> audio;              // (size(), kClipSamples), row-major
  std::vector<int64_t> labels;           // (size(),) index into kWords
  std::vector<int64_t> voice_ids;        // (size(),) index into voice_names
  std::vector<std::string> voice_names;  // all voices of all splits, as in list_voices()

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  std::span<const float> clip(int64_t i) const { return {audio.data() + i * kClipSamples, size_t(kClipSamples)}; }
  const std::string& voice(int64_t i) const { return voice_names[voice_ids[i]]; }
};

struct Splits {
  Dataset train, valid, test;
};

// Why a cache was not used: missing, made with another config, or damaged.
struct CacheError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Synthesizes the whole dataset (no cache), one forked worker process per voice, so it is the
// same for the same config whatever the worker count. It is not if this process has already used
// SpeechSynthesizer::speak(), whose leftover engine state the workers would inherit.
// Throws if any clip comes out silent or a worker fails.
Splits make_splits(const Config& cfg, bool verbose);
// Writes train_x.npy (N, 8000), train_y.npy (N,) and train_voice.npy (N,), all float32 through
// xgrad::save_npy (the ids are whole numbers), the same for valid_ and test_, then manifest.txt
// (counts, voices, config hash) last, so a cache whose writing was interrupted has no manifest
// and is not used.
void save_cache(const std::string& cache_dir, const Config& cfg, const Splits& splits);
// Throws CacheError if the cache is missing, was made from another config, or fails any check.
Splits load_cache(const std::string& cache_dir, const Config& cfg);
// load_cache, or on CacheError (reported when verbose) make_splits + save_cache. A cache that
// can't be written is reported on stderr and the data returned anyway.
Splits load_or_make(const std::string& cache_dir, const Config& cfg, bool verbose);

// The text that identifies a config (with the espeak-ng version and the cache format), and its
// 64-bit FNV-1a hash in hex; the cache is used only if the hash matches.
std::string describe(const Config& cfg);
std::string config_hash(const Config& cfg);

}  // namespace kws
