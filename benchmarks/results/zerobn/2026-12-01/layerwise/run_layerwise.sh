#!/usr/bin/env bash
# As run_fill.sh with the layer-wise ranking and fill_slack narrowest-first (the code of commit
# d26f51c, built as zerobn_evaluate_lw). The full network's row (plain training, its accuracy) is the one
# run.sh produced with the same plain-training code, copied in so it is not trained again.
set -x
cd "${EVAL_DIR:?a scratch dir holding zerobn_evaluate_lw and the predictor cache of run.sh}"
export OMP_NUM_THREADS=2
./zerobn_evaluate_lw --models resnet-8 --fractions 0.5,0.7 --epochs 6 --train-limit -1 --uniform --ranking layerwise \
  --profile-networks 200 --out resnet8_layerwise.jsonl --table resnet8_layerwise.md --cache-dir cache --quiet > resnet8_layerwise.log 2>&1
echo finished
