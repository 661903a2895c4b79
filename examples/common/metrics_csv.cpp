#include "metrics_csv.hpp"

#include <fmt/core.h>

#include <stdexcept>

#include "core/file_io.hpp"

namespace xgrad_examples {

MetricsCsv::MetricsCsv(std::string path, std::vector<std::string> columns)
    : path_(std::move(path)), columns_(std::move(columns)) {
  if (columns_.empty()) throw std::invalid_argument("MetricsCsv needs at least one column name.");
  for (const std::string& name : columns_) {
    if (name.find_first_of(",\"\n") != std::string::npos) {
      throw std::invalid_argument(fmt::format("MetricsCsv column name '{}' contains a comma, quote or newline.", name));
    }
  }
  for (size_t i = 0; i < columns_.size(); ++i) text_ += (i ? "," : "") + columns_[i];
  text_ += '\n';
  try {
    xgrad::write_file_atomically(path_, text_, "MetricsCsv");
  } catch (const xgrad::Error& error) {
    throw std::runtime_error(fmt::format("Could not open metrics file '{}' for writing: {}", path_, error.what()));
  }
}

void MetricsCsv::row(const std::vector<double>& values) {
  if (values.size() != columns_.size()) {
    throw std::invalid_argument(fmt::format("MetricsCsv row for '{}' has {} values but the header has {} columns.",
                                            path_, values.size(), columns_.size()));
  }
  std::string line;
  // {} prints the shortest text that reads back to the same double: 3 -> "3", 0.1 -> "0.1".
  for (size_t i = 0; i < values.size(); ++i) line += fmt::format("{}{}", i ? "," : "", values[i]);
  try {
    xgrad::write_file_atomically(path_, text_ + line + '\n', "MetricsCsv");
  } catch (const xgrad::Error& error) {
    throw std::runtime_error(fmt::format("Could not write to metrics file '{}': {}", path_, error.what()));
  }
  text_ += line + '\n';
}

}  // namespace xgrad_examples
