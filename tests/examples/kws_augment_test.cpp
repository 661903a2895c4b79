#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "keyword_spotting/augment.hpp"

using namespace kws;

namespace {
double power(std::span<const float> samples) {
  double sum = 0;
  for (float s : samples) sum += double(s) * s;
  return sum / double(samples.size());
}
std::vector<float> ramp(size_t n) {
  std::vector<float> samples(n);
  std::iota(samples.begin(), samples.end(), 1.0f);
  return samples;
}
}  // namespace

TEST_CASE("shift moves the audio, keeps the length and fills with zeros") {
  std::vector<float> clip = ramp(10);
  shift(clip, 3);
  CHECK(clip == std::vector<float>{0, 0, 0, 1, 2, 3, 4, 5, 6, 7});
  clip = ramp(10);
  shift(clip, -2);
  CHECK(clip == std::vector<float>{3, 4, 5, 6, 7, 8, 9, 10, 0, 0});
  clip = ramp(10);
  shift(clip, 25);
  CHECK(clip == std::vector<float>(10, 0.0f));

  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> audio(8000, 0.0f);
    audio[4000] = 1.0f;
    random_shift(audio, rng, 800);
    REQUIRE(audio.size() == 8000);
    auto moved_to = std::find(audio.begin(), audio.end(), 1.0f) - audio.begin();
    CHECK(std::abs(moved_to - 4000) <= 800);
  }
}

TEST_CASE("gain scales energy by 10^(dB/10)") {
  std::vector<float> clip = ramp(100);
  double before = power(clip);
  apply_gain_db(clip, 6.0f);
  CHECK(power(clip) / before == doctest::Approx(std::pow(10.0, 0.6)).epsilon(1e-4));
  apply_gain_db(clip, -6.0f);
  CHECK(power(clip) / before == doctest::Approx(1.0).epsilon(1e-4));

  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> audio = ramp(100);
    random_gain(audio, rng, 6.0f);
    double db = 10 * std::log10(power(audio) / before);
    CHECK(db >= -6.001);
    CHECK(db <= 6.001);
  }
}

TEST_CASE("noise at a given SNR has the power that SNR asks for") {
  std::mt19937_64 rng(11);
  for (float snr : {10.0f, 20.0f, 30.0f}) {
    std::vector<float> clean(8000);
    for (size_t i = 0; i < clean.size(); ++i) clean[i] = 0.5f * float(std::sin(0.05 * double(i)));
    std::vector<float> noisy = clean;
    add_noise_at_snr(noisy, snr, rng);
    std::vector<float> noise(clean.size());
    for (size_t i = 0; i < clean.size(); ++i) noise[i] = noisy[i] - clean[i];
    double measured = 10 * std::log10(power(clean) / power(noise));
    CHECK(measured == doctest::Approx(snr).epsilon(0.03));  // 8000 samples: within ~0.3 dB
  }
  std::vector<float> silent(100, 0.0f);
  add_noise_at_snr(silent, 20.0f, rng);
  CHECK(silent == std::vector<float>(100, 0.0f));
}

TEST_CASE("augment is reproducible from the seed and keeps the length") {
  std::vector<float> base(8000);
  for (size_t i = 0; i < base.size(); ++i) base[i] = float(std::sin(0.01 * double(i)));
  std::vector<float> a = base, b = base;
  std::mt19937_64 rng_a(42), rng_b(42);
  augment(a, rng_a);
  augment(b, rng_b);
  CHECK(a.size() == 8000);
  CHECK(a == b);
  CHECK(a != base);
}
