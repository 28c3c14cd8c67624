#!/usr/bin/env bash
# vgg-small at 30% and 70% again, on the evaluator that keeps a row's epoch times beside its
# checkpoint (commit in rerun-commit.txt): in vgg.jsonl the 70% row was resumed after its last epoch
# and lost its time ratio, and the 30% row missed the 0.85·T floor. The full-network row is
# vgg.jsonl's (same settings), so the full network is not trained again. Resumable like run.sh:
#   EVAL=/path/to/zerobn_evaluate ./rerun.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EVAL=${EVAL:-../../../../build/examples/zerobn_evaluate}
export OMP_NUM_THREADS=2
[[ -s vgg-rerun.jsonl ]] || head -1 vgg.jsonl > vgg-rerun.jsonl
"$EVAL" --models vgg-small --fractions 0.3,0.7 --epochs 6 --train-limit 20000 --uniform \
  --profile-networks 200 --out vgg-rerun.jsonl --table vgg-rerun.md --cache-dir cache --quiet >> vgg-rerun.log 2>&1
echo finished
