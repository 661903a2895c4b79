// Speaks words into memory with libespeak-ng: no process per clip, no files.
#pragma once

#include <string>
#include <vector>

namespace kws {

// How a word is spoken. espeak's own ranges: rate in words per minute (80..450), pitch and
// pitch_range 0..100 (50 is the voice's default).
struct Prosody {
  int rate = 175;
  int pitch = 50;
  int pitch_range = 50;
};

// libespeak-ng keeps global state and is not thread-safe, so there is one engine per process and
// speak() takes a process-wide lock; call it from one thread (other threads can do the DSP).
class SpeechSynthesizer {
 public:
  // Initialises espeak-ng on first use; throws std::runtime_error if its data can't be found.
  SpeechSynthesizer();

  // Mono samples in [-1, 1] at sample_rate(). voice is "dialect+variant", e.g. "en-us+f3".
  // Throws std::runtime_error for an unknown voice.
  std::vector<float> speak(const std::string& text, const std::string& voice, const Prosody& prosody);

  // Loads a voice and its language's dictionary (speak() does it too when the voice changes).
  // Doing it before fork() lets worker processes share the loaded dictionary.
  void select_voice(const std::string& voice);

  int sample_rate() const { return sample_rate_; }
  static std::string version();  // e.g. "1.51"; part of the dataset cache key

 private:
  int sample_rate_;
};

}  // namespace kws
