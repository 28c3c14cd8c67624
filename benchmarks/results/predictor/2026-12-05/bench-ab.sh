#!/usr/bin/env bash
# The 2026-12-04 A/B script (five alternating rounds on one thread; the ratio is the figure), its
# result filed here. OLD: 128304b's bench_predictor for bench-ab-category-check.txt, whose batches
# checked a row's category inside the per-row bucket lookup.
#   OLD=/path/to/old/bench_predictor BIN=/path/to/build ./bench-ab.sh OUT.txt
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BIN=$(realpath "${BIN:-$here/../../../../build}")
exec "$here/../2026-12-04/bench-ab.sh" "$here/$1"
