#!/usr/bin/env bash
# The ZeroBN evaluation, 2026-12-01: resnet-8 on all 60k training images, vgg-small on 20k.
set -x
cd /work/eval
export OMP_NUM_THREADS=2
./zerobn_evaluate --models resnet-8 --fractions 0.3,0.5,0.6,0.7 --epochs 6 --train-limit -1 --uniform \
  --out resnet8.jsonl --table resnet8.md --cache-dir cache --quiet > resnet8.log 2>&1
./zerobn_evaluate --models vgg-small --fractions 0.3,0.5,0.7 --epochs 6 --train-limit 20000 \
  --out vgg.jsonl --table vgg.md --cache-dir cache --quiet > vgg.log 2>&1
echo finished
