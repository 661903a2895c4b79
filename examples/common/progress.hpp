// A progress bar for training loops.
//
//   ProgressBar bar(steps_per_epoch, "epoch 3/10");
//   for (int64_t step = 1; step <= steps_per_epoch; ++step) {
//     ...
//     bar.update(step, {{"loss", loss}, {"acc", acc}}, samples_done);
//   }
//   bar.finish();
//
// On a terminal the bar is redrawn in place with '\r' (at most every 100 ms). When the output is
// not a terminal (a log file, CI) it prints plain lines instead, one each time another
// `plain_every_percent` of the steps is done (but at most one every `plain_min_seconds`), and one
// at the end, so logs stay short: a bar that finishes within a few seconds prints one line.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace xgrad_examples {

struct Metric {
  std::string name;
  double value;
};

struct ProgressOptions {
  std::FILE* out = stdout;        // where to draw; a terminal gets the in-place bar
  int plain_every_percent = 10;   // plain mode: print a line each time this much more is done...
  double plain_min_seconds = 5;   // ...and at least this long after the previous line
  int bar_width = 24;             // terminal mode: characters in the bar itself
};

class ProgressBar {
 public:
  ProgressBar(int64_t total_steps, std::string label, ProgressOptions options = {});
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // step: steps done so far (1..total); samples_done: samples seen so far in this bar (for
  // samples/s; pass 0 to leave it out). Metrics are shown in the order given.
  void update(int64_t step, const std::vector<Metric>& metrics = {}, int64_t samples_done = 0);
  // Shows the final state and ends the line. Called by the destructor if you don't.
  void finish();

  bool is_terminal() const { return terminal_; }

 private:
  std::string status_line() const;
  void draw();

  using Clock = std::chrono::steady_clock;
  int64_t total_;
  std::string label_;
  ProgressOptions options_;
  bool terminal_;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  int64_t step_ = 0;
  int64_t samples_ = 0;
  std::vector<Metric> metrics_;
  int64_t next_plain_step_ = 0;  // plain mode: the step at which the next line is due
  int64_t last_drawn_step_ = -1;
  bool finished_ = false;
};

// "1:05" or "1:02:03"; used for ETA and elapsed time.
std::string format_duration(double seconds);

}  // namespace xgrad_examples
