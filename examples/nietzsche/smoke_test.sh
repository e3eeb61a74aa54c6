#!/usr/bin/env bash
# Smoke test of the nietzsche example on a tiny corpus the test writes itself: train one short
# epoch of a tiny LSTM (end-of-epoch samples included), save, load, sample (streaming, windowed,
# several temperatures, the stored seed), and the errors a user meets first.
set -euo pipefail
program=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
trap 'echo "$0: failed at line $LINENO" >&2' ERR
for _ in $(seq 1 20); do
  echo "Supposing that Truth is a woman -- what then? Is there not ground for suspecting that all"
  echo "philosophers, in so far as they have been dogmatists, have failed to understand women."
done >"$scratch/text.txt"

"$program" --help | grep -q -- "--windowed"
"$program" train --data "$scratch/text.txt" --out "$scratch/model.safetensors" --epochs 1 --units 16 \
  --window 20 --batch-size 32 --sample-length 20 --temperatures 0.5,1.2 --seed 1 >"$scratch/train.log"
grep -q "number of sequences: 1174 (window 20, step 3)" "$scratch/train.log"
grep -q "Total params: 3,275" "$scratch/train.log"  # LSTM(16) on 27 characters -> Dense(27)
grep -q -- "--- Generating with seed:" "$scratch/train.log"
grep -q -- "------ temperature: 1.2" "$scratch/train.log"
[ -s "$scratch/model.safetensors" ] || { echo "no model file"; exit 1; }

# A held-out last 10% of the windows: train reports val_* metrics and logs them per epoch; the
# n-gram baseline scores the same 1,056 training and 118 validation windows.
"$program" train --data "$scratch/text.txt" --out "$scratch/split.safetensors" --epochs 1 --units 8 \
  --window 20 --batch-size 64 --sample-length 0 --validation-split 0.1 --log-csv "$scratch/log.csv" \
  >"$scratch/split.log"
grep -q "validation split 0.1: 1056 for training, 118 for validation" "$scratch/split.log"
grep -q "val_loss" "$scratch/split.log"
[ "$(wc -l <"$scratch/log.csv")" -eq 2 ] || { echo "expected a CSV header and one epoch"; exit 1; }
head -1 "$scratch/log.csv" | grep -q "val_accuracy" || { echo "no val_accuracy column"; exit 1; }
"$program" baseline --data "$scratch/text.txt" --window 20 --validation-split 0.1 >"$scratch/baseline.log"
grep -q "validation split 0.1: 1056 for training, 118 for validation" "$scratch/baseline.log"
grep -q "^train .*loss [0-9.]* .*targets 1,056$" "$scratch/baseline.log"
grep -q "^validation .*val_loss [0-9.]* .*val_accuracy [0-9.]* .*targets 118$" "$scratch/baseline.log"
# Without a split only the training windows are scored; --every-position scores 20 per window.
"$program" baseline --data "$scratch/text.txt" --window 20 --order 3 --add-k 0.5 >"$scratch/baseline.log"
grep -q "add-k 0.5$" "$scratch/baseline.log"
grep -q "targets 1,174$" "$scratch/baseline.log"
if grep -q "^validation" "$scratch/baseline.log"; then echo "no validation split was asked for"; exit 1; fi
"$program" baseline --data "$scratch/text.txt" --window 20 --every-position | grep -q "targets 23,480$"
if "$program" baseline --data "$scratch/text.txt" --add-k -1 >/dev/null 2>"$scratch/err"; then
  echo "a negative add-k must fail"
  exit 1
fi
grep -q "add-k" "$scratch/err"

# Sampling needs only the model file; the same seed gives the same text.
first=$("$program" sample --model "$scratch/model.safetensors" --prompt "Truth is " --length 30 --seed 7)
second=$("$program" sample --model "$scratch/model.safetensors" --prompt "Truth is " --length 30 --seed 7)
[ "$first" = "$second" ] || { echo "sampling is not reproducible"; exit 1; }
case "$first" in "truth is "*) ;; *) echo "the sample does not start with the lower-cased prompt: $first"; exit 1 ;; esac
[ "$(printf '%s' "$first" | wc -m)" -eq 39 ] || { echo "expected 9 + 30 characters: $first"; exit 1; }
greedy=$("$program" sample --model "$scratch/model.safetensors" --windowed --temperature 0,1 --length 10)
[ "$(printf '%s\n' "$greedy" | grep -c -- '------ temperature')" -eq 2 ] || { echo "expected 2 samples"; exit 1; }

if "$program" sample --model "$scratch/model.safetensors" --prompt "Truth @" 2>"$scratch/err"; then
  echo "a prompt character outside the vocabulary must fail"
  exit 1
fi
grep -q "not in the vocabulary\|unknown character" "$scratch/err"
if "$program" sample --model "$scratch/missing.safetensors" 2>/dev/null; then
  echo "a missing model file must fail"
  exit 1
fi
if "$program" train --data "$scratch/missing.txt" 2>"$scratch/err"; then
  echo "missing data must fail"
  exit 1
fi
grep -q "scripts/fetch-data.sh" "$scratch/err"
# Keras files (when the build has seqlm::keras): the same run saved as .keras samples exactly as the
# model file does; training resumes from it with its RMSprop state, or a new one on request.
if "$program" train --data "$scratch/text.txt" --out "$scratch/model.keras" --epochs 1 --units 16 \
  --window 20 --batch-size 32 --sample-length 0 --seed 1 >"$scratch/keras.log" 2>"$scratch/err"; then
  from_keras=$("$program" sample --model "$scratch/model.keras" --data "$scratch/text.txt" --prompt "Truth is " \
    --length 30 --seed 7)
  [ "$from_keras" = "$first" ] || { echo "the .keras model samples differently: $from_keras"; exit 1; }
  "$program" train --data "$scratch/text.txt" --resume-from "$scratch/model.keras" --out "$scratch/resumed.keras" \
    --window 20 --sample-length 0 --max-batches 3 --log-batches "$scratch/batches.csv" >"$scratch/keras.log"
  grep -q "RMSprop state after 37 iterations" "$scratch/keras.log"
  [ "$(wc -l <"$scratch/batches.csv")" -eq 4 ] || { echo "expected a CSV header and 3 batches"; exit 1; }
  "$program" train --data "$scratch/text.txt" --resume-from "$scratch/resumed.keras" --reset-optimizer \
    --window 20 --sample-length 0 --max-batches 1 --out "$scratch/again.safetensors" >"$scratch/keras.log"
  grep -q "a new RMSprop (--reset-optimizer)" "$scratch/keras.log"
  if "$program" sample --model "$scratch/model.keras" --data "$scratch/missing.txt" 2>"$scratch/err"; then
    echo "a Keras model without its --data must fail"
    exit 1
  fi
else
  grep -q "this build has no Keras support" "$scratch/err" || { cat "$scratch/err"; exit 1; }
fi
echo "nietzsche smoke test passed"
