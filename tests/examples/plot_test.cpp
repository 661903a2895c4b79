#include <doctest/doctest.h>

#include <filesystem>

#include "common/metrics_csv.hpp"
#include "common/plot.hpp"
#include "temp_dir.hpp"

using namespace xgrad_examples;

TEST_CASE("plot: writes a PNG even when paths and title hold quotes, or skips without gnuplot") {
  TempDir dir;
  // A name that would run a command if it were pasted into a shell or a gnuplot string unquoted.
  std::string hostile = "it's \"x\"; system('touch pwned') $(touch pwned)";
  std::string csv_path = dir / (hostile + ".csv");
  {
    MetricsCsv csv(csv_path, {"epoch", "train_loss", "test_loss", "test_acc"});
    for (int epoch = 1; epoch <= 5; ++epoch) csv.row({double(epoch), 1.0 / epoch, 1.2 / epoch, 1.0 - 0.5 / epoch});
  }
  std::string png_path = dir / (hostile + ".png");
  if (find_on_path("gnuplot").empty()) {
    CHECK_FALSE(plot_curves(csv_path, png_path, hostile, {"train_loss", "test_acc"}));
  } else {
    REQUIRE(plot_curves(csv_path, png_path, hostile, {"train_loss", "test_loss", "test_acc"}));
    CHECK(read_text(png_path).substr(1, 3) == "PNG");
    CHECK_FALSE(std::filesystem::exists(dir.path / "pwned"));
    CHECK_FALSE(std::filesystem::exists("pwned"));
    CHECK_THROWS_AS(plot_curves(csv_path, png_path, "t", {"no_such_column"}), std::invalid_argument);
  }
}
