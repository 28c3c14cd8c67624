#!/usr/bin/env bash
# resnet-8 50% again: a filled architecture the device rejects recalibrates and refills (the code of
# commit b9ddf85, built as zerobn_evaluate_refill). The full network's row (plain training, its accuracy) is the one
# run.sh produced with the same plain-training code, copied in so it is not trained again.
set -x
cd "${EVAL_DIR:?a scratch dir holding zerobn_evaluate_refill and the predictor cache of run.sh}"
export OMP_NUM_THREADS=2
./zerobn_evaluate_refill --models resnet-8 --fractions 0.5 --epochs 6 --train-limit -1 --uniform --ranking layerwise \
  --profile-networks 200 --out resnet8_layerwise_refill.jsonl --table resnet8_layerwise_refill.md --cache-dir cache --quiet > resnet8_layerwise_refill.log 2>&1
echo finished
