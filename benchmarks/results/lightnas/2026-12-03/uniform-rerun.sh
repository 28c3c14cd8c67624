#!/usr/bin/env bash
# The 35% target's uniform baseline again, with the width scan above the bisection: the first one
# (t0.35-uniform-bisection-only.json) stopped at 0.511 ms for T = 0.659 ms, not at LightNAS's
# latency. Runs after run.sh, in the same units.   EX=/path/to/lightnas_fashion ./uniform-rerun.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EX=${EX:-../../../../build/examples/lightnas_fashion}
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
common=(--train 20000 --test 10000 --search-epochs 10 --warmup 4 --epochs 6 --samples 240
        --cache-dir cache --quiet --json)
"$EX" --target-fraction 0.35 "${common[@]}" --baselines uniform --out-dir t0.35 > t0.35-uniform.json 2>> t0.35-baselines.log
echo finished
