#!/usr/bin/env bash
# Builds the Conv1d kernel benchmark (Release) and runs it against LibTorch at 1 and 2 threads.
# Usage: scripts/bench.sh [min seconds per measurement, default 0.5] [shape filter] [threads, e.g. 12]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DXGRAD_BUILD_BENCH=ON -DXGRAD_BUILD_TESTS=OFF \
  -DXGRAD_BUILD_EXAMPLES=OFF > /dev/null
cmake --build build-bench --target xgrad_conv1d_bench
export OPENBLAS_NUM_THREADS=1
exec ./build-bench/bench/xgrad_conv1d_bench "${1:-0.5}" "${2:-}" "${3:-12}"
