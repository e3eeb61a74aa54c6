#!/usr/bin/env bash
# Integration run of the headlines example on the real CSV: the tutorial's data handling and
# model (1,250 headlines, 3,582 words, 442,002 parameters), a few epochs of each training mode,
# save, load and the tutorial's three prompts. Skips (exit 0) when the data is absent.
# SEQLM_DATA_DIR: the data folder (default: ../shared/data relative to the repository).
set -euo pipefail
program=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
data_dir=${SEQLM_DATA_DIR:-$repo/../shared/data}
csv=$data_dir/headlines/ArticlesMarch2018.csv
if [ ! -f "$csv" ]; then
  echo "skipped: $csv not found (run scripts/fetch-data.sh or set SEQLM_DATA_DIR)"
  exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

"$program" train --data "$csv" --out "$scratch/prefix.safetensors" --epochs "${HEADLINES_EPOCHS:-3}" |
  tee "$scratch/train.log"
grep -q "1250 headlines, 3581 distinct words, vocabulary 3582" "$scratch/train.log" || { echo "bad counts"; exit 1; }
grep -q "Total params: 442,002" "$scratch/train.log" || { echo "unexpected parameter count"; exit 1; }
"$program" sample --model "$scratch/prefix.safetensors"

"$program" train --data "$csv" --out "$scratch/sharing.safetensors" --prefix-sharing \
  --epochs "${HEADLINES_EPOCHS:-3}" | tee "$scratch/train.log"
grep -q "Total params: 442,002" "$scratch/train.log" || { echo "unexpected parameter count"; exit 1; }
"$program" sample --model "$scratch/sharing.safetensors"
echo "headlines integration test passed"
