// Command-line checks the examples share, on top of CLI11's. CLI11's Range and PositiveNumber let
// "nan" through for a floating-point option (every comparison with NaN is false) and "inf" through
// PositiveNumber; these refuse both. Header-only, for programs that link CLI11.
//
//   app.add_option("--lr", lr)->check(ex::finite_in(1e-9, 1e3));
//   app.add_option("--batch-size", batch_size)->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <string>

namespace xgrad_examples {

// A finite number in [min, max].
inline CLI::Validator finite_in(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& input) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(input, value)) return fmt::format("Value {} is not a number", input);
        if (!std::isfinite(value) || value < min || value > max)
          return fmt::format("Value {} is not a finite number in [{} - {}]", input, min, max);
        return "";
      },
      fmt::format("FLOAT in [{} - {}]", min, max));
}

}  // namespace xgrad_examples
