#!/usr/bin/env bash
# Integration run of the nietzsche example on the real nietzsche.txt: the tutorial's data handling
# and model (57 characters, 200,278 windows, 102,585 parameters), 200 batches of 128 windows,
# the end-of-epoch samples, then sampling from the saved file. Skips when the data is absent.
#   SEQLM_DATA_DIR  the data directory (default: ../shared/data next to the repository)
set -euo pipefail
program=$1
repository=$(cd "$(dirname "$0")/../.." && pwd)
data_dir=${SEQLM_DATA_DIR:-$repository/../shared/data}
data=$data_dir/nietzsche/nietzsche.txt
if [ ! -f "$data" ]; then
  echo "skipped: $data not found (run scripts/fetch-data.sh or set SEQLM_DATA_DIR)"
  exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
trap 'echo "$0: failed at line $LINENO" >&2' ERR

"$program" train --data "$data" --out "$scratch/model.safetensors" --epochs 1 --max-batches 200 \
  --sample-length 200 | tee "$scratch/train.log"
grep -q "corpus length: 600893 characters, 57 distinct" "$scratch/train.log"
grep -q "number of sequences: 200278" "$scratch/train.log"
grep -q "Total params: 102,585" "$scratch/train.log"
loss=$(sed -n 's/^last epoch: loss \([0-9.]*\),.*/\1/p' "$scratch/train.log")
# A uniform guess over 57 characters is ln 57 = 4.04 nats; 200 batches must get well below.
awk -v loss="$loss" 'BEGIN { exit !(loss > 0 && loss < 3.0) }' || { echo "loss too high: $loss"; exit 1; }
"$program" sample --model "$scratch/model.safetensors" --prompt "the philosopher " --temperature 0.5 --length 200
echo "nietzsche integration test passed"
