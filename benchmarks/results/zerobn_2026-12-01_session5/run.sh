#!/usr/bin/env bash
# ZeroBN evaluation, session 5: the code of session 4 (guards round_to 16, retarget band,
# last-epoch device retargets in the epoch's first half, recovery after a guarantee raise) with
# predictor sampling plan 3 (narrow log-uniform third + scaled diagonal), 200 random networks.
# resnet-8 on all 60,000 training images, vgg-small on the first 20,000; 6 epochs per method.
set -x
cd /work/eval4
export OMP_NUM_THREADS=2
./zerobn_evaluate --models resnet-8 --fractions 0.3,0.5,0.7 --epochs 6 --train-limit -1 --uniform \
  --profile-networks 200 --out resnet8.jsonl --table resnet8.md --cache-dir cache --quiet > resnet8.log 2>&1
./zerobn_evaluate --models vgg-small --fractions 0.3,0.5,0.7 --epochs 6 --train-limit 20000 --uniform \
  --profile-networks 200 --out vgg.jsonl --table vgg.md --cache-dir cache --quiet > vgg.log 2>&1
echo finished
