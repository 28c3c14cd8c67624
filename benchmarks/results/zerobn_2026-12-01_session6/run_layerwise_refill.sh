#!/usr/bin/env bash
# Session 6, fourth run: 50% again, a filled architecture the device rejects recalibrates and refills (the code of the
# commit that adds this file). The full network's row (plain training, its accuracy) is the one
# run.sh produced with the same plain-training code, copied in so it is not trained again.
set -x
cd /work/eval6  # scratch dir: the binaries built from this commit, the predictor cache
export OMP_NUM_THREADS=2
./zerobn_evaluate_refill --models resnet-8 --fractions 0.5 --epochs 6 --train-limit -1 --uniform --ranking layerwise \
  --profile-networks 200 --out resnet8_layerwise_refill.jsonl --table resnet8_layerwise_refill.md --cache-dir cache --quiet > resnet8_layerwise_refill.log 2>&1
echo finished
