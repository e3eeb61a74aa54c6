#!/usr/bin/env bash
# Tests of `seqlm eval` on tiny models that the nietzsche example ($2) trains on a text this test
# writes: the loss of the example's own validation windows is what eval gives on the same
# windows; streaming evaluation of a model that predicts every position; the n-gram baseline;
# the out-of-vocabulary policies; and bad input, each one clear line on stderr, non-zero exit.
set -euo pipefail
seqlm=$1
nietzsche=${2:-}
if [ -z "$nietzsche" ]; then
  echo "skipped: the nietzsche example is not built"
  exit 77
fi
source "$(dirname "$0")/common.sh"
write_english_text "$scratch/text.txt"
# json_number KEY: the number after "KEY": in $scratch/out (the first one).
json_number() { sed -n "s/^ *\"$1\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$scratch/out" | head -1; }

# --- The key check: eval equals the example's own validation numbers on the same windows. -------
# The example holds out the last 10% of its windows (window 60, step 3); validation window k starts
# at character 3 (split + k), so the validation text is the text from character 3 * split on.
"$nietzsche" train --data "$scratch/text.txt" --out "$scratch/last_step.safetensors" --epochs 1 --units 16 \
  --window 60 --step 3 --batch-size 32 --sample-length 0 --validation-split 0.1 --seed 1 >"$scratch/train.log"
split=$(sed -n 's/^validation split 0.1: \([0-9]*\) for training, \([0-9]*\) for validation$/\1/p' "$scratch/train.log")
count=$(sed -n 's/^validation split 0.1: \([0-9]*\) for training, \([0-9]*\) for validation$/\2/p' "$scratch/train.log")
val_loss=$(sed -n 's/^last epoch: .*val_loss \([^,]*\), val_accuracy \([^,]*\),.*$/\1/p' "$scratch/train.log")
val_accuracy=$(sed -n 's/^last epoch: .*val_loss \([^,]*\), val_accuracy \([^,]*\),.*$/\2/p' "$scratch/train.log")
if [ -z "$split" ] || [ -z "$val_loss" ]; then
  cat "$scratch/train.log"
  echo "no validation numbers"
  exit 1
fi
tail -c +$((3 * split + 1)) "$scratch/text.txt" >"$scratch/validation.txt"
"$seqlm" eval "$scratch/last_step.safetensors" --data "$scratch/validation.txt" --context 60 --stride 3 \
  --batch-size 32 --json >"$scratch/out"
[ "$(json_number tokens)" = "$count" ] || { cat "$scratch/out"; echo "expected $count windows"; exit 1; }
loss=$(awk -v x="$(json_number loss)" 'BEGIN { printf "%.6g", x }')
accuracy=$(awk -v x="$(json_number accuracy)" 'BEGIN { printf "%.6g", x }')
[ "$loss" = "$val_loss" ] || { echo "eval loss $loss, the example's val_loss $val_loss"; exit 1; }
[ "$accuracy" = "$val_accuracy" ] || { echo "eval accuracy $accuracy, the example's $val_accuracy"; exit 1; }
# The human-readable report says the same.
"$seqlm" eval "$scratch/last_step.safetensors" --data "$scratch/validation.txt" --context 60 --stride 3 \
  --batch-size 32 >"$scratch/report"
grep -q "^mode   windows of 60 characters every 3" "$scratch/report"
grep -q "^tokens scored *$count$" "$scratch/report"
grep -q "^loss (nats/token) *[0-9.]*$" "$scratch/report"
# A model that predicts only after a window's last step cannot be read as streams.
fails "streaming a last-step model" "$seqlm" eval "$scratch/last_step.safetensors" --data "$scratch/validation.txt"
grep -q -- "--context" "$scratch/err"

# --- Streaming: a model with a prediction at every position. ----------------------------------------
"$nietzsche" train --data "$scratch/text.txt" --out "$scratch/every.safetensors" --epochs 1 --units 16 \
  --window 40 --batch-size 32 --sample-length 0 --every-position --seed 2 >/dev/null
characters=$(wc -c <"$scratch/text.txt")
"$seqlm" eval "$scratch/every.safetensors" --data "$scratch/text.txt" --json >"$scratch/out"
[ "$(json_number streams)" = 32 ] || { cat "$scratch/out"; echo "expected 32 streams"; exit 1; }
[ "$(json_number tokens)" = $((characters - 32)) ] || { cat "$scratch/out"; exit 1; }
"$seqlm" eval "$scratch/every.safetensors" --data "$scratch/text.txt" --streams 1 --chunk 100 --json >"$scratch/out"
[ "$(json_number tokens)" = $((characters - 1)) ] || { cat "$scratch/out"; exit 1; }
one_stream=$(json_number loss)
"$seqlm" eval "$scratch/every.safetensors" --data "$scratch/text.txt" --streams 1 --chunk 7 --json >"$scratch/out"
awk -v a="$one_stream" -v b="$(json_number loss)" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }' ||
  { echo "the chunk length changed the loss: $one_stream vs $(json_number loss)"; exit 1; }
# Tiny texts: 5 characters make 2 streams (each of at least 2), 1 character is refused.
printf 'truth' >"$scratch/tiny.txt"
"$seqlm" eval "$scratch/every.safetensors" --data "$scratch/tiny.txt" --json >"$scratch/out"
[ "$(json_number streams)" = 2 ] || { cat "$scratch/out"; exit 1; }
[ "$(json_number tokens)" = 3 ] || { cat "$scratch/out"; exit 1; }
printf 't' >"$scratch/one.txt"
fails "a one-character text" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch/one.txt"
grep -q "at least 2" "$scratch/err"

# --- The n-gram baseline scores the same positions. --------------------------------------------------
"$seqlm" eval "$scratch/every.safetensors" --data "$scratch/text.txt" --baseline ngram:3 --train "$scratch/text.txt" \
  >"$scratch/report"
grep -q "^ *model *3-gram$" "$scratch/report"
"$seqlm" eval "$scratch/every.safetensors" --data "$scratch/text.txt" --baseline ngram:3 --train "$scratch/text.txt" \
  --json >"$scratch/out"
[ "$(grep -c "\"tokens\": $((characters - 32)),\{0,1\}$" "$scratch/out")" -eq 2 ] || { cat "$scratch/out"; exit 1; }
"$seqlm" eval "$scratch/last_step.safetensors" --data "$scratch/validation.txt" --context 60 --stride 3 \
  --baseline ngram:4 --json >"$scratch/out"  # trained on the configuration's --data, its last 10% left out
[ "$(grep -c "\"tokens\": $count,\{0,1\}$" "$scratch/out")" -eq 2 ] || { cat "$scratch/out"; exit 1; }
grep -q '"trained_on": "the training text (1 file, without its last 10% held out for validation)"' "$scratch/out"
fails "--train without --baseline" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch/text.txt" \
  --train "$scratch/text.txt"
usage_error
fails "a bad baseline" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch/text.txt" --baseline ngram:1
grep -q "ngram:N" "$scratch/err"

# --- Out-of-vocabulary text: error (the default), skip, map. -----------------------------------------
printf 'truth is a woman\nwhat then @ all\n' >"$scratch/oov.txt"
fails "an unknown character" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch/oov.txt"
grep -q "oov.txt\": encode: line 2, column 11: character U+0040 '@' (UTF-8 0x40) is not in the model's vocabulary" "$scratch/err"
"$seqlm" eval "$scratch/every.safetensors" --data "$scratch/oov.txt" --oov skip --json >"$scratch/out"
[ "$(json_number data_tokens)" = 32 ] || { cat "$scratch/out"; exit 1; }
printf '@\ta\n' >"$scratch/map.tsv"
"$seqlm" eval "$scratch/every.safetensors" --data "$scratch/oov.txt" --oov "map:$scratch/map.tsv" --json >"$scratch/out"
[ "$(json_number data_tokens)" = 33 ] || { cat "$scratch/out"; exit 1; }
printf '@ a\n' >"$scratch/bad_map.tsv"
fails "a map line without a tab" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch/oov.txt" \
  --oov "map:$scratch/bad_map.tsv"
grep -q "bad_map.tsv\" line 1: expected FROM<TAB>TO" "$scratch/err"
fails "a bad --oov" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch/oov.txt" --oov ignore
usage_error

# --- Bad input: one clear line, non-zero exit. -------------------------------------------------------
fails "an unknown option" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch/text.txt" --bogus
usage_error
grep -q "unknown option --bogus" "$scratch/err"
fails "no model" "$seqlm" eval --data "$scratch/text.txt"
usage_error
fails "no --data" "$seqlm" eval "$scratch/every.safetensors"
usage_error
grep -q -- "--data" "$scratch/err"
fails "a missing data file" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch/missing.txt"
grep -q "missing.txt" "$scratch/err"
fails "a directory as data" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch"
grep -q "is a directory" "$scratch/err"
fails "a missing model" "$seqlm" eval "$scratch/missing.safetensors" --data "$scratch/text.txt"
grep -q "missing.safetensors" "$scratch/err"
fails "a directory as model" "$seqlm" eval "$scratch" --data "$scratch/text.txt"
grep -q "is a directory" "$scratch/err"
head -c 3000 "$scratch/every.safetensors" >"$scratch/truncated.safetensors"
fails "a truncated model" "$seqlm" eval "$scratch/truncated.safetensors" --data "$scratch/text.txt"
grep -q "truncated.safetensors" "$scratch/err"
cp "$scratch/every.safetensors" "$scratch/corrupt.safetensors"
printf 'X' | dd of="$scratch/corrupt.safetensors" bs=1 seek=$(($(wc -c <"$scratch/corrupt.safetensors") - 10)) \
  conv=notrunc 2>/dev/null
fails "a corrupt model" "$seqlm" eval "$scratch/corrupt.safetensors" --data "$scratch/text.txt"
grep -q "corrupt" "$scratch/err"
printf 'truth is\nwhat \xff then\n' >"$scratch/latin1.txt"
fails "invalid UTF-8" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch/latin1.txt"
grep -q "latin1.txt\" line 2" "$scratch/err"
fails "a negative stride" "$seqlm" eval "$scratch/every.safetensors" --data "$scratch/text.txt" --context 5 --stride -1
usage_error
echo "seqlm eval test passed"
