#!/usr/bin/env bash
# How far DIC's boxes are from what cropping can give, on the evaluation's base network and box
# predictor (../evaluation/models; run that first): IoUs against the true boxes beside the best a
# square box reaches, how much of each item the crops keep, and classifiers (10k training images,
# 5 epochs, the whole cluttered test set) trained on crops of the true boxes (a ceiling: the truth
# trains nothing in SmartScissor), of the predicted boxes, of the Grad-CAM boxes (tested on
# predicted crops, as DIC runs) and on the resized canvas, at 32 and 64 px; margins 1.2, 1.6, 2.0
# for the true boxes at 32 px.
#   EX=/path/to/dic_ceiling ./run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EX=${EX:-../../../../../build/benchmarks/dic_ceiling}
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
run() {  # resumable: a finished file is kept
  [[ -s "$1.json" ]] || { "$EX" --models ../evaluation/models "${@:2}" > "$1.tmp" 2> "$1.log" && mv "$1.tmp" "$1.json"; }
}
run side32 --side 32 --train-crops truth,predicted,gradcam,resize
run side64 --side 64 --train-crops truth,predicted,gradcam,resize
run truth32-margin1.6 --side 32 --crop-margin 1.6 --train-crops truth
run truth32-margin2.0 --side 32 --crop-margin 2.0 --train-crops truth
echo finished
