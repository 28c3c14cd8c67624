#!/usr/bin/env bash
# As run.sh plus settle_fraction 0.25 and fill_slack restoring the cheapest width per ms first (the
# code of commit 1f43671, built as zerobn_evaluate_fill). The full network's row (plain training, its accuracy) is the one
# run.sh produced with the same plain-training code, copied in so it is not trained again.
set -x
cd "${EVAL_DIR:?a scratch dir holding zerobn_evaluate_fill and the predictor cache of run.sh}"
export OMP_NUM_THREADS=2
./zerobn_evaluate_fill --models resnet-8 --fractions 0.5,0.7 --epochs 6 --train-limit -1 --uniform \
  --profile-networks 200 --out resnet8_fill.jsonl --table resnet8_fill.md --cache-dir cache --quiet > resnet8_fill.log 2>&1
echo finished
