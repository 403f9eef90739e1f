#!/usr/bin/env bash
# All three runbook phases in order (benchmarks/gpu/run.sh): quick, then sanitize, then bench, into one
# output folder; stops at the first phase that fails and returns its status.
#
#   bash benchmarks/gpu/run_all.sh [OUTDIR]
set -uo pipefail
here="$(dirname "$0")"
for phase in quick sanitize bench; do
  bash "$here/run.sh" "$phase" "$@" || exit $?
done
