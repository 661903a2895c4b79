#!/usr/bin/env bash
# Installs the Debian packages xgrad needs, and only the ones that are missing.
#
#   scripts/setup.sh [GROUP...]      GROUP: core (default), examples, distributed, fixtures, bench, fuzz, all
#
# Idempotent and non-interactive: a second run installs nothing and does not touch apt's lists.
# As a non-root user it succeeds only when nothing is missing (it says what to run otherwise).
set -euo pipefail

core=(cmake ninja-build ccache g++ libxtensor-dev xtl-dev libxsimd-dev libfmt-dev doctest-dev pkgconf libzip-dev nlohmann-json3-dev)
examples=("${core[@]}" libsndfile1-dev libsamplerate0-dev libcli11-dev libespeak-ng-dev espeak-ng-data gnuplot-nox graphviz)
# Open MPI for xgrad::distributed (its tests' network-namespace case also needs `ip`).
distributed=("${core[@]}" openmpi-bin libopenmpi-dev iproute2)
fixtures=(python3-torch python3-numpy)
bench=(libtorch-dev libbenchmark-dev)
fuzz=(clang-14 libclang-rt-14-dev)

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
}

wanted=()
[[ $# -eq 0 ]] && set -- core
for group in "$@"; do
  case "$group" in
    core) wanted+=("${core[@]}") ;;
    examples) wanted+=("${examples[@]}") ;;
    distributed) wanted+=("${distributed[@]}") ;;
    fixtures) wanted+=("${fixtures[@]}") ;;
    bench) wanted+=("${bench[@]}") ;;
    fuzz) wanted+=("${fuzz[@]}") ;;
    all) wanted+=("${examples[@]}" "${distributed[@]}" "${fixtures[@]}" "${bench[@]}" "${fuzz[@]}") ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup.sh: unknown group '$group'" >&2; usage >&2; exit 2 ;;
  esac
done

# A package counts as present only when dpkg says "install ok installed" (not half-configured, not removed).
missing=()
declare -A seen=()
for package in "${wanted[@]}"; do
  [[ -n "${seen[$package]:-}" ]] && continue
  seen[$package]=1
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup.sh: all ${#seen[@]} packages for '$*' are installed."
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup.sh: missing packages: ${missing[*]}" >&2
  echo "setup.sh: run as root to install them: sudo $0 $*" >&2
  exit 1
fi

echo "setup.sh: installing ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup.sh: done."
