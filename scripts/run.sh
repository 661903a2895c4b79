#!/usr/bin/env bash
# The README's main command: installs what is missing, builds xgrad and its
# examples (Release), then runs the flagship example. Extra arguments go to it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh examples
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
exec build/release/examples/seed_conv1d "$@"
