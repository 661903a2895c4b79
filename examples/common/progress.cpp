#include "progress.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace xgrad_examples {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto total = static_cast<int64_t>(std::llround(seconds));
  int64_t hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, secs);
  return fmt::format("{}:{:02}", minutes, secs);
}

ProgressBar::ProgressBar(int64_t total_steps, std::string label, ProgressOptions options)
    : total_(std::max<int64_t>(total_steps, 0)),
      label_(std::move(label)),
      options_(options),
      terminal_(isatty(fileno(options.out)) != 0),
      start_(Clock::now()),
      last_draw_(start_) {
  options_.plain_every_percent = std::clamp(options_.plain_every_percent, 1, 100);
  next_plain_step_ = std::max<int64_t>(1, total_ * options_.plain_every_percent / 100);
}

ProgressBar::~ProgressBar() { finish(); }

std::string ProgressBar::status_line() const {
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  std::string line = label_.empty() ? "" : label_ + "  ";
  int percent = total_ > 0 ? static_cast<int>(100 * step_ / total_) : 100;
  int digits = static_cast<int>(std::to_string(total_).size());
  line += fmt::format("{:>{}}/{} ({:3}%)", step_, digits, total_, percent);
  for (const Metric& metric : metrics_) line += fmt::format("  {} {:.4f}", metric.name, metric.value);
  if (samples_ > 0 && elapsed > 0) line += fmt::format("  {:.0f} samples/s", samples_ / elapsed);
  if (step_ >= total_) {
    line += "  took " + format_duration(elapsed);
  } else if (step_ > 0) {
    line += "  ETA " + format_duration(elapsed / step_ * (total_ - step_));
  }
  return line;
}

void ProgressBar::draw() {
  std::string line = status_line();
  if (terminal_) {
    int filled = total_ > 0 ? static_cast<int>(options_.bar_width * step_ / total_) : options_.bar_width;
    std::string bar = std::string(filled, '#') + std::string(options_.bar_width - filled, '.');
    // \33[K clears what a longer previous line left to the right.
    fmt::print(options_.out, "\r[{}] {}\33[K", bar, line);
  } else {
    fmt::print(options_.out, "{}\n", line);
  }
  std::fflush(options_.out);
  last_draw_ = Clock::now();
  last_drawn_step_ = step_;
}

void ProgressBar::update(int64_t step, const std::vector<Metric>& metrics, int64_t samples_done) {
  if (finished_) return;
  step_ = std::clamp<int64_t>(step, 0, total_);
  samples_ = samples_done;
  metrics_ = metrics;
  if (terminal_) {
    bool due = Clock::now() - last_draw_ >= std::chrono::milliseconds(100);
    if (due || step_ == total_ || last_drawn_step_ < 0) draw();
    return;
  }
  auto since_last_line = std::chrono::duration<double>(Clock::now() - last_draw_).count();
  if (step_ == total_ || (step_ >= next_plain_step_ && since_last_line >= options_.plain_min_seconds)) {
    draw();
    // Skip past every boundary this step crossed, so a big jump prints one line, not several.
    while (next_plain_step_ <= step_) {
      int64_t percent_done = (next_plain_step_ * 100 / std::max<int64_t>(total_, 1)) + options_.plain_every_percent;
      next_plain_step_ = std::max(next_plain_step_ + 1, total_ * percent_done / 100);
    }
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (last_drawn_step_ != step_ || terminal_) draw();
  if (terminal_) fmt::print(options_.out, "\n");
  std::fflush(options_.out);
}

}  // namespace xgrad_examples
