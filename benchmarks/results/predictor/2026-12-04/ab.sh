#!/usr/bin/env bash
# The per-kernel MLP with and without the network-context feature (the network's parameters) on
# the data sets run.sh measured: the same fit (no adaptive sampling, no second session) by this
# build's fit_predictor and by one built before the feature (OLD, e.g. from commit 5a91e9d).
#   OLD=/path/to/old/fit_predictor BIN=/path/to/build ./ab.sh DIR
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
BIN=$(realpath "${BIN:-../../../../build}")
cd "$1"
for s in 1 2 3; do
  for v in old new; do
    [[ -s ab-$v$s.json ]] && continue
    exe=$BIN/examples/fit_predictor
    [[ $v == old ]] && exe=$OLD
    "$exe" --data latency$s.jsonl --seed "$s" --adaptive 0 --no-ceiling --out-dir ab-$v$s --plot ab-$v$s \
      --json > ab-$v$s.json.tmp 2>> ab.log
    mv ab-$v$s.json.tmp ab-$v$s.json
  done
done
echo finished
