#include "keyword_spotting/speech_synth.hpp"

#include <espeak-ng/speak_lib.h>
#include <fmt/core.h>

#include <mutex>
#include <stdexcept>

namespace kws {
namespace {

std::mutex espeak_mutex;  // guards every call into libespeak-ng

// espeak hands synthesized audio to this callback in chunks; user_data is the caller's buffer.
int collect_samples(short* samples, int count, espeak_EVENT* events) {
  if (samples == nullptr || count <= 0) return 0;
  auto* out = static_cast<std::vector<float>*>(events->user_data);
  for (int i = 0; i < count; ++i) out->push_back(samples[i] / 32768.0f);
  return 0;  // 0 = keep going
}

int initialise_espeak() {
  // DONT_EXIT: a missing data directory must come back as an error, not end the program.
  int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, espeakINITIALIZE_DONT_EXIT);
  if (rate <= 0) {
    throw std::runtime_error(
        "Could not initialise espeak-ng (is espeak-ng-data installed? scripts/setup.sh examples installs it).");
  }
  espeak_SetSynthCallback(collect_samples);
  return rate;
}

}  // namespace

SpeechSynthesizer::SpeechSynthesizer() {
  std::lock_guard lock(espeak_mutex);
  static const int rate = initialise_espeak();  // once per process, even if it is slow
  sample_rate_ = rate;
}

namespace {
std::string current_voice;  // guarded by espeak_mutex

// Selecting a voice reads files, so only do it when it changes. Caller holds espeak_mutex.
void select_voice_locked(const std::string& voice) {
  if (voice == current_voice) return;
  if (espeak_SetVoiceByName(voice.c_str()) != EE_OK) {
    current_voice.clear();
    throw std::runtime_error(fmt::format("espeak-ng has no voice '{}' (see `espeak-ng --voices=en`).", voice));
  }
  current_voice = voice;
}
}  // namespace

void SpeechSynthesizer::select_voice(const std::string& voice) {
  std::lock_guard lock(espeak_mutex);
  select_voice_locked(voice);
}

std::vector<float> SpeechSynthesizer::speak(const std::string& text, const std::string& voice, const Prosody& prosody) {
  std::lock_guard lock(espeak_mutex);
  select_voice_locked(voice);
  espeak_SetParameter(espeakRATE, prosody.rate, 0);
  espeak_SetParameter(espeakPITCH, prosody.pitch, 0);
  espeak_SetParameter(espeakRANGE, prosody.pitch_range, 0);

  std::vector<float> samples;
  espeak_ERROR status = espeak_Synth(text.c_str(), text.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr,
                                     &samples);
  if (status != EE_OK) throw std::runtime_error(fmt::format("espeak-ng failed to speak '{}' with '{}'.", text, voice));
  espeak_Synchronize();
  return samples;
}

std::string SpeechSynthesizer::version() {
  const char* path = nullptr;
  return espeak_Info(&path);
}

}  // namespace kws
