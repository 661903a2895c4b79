// Writes the bad inputs the keyword_spotting CTest tests feed to the program, into a directory:
//   silence.wav      one second of digital silence (16-bit)
//   hiss.wav         one second of white noise at -65 dBFS RMS, below the speech level (16-bit)
//   nan.wav, inf.wav a tone with one NaN / +Inf sample (32-bit float, which can hold them)
//   nan_weight.xgrad the trained checkpoint given, with a NaN in 0.weight
//   zero_dim.xgrad   a checkpoint whose 0.weight is a 0-dim tensor (it used to crash --classify)
//   sentinel.xgrad   bytes a failed training run must leave as they are
//   kws_bad_inputs <directory> <trained checkpoint>
#include <xgrad.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "keyword_spotting/audio.hpp"

namespace {

// A mono 32-bit float WAV (format 3, IEEE float) of `samples` at 8 kHz, written byte by byte:
// libsndfile would not write NaN or Inf on purpose.
void save_float_wav(const std::string& path, const std::vector<float>& samples) {
  std::ofstream out(path, std::ios::binary);
  auto u32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  const auto data_bytes = static_cast<std::uint32_t>(samples.size() * sizeof(float));
  out.write("RIFF", 4);
  u32(36 + data_bytes);
  out.write("WAVEfmt ", 8);
  u32(16);
  u16(3);  // IEEE float
  u16(1);  // mono
  u32(kws::kSampleRate);
  u32(kws::kSampleRate * 4);
  u16(4);
  u16(32);
  out.write("data", 4);
  u32(data_bytes);
  out.write(reinterpret_cast<const char*>(samples.data()), data_bytes);
  if (!out) throw std::runtime_error("could not write " + path);
}

std::vector<float> tone() {
  std::vector<float> samples(kws::kClipSamples);
  for (std::size_t i = 0; i < samples.size(); ++i) samples[i] = 0.3f * std::sin(0.3f * static_cast<float>(i));
  return samples;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: kws_bad_inputs <directory> <trained checkpoint>\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);

  kws::save_wav((dir / "silence.wav").string(), std::vector<float>(kws::kClipSamples, 0.0f), kws::kSampleRate);
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, std::pow(10.0f, -65.0f / 20));
  std::vector<float> hiss(kws::kClipSamples);
  for (float& s : hiss) s = noise(rng);
  kws::save_wav((dir / "hiss.wav").string(), hiss, kws::kSampleRate);

  std::vector<float> with_nan = tone(), with_inf = tone();
  with_nan[4000] = std::numeric_limits<float>::quiet_NaN();
  with_inf[100] = std::numeric_limits<float>::infinity();
  save_float_wav((dir / "nan.wav").string(), with_nan);
  save_float_wav((dir / "inf.wav").string(), with_inf);

  xgrad::nn::StateDict state = xgrad::load_tensors(argv[2]);
  bool found = false;
  for (auto& [name, tensor] : state) {
    if (name == "0.weight") {
      tensor.data_ptr<float>()[0] = std::numeric_limits<float>::quiet_NaN();
      found = true;
    }
  }
  if (!found) {
    std::fprintf(stderr, "kws_bad_inputs: %s has no 0.weight\n", argv[2]);
    return 2;
  }
  xgrad::save_tensors((dir / "nan_weight.xgrad").string(), state);
  xgrad::save_tensors((dir / "zero_dim.xgrad").string(), {{"0.weight", xgrad::scalar_tensor(1.0)}});
  std::ofstream(dir / "sentinel.xgrad") << "a checkpoint no failed run may replace\n";
  std::printf("kws_bad_inputs: wrote the bad inputs to %s\n", dir.string().c_str());
  return 0;
}
