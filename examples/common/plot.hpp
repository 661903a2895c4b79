// Draws training curves from a MetricsCsv file into a PNG, using gnuplot if it is installed.
#pragma once

#include <string>
#include <vector>

namespace xgrad_examples {

// Plots `columns` of the CSV at csv_path against its first column (the epoch) into png_path.
// Columns whose name contains "acc" go to an accuracy panel (0..1), the others to a loss panel;
// with only one kind there is one panel; log_scale draws the loss panel on a log axis (for errors
// that fall by orders of magnitude). Runs gnuplot (pngcairo if it has it, else png) with the
// script on its standard input and the PNG on its standard output, never through a shell, so
// paths and titles need no escaping by the caller; the PNG replaces png_path atomically.
// Returns true if the PNG was written. If gnuplot is not on PATH it prints one line saying the
// plot was skipped and returns false; a gnuplot failure throws std::runtime_error.
bool plot_curves(const std::string& csv_path, const std::string& png_path, const std::string& title,
                 const std::vector<std::string>& columns, bool log_scale = false);

// The full path of `program` found on $PATH, or "" if there is none.
std::string find_on_path(const std::string& program);

}  // namespace xgrad_examples
