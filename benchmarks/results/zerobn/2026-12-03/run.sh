#!/usr/bin/env bash
# ZeroBN evaluation on the current code (the shared budget controller and measured device, the
# drift-referenced predictor profile): the commands of docs/results.md, vgg-small first, resumable
# (finished rows are skipped, a ZeroBN run continues from its epoch checkpoint). Run from this
# directory with the evaluator built from the commit in commit.txt: EVAL=/path/to/zerobn_evaluate ./run.sh
# (that evaluator stops at vgg.jsonl's resumed 70% row, whose time ratio is null; one built from a
# later commit reads it as not measured)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EVAL=${EVAL:-../../../../build/examples/zerobn_evaluate}
export OMP_NUM_THREADS=2
"$EVAL" --models vgg-small --fractions 0.3,0.5,0.7 --epochs 6 --train-limit 20000 --uniform \
  --profile-networks 200 --out vgg.jsonl --table vgg.md --cache-dir cache --quiet >> vgg.log 2>&1
"$EVAL" --models resnet-8 --fractions 0.5,0.7 --epochs 6 --train-limit -1 --uniform --ranking layerwise \
  --profile-networks 200 --out resnet8.jsonl --table resnet8.md --cache-dir cache --quiet >> resnet8.log 2>&1
echo finished
