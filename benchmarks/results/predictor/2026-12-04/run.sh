#!/usr/bin/env bash
# The 2026-12-03 runner (the README's two commands with their defaults on three fresh data sets,
# seeds 1-3, then the narrow per-layer widths ZeroBN produces, then bench_predictor), run on the
# code of this date with its results here.   BIN=/path/to/build ./run.sh DIR [profile flags]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$here/../2026-12-03/run.sh" "$here/$1" "${@:2}"
