#!/usr/bin/env bash
# seqlm import: option and file errors (one line, no output file), a build without Keras
# support saying so, and, when the poem tutorial's Keras models are present, their import with
# the vocabulary from the training text, from a seqlm tokenizer JSON and with none (checked with
# `seqlm info`).
#   SEQLM_DATA_DIR  the data directory (default: ../shared/data next to the repository)
set -euo pipefail
seqlm=$1
repository=$(cd "$(dirname "$0")/../../.." && pwd)
data_dir=${SEQLM_DATA_DIR:-$repository/../shared/data}
source "$(dirname "$0")/common.sh"
subcommand=import

# Usage errors come first, in every build.
refuse 2 "give the Keras file" --out "$scratch/out.safetensors"
refuse 2 "give the model file to write with --out" "$scratch/model.keras"
refuse 2 "give --vocabulary" "$scratch/model.keras" --out "$scratch/out.safetensors" --lower

echo "not a model" >"$scratch/text.keras"
status=0
"$seqlm" import "$scratch/text.keras" --out "$scratch/out.safetensors" 2>"$scratch/err" || status=$?
if grep -q "no Keras support" "$scratch/err"; then
  [ "$status" -eq 1 ] || { echo "expected exit 1 without Keras support"; exit 1; }
  expect "$scratch/err" "libhdf5-dev libzip-dev"
  echo "skipped the imports: this build has no Keras support (it says so)"
  exit 0
fi
refuse 1 "\"$scratch/text.keras\": not a Keras file" "$scratch/text.keras" --out "$scratch/out.safetensors"
refuse 1 "cannot open \"$scratch/missing.keras\": No such file or directory" "$scratch/missing.keras" \
  --out "$scratch/out.safetensors"
refuse 1 "\"$scratch\" is a directory, not a Keras file" "$scratch" --out "$scratch/out.safetensors"

keras=$data_dir/poems/keras/20240930-123129-epoch-115-loss-0.7780535221099854.keras
text=$data_dir/poems/poemas-10k-llama3.1.txt
if [ ! -f "$keras" ] || [ ! -f "$text" ]; then
  echo "skipped: the poem tutorial's Keras model or text is not in $data_dir/poems"
  exit 0
fi

# The tutorial's vocabulary: the sorted characters of the text, lower-cased, every "@\n" removed.
"$seqlm" import "$keras" --out "$scratch/poems.safetensors" --vocabulary "$text" --lower --remove '@\n' \
  >"$scratch/log"
expect "$scratch/log" "Keras 3.5.0 (keras, saved 2024-09-30@14:07:13), 3 layers, 179772 parameters"
expect "$scratch/log" "vocabulary: 60 characters"
expect "$scratch/log" "optimizer: RMSprop after 813625 iterations"
"$seqlm" info "$scratch/poems.safetensors" >"$scratch/info"
expect "$scratch/info" "test vectors: checked"
expect "$scratch/info" " gru_1 (GRU)                 (None, 128)               99072"
expect "$scratch/info" "Total params: 179,772"
expect "$scratch/info" 'tokenizer: seqlm.CharTokenizer, 60 characters (ids 0..59)'
expect "$scratch/info" '  vocabulary: "\n !\"'"'"'(),-./012357:;?abcdefghijklmnopqrstuvwxyzàáâãçèéêíóôõúü"'
expect "$scratch/info" "  keras_format: keras"

# The same vocabulary as a seqlm tokenizer JSON gives the same file; a wrong size is refused.
python3 - "$text" "$scratch/tokenizer.json" <<'EOF'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read().lower().replace("@\n", "")
json.dump({"type": "seqlm.CharTokenizer", "version": 1, "order": "sorted", "lower": "unicode",
           "reserve_special_tokens": False, "unknown": "error", "characters": sorted(set(text))},
          open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
EOF
"$seqlm" import "$keras" --out "$scratch/from_json.safetensors" --vocabulary "$scratch/tokenizer.json" >/dev/null
cmp "$scratch/poems.safetensors" "$scratch/from_json.safetensors" || { echo "the JSON vocabulary differs"; exit 1; }
refuse 1 "the model reads 60 token ids (its input size), the vocabulary has 86 characters" "$keras" --out "$scratch/out.safetensors" --vocabulary "$text"
refuse 1 "is a tokenizer JSON" "$keras" --out "$scratch/out.safetensors" \
  --vocabulary "$scratch/tokenizer.json" --lower

# Without a vocabulary: the model is imported, info says the tokenizer is missing.
"$seqlm" import "$keras" --out "$scratch/bare.safetensors" >"$scratch/log"
expect "$scratch/log" "vocabulary: none given: the file has no tokenizer"
"$seqlm" info "$scratch/bare.safetensors" >"$scratch/info"
expect "$scratch/info" "tokenizer: none (the file holds no vocabulary"
expect "$scratch/info" "test vectors: checked"
echo "import test passed"
