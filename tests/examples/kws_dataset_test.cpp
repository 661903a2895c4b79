#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <xgrad.hpp>

#include "keyword_spotting/dataset.hpp"
#include "../support/child_process.hpp"
#include "temp_dir.hpp"

using namespace kws;
namespace fs = std::filesystem;

namespace {
// 2 voices x 10 words x 1 rendition; both voices land in train by the split rule.
Config tiny_config() {
  Config cfg;
  cfg.dialects = {"en-us"};
  cfg.variants = {"m1", "f2"};
  cfg.renditions = 1;
  return cfg;
}

double rms(std::span<const float> clip) {
  double sum = 0;
  for (float s : clip) sum += double(s) * s;
  return std::sqrt(sum / double(clip.size()));
}

// Made once: every test below needs the same tiny dataset.
const Splits& tiny() {
  static const Splits splits = make_splits(tiny_config(), false);
  return splits;
}
}  // namespace

TEST_CASE("split by voice: every voice in exactly one split, about 70/10/20") {
  std::vector<Voice> voices = list_voices(Config{});
  REQUIRE(voices.size() == 160);
  std::map<Split, int> per_split;
  std::set<std::string> names;
  for (const Voice& voice : voices) {
    ++per_split[voice.split];
    names.insert(voice.name());
    CHECK(voice.base_pitch >= 35);
    CHECK(voice.base_pitch <= 65);
  }
  CHECK(names.size() == 160);
  CHECK(per_split[Split::train] == 112);
  CHECK(per_split[Split::valid] == 16);
  CHECK(per_split[Split::test] == 32);
  // Deterministic: the same config gives the same voices and splits.
  std::vector<Voice> again = list_voices(Config{});
  for (size_t i = 0; i < voices.size(); ++i) {
    CHECK(again[i].split == voices[i].split);
    CHECK(again[i].base_rate == voices[i].base_rate);
  }
}

TEST_CASE("a tiny synthesized dataset has the right shapes, labels and real audio") {
  const Splits& data = tiny();
  REQUIRE(data.train.size() == 20);
  CHECK(data.valid.size() == 0);
  CHECK(data.test.size() == 0);
  CHECK(data.train.audio.size() == size_t(20 * kClipSamples));
  CHECK(data.train.voice_names == std::vector<std::string>{"en-us+m1", "en-us+f2"});
  for (int64_t i = 0; i < data.train.size(); ++i) {
    CAPTURE(i);
    CHECK(data.train.labels[i] == i % 10);
    CHECK(data.train.voice_ids[i] == i / 10);
    std::span<const float> clip = data.train.clip(i);
    CHECK(rms(clip) > 0.02);  // a word, not silence
    float peak = 0;
    for (float s : clip) peak = std::max(peak, std::abs(s));
    CHECK(peak == doctest::Approx(kPeak));
    // Centred: silence at both ends.
    CHECK(clip.front() == 0.0f);
    CHECK(clip.back() == 0.0f);
  }
  // The two voices differ: the same word is not the same audio.
  CHECK(rms(data.train.clip(3)) != rms(data.train.clip(13)));
}

TEST_CASE("synthesis is deterministic: same data with 1 or 2 worker processes") {
  Config one_worker = tiny_config();
  one_worker.threads = 1;
  Splits again = make_splits(one_worker, false);
  CHECK(again.train.audio == tiny().train.audio);
  CHECK(again.train.labels == tiny().train.labels);
}

TEST_CASE("cache: round trip, changed config, damaged files") {
  TempDir dir;
  std::string cache = dir / "kws";
  Config cfg = tiny_config();
  CHECK_THROWS_WITH_AS(load_cache(cache, cfg), doctest::Contains("no cache"), CacheError);

  save_cache(cache, cfg, tiny());
  Splits loaded = load_cache(cache, cfg);
  CHECK(loaded.train.audio == tiny().train.audio);
  CHECK(loaded.train.labels == tiny().train.labels);
  CHECK(loaded.train.voice_ids == tiny().train.voice_ids);
  CHECK(loaded.train.voice_names == tiny().train.voice_names);
  CHECK(loaded.test.size() == 0);

  Config other = cfg;
  other.seed = 2;
  CHECK_THROWS_WITH_AS(load_cache(cache, other), doctest::Contains("another config"), CacheError);

  SUBCASE("truncated audio") {
    fs::resize_file(cache + "/train_x.npy", fs::file_size(cache + "/train_x.npy") / 2);
    CHECK_THROWS_WITH_AS(load_cache(cache, cfg), doctest::Contains("truncated"), CacheError);
  }
  SUBCASE("garbage labels") {
    std::ofstream(cache + "/train_y.npy", std::ios::trunc) << "not a numpy file";
    CHECK_THROWS_AS(load_cache(cache, cfg), CacheError);
  }
  SUBCASE("labels out of range") {
    xgrad::save_npy(cache + "/train_y.npy", xgrad::full({20}, 42));
    CHECK_THROWS_WITH_AS(load_cache(cache, cfg), doctest::Contains("invalid label"), CacheError);
  }
  SUBCASE("labels that are not whole numbers") {  // the cache stores ids as float32
    xgrad::save_npy(cache + "/train_y.npy", xgrad::full({20}, 1.5));
    CHECK_THROWS_WITH_AS(load_cache(cache, cfg), doctest::Contains("not an integer"), CacheError);
    xgrad::save_npy(cache + "/train_y.npy", xgrad::full({20}, std::nan("")));
    CHECK_THROWS_WITH_AS(load_cache(cache, cfg), doctest::Contains("not an integer"), CacheError);
  }
  SUBCASE("labels of the wrong shape or dtype") {
    xgrad::save_npy(cache + "/train_y.npy", xgrad::zeros({19}));
    CHECK_THROWS_WITH_AS(load_cache(cache, cfg), doctest::Contains("shape"), CacheError);
    xgrad::save_npy(cache + "/train_y.npy", xgrad::zeros({20}, {.dtype = xgrad::kFloat64}));
    CHECK_THROWS_WITH_AS(load_cache(cache, cfg), doctest::Contains("float32"), CacheError);
  }
  SUBCASE("missing file") {
    fs::remove(cache + "/test_voice.npy");
    CHECK_THROWS_AS(load_cache(cache, cfg), CacheError);
  }
  SUBCASE("damaged manifest") {
    std::ofstream(cache + "/manifest.txt", std::ios::trunc) << "\x01\x02garbage\n";
    CHECK_THROWS_AS(load_cache(cache, cfg), CacheError);
  }
  SUBCASE("a manifest too large, or a link to /dev/zero: refused without reading it all") {
    std::ofstream(cache + "/manifest.txt", std::ios::trunc) << std::string(2 << 20, 'x');
    CHECK_THROWS_WITH_AS(load_cache(cache, cfg), doctest::Contains("more than a manifest"), CacheError);
    fs::remove(cache + "/manifest.txt");
    fs::create_symlink("/dev/zero", cache + "/manifest.txt");
    // In a child with a deadline: a reader that read /dev/zero to its end would never stop.
    auto outcome = xgrad::testing::run_in_child([&] {
      try {
        load_cache(cache, cfg);
      } catch (const CacheError& error) {
        return std::string(error.what());
      }
      return std::string("no CacheError");
    }, std::chrono::seconds(10));
    REQUIRE_MESSAGE(outcome.finished, outcome.status);
    CHECK(outcome.report.find("is a character device, not a regular file") != std::string::npos);
  }
  SUBCASE("manifest count disagrees with the arrays") {
    std::string text = read_text(cache + "/manifest.txt");
    text.replace(text.find("train 20"), 8, "train 21");
    std::ofstream(cache + "/manifest.txt", std::ios::trunc) << text;
    CHECK_THROWS_AS(load_cache(cache, cfg), CacheError);
  }
  // Whatever was damaged, load_or_make regenerates and leaves a good cache behind.
  Splits remade = load_or_make(cache, cfg, false);
  CHECK(remade.train.audio == tiny().train.audio);
  CHECK(load_cache(cache, cfg).train.labels == tiny().train.labels);
}
