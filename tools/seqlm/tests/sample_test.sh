#!/usr/bin/env bash
# Tests of `seqlm sample` on tiny models that the nietzsche ($2, characters) and headlines ($3,
# words) examples train on texts this test writes: the same text as the examples' own sampling
# for the same seed, --stream prints what the whole text is, --top-k 1 is greedy, beam search on
# a word model, the window of a last-step model, and bad input (one clear line, non-zero exit).
set -euo pipefail
seqlm=$1
nietzsche=${2:-}
headlines=${3:-}
if [ -z "$nietzsche" ] || [ -z "$headlines" ]; then
  echo "skipped: the nietzsche and headlines examples are not built"
  exit 77
fi
source "$(dirname "$0")/common.sh"
write_english_text "$scratch/text.txt"

# --- A character model that predicts every position: streaming generation. --------------------------
"$nietzsche" train --data "$scratch/text.txt" --out "$scratch/every.safetensors" --epochs 1 --units 16 \
  --window 40 --batch-size 32 --sample-length 0 --every-position --seed 2 >/dev/null
ours=$("$seqlm" sample "$scratch/every.safetensors" --prompt "truth is " --length 30 --temperature 0.5 --seed 7)
theirs=$("$nietzsche" sample --model "$scratch/every.safetensors" --prompt "truth is " --length 30 \
  --temperature 0.5 --seed 7)
[ "$ours" = "$theirs" ] || { printf 'seqlm:     %s\nnietzsche: %s\n' "$ours" "$theirs"; exit 1; }
case "$ours" in "truth is "*) ;; *) echo "the text does not start with the prompt: $ours"; exit 1 ;; esac
[ "$(printf '%s' "$ours" | wc -m)" -eq 39 ] || { echo "expected 9 + 30 characters: $ours"; exit 1; }
streamed=$("$seqlm" sample "$scratch/every.safetensors" --prompt "truth is " --length 30 --temperature 0.5 \
  --seed 7 --stream)
[ "$streamed" = "$ours" ] || { echo "--stream printed something else: $streamed"; exit 1; }
other=$("$seqlm" sample "$scratch/every.safetensors" --prompt "truth is " --length 30 --temperature 0.5 --seed 8)
[ "$other" != "$ours" ] || { echo "another seed gave the same text"; exit 1; }
greedy=$("$seqlm" sample "$scratch/every.safetensors" --prompt "truth is " --length 30 --temperature 0)
top_1=$("$seqlm" sample "$scratch/every.safetensors" --prompt "truth is " --length 30 --top-k 1 --seed 3)
[ "$greedy" = "$top_1" ] || { printf 'greedy: %s\ntop-k 1: %s\n' "$greedy" "$top_1"; exit 1; }
"$seqlm" sample "$scratch/every.safetensors" --prompt "truth is " --length 20 --top-p 0.9 --context 12 >/dev/null

# --- A last-step model: the window stored in the file, as the example's --windowed. ------------------
"$nietzsche" train --data "$scratch/text.txt" --out "$scratch/last_step.safetensors" --epochs 1 --units 16 \
  --window 20 --batch-size 32 --sample-length 0 --seed 1 >/dev/null
ours=$("$seqlm" sample "$scratch/last_step.safetensors" --prompt "what then? " --length 25 --temperature 0)
theirs=$("$nietzsche" sample --model "$scratch/last_step.safetensors" --prompt "what then? " --length 25 \
  --temperature 0 --windowed)
[ "$ours" = "$theirs" ] || { printf 'seqlm:     %s\nnietzsche: %s\n' "$ours" "$theirs"; exit 1; }

# --- A word model: greedy and beam search continue a headline learnt by heart. -----------------------
cat >"$scratch/articles.csv" <<'CSV'
articleID,headline,byline
1,"New York Forgets Its Juvenile Lifers","By A, B"
3,President Trump Tours the Border Wall,By D
4,"United States Tariffs on Steel, Explained",By E
5,"Mr. Trump’s Plan: Walls, Again",By F
CSV
"$headlines" train --data "$scratch/articles.csv" --out "$scratch/words.safetensors" --prefix-sharing \
  --epochs 150 --embedding 8 --units 32 --learning-rate 0.02 --batch-size 4 >/dev/null
greedy=$("$seqlm" sample "$scratch/words.safetensors" --prompt "new york" --length 4 --temperature 0)
[ "$greedy" = "new york forgets its juvenile lifers" ] || { echo "greedy: $greedy"; exit 1; }
beam=$("$seqlm" sample "$scratch/words.safetensors" --prompt "new york" --length 4 --beam 3 --stream)
[ "$beam" = "new york forgets its juvenile lifers" ] || { echo "beam: $beam"; exit 1; }
"$seqlm" sample "$scratch/words.safetensors" --length 5 --seed 4 >/dev/null  # an empty prompt starts from padding
# The tutorial's model predicts after the last step of a prefix padded at the front to its
# input_steps (stored in the file): sample pads a short prompt the same way, as the example does.
"$headlines" train --data "$scratch/articles.csv" --out "$scratch/prefixes.safetensors" --epochs 150 \
  --embedding 8 --units 32 --learning-rate 0.02 --batch-size 4 >/dev/null
ours=$("$seqlm" sample "$scratch/prefixes.safetensors" --prompt "president trump" --length 4 --temperature 0)
theirs=$("$headlines" sample --model "$scratch/prefixes.safetensors" --prompt "president trump" --words 4)
[ "$ours" = "$(printf '%s' "$theirs" | tr '[:upper:]' '[:lower:]')" ] ||
  { printf 'seqlm:     %s
headlines: %s
' "$ours" "$theirs"; exit 1; }
beam=$("$seqlm" sample "$scratch/prefixes.safetensors" --prompt "united" --length 5 --beam 2)
[ "$beam" = "united states tariffs on steel explained" ] || { echo "beam: $beam"; exit 1; }
fails "an unknown word" "$seqlm" sample "$scratch/words.safetensors" --prompt "new zealand"
grep -q "word 2 \"zealand\" is not in the model's vocabulary" "$scratch/err"

# --- Bad input: one clear line, non-zero exit (2 for usage errors). ---------------------------------
fails "beam search on characters" "$seqlm" sample "$scratch/every.safetensors" --prompt "truth" --beam 2
grep -q "character model" "$scratch/err"
fails "an empty prompt for a character model" "$seqlm" sample "$scratch/every.safetensors"
grep -q "no start token" "$scratch/err"
fails "an unknown prompt character" "$seqlm" sample "$scratch/every.safetensors" --prompt "truth @"
grep -q "U+0040 '@' (UTF-8 0x40) is not in the model's vocabulary" "$scratch/err"
fails "a prompt that is not UTF-8" "$seqlm" sample "$scratch/every.safetensors" --prompt "$(printf 'tr\xffth')"
usage_error
fails "an unknown option" "$seqlm" sample "$scratch/every.safetensors" --bogus 1
usage_error
grep -q "unknown option --bogus" "$scratch/err"
fails "a negative temperature" "$seqlm" sample "$scratch/every.safetensors" --prompt "t" --temperature -1
usage_error
grep -q -- "--temperature" "$scratch/err"
fails "top-p 0" "$seqlm" sample "$scratch/every.safetensors" --prompt "t" --top-p 0
usage_error
fails "a negative length" "$seqlm" sample "$scratch/every.safetensors" --prompt "t" --length -3
usage_error
fails "no model" "$seqlm" sample --prompt "t"
usage_error
fails "a missing model" "$seqlm" sample "$scratch/missing.safetensors" --prompt "t"
grep -q "missing.safetensors" "$scratch/err"
fails "a directory as model" "$seqlm" sample "$scratch" --prompt "t"
grep -q "is a directory" "$scratch/err"
printf 'not a model' >"$scratch/garbage.safetensors"
fails "a file that is not a model" "$seqlm" sample "$scratch/garbage.safetensors" --prompt "t"
grep -q "garbage.safetensors" "$scratch/err"
echo "seqlm sample test passed"
