#!/usr/bin/env bash
# The errors a user meets first, in every example program: each must exit with a non-zero
# status and print exactly one clear line on stderr, without control characters.
#   cli_errors_test.sh GREETINGS HEADLINES NIETZSCHE POEMS MACHADO
set -euo pipefail
greetings=$1 headlines=$2 nietzsche=$3 poems=$4 machado=$5
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# expect_error DESCRIPTION PATTERN COMMAND...: COMMAND fails, and its stderr is one line that
# matches the extended regular expression PATTERN and holds no control character.
expect_error() {
  local description=$1 pattern=$2
  shift 2
  if "$@" >"$scratch/stdout" 2>"$scratch/stderr"; then
    echo "FAIL: $description: exit status 0"
    exit 1
  fi
  local lines
  lines=$(wc -l <"$scratch/stderr")
  if [ "$lines" -ne 1 ]; then
    echo "FAIL: $description: $lines lines on stderr, expected one:"
    cat -v "$scratch/stderr"
    exit 1
  fi
  if LC_ALL=C tr -d '\n' <"$scratch/stderr" | LC_ALL=C grep -q '[[:cntrl:]]'; then
    echo "FAIL: $description: control characters on stderr:"
    cat -v "$scratch/stderr"
    exit 1
  fi
  if ! grep -Eq -- "$pattern" "$scratch/stderr"; then
    echo "FAIL: $description: stderr does not match '$pattern':"
    cat -v "$scratch/stderr"
    exit 1
  fi
  echo "ok: $description: $(cat "$scratch/stderr")"
}

for _ in $(seq 1 20); do
  echo "Supposing that Truth is a woman -- what then? Is there not ground for suspecting that all"
done >"$scratch/text.txt"
printf 'headline\nNew York Today\nA Headline About New York\nTrump Says Something\n' >"$scratch/ok.csv"
mkdir "$scratch/directory"

# Sizes are checked up front against a stated limit (before: std::bad_alloc, or silently accepted).
expect_error "nietzsche --units" "--units must be from 1 to 4096, got 1000000000" \
  "$nietzsche" train --data "$scratch/text.txt" --units 1000000000 --epochs 1
expect_error "nietzsche --batch-size" "--batch-size must be from 1 to 65536, got 1000000000000" \
  "$nietzsche" train --data "$scratch/text.txt" --batch-size 1000000000000 --epochs 1
expect_error "nietzsche --threads" "--threads must be from 1 to 256, got 100000" \
  "$nietzsche" train --data "$scratch/text.txt" --threads 100000 --epochs 1
expect_error "poems --units" "--units must be from 1 to 4096, got 1000000000" \
  "$poems" train --data "$scratch/text.txt" --units 1000000000 --epochs 1
expect_error "headlines --units" "--units must be from 1 to 4096, got 1000000000" \
  "$headlines" train --data "$scratch/ok.csv" --units 1000000000 --epochs 1
expect_error "headlines --embedding" "--embedding must be from 1 to 4096, got 99999999999" \
  "$headlines" train --data "$scratch/ok.csv" --embedding 99999999999 --epochs 1
expect_error "machado --units" "--units must be from 1 to 4096, got 1000000000" \
  "$machado" train --data "$scratch/text.txt" --units 1000000000 --train-size 600 --valid-size 200 --window 10
expect_error "an integer that overflows" "--epochs expects an integer, got '99999999999999999999'" \
  "$nietzsche" train --data "$scratch/text.txt" --epochs 99999999999999999999

# Running out of memory anyway (here: a 600 MB address-space limit) is one clear line, not
# "std::bad_alloc". Skipped for sanitizer builds, which reserve terabytes of address space
# (GCC links libasan dynamically, clang statically: both binaries name __asan_init).
if grep -qa __asan_init "$nietzsche"; then
  echo "skipped: out of memory (AddressSanitizer build)"
else
  expect_error "out of memory" "^nietzsche: out of memory while (building the model|training)" \
    bash -c 'ulimit -v 600000 && exec timeout 120 "$@"' - \
    "$nietzsche" train --data "$scratch/text.txt" --units 4096 --epochs 1 --sample-length 0 \
    --out "$scratch/big.safetensors"
fi

# A directory given as --data.
expect_error "greetings --data directory" "\"$scratch/directory\" is a directory" \
  "$greetings" train --data "$scratch/directory" --out "$scratch/model.json"
expect_error "headlines --data directory" "\"$scratch/directory\" is a directory" \
  "$headlines" train --data "$scratch/directory"
expect_error "nietzsche --data directory" "\"$scratch/directory\" is a directory" \
  "$nietzsche" train --data "$scratch/directory"
expect_error "poems --data directory" "\"$scratch/directory\" is a directory" \
  "$poems" train --data "$scratch/directory"
expect_error "machado --data directory" "\"$scratch/directory\" is a directory" \
  "$machado" train --data "$scratch/directory"

# Invalid UTF-8 is reported with the file name and line.
printf 'Olá! Como vai?\nOi! Tudo \377 bem?\n' >"$scratch/bad.txt"
expect_error "greetings invalid UTF-8" "\"$scratch/bad.txt\" line 2: .*0xFF" \
  "$greetings" train --data "$scratch/bad.txt" --out "$scratch/model.json"
printf 'title,headline\nx,Hello world\ny,"Bad \303 headline"\n' >"$scratch/bad.csv"
expect_error "headlines invalid UTF-8" "\"$scratch/bad.csv\" line 3: .*0xC3" \
  "$headlines" train --data "$scratch/bad.csv"
expect_error "nietzsche invalid UTF-8" "\"$scratch/bad.txt\" line 2: .*0xFF" \
  "$nietzsche" train --data "$scratch/bad.txt"

# A binary CSV header is escaped, not echoed raw to the terminal.
printf '\001\002bin\000ary,\033[31mred\nx,y\n' >"$scratch/binary.csv"
expect_error "headlines binary header" 'no column "headline" \(columns: \\x01\\x02bin\\x00ary, \\x1B\[31mred\)' \
  "$headlines" train --data "$scratch/binary.csv"

# Arguments that are not options are refused (before: silently ignored, so `--poem yes` or a
# single-dash `-data x` trained on the default data), except the message of greetings.
expect_error "unexpected argument" "unexpected argument 'extra' \(options start with --; see --help\)" \
  "$nietzsche" train --data "$scratch/text.txt" --epochs 1 extra
expect_error "single-dash option" "unexpected argument '-data'" "$headlines" train -data "$scratch/ok.csv"
# No command at all: the usage goes to stderr, exit status 2.
if "$poems" >"$scratch/stdout" 2>"$scratch/stderr"; then echo "FAIL: no command: exit status 0"; exit 1; fi
grep -q "^Usage: poems COMMAND" "$scratch/stderr" || { echo "FAIL: no command: no usage on stderr"; exit 1; }
[ ! -s "$scratch/stdout" ] || { echo "FAIL: no command: usage on stdout"; exit 1; }
echo "ok: no command: usage on stderr"
# Negative --max-batches (before: taken as "no limit").
expect_error "--max-batches -1" "--max-batches must be from 0 to 1000000000, got -1" \
  "$machado" train --data "$scratch/text.txt" --max-batches -1
# greetings: a temperature that is not a finite number >= 0 (before: accepted when the reply
# needed no sampling), and reply or learn without a message (before: "Desculpe..." and exit 0).
printf 'Olá! Como vai?\nOi! Tudo bem?\n' >"$scratch/greetings.txt"
"$greetings" train --data "$scratch/greetings.txt" --out "$scratch/greetings.json" >/dev/null
expect_error "greetings --temperature nan" "--temperature must be a finite number >= 0, got nan" \
  "$greetings" reply --model "$scratch/greetings.json" --temperature nan Oi
expect_error "greetings reply without a message" "reply needs the message as arguments" \
  "$greetings" reply --model "$scratch/greetings.json"
# A model that is not a regular file (before: a FIFO blocked forever, /dev/zero ran out of memory).
mkfifo "$scratch/fifo"
expect_error "--model a FIFO" "--model \"$scratch/fifo\" is not a regular file" \
  timeout 20 "$nietzsche" sample --model "$scratch/fifo"
expect_error "--model /dev/zero" "--model \"/dev/zero\" is not a regular file" "$poems" sample --model /dev/zero
expect_error "greetings --model a directory" "--model \"$scratch/directory\" is a directory" \
  "$greetings" reply --model "$scratch/directory" Oi
# An --out or --log-csv that cannot be written is refused before training (before: after the
# training, with the model already saved).
expect_error "--log-csv a directory" "--log-csv: write_file_atomically: \"$scratch/directory\" is a directory" \
  "$nietzsche" train --data "$scratch/text.txt" --epochs 1 --units 4 --window 10 --sample-length 0 \
  --out "$scratch/logged.safetensors" --log-csv "$scratch/directory"
[ ! -e "$scratch/logged.safetensors" ] || { echo "FAIL: a model was saved"; exit 1; }
expect_error "--log-csv in a missing directory" "--log-csv: .*cannot create a temporary file" \
  "$poems" train --data "$scratch/text.txt" --epochs 1 --units 4 --window 10 \
  --out "$scratch/logged.safetensors" --log-csv "$scratch/missing/log.csv"
[ ! -e "$scratch/logged.safetensors" ] || { echo "FAIL: a model was saved"; exit 1; }
expect_error "--out /dev/null" "--out: write_file_atomically: \"/dev/null\" is a character device" \
  "$headlines" train --data "$scratch/ok.csv" --out /dev/null
[ -z "$(find "$scratch" -name '.*.tmp-*')" ] || { echo "FAIL: temporary files left behind"; exit 1; }

# greetings learn changes the dataset and the model together or not at all.
printf 'Olá! Como vai?\nOi! Tudo bem?\n' >"$scratch/data.txt"
"$greetings" train --data "$scratch/data.txt" --out "$scratch/model.json" >/dev/null
cp "$scratch/data.txt" "$scratch/data.before"
cp "$scratch/model.json" "$scratch/model.before"
# The model cannot be saved (a name so long that its temporary file's name is too long): the
# dataset is left as it was (before: the sentence was appended, and a retry appended it twice).
long="$scratch/$(printf 'm%.0s' $(seq 1 245)).json"
mv "$scratch/model.json" "$long"
expect_error "greetings learn, model not saved" "nothing was learned" \
  "$greetings" learn --model "$long" --data "$scratch/data.txt" carros são rápidos
cmp -s "$scratch/data.txt" "$scratch/data.before" || { echo "FAIL: the dataset changed"; exit 1; }
mv "$long" "$scratch/model.json"
# The dataset cannot be appended to: the model is left as it was.
expect_error "greetings learn, dataset not appended" "nothing was learned" \
  "$greetings" learn --model "$scratch/model.json" --data "$scratch/directory" carros são rápidos
cmp -s "$scratch/model.json" "$scratch/model.before" || { echo "FAIL: the model changed"; exit 1; }
# The retry succeeds, and the sentence is in the dataset once.
"$greetings" learn --model "$scratch/model.json" --data "$scratch/data.txt" carros são rápidos >/dev/null
[ "$(grep -c 'carros são rápidos' "$scratch/data.txt")" -eq 1 ] || { echo "FAIL: the sentence is not there once"; exit 1; }
reply=$("$greetings" reply --model "$scratch/model.json" --temperature 0 carros)
[ "$reply" = "carros são rápidos" ] || { echo "FAIL: unexpected reply after learning: $reply"; exit 1; }

echo "cli errors test passed"
