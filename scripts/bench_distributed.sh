#!/usr/bin/env bash
# Data-parallel throughput of the flagship M5 step (global batch 64, SGD momentum 0.9), xgrad beside
# PyTorch DDP (gloo), and the 25 MiB all-reduce against a bare MPI_Allreduce.
# Configurations alternate round by round (the host is shared); the table shows medians over rounds.
# Usage: scripts/bench_distributed.sh [seconds per measurement, default 3] [rounds, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh core distributed bench fixtures
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DXGRAD_BUILD_BENCH=ON -DXGRAD_BUILD_TESTS=OFF \
  -DXGRAD_BUILD_EXAMPLES=OFF > /dev/null
cmake --build build-bench --target xgrad_distributed_bench
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
seconds="${1:-3}" rounds="${2:-5}"
bench=build-bench/bench/xgrad_distributed_bench
mpirun -np 2 "$bench" "$seconds"
echo
flagship() {  # processes threads -> samples/s
  XGRAD_NUM_THREADS=$2 mpirun -np "$1" -x XGRAD_NUM_THREADS "$bench" "$seconds" --flagship | awk '/^flagship_samples_per_s/ {print $2}'
}
torch_ddp() {
  /usr/bin/python3 bench/torch_ddp_bench.py --processes 2 --seconds "$seconds" | sed -n 's/.* \([0-9.]*\) samples\/s$/\1/p'
}
declare -A runs=()
for ((round = 1; round <= rounds; ++round)); do
  a=$(flagship 1 1) b=$(flagship 2 1) c=$(flagship 1 2) d=$(torch_ddp)
  runs[p1t1]+="$a " runs[p2t1]+="$b " runs[p1t2]+="$c " runs[torch]+="$d "
  echo "round $round/$rounds (1x1, 2x1, 1x2, torch 2x1): $a $b $c $d" >&2
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
p1t1=$(median "${runs[p1t1]}") p2t1=$(median "${runs[p2t1]}") p1t2=$(median "${runs[p1t2]}") torch=$(median "${runs[torch]}")
echo "flagship M5 training step, global batch 64: samples/s, median of $rounds rounds"
printf '  %-40s %8.1f\n' "xgrad, 1 process x 1 thread" "$p1t1" "xgrad, 2 processes x 1 thread (DDP)" "$p2t1" \
  "xgrad, 1 process x 2 threads" "$p1t2" "PyTorch DDP gloo, 2 processes x 1 thread" "$torch"
awk -v a="$p2t1" -v b="$p1t1" -v c="$torch" 'BEGIN {
  printf "  2 processes / 1 process:   %.2fx (target >= 1.8)\n", a / b
  printf "  xgrad DDP / PyTorch DDP:   %.2fx (target >= 1.5)\n", a / c }'
