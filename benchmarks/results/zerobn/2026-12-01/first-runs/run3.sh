#!/usr/bin/env bash
# vgg-small budgets again with the calibrated ZeroBN (the full-network row of run 1 is kept).
cd /work/eval
export OMP_NUM_THREADS=2
./zerobn_evaluate --models vgg-small --fractions 0.3,0.5,0.7 --epochs 6 --train-limit 20000 \
  --out vgg.jsonl --table vgg.md --cache-dir cache --quiet > vgg2.log 2>&1
echo finished
