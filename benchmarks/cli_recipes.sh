#!/usr/bin/env bash
# The comparison in docs/cli.md: `seqlm train`'s default recipe against the tutorial's regime
# trained for the same wall time, and against n-gram models, all scored on the same held-out
# tail (the last 10% of the corpus's characters, which none of them trains on).
#
#   benchmarks/cli_recipes.sh SEQLM CORPUS.txt OUTDIR [THREADS] [TUTORIAL OPTIONS...]
#
# SEQLM is the seqlm binary, THREADS the training threads (2). TUTORIAL OPTIONS are the
# tutorial's model and regime as `seqlm train` options (default: Chollet's Nietzsche LSTM,
# --recipe windows --model lstm:128 --context 60 --window-step 3 --batch-size 128
# --learning-rate 0.01 --dropout 0 --clip 0). Each regime trains for 2 and for 10 minutes
# (separate runs: the default recipe's cosine decay spans its budget). Run it on an idle
# machine: the budgets are wall time. Writes OUTDIR/results.txt and every run's files.
# The tables of docs/cli.md, with the data mirror in ../shared/data:
#   nietzsche:  benchmarks/cli_recipes.sh build/release/tools/seqlm ../shared/data/nietzsche/nietzsche.txt OUT
#   poems:      ... ../shared/data/poems/poemas-10k-llama3.1.txt OUT 2 --recipe windows --model gru:128x2
#               --context 60 --window-step 3 --batch-size 128 --learning-rate 0.001 --dropout 0 --clip 0
#   machado:    ... ../shared/data/machado/machado.txt OUT 2 --recipe windows
#               --config benchmarks/machado_tutorial.json --context 128 --window-step 1 --targets every
#               --batch-size 32 --optimizer Nadam --learning-rate 0.001 --dropout 0 --clip 0
# (give --config an absolute path: the script runs in OUTDIR).
set -euo pipefail
seqlm=$(realpath "$1")
corpus=$(realpath "$2")
out=$3
threads=${4:-2}
shift $(( $# < 4 ? $# : 4 ))
tutorial=("$@")
if [ ${#tutorial[@]} -eq 0 ]; then
  tutorial=(--recipe windows --model lstm:128 --context 60 --window-step 3 --batch-size 128
            --learning-rate 0.01 --dropout 0 --clip 0)
fi
context=60
for ((k = 0; k < ${#tutorial[@]}; ++k)); do
  [ "${tutorial[k]}" = --context ] && context=${tutorial[k+1]}
done
mkdir -p "$out"
cd "$out"

# The held-out tail exactly as `seqlm train --validation-split 0.1` cuts it: the last
# floor(0.1 n) of the n characters (Unicode code points).
python3 - "$corpus" tail.txt <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
held_out = int(len(text) * 0.1)
open(sys.argv[2], "w", encoding="utf-8").write(text[len(text) - held_out:])
print(f"corpus: {len(text)} characters, tail: {held_out}")
PY

{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ)  corpus: $corpus  threads: $threads"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo "# seqlm: $("$seqlm" --version)"
  echo "# tutorial regime: ${tutorial[*]}"
} > results.txt

for minutes in 2 10; do
  echo "== default recipe, $minutes min"
  "$seqlm" train --data "$corpus" --minutes "$minutes" --threads "$threads" --quiet \
    --out "streams-$minutes.safetensors" | tee "streams-$minutes.log"
  echo "== tutorial regime, $minutes min"
  "$seqlm" train --data "$corpus" "${tutorial[@]}" --minutes "$minutes" --threads "$threads" --quiet \
    --out "tutorial-$minutes.safetensors" | tee "tutorial-$minutes.log"
done

# Every model on every position of the tail: the default recipe's as one stream with its state
# carried from the tail's first character, the tutorial's from the previous `context`
# characters (its training context; the first `context` positions have no full window).
{
  for minutes in 2 10; do
    echo "## default recipe, $minutes min: streaming over the whole tail"
    "$seqlm" eval "streams-$minutes.safetensors" --data tail.txt --streams 1
    echo "## tutorial regime, $minutes min: windows of $context"
    "$seqlm" eval "tutorial-$minutes.safetensors" --data tail.txt --context "$context" --stride 1
  done
  for order in 5 7; do
    echo "## $order-gram trained on the same 90%, every position of the tail"
    "$seqlm" eval "streams-10.safetensors" --data tail.txt --streams 1 --baseline "ngram:$order"
  done
} 2>&1 | tee -a results.txt
