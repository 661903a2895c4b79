#include "plot.hpp"

#include <fmt/core.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace xgrad_examples {
namespace {

// A gnuplot single-quoted string: nothing is special inside except the quote, which is doubled.
// Newlines would end the command, so they become spaces.
std::string gnuplot_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') quoted += "''";
    else if (c == '\n' || c == '\r') quoted += ' ';
    else quoted += c;
  }
  return quoted + "'";
}

std::string plot_command(const std::string& csv_path, const std::vector<std::string>& columns) {
  std::string command = "plot ";
  for (size_t i = 0; i < columns.size(); ++i) {
    command += fmt::format("{}{} using 1:{} with linespoints title {}", i ? ", " : "", gnuplot_quote(csv_path),
                           gnuplot_quote(columns[i]), gnuplot_quote(columns[i]));
  }
  return command + "\n";
}

// Runs `gnuplot script_path` without a shell and waits for it; returns its exit status.
int run_gnuplot(const std::string& gnuplot, const std::string& script_path) {
  std::vector<char*> argv = {const_cast<char*>(gnuplot.c_str()), const_cast<char*>(script_path.c_str()), nullptr};
  pid_t pid = 0;
  int error = posix_spawn(&pid, gnuplot.c_str(), nullptr, nullptr, argv.data(), environ);
  if (error != 0) throw std::runtime_error(fmt::format("Could not start '{}': {}.", gnuplot, std::strerror(error)));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(fmt::format("waitpid for gnuplot failed: {}.", std::strerror(errno)));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<std::string> read_csv_header(const std::string& csv_path) {
  std::ifstream file(csv_path);
  std::string line;
  if (!file || !std::getline(file, line)) {
    throw std::runtime_error(fmt::format("plot_curves could not read a header line from '{}'.", csv_path));
  }
  std::vector<std::string> names;
  std::stringstream fields(line);
  for (std::string name; std::getline(fields, name, ',');) names.push_back(name);
  return names;
}

}  // namespace

std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(candidate)) return candidate;
  }
  return "";
}

bool plot_curves(const std::string& csv_path, const std::string& png_path, const std::string& title,
                 const std::vector<std::string>& columns, bool log_scale) {
  std::string gnuplot = find_on_path("gnuplot");
  if (gnuplot.empty()) {
    fmt::print("plot: gnuplot is not on PATH, skipped writing {} (scripts/setup.sh examples installs it).\n", png_path);
    return false;
  }
  if (columns.empty()) throw std::invalid_argument("plot_curves needs at least one column to plot.");
  std::vector<std::string> header = read_csv_header(csv_path);
  for (const std::string& column : columns) {
    if (std::find(header.begin(), header.end(), column) == header.end()) {
      throw std::invalid_argument(fmt::format("plot_curves: '{}' has no column '{}'.", csv_path, column));
    }
  }

  std::vector<std::string> loss_columns, accuracy_columns;
  for (const std::string& column : columns) {
    (column.find("acc") != std::string::npos ? accuracy_columns : loss_columns).push_back(column);
  }
  int panels = (loss_columns.empty() ? 0 : 1) + (accuracy_columns.empty() ? 0 : 1);

  std::string script;
  script += "set datafile separator ','\n";
  script += "set key autotitle columnhead\n";
  script += fmt::format(
      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {{ set terminal pngcairo size {},450 }} "
      "else {{ set terminal png size {},450 }}\n",
      550 * panels, 550 * panels);
  script += "set termoption noenhanced\n";  // show "train_loss" as written, not with a subscript
  script += fmt::format("set output {}\n", gnuplot_quote(png_path));
  script += fmt::format("set grid\nset xlabel {}\n", gnuplot_quote(header.front()));
  script += fmt::format("set multiplot layout 1,{} title {}\n", panels, gnuplot_quote(title));
  if (!loss_columns.empty()) {
    script += "set title 'loss'\n";
    if (log_scale) script += "set logscale y\nset format y '%g'\n";
    script += plot_command(csv_path, loss_columns);
    if (log_scale) script += "unset logscale y\nset format y\n";
  }
  if (!accuracy_columns.empty()) {
    script += "set title 'accuracy'\nset yrange [0:1]\nset key bottom right\n" + plot_command(csv_path, accuracy_columns);
  }
  script += "unset multiplot\nset output\n";

  // The script goes through a private temporary file, so nothing in it is ever parsed by a shell.
  std::string script_path = (std::filesystem::temp_directory_path() / "xgrad-plot-XXXXXX").string();
  int fd = mkstemp(script_path.data());
  if (fd < 0) throw std::runtime_error(fmt::format("Could not create a temporary gnuplot script: {}.", std::strerror(errno)));
  bool written = write(fd, script.data(), script.size()) == static_cast<ssize_t>(script.size());
  close(fd);
  int status = -1;
  try {
    if (written) status = run_gnuplot(gnuplot, script_path);
  } catch (...) {
    std::filesystem::remove(script_path);
    throw;
  }
  std::filesystem::remove(script_path);
  if (!written) throw std::runtime_error("Could not write the temporary gnuplot script.");
  if (status != 0) {
    throw std::runtime_error(fmt::format("gnuplot exited with status {} while plotting '{}' into '{}'.", status, csv_path, png_path));
  }
  return true;
}

}  // namespace xgrad_examples
