#include <doctest/doctest.h>

#include <stdexcept>

#include "common/metrics_csv.hpp"
#include "temp_dir.hpp"

using xgrad_examples::MetricsCsv;

TEST_CASE("metrics csv: header then one flushed row per call") {
  TempDir dir;
  std::string path = dir / "metrics.csv";
  MetricsCsv csv(path, {"epoch", "train_loss", "test_acc"});
  csv.row({1, 0.5, 0.9});
  csv.row({2, 0.25, 0.9375});
  // Readable before the object is destroyed: a run killed mid-training keeps its rows.
  CHECK(read_text(path) == "epoch,train_loss,test_acc\n1,0.5,0.9\n2,0.25,0.9375\n");
}

TEST_CASE("metrics csv: clear errors") {
  TempDir dir;
  CHECK_THROWS_WITH_AS(MetricsCsv(dir / "no/such/dir/metrics.csv", {"epoch"}),
                       doctest::Contains("Could not open metrics file"), std::runtime_error);
  CHECK_THROWS_AS(MetricsCsv(dir / "m.csv", {}), std::invalid_argument);
  CHECK_THROWS_AS(MetricsCsv(dir / "m.csv", {"a,b"}), std::invalid_argument);
  MetricsCsv csv(dir / "m.csv", {"epoch", "loss"});
  CHECK_THROWS_WITH_AS(csv.row({1}), doctest::Contains("has 1 values but the header has 2"), std::invalid_argument);
}
