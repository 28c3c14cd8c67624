#!/usr/bin/env bash
# ZeroBN evaluation with the code of commit d6bc355: ops under 4 M MACs serial (resnet-8 runs serial
# at batch 1), the last epoch's second half trains the last architecture the device confirmed;
# otherwise as ../measurement-medians/run.sh (plan-3 predictor re-profiled for this runtime and CPU, medians of 3 sessions, band
# 0.95, final check on the median of 5 interleaved sessions). resnet-8 on all 60,000 images.
set -x
cd "${EVAL_DIR:?a scratch dir holding zerobn_evaluate built from d6bc355 and its predictor cache}"
export OMP_NUM_THREADS=2
./zerobn_evaluate --models resnet-8 --fractions 0.3,0.5,0.7 --epochs 6 --train-limit -1 --uniform \
  --profile-networks 200 --out resnet8.jsonl --table resnet8.md --cache-dir cache --quiet > resnet8.log 2>&1
echo finished
