#!/usr/bin/env bash
# Integration run of the machado example on the real corpus: the tutorial's model and data
# handling, a bounded number of batches (--max-batches, default 300 here), validation on a
# shortened split, save, load and sample. Skips (exit 0) when the corpus is absent.
# SEQLM_DATA_DIR: the data folder (default: ../shared/data relative to the repository).
set -euo pipefail
program=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
data_dir=${SEQLM_DATA_DIR:-$repo/../shared/data}
corpus=$data_dir/machado/machado.txt
if [ ! -f "$corpus" ]; then
  echo "skipped: $corpus not found (run scripts/fetch-data.sh or set SEQLM_DATA_DIR)"
  exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

"$program" train --data "$corpus" --out "$scratch/machado.safetensors" \
  --max-batches "${MACHADO_MAX_BATCHES:-300}" --valid-size 10000 --sample-every 100 | tee "$scratch/train.log"
grep -q "Total params: 75,666" "$scratch/train.log" || { echo "unexpected parameter count"; exit 1; }
grep -q "82 distinct" "$scratch/train.log" || { echo "unexpected vocabulary size"; exit 1; }
"$program" sample --model "$scratch/machado.safetensors" --length 200 --temperature 0.5
echo "machado integration test passed"
