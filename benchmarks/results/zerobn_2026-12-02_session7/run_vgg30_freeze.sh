#!/usr/bin/env bash
# Session 7: vgg-small at 30% with the drift-aware guarantee and the measured retarget at the freeze
# (a mask that left the confirmed architecture is measured and retargeted before r settles), progress
# on. The full network's row (plain training) is the one run_vgg.sh produced, copied in.
set -x
cd /work/eval7
export OMP_NUM_THREADS=2
./zerobn_evaluate_c --models vgg-small --fractions 0.3 --epochs 6 --train-limit 20000 --uniform \
  --profile-networks 200 --out vgg30_freeze.jsonl --table vgg30_freeze.md --cache-dir cache > vgg30_freeze.log 2>&1
echo finished
