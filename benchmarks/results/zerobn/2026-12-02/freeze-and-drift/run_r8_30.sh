#!/usr/bin/env bash
# resnet-8 at 30% (the binary run_vgg.sh names, zerobn_evaluate_a; the evaluation record lists the
# row under commit 6fcb42f) with at least 2 channels per layer (the 4-channel floor reads 0.33 of
# the full network here), layer-wise ranking, all 60,000 images, 6 epochs.
set -x
cd "${EVAL_DIR:?a scratch dir holding zerobn_evaluate_a and its predictor cache}"
export OMP_NUM_THREADS=2
./zerobn_evaluate_a --models resnet-8 --fractions 0.3 --epochs 6 --train-limit -1 --uniform --ranking layerwise \
  --min-channels 2 --profile-networks 200 --out resnet8_30_min2.jsonl --table resnet8_30_min2.md --cache-dir cache --quiet > resnet8_30_min2.log 2>&1
echo finished
