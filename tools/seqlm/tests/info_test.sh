#!/usr/bin/env bash
# seqlm info on tiny model files the test writes itself (make_model_file.py: an Embedding ->
# Dense model with a character or word tokenizer, a training configuration with a history, user
# metadata): the summary, parameter count, tokenizer and escaped vocabulary, the history as a
# table, a checkpoint's position, --json; and one clear line for each kind of bad file.
set -euo pipefail
seqlm=$1
source "$(dirname "$0")/common.sh"
subcommand=info

python3 "$here/make_model_file.py" "$scratch/char.safetensors" --tokenizer char
"$seqlm" info "$scratch/char.safetensors" >"$scratch/out"
expect "$scratch/out" 'kind: seqlm model (format "seqlm.model" version 1, written by seqlm 9.9.9-test, weights F32)'
expect "$scratch/out" ' embedding (Embedding)       (None, None, 3)           18'
expect "$scratch/out" 'Total params: 42'
expect "$scratch/out" 'tokenizer: seqlm.CharTokenizer, 6 characters (ids 0..5)'
expect "$scratch/out" '  vocabulary: "\n abcé"'
expect "$scratch/out" '  recipe: tiny'
expect "$scratch/out" '  data: ["tiny.txt"]'
expect "$scratch/out" '  history (3 epochs):'
expect "$scratch/out" '     epoch    accuracy        loss    val_loss'
expect "$scratch/out" '         2      0.6250      1.0000           -'
expect "$scratch/out" '    learning_rate: 0.001'
expect "$scratch/out" '  note: line one\nline two'
if grep -q "checkpoint" "$scratch/out"; then echo "a model file is not a checkpoint"; exit 1; fi

# A word tokenizer, a checkpoint of float64 weights: the run's position and its history.
python3 "$here/make_model_file.py" "$scratch/run.checkpoint" --tokenizer word --checkpoint --dtype F64
"$seqlm" info "$scratch/run.checkpoint" >"$scratch/out"
expect "$scratch/out" 'kind: seqlm training checkpoint (format "seqlm.checkpoint" version 1'
expect "$scratch/out" 'weights F64'
expect "$scratch/out" 'checkpoint: epoch 3, batch 0 (global step 42), optimizer adam after 42 iterations'
expect "$scratch/out" 'tokenizer: seqlm.WordTokenizer, 5 ids (4 words and the padding id 0)'
expect "$scratch/out" '  vocabulary by id: the cat sat mat'
expect "$scratch/out" "checkpoint's training state:"

# No tokenizer: said so.
python3 "$here/make_model_file.py" "$scratch/bare.safetensors" --tokenizer none
"$seqlm" info "$scratch/bare.safetensors" >"$scratch/out"
expect "$scratch/out" 'tokenizer: none (the file holds no vocabulary'

# A tokenizer of another size than the model's input: a warning.
python3 "$here/make_model_file.py" "$scratch/wide.safetensors" --tokenizer wide
"$seqlm" info "$scratch/wide.safetensors" >"$scratch/out"
expect "$scratch/out" '  warning: the model reads 6 ids, the tokenizer has 7: they do not belong together'

# --json: one object that python3 reads.
"$seqlm" info --json "$scratch/run.checkpoint" >"$scratch/described.json"
python3 - "$scratch/described.json" <<'EOF'
import json, sys
info = json.load(open(sys.argv[1]))
assert info["kind"] == "checkpoint" and info["dtype"] == "F64", info
assert info["parameters"] == 35 and [l["type"] for l in info["layers"]] == ["Embedding", "Dense"], info
assert info["tokenizer"] == {"type": "seqlm.WordTokenizer", "vocabulary_size": 5,
                             "preview": ["the", "cat", "sat", "mat"]}, info["tokenizer"]
assert info["training_config"]["history"]["metrics"]["loss"] == [1.75, 1.25, 1.0], info
assert info["checkpoint"]["epoch"] == 3 and info["checkpoint"]["optimizer_name"] == "adam", info
assert info["metadata"]["note"] == "line one\nline two", info
EOF

# Bad files: one line on stderr that names the file and the problem, exit 1; usage errors exit 2.
refuse 1 "cannot open \"$scratch/missing.safetensors\": No such file or directory" "$scratch/missing.safetensors"
refuse 1 "\"$scratch\" is a directory, not a model file" "$scratch"
printf 'epoch,loss\n0,1\n' >"$scratch/history.csv"
refuse 1 "\"$scratch/history.csv\" is not a seqlm model file" "$scratch/history.csv"
: >"$scratch/empty"
refuse 1 "\"$scratch/empty\" is not a seqlm model file" "$scratch/empty"
# One byte of a weight changed: the checksum says the file is corrupt.
cp "$scratch/char.safetensors" "$scratch/corrupt.safetensors"
size=$(stat -c %s "$scratch/corrupt.safetensors")
printf '\x41' | dd of="$scratch/corrupt.safetensors" bs=1 seek=$((size - 3)) conv=notrunc 2>/dev/null
refuse 1 "checksum mismatch" "$scratch/corrupt.safetensors"
head -c 100 "$scratch/char.safetensors" >"$scratch/truncated.safetensors"
refuse 1 "goes beyond the end of the file" "$scratch/truncated.safetensors"
python3 "$here/make_model_file.py" "$scratch/bad_tokenizer.safetensors" --tokenizer bad
refuse 1 "\"$scratch/bad_tokenizer.safetensors\": its tokenizer is invalid: CharTokenizer JSON: characters[5] holds 2 code points" \
  "$scratch/bad_tokenizer.safetensors"
refuse 2 "give the model file" --json
refuse 2 "give one model file, got 2" "$scratch/char.safetensors" "$scratch/bare.safetensors"
refuse 2 "unknown option --verbose" --verbose "$scratch/char.safetensors"
echo "info test passed"
