#!/usr/bin/env bash
# Batch normalisation over nhwc tensors whose channels are not a multiple of 8, run in a blocked
# layout between two reorders instead of oneDNN 2.6's generic nhwc kernel: odd-width-training.sh
# with OLD = 09aa7c9's train_fashion (the generic kernel, its backward on one thread).
#   OLD=/path/to/09aa7c9/train_fashion BIN=/path/to/build ./odd-width-bn-blocked.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec ./odd-width-training.sh odd-width-bn-blocked.txt
