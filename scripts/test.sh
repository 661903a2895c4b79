#!/usr/bin/env bash
# Builds xgrad and runs every test. Installs missing Debian packages first (as root).
#   scripts/test.sh            release build, the whole suite (the README's test command)
#   scripts/test.sh asan       the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/test.sh tsan       the tests that use threads, under ThreadSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
case "$preset" in
  release|asan|tsan) ;;
  *) echo "usage: scripts/test.sh [release|asan|tsan]" >&2; exit 2 ;;
esac

scripts/setup.sh examples distributed

# ccache (scripts/setup.sh core installs it) makes a rebuild incremental, also from another clone
# on the same machine (paths relative to the checkout); it takes effect when a build dir is new.
if command -v ccache >/dev/null 2>&1; then export CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_BASEDIR="$PWD"; fi
jobs="$(nproc)"
start=$(date +%s)
cmake --preset "$preset" >/dev/null
if [[ "$preset" == tsan ]]; then
  # ThreadSanitizer runs only the tests labelled `threads`: build just those.
  cmake --build --preset tsan -j "$jobs" --target xgrad_thread_tests
else
  cmake --build --preset "$preset" -j "$jobs"
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}"
ctest --preset "$preset"
echo "scripts/test.sh $preset: done in $(( $(date +%s) - start )) s"
