#!/usr/bin/env bash
# vgg-small at 30% with the drift-aware guarantee and the measured retarget at the freeze (commit
# 6b000b8, built as zerobn_evaluate_c)
# (a mask that left the confirmed architecture is measured and retargeted before r settles), progress
# on. The full network's row (plain training) is the one run_vgg.sh produced, copied in.
set -x
cd "${EVAL_DIR:?the scratch dir of run_vgg.sh, holding zerobn_evaluate_c}"
export OMP_NUM_THREADS=2
./zerobn_evaluate_c --models vgg-small --fractions 0.3 --epochs 6 --train-limit 20000 --uniform \
  --profile-networks 200 --out vgg30_freeze.jsonl --table vgg30_freeze.md --cache-dir cache > vgg30_freeze.log 2>&1
echo finished
