#!/usr/bin/env bash
# Runs an MPI job that must fail: passes when it ends with a non-zero status
# within BOUND seconds and its output contains TEXT.
#   expect_job_fails.sh BOUND TEXT command...
set -uo pipefail
bound="$1" text="$2"
shift 2
start=$(date +%s%N)
output=$("$@" 2>&1)
status=$?
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf '%s\n' "$output" | tail -n 40
echo "expect_job_fails: status $status after ${elapsed_ms} ms (bound ${bound} s)"
if [[ $status -eq 0 ]]; then
  echo "expect_job_fails: FAILED: the job ended with status 0" >&2
  exit 1
fi
if (( elapsed_ms > bound * 1000 )); then
  echo "expect_job_fails: FAILED: the job took longer than ${bound} s to end" >&2
  exit 1
fi
if ! grep -qF -- "$text" <<<"$output"; then
  echo "expect_job_fails: FAILED: the output does not contain '$text'" >&2
  exit 1
fi
