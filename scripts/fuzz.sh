#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`: clang-14, ASan + UBSan) and fuzzes
# each for N seconds (default 60; as many targets at once as there are cores) on a scratch copy of its committed seed corpus
# (tests/fuzz/corpus/<name>/ is never modified). Fails on any crash, hang,
# leak, uncaught non-xgrad exception or sanitizer report; the reproducer is left
# in build/fuzz/artifacts/<name>/.
#   scripts/fuzz.sh [seconds-per-target] [target...]      e.g. scripts/fuzz.sh 600 npy
# Longer campaigns: see tests/fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true

scripts/setup.sh core fuzz

start=$(date +%s)
# ccache (scripts/setup.sh core installs it) makes a rebuild incremental, also from another clone
# on the same machine (paths relative to the checkout); it takes effect when a build dir is new.
if command -v ccache >/dev/null 2>&1; then export CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_BASEDIR="$PWD"; fi
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
echo "fuzz.sh: build took $(( $(date +%s) - start )) s"

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for source in tests/fuzz/fuzz_*.cpp; do
    name=$(basename "$source" .cpp)
    targets+=("${name#fuzz_}")
  done
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Each fuzzer is one process on one core: run as many targets at once as there are cores.
fuzz_one() {
  local name=$1 binary=build/fuzz/tests/fuzz/fuzz_$1
  local work=build/fuzz/corpus/$name            # scratch corpus: seeds + what this run finds
  local artifacts=build/fuzz/artifacts/$name
  rm -rf "$work" && mkdir -p "$work" "$artifacts"
  cp tests/fuzz/corpus/"$name"/* "$work"/
  local dict=()
  [[ -f tests/fuzz/$name.dict ]] && dict=(-dict=tests/fuzz/$name.dict)
  echo "fuzz.sh: fuzzing $name for ${seconds} s ($(ls "$work" | wc -l) seeds)"
  "$binary" "$work" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" >"build/fuzz/$name.log" 2>&1
}
for name in "${targets[@]}"; do
  [[ -x build/fuzz/tests/fuzz/fuzz_$name ]] || { echo "fuzz.sh: no target build/fuzz/tests/fuzz/fuzz_$name" >&2; exit 2; }
done
declare -A pids
for name in "${targets[@]}"; do
  while [[ $(jobs -rp | wc -l) -ge $(nproc) ]]; do wait -n || true; done
  fuzz_one "$name" &
  pids[$name]=$!
done
failed=()
for name in "${targets[@]}"; do
  if ! wait "${pids[$name]}"; then
    echo "fuzz.sh: $name FAILED; last lines of build/fuzz/$name.log:" >&2
    tail -n 40 "build/fuzz/$name.log" >&2
    failed+=("$name")
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "build/fuzz/$name.log" | sed "s/^/fuzz.sh: $name /"
  fi
done

echo "fuzz.sh: done in $(( $(date +%s) - start )) s"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: failing targets: ${failed[*]} (reproducers in build/fuzz/artifacts/)" >&2
  exit 1
fi
