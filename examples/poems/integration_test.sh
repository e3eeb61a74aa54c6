#!/usr/bin/env bash
# Integration run of the poems example on the real poemas-10k-llama3.1.txt: the tutorial's data
# handling and model (60 characters, 179,772 parameters), 200 batches of 128 windows, then every
# sampling mode from the saved file. Skips when the data is absent.
#   SEQLM_DATA_DIR  the data directory (default: ../shared/data next to the repository)
set -euo pipefail
program=$1
repository=$(cd "$(dirname "$0")/../.." && pwd)
data_dir=${SEQLM_DATA_DIR:-$repository/../shared/data}
data=$data_dir/poems/poemas-10k-llama3.1.txt
if [ ! -f "$data" ]; then
  echo "skipped: $data not found (run scripts/fetch-data.sh or set SEQLM_DATA_DIR)"
  exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
trap 'echo "$0: failed at line $LINENO" >&2' ERR

"$program" train --data "$data" --out "$scratch/model.safetensors" --max-batches 200 | tee "$scratch/train.log"
grep -q "text: 2716486 characters, vocabulary 60 " "$scratch/train.log"
grep -q "windows: 905476 " "$scratch/train.log"
grep -q "Total params: 179,772" "$scratch/train.log"
loss=$(sed -n 's/^epoch 1: loss \([0-9.]*\),.*/\1/p' "$scratch/train.log")
# A uniform guess over 60 characters is ln 60 = 4.09 nats.
awk -v loss="$loss" 'BEGIN { exit !(loss > 0 && loss < 3.5) }' || { echo "loss too high: $loss"; exit 1; }
"$program" sample --model "$scratch/model.safetensors" --length 150
"$program" sample --model "$scratch/model.safetensors" --prompt "a lua " --stream --temperature 0.6 --length 300
echo "poems integration test passed"
