#!/usr/bin/env bash
# genbench's own speed: run the pytest-benchmark benchmarks and compare with this machine's stored baseline.
#
#   scripts/benchmarks.sh            run, compare with the latest stored baseline, fail if a median is 50% slower
#   scripts/benchmarks.sh --save     run and store a new baseline (benchmarks/baselines/<machine>/NNNN_baseline.json)
#
# Baselines are per machine (pytest-benchmark keys them by platform and Python); a machine without one only runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
args=(benchmarks -m "" -p no:cacheprovider --benchmark-enable --benchmark-only
      --benchmark-storage=file://benchmarks/baselines --benchmark-columns=median,iqr,rounds
      --benchmark-sort=name)
if [ "${1:-}" = "--save" ]; then
  exec "$PY" -m pytest "${args[@]}" --benchmark-save=baseline
fi
if compgen -G "benchmarks/baselines/*/*.json" >/dev/null; then
  exec "$PY" -m pytest "${args[@]}" --benchmark-compare --benchmark-compare-fail=median:50%
fi
exec "$PY" -m pytest "${args[@]}"
