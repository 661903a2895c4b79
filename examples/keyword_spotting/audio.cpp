#include "keyword_spotting/audio.hpp"

#include <fmt/core.h>
#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "core/file_io.hpp"

namespace kws {

static_assert(static_cast<int>(ResampleQuality::best) == SRC_SINC_BEST_QUALITY);
static_assert(static_cast<int>(ResampleQuality::medium) == SRC_SINC_MEDIUM_QUALITY);
static_assert(static_cast<int>(ResampleQuality::fastest) == SRC_SINC_FASTEST);

std::vector<float> resample(std::span<const float> samples, int from_rate, int to_rate, ResampleQuality quality) {
  if (from_rate <= 0 || to_rate <= 0) {
    throw std::invalid_argument(fmt::format("resample needs positive rates, got {} -> {} Hz.", from_rate, to_rate));
  }
  if (from_rate == to_rate) return {samples.begin(), samples.end()};
  double ratio = static_cast<double>(to_rate) / from_rate;
  // libsamplerate converts by factors of 1/256 to 256 (its SRC_MAX_RATIO).
  if (ratio < 1.0 / 256 || ratio > 256) {
    throw std::invalid_argument(fmt::format("resample: {} -> {} Hz is a factor of {:.3g}; libsamplerate converts by "
                                            "factors of 1/256 to 256 only (from {} to {} Hz for {} Hz).",
                                            from_rate, to_rate, ratio, (to_rate + 255) / 256,
                                            static_cast<std::int64_t>(to_rate) * 256, to_rate));
  }
  if (samples.empty()) return {};
  std::vector<float> out(static_cast<size_t>(std::ceil(samples.size() * ratio)) + 16);
  SRC_DATA data{};
  data.data_in = samples.data();
  data.input_frames = static_cast<long>(samples.size());
  data.data_out = out.data();
  data.output_frames = static_cast<long>(out.size());
  data.src_ratio = ratio;
  data.end_of_input = 1;
  // src_simple keeps no state between calls, so threads can resample at the same time.
  if (int error = src_simple(&data, static_cast<int>(quality), 1); error != 0) {
    throw std::runtime_error(fmt::format("resample: libsamplerate failed converting {} samples from {} to {} Hz: {}.",
                                         samples.size(), from_rate, to_rate, src_strerror(error)));
  }
  out.resize(static_cast<size_t>(data.output_frames_gen));
  return out;
}

Span find_speech(std::span<const float> samples, int frame_samples) {
  auto n = static_cast<int64_t>(samples.size());
  int64_t frames = (n + frame_samples - 1) / frame_samples;
  std::vector<double> energy(static_cast<size_t>(frames), 0.0);  // mean square per frame
  for (int64_t f = 0; f < frames; ++f) {
    int64_t begin = f * frame_samples, end = std::min(n, begin + frame_samples);
    double sum = 0;
    for (int64_t i = begin; i < end; ++i) sum += double(samples[i]) * samples[i];
    energy[f] = sum / double(end - begin);
  }
  double loudest = frames > 0 ? *std::max_element(energy.begin(), energy.end()) : 0.0;
  if (loudest < 1e-12) return {};
  double threshold = loudest * 1e-4;  // -40 dB in power; quiet fricatives like the f of "five" stay in
  int64_t first = 0, last = frames - 1;
  while (energy[first] < threshold) ++first;
  while (energy[last] < threshold) --last;
  // Within the first and last loud frames, start and end at the first and last sample as loud as
  // that threshold, so the word is centred to the sample rather than to the frame.
  auto loud = [&](int64_t i) { return double(samples[i]) * samples[i] >= threshold; };
  int64_t begin = first * frame_samples, end = std::min(n, (last + 1) * frame_samples);
  while (begin < end - 1 && !loud(begin) && begin < (first + 1) * frame_samples - 1) ++begin;
  while (end - 1 > begin && !loud(end - 1) && end - 1 > last * frame_samples) --end;
  return {begin, end};
}

int64_t fit_clip(std::span<const float> samples, std::span<float> clip) {
  std::fill(clip.begin(), clip.end(), 0.0f);
  Span speech = find_speech(samples);
  if (speech.size() == 0) return 0;
  auto clip_size = static_cast<int64_t>(clip.size());
  // Centre: pad both sides equally, or keep the middle of a word longer than the clip.
  int64_t take = std::min(speech.size(), clip_size);
  int64_t source = speech.begin + (speech.size() - take) / 2;
  int64_t target = (clip_size - take) / 2;
  float peak = 0;
  for (int64_t i = 0; i < take; ++i) peak = std::max(peak, std::abs(samples[source + i]));
  if (peak <= 0) return 0;
  float scale = kPeak / peak;
  for (int64_t i = 0; i < take; ++i) clip[target + i] = samples[source + i] * scale;
  return speech.size();
}

double loudest_frame_dbfs(std::span<const float> samples, int frame_samples) {
  double loudest = 0;  // mean square
  for (size_t begin = 0; begin < samples.size(); begin += size_t(frame_samples)) {
    size_t end = std::min(samples.size(), begin + size_t(frame_samples));
    double sum = 0;
    for (size_t i = begin; i < end; ++i) sum += double(samples[i]) * samples[i];
    loudest = std::max(loudest, sum / double(end - begin));
  }
  return 10 * std::log10(loudest);  // of the mean square: 20 log10(RMS); log10(0) = -inf
}

std::vector<float> load_wav_mono_8k(const std::string& path) {
  SF_INFO info{};
  std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> file(sf_open(path.c_str(), SFM_READ, &info), sf_close);
  if (!file) throw std::runtime_error(fmt::format("Could not read audio file '{}': {}.", path, sf_strerror(nullptr)));
  if (info.channels <= 0 || info.samplerate <= 0 || info.frames < 0 || info.frames > int64_t(info.samplerate) * 600) {
    throw std::runtime_error(fmt::format("'{}' has an unusable format ({} channels, {} Hz, {} frames; at most 10 minutes).", path,
                                         info.channels, info.samplerate, info.frames));
  }
  std::vector<float> interleaved(static_cast<size_t>(info.frames * info.channels));
  sf_count_t frames = sf_readf_float(file.get(), interleaved.data(), info.frames);
  // A float WAV can hold NaN or Inf: they would spread through resampling and the network into
  // a confident-looking answer, so they are refused here.
  for (sf_count_t i = 0; i < frames * info.channels; ++i) {
    if (!std::isfinite(interleaved[size_t(i)])) {
      throw std::runtime_error(fmt::format("'{}' holds a non-finite sample ({}) at frame {}, channel {}.", path,
                                           interleaved[size_t(i)], i / info.channels, i % info.channels));
    }
  }
  std::vector<float> mono(static_cast<size_t>(frames));
  for (sf_count_t i = 0; i < frames; ++i) {
    float sum = 0;
    for (int c = 0; c < info.channels; ++c) sum += interleaved[i * info.channels + c];
    mono[i] = sum / info.channels;
  }
  try {
    return resample(mono, info.samplerate, kSampleRate);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("'{}' ({} Hz) cannot be read as {} Hz audio: {}", path, info.samplerate,
                                         kSampleRate, e.what()));
  }
}

std::vector<float> load_wav_8k(const std::string& path) {
  std::vector<float> clip(kClipSamples);
  fit_clip(load_wav_mono_8k(path), clip);
  return clip;
}

namespace {

// A growing in-memory file for libsndfile's virtual I/O: save_wav encodes into it, then hands
// the bytes to xgrad's atomic writer.
struct MemoryFile {
  std::string bytes;
  sf_count_t position = 0;
};

SF_VIRTUAL_IO memory_io() {
  SF_VIRTUAL_IO io{};
  io.get_filelen = [](void* user) { return sf_count_t(static_cast<MemoryFile*>(user)->bytes.size()); };
  io.seek = [](sf_count_t offset, int whence, void* user) {
    auto* file = static_cast<MemoryFile*>(user);
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? file->position : sf_count_t(file->bytes.size());
    file->position = std::max<sf_count_t>(0, base + offset);
    return file->position;
  };
  io.read = [](void* out, sf_count_t count, void* user) {
    auto* file = static_cast<MemoryFile*>(user);
    sf_count_t available = std::max<sf_count_t>(0, sf_count_t(file->bytes.size()) - file->position);
    sf_count_t n = std::min(count, available);
    std::memcpy(out, file->bytes.data() + file->position, size_t(n));
    file->position += n;
    return n;
  };
  io.write = [](const void* in, sf_count_t count, void* user) {
    auto* file = static_cast<MemoryFile*>(user);
    size_t end = size_t(file->position + count);
    if (end > file->bytes.size()) file->bytes.resize(end);
    std::memcpy(file->bytes.data() + file->position, in, size_t(count));
    file->position += count;
    return count;
  };
  io.tell = [](void* user) { return static_cast<MemoryFile*>(user)->position; };
  return io;
}

}  // namespace

void save_wav(const std::string& path, std::span<const float> samples, int rate) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  MemoryFile memory;
  SF_VIRTUAL_IO io = memory_io();
  {
    std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> file(sf_open_virtual(&io, SFM_WRITE, &info, &memory), sf_close);
    if (!file) throw std::runtime_error(fmt::format("Could not write WAV file '{}': {}.", path, sf_strerror(nullptr)));
    sf_command(file.get(), SFC_SET_CLIPPING, nullptr, SF_TRUE);
    auto count = static_cast<sf_count_t>(samples.size());
    if (sf_writef_float(file.get(), samples.data(), count) != count) {
      throw std::runtime_error(fmt::format("Could not write all samples to '{}': {}.", path, sf_strerror(file.get())));
    }
  }  // sf_close completes the header
  try {
    xgrad::write_file_atomically(path, memory.bytes, "save_wav");
  } catch (const xgrad::Error& error) {
    throw std::runtime_error(fmt::format("Could not write WAV file '{}': {}", path, error.what()));
  }
}

}  // namespace kws
