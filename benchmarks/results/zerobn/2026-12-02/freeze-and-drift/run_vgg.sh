#!/usr/bin/env bash
# vgg-small at 30% and 70% with the code of ../../2026-12-01/layerwise/ (commit 28707df plus the
# evaluator's --min-channels flag, default 4: the code path of the 50% row; built as
# zerobn_evaluate_a), first 20,000 training images, 6 epochs, the paper's global ranking; the
# predictor re-profiled for this run.
set -x
cd "${EVAL_DIR:?a scratch dir holding zerobn_evaluate_a and its predictor cache}"
export OMP_NUM_THREADS=2
./zerobn_evaluate_a --models vgg-small --fractions 0.3,0.7 --epochs 6 --train-limit 20000 --uniform \
  --profile-networks 200 --out vgg.jsonl --table vgg.md --cache-dir cache --quiet > vgg.log 2>&1
echo finished
