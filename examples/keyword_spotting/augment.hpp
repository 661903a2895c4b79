// Data augmentation for 1 s speech clips. Each function changes the buffer it is given and
// nothing else; the random ones draw only from the generator passed in, so a seeded generator
// makes a training run reproducible.
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace kws {

// Moves the audio `offset` samples later (earlier if negative); what is uncovered becomes zeros.
void shift(std::span<float> clip, int64_t offset);
// Multiplies by 10^(db / 20): +6 dB doubles the amplitude (four times the energy).
void apply_gain_db(std::span<float> clip, float db);
// Adds white Gaussian noise whose power is the clip's mean power (over all its samples,
// silence included) divided by 10^(snr_db / 10). A silent clip is left as it is.
void add_noise_at_snr(std::span<float> clip, float snr_db, std::mt19937_64& rng);

// The same with the amount drawn uniformly: shift in [-max_shift, max_shift] samples,
// gain in [-max_db, max_db], SNR in [min_snr_db, max_snr_db].
void random_shift(std::span<float> clip, std::mt19937_64& rng, int64_t max_shift = 800);
void random_gain(std::span<float> clip, std::mt19937_64& rng, float max_db = 6.0f);
void random_noise(std::span<float> clip, std::mt19937_64& rng, float min_snr_db = 10.0f, float max_snr_db = 30.0f);

struct AugmentOptions {
  int64_t max_shift = 800;         // samples; 800 = ±100 ms at 8 kHz
  float max_gain_db = 6.0f;
  float min_snr_db = 10.0f;
  float max_snr_db = 30.0f;
  float noise_probability = 0.8f;  // the rest of the clips stay clean, as at test time
};

// Shift, then gain, then (with noise_probability) noise.
void augment(std::span<float> clip, std::mt19937_64& rng, const AugmentOptions& options = {});

}  // namespace kws
