#include "metrics_csv.hpp"

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace xgrad_examples {

MetricsCsv::MetricsCsv(std::string path, std::vector<std::string> columns)
    : path_(std::move(path)), columns_(std::move(columns)) {
  if (columns_.empty()) throw std::invalid_argument("MetricsCsv needs at least one column name.");
  for (const std::string& name : columns_) {
    if (name.find_first_of(",\"\n") != std::string::npos) {
      throw std::invalid_argument(fmt::format("MetricsCsv column name '{}' contains a comma, quote or newline.", name));
    }
  }
  file_ = std::fopen(path_.c_str(), "w");
  if (file_ == nullptr) {
    throw std::runtime_error(fmt::format("Could not open metrics file '{}' for writing: {}.", path_, std::strerror(errno)));
  }
  std::string header;
  for (size_t i = 0; i < columns_.size(); ++i) header += (i ? "," : "") + columns_[i];
  fmt::print(file_, "{}\n", header);
  std::fflush(file_);
}

MetricsCsv::~MetricsCsv() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsCsv::row(const std::vector<double>& values) {
  if (values.size() != columns_.size()) {
    throw std::invalid_argument(fmt::format("MetricsCsv row for '{}' has {} values but the header has {} columns.",
                                            path_, values.size(), columns_.size()));
  }
  std::string line;
  // {} prints the shortest text that reads back to the same double: 3 -> "3", 0.1 -> "0.1".
  for (size_t i = 0; i < values.size(); ++i) line += fmt::format("{}{}", i ? "," : "", values[i]);
  fmt::print(file_, "{}\n", line);
  if (std::fflush(file_) != 0 || std::ferror(file_)) {
    throw std::runtime_error(fmt::format("Could not write to metrics file '{}': {}.", path_, std::strerror(errno)));
  }
}

}  // namespace xgrad_examples
