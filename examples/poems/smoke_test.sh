#!/usr/bin/env bash
# Smoke test of the poems example on a tiny corpus the test writes itself: train a tiny 2-layer
# GRU for one short epoch (the tutorial's "@\n" removal, and with --keep-terminator), save, load,
# and sample in every mode (samples, whole poem, stream, windowed).
set -euo pipefail
program=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
trap 'echo "$0: failed at line $LINENO" >&2' ERR
for _ in $(seq 1 10); do
  printf 'A lua brilha no céu\nUm luar que ilumina o mar\n\nO vento traz uma brisa\n@\n'
  printf 'Amanhã é outro dia,\nsol no chão\n@\n'
done >"$scratch/poems.txt"

"$program" --help | grep -q -- "--stream"
"$program" train --data "$scratch/poems.txt" --out "$scratch/model.safetensors" --epochs 1 --units 8 \
  --window 12 --batch-size 16 --seed 1 --log-csv "$scratch/log.csv" >"$scratch/train.log"
# 23 distinct characters once "@\n" is removed; GRU(8) x 2 + Dense(23) = 792 + 432 + 207.
grep -q "vocabulary 23 " "$scratch/train.log"
grep -q "Total params: 1,431" "$scratch/train.log"
grep -q "saved $scratch/model.safetensors" "$scratch/train.log"
[ "$(wc -l <"$scratch/log.csv")" -eq 2 ] || { echo "expected a CSV header and one epoch"; exit 1; }

first=$("$program" sample --model "$scratch/model.safetensors" --prompt "A lua " --temperature 0.6 --length 25 --seed 3)
second=$("$program" sample --model "$scratch/model.safetensors" --prompt "A lua " --temperature 0.6 --length 25 --seed 3)
[ "$first" = "$second" ] || { echo "sampling is not reproducible"; exit 1; }
printf '%s\n' "$first" | grep -q '^\[a lua \]' || { echo "unexpected sample: $first"; exit 1; }
[ "$("$program" sample --model "$scratch/model.safetensors" --length 5 | grep -c -- '--- sample')" -eq 3 ]
streamed=$("$program" sample --model "$scratch/model.safetensors" --prompt "o sol" --stream --length 2100)
[ "$(printf '%s' "$streamed" | wc -m)" -eq 2105 ] || { echo "expected 5 + 2100 streamed characters"; exit 1; }
"$program" sample --model "$scratch/model.safetensors" --stream --windowed --length 30 >/dev/null
"$program" sample --model "$scratch/model.safetensors" --poem --temperature 0.5 2>"$scratch/err" >/dev/null
grep -q "trained without the '@' terminator" "$scratch/err"

# With the terminator kept the model knows '@' (24 characters) and --poem stops at it (or at --length).
"$program" train --data "$scratch/poems.txt" --out "$scratch/ended.safetensors" --epochs 1 --units 8 \
  --window 12 --batch-size 16 --keep-terminator --validation-split 0.2 --max-batches 5 >"$scratch/train.log"
grep -q "vocabulary 24 " "$scratch/train.log"
grep -q "val_loss" "$scratch/train.log"
poem=$("$program" sample --model "$scratch/ended.safetensors" --poem --temperature 1 --length 400 --seed 2)
[ "$(printf '%s' "$poem" | grep -c '@')" -eq 0 ] || { echo "the terminator must not be printed: $poem"; exit 1; }

# The n-gram baseline on the same windows and split as train: 1,020 characters without "@\n"
# (-> 336 windows of 12, step 3), the last 20% validating.
"$program" baseline --data "$scratch/poems.txt" --window 12 --validation-split 0.2 >"$scratch/baseline.log"
grep -q "windows: 336 (window 12, step 3), 268 for training, 68 for validation" "$scratch/baseline.log"
grep -q "^train .*loss [0-9.]* .*accuracy [0-9.]* .*targets 268$" "$scratch/baseline.log"
grep -q "^validation .*val_loss [0-9.]* .*val_bits_per_token [0-9.]* .*targets 68$" "$scratch/baseline.log"
"$program" baseline --data "$scratch/poems.txt" --window 12 --keep-terminator --order 3 >"$scratch/baseline.log"
grep -q "vocabulary 24 " "$scratch/baseline.log"
if grep -q "^validation" "$scratch/baseline.log"; then echo "no validation split was asked for"; exit 1; fi

# Keras files (when the build has seqlm::keras): the first run saved as .keras samples exactly as
# its model file does (vocabulary from --data), and training resumes from it.
if "$program" train --data "$scratch/poems.txt" --out "$scratch/model.keras" --epochs 1 --units 8 \
  --window 12 --batch-size 16 --seed 1 >"$scratch/keras.log" 2>"$scratch/err"; then
  from_keras=$("$program" sample --model "$scratch/model.keras" --data "$scratch/poems.txt" --prompt "A lua " \
    --temperature 0.6 --length 25 --seed 3)
  [ "$from_keras" = "$first" ] || { echo "the .keras model samples differently: $from_keras"; exit 1; }
  streamed=$("$program" sample --model "$scratch/model.keras" --data "$scratch/poems.txt" --prompt "o sol" \
    --stream --length 100)
  [ "$(printf '%s' "$streamed" | wc -m)" -eq 105 ] || { echo "expected 5 + 100 streamed characters"; exit 1; }
  "$program" train --data "$scratch/poems.txt" --resume-from "$scratch/model.keras" --window 12 \
    --max-batches 2 --out "$scratch/resumed.safetensors" >"$scratch/keras.log"
  grep -q "RMSprop state after 21 iterations" "$scratch/keras.log"
  "$program" sample --model "$scratch/resumed.safetensors" --length 5 >/dev/null
  if "$program" train --data "$scratch/poems.txt" --keep-terminator --resume-from "$scratch/model.keras" \
    --window 12 --max-batches 1 2>"$scratch/err" >/dev/null; then
    echo "a vocabulary of the wrong size must fail"
    exit 1
  fi
  grep -q "24" "$scratch/err"
else
  grep -q "this build has no Keras support" "$scratch/err" || { cat "$scratch/err"; exit 1; }
fi

if "$program" sample --model "$scratch/missing.safetensors" 2>/dev/null; then
  echo "a missing model file must fail"
  exit 1
fi
if "$program" train --data "$scratch/missing.txt" 2>"$scratch/err"; then
  echo "missing data must fail"
  exit 1
fi
grep -q "scripts/fetch-data.sh" "$scratch/err"
echo "poems smoke test passed"
