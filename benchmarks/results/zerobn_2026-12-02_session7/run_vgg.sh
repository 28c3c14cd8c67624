#!/usr/bin/env bash
# Session 7: vgg-small at 30% and 70% with the code of session 6 (commit 28707df plus the evaluator's
# --min-channels flag, default 4: the code path of the 50% row), first 20,000 training images,
# 6 epochs, the paper's global ranking; the predictor re-profiled in this session.
set -x
cd /work/eval7
export OMP_NUM_THREADS=2
./zerobn_evaluate_a --models vgg-small --fractions 0.3,0.7 --epochs 6 --train-limit 20000 --uniform \
  --profile-networks 200 --out vgg.jsonl --table vgg.md --cache-dir cache --quiet > vgg.log 2>&1
echo finished
