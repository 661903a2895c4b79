#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "keyword_spotting/audio.hpp"
#include "temp_dir.hpp"

using namespace kws;

namespace {
std::vector<float> sine(int rate, double seconds, double hz, double amplitude = 0.5) {
  std::vector<float> samples(static_cast<size_t>(rate * seconds));
  for (size_t i = 0; i < samples.size(); ++i) samples[i] = float(amplitude * std::sin(2 * std::numbers::pi * hz * i / rate));
  return samples;
}
int zero_crossings(std::span<const float> samples) {
  int count = 0;
  for (size_t i = 1; i < samples.size(); ++i) count += (samples[i - 1] < 0) != (samples[i] < 0);
  return count;
}
}  // namespace

TEST_CASE("resample: 1 s at 22050 Hz becomes 1 s at 8 kHz with the same tone") {
  for (ResampleQuality quality : {ResampleQuality::best, ResampleQuality::medium, ResampleQuality::fastest}) {
    std::vector<float> out = resample(sine(22050, 1.0, 440), 22050, 8000, quality);
    CHECK(std::abs(int64_t(out.size()) - 8000) <= 2);
    CHECK(std::abs(zero_crossings(out) - 880) <= 4);  // 440 Hz: two crossings per period
  }
  CHECK(resample(std::vector<float>{}, 22050, 8000).empty());
  CHECK(resample(sine(8000, 0.5, 100), 8000, 8000).size() == 4000);
  CHECK_THROWS_AS(resample(sine(8000, 0.1, 100), 0, 8000), std::invalid_argument);
  // Beyond libsamplerate's factor of 256 the message names both rates and the range.
  CHECK_THROWS_WITH_AS(resample(sine(8000, 0.1, 100), 2147483647, 8000),
                       "resample: 2147483647 -> 8000 Hz is a factor of 3.73e-06; libsamplerate converts by factors of "
                       "1/256 to 256 only (from 32 to 2048000 Hz for 8000 Hz).",
                       std::invalid_argument);
}

TEST_CASE("load_wav_8k: a WAV at a rate the resampler cannot convert names the file and the rate") {
  TempDir dir;
  const int rate = 4000000;  // 4 MHz: a valid WAV header, 500 times 8 kHz
  save_wav(dir / "fast.wav", sine(rate, 0.01, 1000), rate);
  CHECK_THROWS_WITH_AS(load_wav_8k(dir / "fast.wav"),
                       doctest::Contains("fast.wav' (4000000 Hz) cannot be read as 8000 Hz audio: resample: 4000000 -> "
                                         "8000 Hz"),
                       std::runtime_error);
}

TEST_CASE("fit_clip: trims silence, centres the word and scales its peak") {
  std::vector<float> audio(12000, 0.0f);
  std::vector<float> word = sine(8000, 0.25, 300, 0.2);  // 2000 samples of "speech" at 1000..3000
  std::copy(word.begin(), word.end(), audio.begin() + 1000);
  std::vector<float> clip(kClipSamples);
  CHECK(std::abs(fit_clip(audio, clip) - 2000) <= 2);  // a sine starts and ends near zero
  Span speech = find_speech(clip);
  CHECK(std::abs(speech.begin - 3000) <= 2);  // (8000 - 2000) / 2
  CHECK(std::abs(speech.end - 5000) <= 2);
  float peak = 0;
  for (float s : clip) peak = std::max(peak, std::abs(s));
  CHECK(peak == doctest::Approx(kPeak));

  // Longer than the clip: its middle second is kept.
  std::vector<float> long_word = sine(8000, 1.5, 300);
  CHECK(fit_clip(long_word, clip) >= 11998);
  CHECK(find_speech(clip).size() >= kClipSamples - 2);

  std::vector<float> silence(5000, 0.0f);
  clip[0] = 1.0f;
  CHECK(fit_clip(silence, clip) == 0);
  CHECK(clip[0] == 0.0f);
}

TEST_CASE("save_wav / load_wav_8k: any rate comes back as one centred 8 kHz second") {
  TempDir dir;
  std::vector<float> audio(44100 * 2, 0.0f);  // 2 s at 44.1 kHz, a 0.3 s tone at 0.5 s
  std::vector<float> tone = sine(44100, 0.3, 200, 0.3);
  std::copy(tone.begin(), tone.end(), audio.begin() + 22050);
  save_wav(dir / "tone.wav", audio, 44100);
  std::vector<float> clip = load_wav_8k(dir / "tone.wav");
  REQUIRE(clip.size() == size_t(kClipSamples));
  Span speech = find_speech(clip);
  CHECK(std::abs(speech.size() - 2400) <= 10);  // 0.3 s
  CHECK(std::abs((speech.begin + speech.end) / 2 - 4000) <= 10);
  CHECK_THROWS_AS(load_wav_8k(dir / "missing.wav"), std::runtime_error);
  CHECK_THROWS_AS(save_wav(dir / "no/dir/x.wav", clip, 8000), std::runtime_error);
}
