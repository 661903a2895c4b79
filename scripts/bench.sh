#!/usr/bin/env bash
# Builds the benchmarks (Release) and runs them against LibTorch at 1 and 2 threads:
#   1. Conv1d kernels alone (xgrad_conv1d_bench),
#   2. the framework-level training step on the same shapes and the flagship model's throughput
#      (xgrad_train_bench),
#   3. the flagship's peak memory, each framework alone in its own process (--only).
# Usage: scripts/bench.sh [min seconds per measurement, default 0.5] [shape filter] [threads, e.g. 12]
set -euo pipefail
cd "$(dirname "$0")/.."
# LibTorch (libtorch-dev) and Google Benchmark: without LibTorch the tables have xgrad's columns only.
scripts/setup.sh core bench
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DXGRAD_BUILD_BENCH=ON -DXGRAD_BUILD_TESTS=OFF \
  -DXGRAD_BUILD_EXAMPLES=OFF > /dev/null
cmake --build build-bench --target xgrad_conv1d_bench xgrad_train_bench
export OPENBLAS_NUM_THREADS=1
seconds="${1:-0.5}" filter="${2:-}" threads="${3:-12}"
./build-bench/bench/xgrad_conv1d_bench "$seconds" "$filter" "$threads"
echo
./build-bench/bench/xgrad_train_bench --seconds "$seconds" --filter "$filter" --threads "$threads"
for framework in xgrad torch; do
  ./build-bench/bench/xgrad_train_bench --only "$framework" --threads 1 --steps 20
done
