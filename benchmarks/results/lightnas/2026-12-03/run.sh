#!/usr/bin/env bash
# LightNAS on Fashion-MNIST against this CPU's measured latency (20000 training images for the
# search and every retraining, 10000 test images; 10 search epochs of which 4 warm-up, 6 epochs
# per retraining; 240 architectures measured for the predictors):
#   1. the space's latency predictors on held-out architectures;
#   2. one LightNAS search for each of three targets (35%, 55%, 75% of the largest architecture's
#      latency) and one energy target (0.2 mJ, analytic model);
#   3. the baselines at each latency target: random search and uniform mobilenetv2-tiny first, then
#      FBNet's λ sweep (the longest: one search per λ tried), stopped once its searches took 3× the
#      target's LightNAS search (the issue's bar); a λ searched for one target is reused by the
#      others (a fixed-λ search does not depend on T; cache/fbnet-searches.json).
# Resumable: each target's finished stages (and each FBNet search) are kept in t<fraction>/ and
# reused by a rerun.     EX=/path/to/lightnas_fashion ./run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EX=${EX:-../../../../build/examples/lightnas_fashion}
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
common=(--train 20000 --test 10000 --search-epochs 10 --warmup 4 --epochs 6 --samples 240
        --cache-dir cache --quiet --json)
"$EX" --predictors-only "${common[@]}" --out-dir predictors > predictors.json 2>> predictors.log
for f in 0.35 0.55 0.75; do
  "$EX" --target-fraction "$f" "${common[@]}" --out-dir "t$f" > "t$f.json" 2>> "t$f.log"
done
"$EX" --energy-mj 0.2 "${common[@]}" --out-dir e0.2 > e0.2.json 2>> e0.2.log
for f in 0.55 0.35 0.75; do
  "$EX" --target-fraction "$f" "${common[@]}" --baselines random,uniform --out-dir "t$f" > "t$f-random,uniform.json" 2>> "t$f-baselines.log"
done
for f in 0.55 0.35 0.75; do
  "$EX" --target-fraction "$f" "${common[@]}" --baselines fbnet --fbnet-budget 3 --out-dir "t$f" > "t$f-fbnet.json" 2>> "t$f-baselines.log"
done
echo finished
