#!/usr/bin/env bash
# seqlm train on a tiny text: the model file, history CSV and checkpoint it writes, a resumed
# run, and every kind of bad input refused with one clear line, a non-zero exit and no file
# written. Usage: train_test.sh path/to/seqlm
set -euo pipefail
seqlm=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
for k in $(seq 40); do echo "the cat sat on the mat. the dog sat on the log."; done > tiny.txt

fail() { echo "FAIL: $*" >&2; exit 1; }

# A short run: model file, history (one row per epoch), checkpoint, the summary line.
"$seqlm" train --data tiny.txt --model lstm:16x2 --context 12 --streams 4 --epochs 2 \
  --checkpoint run.checkpoint --plot loss.svg --out tiny.safetensors --quiet > out.txt
grep -q "trained 2 epoch(s); validation loss" out.txt || fail "no summary line: $(cat out.txt)"
[ -s tiny.safetensors ] || fail "no model file"
[ "$(wc -l < tiny.safetensors.history.csv)" = 3 ] || fail "history should have a header and 2 rows"
head -1 tiny.safetensors.history.csv | grep -q "val_loss" || fail "history has no val_loss"
[ -s run.checkpoint ] || fail "no checkpoint"
python3 -c "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])" loss.svg || fail "loss.svg is not XML"

# Resume to 3 epochs from the checkpoint written after epoch 2.
"$seqlm" train --data tiny.txt --model lstm:16x2 --context 12 --streams 4 --epochs 3 \
  --resume run.checkpoint --out resumed.safetensors --quiet > out.txt
grep -q "trained 3 epoch(s)" out.txt || fail "resume did not continue to epoch 3: $(cat out.txt)"

# --plot loss.png: rendered by rsvg-convert after every epoch; without the converter the run is
# refused before it starts.
if command -v rsvg-convert >/dev/null; then
  "$seqlm" train --data tiny.txt --model gru:8 --context 12 --streams 4 --epochs 1 --plot loss.png \
    --out png.safetensors --quiet > /dev/null
  python3 "$here/check_png.py" loss.png 0.01 || fail "--plot loss.png"
fi
status=0
env PATH=/nonexistent "$seqlm" train --data tiny.txt --epochs 1 --plot bad.png --out bad.safetensors \
  >/dev/null 2>err.txt || status=$?
[ "$status" -eq 1 ] && [ "$(wc -l < err.txt)" -eq 1 ] && grep -q -- "--plot: a PNG chart needs rsvg-convert" err.txt ||
  fail "--plot bad.png without rsvg-convert: exit $status, $(cat err.txt)"
[ ! -e bad.safetensors ] && [ ! -e bad.png ] || fail "--plot bad.png without rsvg-convert wrote a file"

# Word level, the windows recipe, two data files.
"$seqlm" train --data tiny.txt tiny.txt --level word --recipe windows --model gru:8 --context 5 \
  --batch-size 16 --epochs 1 --out words.safetensors --quiet > /dev/null || fail "word-level windows run"

# The Machado tutorial's regime: an architecture JSON with a causal Conv1D, windows scored at
# every position, Nadam; the configuration records the targets and the optimizer.
cat > conv.json <<'JSON'
{"format": "seqlm.sequential", "input": {"kind": "token_ids", "size": "vocabulary"},
 "layers": [
   {"type": "Embedding", "name": "embedding", "config": {"vocabulary_size": "vocabulary", "dimension": 4}},
   {"type": "Conv1D", "name": "conv1d", "config": {"input_size": 4, "filters": 6, "kernel_size": 3, "dilation": 1, "activation": "relu"}},
   {"type": "GRU", "name": "gru", "config": {"input_size": 6, "units": 8, "return_sequences": true, "reset_after": true}},
   {"type": "Dense", "name": "dense", "config": {"input_size": 8, "units": "vocabulary"}}]}
JSON
"$seqlm" train --data tiny.txt --config conv.json --recipe windows --targets every --optimizer nadam \
  --context 16 --window-step 4 --batch-size 8 --epochs 1 --out conv.safetensors --quiet > /dev/null ||
  fail "every-position windows run"
"$seqlm" info conv.safetensors --json | python3 -c '
import json, sys
config = json.load(sys.stdin)["training_config"]
assert config["targets"] == "every" and config["optimizer"] == "nadam", config' || fail "info: targets/optimizer"
"$seqlm" eval conv.safetensors --data tiny.txt --context 16 > /dev/null || fail "eval of the conv model"

# Bad input: one line on stderr naming the problem, exit status 1 (2 for usage), nothing written.
expect_error() {  # expect_error "<text in the message>" args...
  local want=$1
  shift
  rm -f bad.safetensors bad.safetensors.history.csv
  set +e
  "$seqlm" train "$@" > /dev/null 2> err.txt
  local status=$?
  set -e
  [ $status -ne 0 ] || fail "train $* succeeded"
  [ "$(wc -l < err.txt)" = 1 ] || fail "train $*: expected one line, got: $(cat err.txt)"
  grep -q -- "$want" err.txt || fail "train $*: expected '$want' in: $(cat err.txt)"
  [ ! -e bad.safetensors ] || fail "train $*: wrote the model file"
  [ ! -e bad.safetensors.history.csv ] || fail "train $*: wrote the history"
}
printf 'caf\xc3 au lait\n' > invalid.txt
: > empty.txt
mkdir adir
expect_error "--data is required" --epochs 1 --out bad.safetensors
expect_error "--out is required" --data tiny.txt --epochs 1
expect_error "No such file" --data missing.txt --epochs 1 --out bad.safetensors
expect_error "is a directory" --data adir --epochs 1 --out bad.safetensors
expect_error "is empty" --data empty.txt --epochs 1 --out bad.safetensors
expect_error "line 1" --data invalid.txt --epochs 1 --out bad.safetensors
expect_error "give --epochs or --minutes" --data tiny.txt --out bad.safetensors
expect_error "model spec" --data tiny.txt --epochs 1 --model rnn:12 --out bad.safetensors
expect_error "--level must be char or word" --data tiny.txt --epochs 1 --level byte --out bad.safetensors
expect_error "--recipe must be" --data tiny.txt --epochs 1 --recipe magic --out bad.safetensors
expect_error "--targets must be last or every" --data tiny.txt --epochs 1 --targets all --out bad.safetensors
expect_error "unknown optimizer 'adagrad'" --data tiny.txt --epochs 1 --optimizer adagrad --out bad.safetensors
expect_error "not both" --data tiny.txt --epochs 1 --validation tiny.txt --validation-split 0.2 --out bad.safetensors
expect_error "unknown option --epoch" --data tiny.txt --epoch 1 --out bad.safetensors
expect_error "--streams must be" --data tiny.txt --epochs 1 --streams 0 --out bad.safetensors
expect_error "streams" --data tiny.txt --epochs 1 --streams 4000 --out bad.safetensors
expect_error "validation_split must be in" --data tiny.txt --epochs 1 --validation-split 1 --out bad.safetensors
expect_error "--out" --data tiny.txt --epochs 1 --out no/such/dir/bad.safetensors
expect_error "--plot" --data tiny.txt --epochs 1 --plot no/such/dir/loss.svg --out bad.safetensors
expect_error "another vocabulary" --data words.safetensors.history.csv --epochs 2 --resume run.checkpoint \
  --out bad.safetensors
echo "not a checkpoint" > fake.checkpoint
expect_error "fake.checkpoint" --data tiny.txt --epochs 2 --resume fake.checkpoint --out bad.safetensors
echo "train_test: ok"
