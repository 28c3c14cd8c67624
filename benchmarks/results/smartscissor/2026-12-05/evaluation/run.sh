#!/usr/bin/env bash
# SmartScissor's evaluation on Cluttered Fashion-MNIST with DIC classifiers trained on the box
# predictor's crops of the training images (--dic-train-boxes predicted, the default): the
# 2026-12-04 evaluation's settings otherwise. 10000 training images, the whole 10000-image
# cluttered test set, 64 px canvas, ResNet-20 ×0.5, 5 epochs per network; the Grad-CAM threshold
# chosen on training images (--t auto); DIC crops each box's square grown 1.2x (--crop-margin).
# Rows: MACs budgets of 70/45/30% of the base network (the box predictor counted) and a latency
# budget of 60% of the base network as measured on this CPU (the box predictor and the crop
# counted), each for DIC + compound shrinking, DIC + each single dimension, DIC + EfficientNet's
# rule and resize-only. Every network of the budget stage trains from three seeds (--repeats 3).
# Keep the machine otherwise idle: the latency rows are chosen and judged on it; a second run
# once all is trained re-measures every row (choices and accuracies are kept).
# Resumable: choices and the accuracy of every budget-row and fit network stay in models/ (their
# checkpoints too, not in git; the base network, box predictor and 32 px pair retrain without them).
#   EX=/path/to/smartscissor_cluttered ./run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EX=${EX:-../../../../../build/examples/smartscissor_cluttered}
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
"$EX" --dic-train-boxes predicted --train 10000 --test 10000 --epochs 5 --box-epochs 10 --t auto --crop-margin 1.2 --out-dir models --quiet --json --repeats 3 \
  --budget-macs-fraction 0.7,0.45,0.3 --budget-latency-fraction 0.6 > evaluation.json 2> evaluation.log
echo finished
