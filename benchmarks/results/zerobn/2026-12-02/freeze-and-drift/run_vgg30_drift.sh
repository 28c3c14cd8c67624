#!/usr/bin/env bash
# vgg-small at 30% again with the drift-aware guarantee (commit 6fcb42f, built as zerobn_evaluate_b) (a miss measured while the full
# network reads > 15% off its start-of-run latency is dropped and measured again after a 3 s pause),
# progress on so the guarantee's measurements are in the log. The full network's row (plain training)
# is the one run_vgg.sh produced, copied in.
set -x
cd "${EVAL_DIR:?the scratch dir of run_vgg.sh, holding zerobn_evaluate_b}"
export OMP_NUM_THREADS=2
./zerobn_evaluate_b --models vgg-small --fractions 0.3 --epochs 6 --train-limit 20000 --uniform \
  --profile-networks 200 --out vgg30_drift.jsonl --table vgg30_drift.md --cache-dir cache > vgg30_drift.log 2>&1
echo finished
