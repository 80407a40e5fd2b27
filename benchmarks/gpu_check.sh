#!/usr/bin/env bash
# The one prepared GPU check (benchmarks/gpu_check.py says what it measures; at most 7 minutes on one
# H200). The GPU machine has torch but no package registry: the packages archgan and the peers need that
# it lacks travel as wheels in .whl/ (benchmarks/carry_wheels.sh makes them here) and are installed first.
#
#   bash benchmarks/gpu_check.sh --out $OUT          # there
#   bash benchmarks/gpu_check.sh --dry-run --out /tmp/check   # here: the same code on the CPU, tiny
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import jsonschema" 2>/dev/null && compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
exec python3 benchmarks/gpu_check.py "$@"
