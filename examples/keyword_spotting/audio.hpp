// Audio plumbing for keyword spotting: resampling, fitting a word into a 1 s clip, WAV files.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kws {

constexpr int kSampleRate = 8000;           // the model hears 8 kHz audio...
constexpr int64_t kClipSamples = 8000;      // ...in clips of exactly 1 s
constexpr float kPeak = 0.9f;               // clips are scaled so their largest |sample| is this

// libsamplerate's sinc converters. On this machine, 22050 -> 8000 Hz of a 0.4 s word takes about
// 7 ms (best), 2 ms (medium) or 0.8 ms (fastest); medium keeps 97 dB SNR, plenty for speech.
enum class ResampleQuality { best = 0, medium = 1, fastest = 2 };  // = SRC_SINC_* values

// samples: (n,) mono at from_rate. Returns about n * to_rate / from_rate samples.
std::vector<float> resample(std::span<const float> samples, int from_rate, int to_rate,
                            ResampleQuality quality = ResampleQuality::medium);

// The part of `samples` between the first and last 10 ms frame whose RMS is within 40 dB of the
// loudest frame, narrowed to the first and last sample that loud: the word without its leading
// and trailing silence. Empty if all is silence.
struct Span {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};
Span find_speech(std::span<const float> samples, int frame_samples = kSampleRate / 100);

// Trims silence, scales the peak to kPeak and centres the word in `clip` (kClipSamples long,
// zero padded). A word longer than the clip keeps its middle. Returns the word's length in
// samples before any cut, or 0 (and a zero clip) if `samples` is silent.
int64_t fit_clip(std::span<const float> samples, std::span<float> clip);

// The RMS level of the loudest `frame_samples` frame, in dBFS (0 dBFS: a full-scale square wave;
// -infinity for digital silence or no samples).
double loudest_frame_dbfs(std::span<const float> samples, int frame_samples = kSampleRate / 100);

// Any WAV (or other libsndfile format): mixed to mono and resampled to 8 kHz, at its own level and
// length. Throws std::runtime_error for an unreadable file and for NaN or infinite samples.
std::vector<float> load_wav_mono_8k(const std::string& path);

// load_wav_mono_8k fitted to 1 s (fit_clip). A silent file gives a zero clip.
std::vector<float> load_wav_8k(const std::string& path);

// Writes 16-bit PCM mono WAV (atomically, through xgrad::write_file_atomically); samples beyond
// [-1, 1] are clipped. Throws std::runtime_error on failure.
void save_wav(const std::string& path, std::span<const float> samples, int rate);

}  // namespace kws
