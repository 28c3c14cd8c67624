#!/usr/bin/env bash
# ZeroBN evaluation of resnet-8 with the code of commit b41d398: kept counts powers of two up to 16 and multiples of 16 above,
# retarget band, last-epoch retargets measured on the device, recovery after a guarantee raise; the
# predictor fitted with 200 random networks (half at fast channel counts).
set -x
cd "${EVAL_DIR:?a scratch dir holding zerobn_evaluate built from b41d398 and its predictor cache}"
export OMP_NUM_THREADS=2
./zerobn_evaluate --models resnet-8 --fractions 0.3,0.5,0.6,0.7 --epochs 6 --train-limit -1 --uniform \
  --profile-networks 200 --out resnet8.jsonl --table resnet8.md --cache-dir cache --quiet > resnet8.log 2>&1
echo finished
