#!/usr/bin/env bash
# vgg-small at 50% (the budget ../measurement-medians/ missed by 0.0003): the code of commit b9ddf85
# (serial under 4 M MACs, settle_fraction 0.25, fill_slack narrowest-first with refills, the paper's global
# ranking), first 20,000 training images, 6 epochs; the predictor re-profiled for this runtime.
set -x
cd "${EVAL_DIR:?a scratch dir holding zerobn_evaluate_refill (b9ddf85) and its predictor cache}"
export OMP_NUM_THREADS=2
./zerobn_evaluate_refill --models vgg-small --fractions 0.5 --epochs 6 --train-limit 20000 --uniform \
  --profile-networks 200 --out vgg.jsonl --table vgg.md --cache-dir cache --quiet > vgg.log 2>&1
echo finished
