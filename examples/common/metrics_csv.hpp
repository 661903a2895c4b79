// Writes one CSV row of numbers per epoch, for plotting training curves afterwards.
//
//   MetricsCsv csv("out/metrics.csv", {"epoch", "train_loss", "test_acc"});
//   csv.row({1, 0.5, 0.9});
//
// The header is written when the object is made (an existing file is replaced) and each row is
// on disk when row() returns, so a run that is stopped early still leaves every finished epoch.
// Every write replaces the whole file through xgrad's atomic writer (xgrad::write_file_atomically):
// a reader, or a crash, never sees half a row.
#pragma once

#include <string>
#include <vector>

namespace xgrad_examples {

class MetricsCsv {
 public:
  // Throws std::runtime_error naming the path and the OS reason if the file can't be created.
  MetricsCsv(std::string path, std::vector<std::string> columns);
  MetricsCsv(const MetricsCsv&) = delete;
  MetricsCsv& operator=(const MetricsCsv&) = delete;

  // One value per column, in the header's order; throws std::invalid_argument otherwise.
  // Whole numbers print without a decimal point ("3", not "3.000000").
  void row(const std::vector<double>& values);

  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::string path_;
  std::vector<std::string> columns_;
  std::string text_;  // everything written so far
};

}  // namespace xgrad_examples
