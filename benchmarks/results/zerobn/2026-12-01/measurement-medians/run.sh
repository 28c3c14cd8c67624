#!/usr/bin/env bash
# ZeroBN evaluation with the code of commit b764112 (the one that added this script): predictor
# sampling plan 3 (200 random networks: a narrow log-uniform third + the scaled diagonal), device
# figures as medians of 3 interleaved sessions and per-architecture medians over the run, near
# misses re-measured in the guarantee, retarget band 0.95; each row's final check on the median of
# 5 interleaved sessions. resnet-8 on all 60,000 training images, vgg-small on the first 20,000;
# 6 epochs per method. (resnet8_single_reading.*: the same plan with the measurement
# code before b764112, i.e. commit 9e7e025, and band 0.9, run first.)
set -x
cd "${EVAL_DIR:?a scratch dir holding zerobn_evaluate built from b764112 and its predictor cache}"
export OMP_NUM_THREADS=2
./zerobn_evaluate --models resnet-8 --fractions 0.3,0.5,0.7 --epochs 6 --train-limit -1 --uniform \
  --profile-networks 200 --out resnet8.jsonl --table resnet8.md --cache-dir cache --quiet > resnet8.log 2>&1
./zerobn_evaluate --models vgg-small --fractions 0.3,0.5,0.7 --epochs 6 --train-limit 20000 --uniform \
  --profile-networks 200 --out vgg.jsonl --table vgg.md --cache-dir cache --quiet > vgg.log 2>&1
echo finished
