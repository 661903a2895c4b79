#include <doctest/doctest.h>

#include <sstream>

#include "common/progress.hpp"
#include "temp_dir.hpp"

using xgrad_examples::ProgressBar;

namespace {
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}
}  // namespace

TEST_CASE("progress bar: not a terminal prints a plain line every 10% and one at the end") {
  TempDir dir;
  std::string path = dir / "log.txt";
  std::FILE* out = std::fopen(path.c_str(), "w");
  REQUIRE(out != nullptr);
  {
    ProgressBar bar(100, "epoch 3/10", {.out = out, .plain_every_percent = 10, .plain_min_seconds = 0});
    CHECK_FALSE(bar.is_terminal());
    for (int step = 1; step <= 100; ++step) bar.update(step, {{"loss", 0.42}, {"acc", 0.91}}, step * 32);
    bar.finish();
    bar.finish();  // idempotent
  }
  std::fclose(out);
  std::string text = read_text(path);
  CHECK(text.find('\r') == std::string::npos);
  std::vector<std::string> lines = lines_of(text);
  REQUIRE(lines.size() == 10);
  CHECK(lines[0].find("epoch 3/10") == 0);
  CHECK(lines[0].find(" 10/100 ( 10%)") != std::string::npos);
  CHECK(lines[0].find("loss 0.4200  acc 0.9100") != std::string::npos);
  CHECK(lines[0].find("samples/s") != std::string::npos);
  CHECK(lines[0].find("ETA") != std::string::npos);
  CHECK(lines[9].find("100/100 (100%)") != std::string::npos);
  CHECK(lines[9].find("took") != std::string::npos);
}

TEST_CASE("progress bar: finishing early shows where it stopped and a big jump prints one line") {
  TempDir dir;
  std::string path = dir / "log.txt";
  std::FILE* out = std::fopen(path.c_str(), "w");
  REQUIRE(out != nullptr);
  {
    ProgressBar bar(1000, "", {.out = out, .plain_every_percent = 25, .plain_min_seconds = 0});
    bar.update(10);
    bar.update(600);  // crosses 25% and 50% at once
    bar.update(601);
  }  // the destructor finishes
  std::fclose(out);
  std::vector<std::string> lines = lines_of(read_text(path));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find(" 600/1000 ( 60%)") == 0);  // the step is padded to the width of the total
  CHECK(lines[1].find(" 601/1000 ( 60%)") == 0);
}

TEST_CASE("progress bar: a bar that finishes within plain_min_seconds prints only its last line") {
  TempDir dir;
  std::string path = dir / "log.txt";
  std::FILE* out = std::fopen(path.c_str(), "w");
  REQUIRE(out != nullptr);
  {
    ProgressBar bar(100, "epoch 1/1", {.out = out});  // default: at most one line every 5 s
    for (int step = 1; step <= 100; ++step) bar.update(step, {{"loss", 0.5}}, step);
  }
  std::fclose(out);
  std::vector<std::string> lines = lines_of(read_text(path));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("100/100 (100%)") != std::string::npos);
}

TEST_CASE("format_duration") {
  CHECK(xgrad_examples::format_duration(5) == "0:05");
  CHECK(xgrad_examples::format_duration(65) == "1:05");
  CHECK(xgrad_examples::format_duration(3723) == "1:02:03");
  CHECK(xgrad_examples::format_duration(-1) == "?");
}
