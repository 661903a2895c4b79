#!/usr/bin/env bash
# The README's main command: runs the flagship example end to end on a fresh machine.
#   scripts/run.sh [keyword_spotting options...]
# Installs what is missing (espeak-ng, libsndfile, libsamplerate, CLI11, gnuplot; as root), builds
# the library and this one example (Release; scripts/test.sh builds the rest), makes the spoken-digit
# data set (or loads its cache from cache/keyword_spotting), trains the keyword spotter, tests it on voices it never heard and prints
# the verdict, then the total time. Outputs (metrics.csv, curves.png, model.xgrad) go to
# out/keyword_spotting/. The exit status is keyword_spotting's: non-zero if the target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/setup.sh examples
# ccache (scripts/setup.sh core installs it) makes a rebuild incremental, also from another clone
# on the same machine (paths relative to the checkout); it takes effect when a build dir is new.
if command -v ccache >/dev/null 2>&1; then export CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_BASEDIR="$PWD"; fi
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target keyword_spotting
built=$(date +%s)
status=0
build/release/examples/keyword_spotting/keyword_spotting "$@" || status=$?
end=$(date +%s)
echo "scripts/run.sh: total $((end - start)) s (setup and build $((built - start)) s, keyword_spotting $((end - built)) s)"
exit "$status"
