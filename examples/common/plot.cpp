#include "plot.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <spawn.h>
#include <sys/socket.h>
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

#include "core/file_io.hpp"

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

// Runs gnuplot without a shell, the script on its standard input, and returns what it writes to
// its standard output (the PNG). A socket feeds the script so that a gnuplot that dies early is an
// error here (send's MSG_NOSIGNAL), not a SIGPIPE that kills the training run.
std::string run_gnuplot(const std::string& gnuplot, const std::string& script) {
  int script_sockets[2], png_pipe[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, script_sockets) != 0) {
    throw std::runtime_error(fmt::format("Could not create a socket for gnuplot: {}.", std::strerror(errno)));
  }
  if (pipe2(png_pipe, O_CLOEXEC) != 0) {
    int error = errno;
    close(script_sockets[0]);
    close(script_sockets[1]);
    throw std::runtime_error(fmt::format("Could not create a pipe for gnuplot: {}.", std::strerror(error)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, script_sockets[1], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, png_pipe[1], STDOUT_FILENO);
  std::vector<char*> argv = {const_cast<char*>(gnuplot.c_str()), nullptr};
  pid_t pid = 0;
  int error = posix_spawn(&pid, gnuplot.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(script_sockets[1]);
  close(png_pipe[1]);
  if (error != 0) {
    close(script_sockets[0]);
    close(png_pipe[0]);
    throw std::runtime_error(fmt::format("Could not start '{}': {}.", gnuplot, std::strerror(error)));
  }
  // The script is a few hundred bytes, far below a socket's buffer, so sending it all before
  // reading cannot deadlock; gnuplot writes the PNG when the script ends.
  size_t sent = 0;
  while (sent < script.size()) {
    ssize_t n = send(script_sockets[0], script.data() + sent, script.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += size_t(n);
  }
  close(script_sockets[0]);
  std::string png;
  char chunk[1 << 16];
  for (;;) {
    ssize_t n = read(png_pipe[0], chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    png.append(chunk, size_t(n));
  }
  close(png_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(fmt::format("waitpid for gnuplot failed: {}.", std::strerror(errno)));
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code != 0 || sent < script.size()) {
    throw std::runtime_error(fmt::format("gnuplot exited with status {} (it read {} of {} script bytes).", code, sent,
                                         script.size()));
  }
  return png;
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
    std::error_code error;  // an odd PATH entry (too long, unreadable) is skipped, not thrown
    if (access(candidate.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(candidate, error)) return candidate;
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

  std::string png;
  try {
    png = run_gnuplot(gnuplot, script);
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(fmt::format("Plotting '{}' into '{}' failed: {}", csv_path, png_path, error.what()));
  }
  if (png.size() < 8 || png.compare(1, 3, "PNG") != 0) {
    throw std::runtime_error(fmt::format("gnuplot wrote no PNG ({} bytes) while plotting '{}'.", png.size(), csv_path));
  }
  // The PNG replaces png_path through xgrad's atomic writer: never half an image.
  try {
    xgrad::write_file_atomically(png_path, png, "plot_curves");
  } catch (const xgrad::Error& error) {
    throw std::runtime_error(error.what());
  }
  return true;
}

}  // namespace xgrad_examples
