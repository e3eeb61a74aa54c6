#!/usr/bin/env bash
# Runs bad command-line inputs through the example programs (greetings, headlines, nietzsche,
# poems, machado) and prints a markdown table: case | exit | first line of stderr | verdict.
#
#   scripts/bad_inputs.sh [BUILD_DIR]          (default build/release)
#
# Missing, extra and unknown options, malformed and out-of-range numbers, missing files,
# directories, devices and FIFOs given as files, empty, binary and invalid UTF-8 data,
# corrupt and truncated model files, read-only and odd output paths. Each case runs in a
# fresh directory of its own (its working directory; @DIR@ in the arguments) under
# `timeout 60` and a 4 GB address-space limit, with stdin from /dev/null unless the case
# gives text. The verdict flags
#   hang       the case ran into the timeout
#   crash      the program died of a signal (exit status >= 128)
#   exception  "std::" or "what():" on stderr (an exception's type name instead of a message)
#   partial    a failed run left a file behind, or any run left a temporary file
# and is "ok" otherwise (a clear refusal, or success where the input is odd but valid). Exits
# 1 when any case is flagged. Builds the five programs first when one is missing; the fixtures
# (tiny texts and models trained by the programs themselves) take about a minute to make.
# docs/reliability.md has the table as measured.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
programs=(greetings headlines nietzsche poems machado)
for program in "${programs[@]}"; do
  if [ ! -x "$build/examples/$program" ]; then
    cmake --build "$build" -j 2 --target "${programs[@]}" >/dev/null || exit 2
    break
  fi
done
greetings=$PWD/$build/examples/greetings
headlines=$PWD/$build/examples/headlines
nietzsche=$PWD/$build/examples/nietzsche
poems=$PWD/$build/examples/poems
machado=$PWD/$build/examples/machado

work=$(mktemp -d)
fx=$work/fixtures
mkdir "$fx"
cleanup() {
  chattr -R -i "$work" 2>/dev/null
  chmod -R u+w "$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# A directory (or file) nothing can be written to, also by root: immutable where chattr works
# (ext4, as root), else without write permission.
make_read_only() {
  if [ "$(id -u)" -eq 0 ]; then chattr +i "$1" 2>/dev/null || return 1; else chmod a-w "$1"; fi
}

# ---- fixtures -------------------------------------------------------------------------------
for _ in $(seq 1 20); do
  echo "Supposing that Truth is a woman -- what then? Is there not ground for suspecting that all"
  echo "philosophers, in so far as they have been dogmatists, have failed to understand women."
done >"$fx/text.txt"
for _ in $(seq 1 8); do printf 'A lua brilha no mar\ne o vento canta\n@\n'; done >"$fx/poems.txt"
for _ in $(seq 1 40); do echo "A menina estava sentada na varanda, olhando o mar e pensando na vida."; done \
  >"$fx/machado.txt"
{
  echo "headline,abstract"
  for _ in $(seq 1 10); do
    echo "New York Today,A day in the city"
    echo "Trump Says Something About Taxes,Politics"
    echo "A Headline About New York,More news"
  done
} >"$fx/ok.csv"
printf 'Olá! Como vai?\nOi! Tudo bem?\nBom dia! Tudo certo?\n' >"$fx/greetings.txt"
: >"$fx/empty"
head -c 4096 /dev/urandom >"$fx/random.bin"
printf 'Olá! Como vai?\nOi! Tudo \377 bem?\n' >"$fx/bad_utf8.txt"
printf 'headline\nfine\n"open quote\nnever closed\n' >"$fx/unterminated.csv"
printf 'headline,abstract\none,two\nthree\n' >"$fx/ragged.csv"
printf '\001\002bin\000ary,\033[31mred\nx,y\n' >"$fx/binary_header.csv"
printf 'x' >"$fx/one_char.txt"
mkdir "$fx/directory"
mkfifo "$fx/fifo"
mkdir "$fx/read_only"
make_read_only "$fx/read_only" || echo "note: cannot make a read-only directory here" >&2

fixture() {  # fixture NAME COMMAND...: runs a program to make a fixture, or stops the script
  local name=$1
  shift
  if ! "$@" >"$fx/$name.log" 2>&1; then
    echo "bad_inputs.sh: could not make the fixture $name:" >&2
    cat "$fx/$name.log" >&2
    exit 2
  fi
}
fixture nietzsche_model "$nietzsche" train --data "$fx/text.txt" --out "$fx/nietzsche.safetensors" --epochs 1 \
  --units 8 --window 20 --batch-size 64 --sample-length 0
fixture poems_model "$poems" train --data "$fx/poems.txt" --out "$fx/poems.safetensors" --epochs 1 --units 8 \
  --window 12 --batch-size 16
fixture machado_model "$machado" train --data "$fx/machado.txt" --out "$fx/machado.safetensors" --epochs 1 \
  --units 8 --filters 8 --embedding 4 --window 16 --train-size 2000 --valid-size 500 --sample-every 0
fixture headlines_model "$headlines" train --data "$fx/ok.csv" --out "$fx/headlines.safetensors" --epochs 1 \
  --units 8 --embedding 4
fixture greetings_model "$greetings" train --data "$fx/greetings.txt" --out "$fx/greetings.json"
model=$fx/nietzsche.safetensors
size=$(wc -c <"$model")
head -c $((size / 2)) "$model" >"$fx/truncated.safetensors"
head -c 8 "$model" >"$fx/header_only.safetensors"
cp "$model" "$fx/flipped.safetensors"
printf '\x5a' | dd of="$fx/flipped.safetensors" bs=1 seek=$((size - 100)) conv=notrunc status=none
# A header length of 2^60 in an otherwise valid file.
{ printf '\x00\x00\x00\x00\x00\x00\x00\x10'; tail -c +9 "$model"; } >"$fx/huge_header.safetensors"
head -c 300 "$fx/greetings.json" >"$fx/truncated.json"

# ---- running one case -----------------------------------------------------------------------
count=0
flagged=0
rows=()
setup=""  # shell commands run in the case's directory before the program
input=""  # the program's stdin, when not empty

escape() {  # one table cell: the scratch path shortened, '|' escaped, at most 150 characters
  local text=${1//$work\//}
  text=${text//|/\\|}
  [ ${#text} -gt 150 ] && text="${text:0:147}..."
  printf '%s' "$text"
}

# run_case DESCRIPTION PROGRAM ARGUMENT...
run_case() {
  local description=$1
  shift
  count=$((count + 1))
  local dir=$work/case$count
  mkdir "$dir"
  local arguments=()
  for argument in "$@"; do arguments+=("${argument//@DIR@/$dir}"); done
  if [ -n "$setup" ]; then (cd "$dir" && eval "$setup"); fi
  local before
  before=$(cd "$dir" && find . -mindepth 1 | sort)
  (
    cd "$dir" || exit 99
    ulimit -v 4000000
    if [ -n "$input" ]; then
      printf '%b' "$input" | timeout 60 "${arguments[@]}"
    else
      timeout 60 "${arguments[@]}" </dev/null
    fi
  ) >"$dir.stdout" 2>"$dir.stderr"
  local status=$?
  local after
  after=$(cd "$dir" && find . -mindepth 1 | sort)
  local first_line
  first_line=$(head -n 1 "$dir.stderr" | LC_ALL=C tr -d '\r' | cut -c 1-400)
  local verdict=ok
  if [ "$status" -eq 124 ]; then
    verdict="HANG (timeout)"
  elif [ "$status" -ge 128 ]; then
    verdict="CRASH (signal $((status - 128)))"
  elif grep -Eq 'std::|what\(\):' "$dir.stderr"; then
    verdict="EXCEPTION NAME on stderr"
  elif [ "$status" -ne 0 ] && [ "$before" != "$after" ]; then
    verdict="PARTIAL FILE: $(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')"
  elif grep -q '\.tmp-' <<<"$after"; then
    verdict="PARTIAL FILE (temporary): $(grep '\.tmp-' <<<"$after" | tr '\n' ' ')"
  fi
  [ "$verdict" != ok ] && flagged=$((flagged + 1))
  rows+=("| $count | $(basename "$1"): $(escape "$description") | $status | $(escape "$first_line") | $verdict |")
  setup=""
  input=""
}

# The arguments of a quick training run of each program (one small epoch).
n_train=(train --data "$fx/text.txt" --out @DIR@/m.safetensors --epochs 1 --units 8 --window 20 --batch-size 64
  --sample-length 0)
p_train=(train --data "$fx/poems.txt" --out @DIR@/m.safetensors --epochs 1 --units 8 --window 12 --batch-size 16)
m_train=(train --data "$fx/machado.txt" --out @DIR@/m.safetensors --epochs 1 --units 8 --filters 8 --embedding 4
  --window 16 --train-size 2000 --valid-size 500 --sample-every 0)
h_train=(train --data "$fx/ok.csv" --out @DIR@/m.safetensors --epochs 1 --units 8 --embedding 4)

# ---- the cases ------------------------------------------------------------------------------
# Command lines.
run_case "no arguments" "$nietzsche"
run_case "unknown command" "$nietzsche" frobnicate
run_case "train unknown option" "$nietzsche" "${n_train[@]}" --frobnicate
run_case "train option without its value" "$nietzsche" "${n_train[@]}" --units
run_case "train unexpected positional argument" "$nietzsche" "${n_train[@]}" extra
run_case "sample flag given a value" "$poems" sample --model "$fx/poems.safetensors" --poem yes
run_case "train single-dash option" "$headlines" train -data "$fx/ok.csv"
run_case "train non-numeric --units" "$nietzsche" "${n_train[@]}" --units abc
run_case "train --units 1000000000" "$nietzsche" "${n_train[@]}" --units 1000000000
run_case "train --units 0" "$poems" "${p_train[@]}" --units 0
run_case "train --units -5" "$machado" "${m_train[@]}" --units -5
run_case "train --units 12abc" "$headlines" "${h_train[@]}" --units 12abc
run_case "train --epochs -1" "$nietzsche" "${n_train[@]}" --epochs -1
run_case "train --epochs 99999999999999999999" "$poems" "${p_train[@]}" --epochs 99999999999999999999
run_case "train --batch-size 0" "$headlines" "${h_train[@]}" --batch-size 0
run_case "train --threads 100000" "$machado" "${m_train[@]}" --threads 100000
run_case "train --learning-rate nan" "$nietzsche" "${n_train[@]}" --learning-rate nan
run_case "train --learning-rate -1" "$poems" "${p_train[@]}" --learning-rate -1
run_case "train --learning-rate inf" "$machado" "${m_train[@]}" --learning-rate inf
run_case "train --learning-rate 1e999" "$headlines" "${h_train[@]}" --learning-rate 1e999
run_case "train --dropout 1.5" "$headlines" "${h_train[@]}" --dropout 1.5
run_case "train --dropout nan" "$headlines" "${h_train[@]}" --dropout nan
run_case "train --validation-split 1.5" "$nietzsche" "${n_train[@]}" --validation-split 1.5
run_case "train --validation-split nan" "$poems" "${p_train[@]}" --validation-split nan
run_case "train --validation-split -0.5" "$headlines" "${h_train[@]}" --validation-split -0.5
run_case "train --window 0" "$nietzsche" "${n_train[@]}" --window 0
run_case "train --window longer than the text" "$nietzsche" "${n_train[@]}" --window 100000
run_case "train --step 0" "$poems" "${p_train[@]}" --step 0
run_case "train --patience -1" "$poems" "${p_train[@]}" --patience -1
run_case "train --max-batches -1" "$nietzsche" "${n_train[@]}" --max-batches -1
run_case "train --temperatures abc" "$nietzsche" "${n_train[@]}" --temperatures abc
run_case "train --temperatures -1" "$nietzsche" "${n_train[@]}" --temperatures -1
run_case "train --sample-length -1" "$nietzsche" "${n_train[@]}" --sample-length -1
run_case "train --train-size 0" "$machado" "${m_train[@]}" --train-size 0
run_case "train --train-size beyond the text" "$machado" "${m_train[@]}" --train-size 1000000000000
run_case "train --valid-size -1" "$machado" "${m_train[@]}" --valid-size -1
run_case "train --sample-every -1" "$machado" "${m_train[@]}" --sample-every -1
run_case "train --filters 0" "$machado" "${m_train[@]}" --filters 0
run_case "train --embedding 99999999999" "$headlines" "${h_train[@]}" --embedding 99999999999
run_case "baseline --order 0" "$nietzsche" baseline --data "$fx/text.txt" --window 20 --order 0
run_case "baseline --order 100000" "$poems" baseline --data "$fx/poems.txt" --window 12 --order 100000
run_case "baseline --add-k nan" "$machado" baseline --data "$fx/machado.txt" --window 16 --train-size 2000 \
  --valid-size 500 --add-k nan
run_case "baseline --add-k -1" "$headlines" baseline --data "$fx/ok.csv" --add-k -1
run_case "train --order 0" "$greetings" train --data "$fx/greetings.txt" --out @DIR@/g.json --order 0
run_case "train --order 100000" "$greetings" train --data "$fx/greetings.txt" --out @DIR@/g.json --order 100000

# Sampling options.
run_case "sample --temperature nan" "$nietzsche" sample --model "$model" --temperature nan --length 5
run_case "sample --temperature -1" "$nietzsche" sample --model "$model" --temperature -1 --length 5
run_case "sample --temperature inf" "$poems" sample --model "$fx/poems.safetensors" --temperature inf --length 5
run_case "sample --temperature nan" "$machado" sample --model "$fx/machado.safetensors" --temperature nan --length 5
run_case "sample --temperature -1" "$machado" sample --model "$fx/machado.safetensors" --temperature -1 --length 5
run_case "sample --temperature 1e-300" "$machado" sample --model "$fx/machado.safetensors" --temperature 1e-300 \
  --length 5
run_case "reply --temperature nan" "$greetings" reply --model "$fx/greetings.json" --temperature nan Oi
run_case "sample --temperature empty" "$poems" sample --model "$fx/poems.safetensors" --temperature "" --length 5
run_case "sample --length -1" "$nietzsche" sample --model "$model" --length -1
run_case "sample --length 99999999999" "$poems" sample --model "$fx/poems.safetensors" --length 99999999999
run_case "sample --words -1" "$headlines" sample --model "$fx/headlines.safetensors" --prompt "new york" --words -1
run_case "reply --max-words -1" "$greetings" reply --model "$fx/greetings.json" --max-words -1 Oi
run_case "sample --seed abc" "$nietzsche" sample --model "$model" --seed abc --length 5
run_case "sample prompt of invalid UTF-8" "$nietzsche" sample --model "$model" --prompt $'truth \xff' --length 5
run_case "sample prompt of invalid UTF-8" "$headlines" sample --model "$fx/headlines.safetensors" \
  --prompt $'new \xc3 york' --words 2
run_case "sample prompt outside the vocabulary" "$machado" sample --model "$fx/machado.safetensors" --prompt "€€€" \
  --length 5
run_case "sample empty prompt" "$machado" sample --model "$fx/machado.safetensors" --prompt "" --length 5
run_case "reply without a message" "$greetings" reply --model "$fx/greetings.json"
run_case "reply message of invalid UTF-8" "$greetings" reply --model "$fx/greetings.json" $'Oi \xff'
input='Oi\n\377\376 bin\000ary\n/learn \377\n'
run_case "chat binary lines on stdin" "$greetings" chat --model "$fx/greetings.json"

# Data files.
run_case "train --data missing" "$nietzsche" "${n_train[@]}" --data @DIR@/missing.txt
run_case "train --data a directory" "$poems" "${p_train[@]}" --data "$fx/directory"
run_case "train --data /dev/zero" "$nietzsche" "${n_train[@]}" --data /dev/zero
run_case "train --data a FIFO" "$machado" "${m_train[@]}" --data "$fx/fifo"
run_case "train --data empty" "$nietzsche" "${n_train[@]}" --data "$fx/empty"
run_case "train --data empty" "$poems" "${p_train[@]}" --data "$fx/empty"
run_case "train --data empty" "$machado" "${m_train[@]}" --data "$fx/empty"
run_case "train --data empty" "$headlines" "${h_train[@]}" --data "$fx/empty"
run_case "train --data empty" "$greetings" train --data "$fx/empty" --out @DIR@/g.json
run_case "train --data binary" "$nietzsche" "${n_train[@]}" --data "$fx/random.bin"
run_case "train --data binary" "$headlines" "${h_train[@]}" --data "$fx/random.bin"
run_case "train --data binary" "$greetings" train --data "$fx/random.bin" --out @DIR@/g.json
run_case "train --data invalid UTF-8" "$poems" "${p_train[@]}" --data "$fx/bad_utf8.txt"
run_case "train --data invalid UTF-8" "$machado" "${m_train[@]}" --data "$fx/bad_utf8.txt"
run_case "train --data one character" "$nietzsche" "${n_train[@]}" --data "$fx/one_char.txt"
run_case "train --data one character" "$poems" "${p_train[@]}" --data "$fx/one_char.txt"
run_case "train CSV: unterminated quote" "$headlines" "${h_train[@]}" --data "$fx/unterminated.csv"
run_case "train CSV: row with a missing field" "$headlines" "${h_train[@]}" --data "$fx/ragged.csv"
run_case "train CSV: binary header" "$headlines" "${h_train[@]}" --data "$fx/binary_header.csv"
run_case "train CSV: --column missing" "$headlines" "${h_train[@]}" --column nope
run_case "train --data a model file" "$headlines" "${h_train[@]}" --data "$model"
run_case "baseline --data a model file" "$nietzsche" baseline --data "$model" --window 20

# Model files.
run_case "sample --model missing" "$nietzsche" sample --model @DIR@/missing.safetensors
run_case "sample --model a directory" "$poems" sample --model "$fx/directory"
run_case "sample --model empty" "$machado" sample --model "$fx/empty"
run_case "sample --model /dev/zero" "$nietzsche" sample --model /dev/zero
run_case "sample --model a FIFO" "$headlines" sample --model "$fx/fifo"
run_case "sample --model truncated" "$nietzsche" sample --model "$fx/truncated.safetensors"
run_case "sample --model only a header length" "$poems" sample --model "$fx/header_only.safetensors"
run_case "sample --model one flipped byte" "$nietzsche" sample --model "$fx/flipped.safetensors"
run_case "sample --model header length 2^60" "$machado" sample --model "$fx/huge_header.safetensors"
run_case "sample --model random bytes" "$headlines" sample --model "$fx/random.bin"
run_case "sample --model a text file" "$poems" sample --model "$fx/text.txt"
run_case "sample --model of a word model" "$nietzsche" sample --model "$fx/headlines.safetensors"
run_case "sample --model of a char model" "$headlines" sample --model "$fx/nietzsche.safetensors"
run_case "sample --model of another char model" "$machado" sample --model "$fx/poems.safetensors"
run_case "sample --model of an LSTM model" "$poems" sample --model "$fx/nietzsche.safetensors"
run_case "reply --model truncated JSON" "$greetings" reply --model "$fx/truncated.json" Oi
run_case "reply --model a safetensors file" "$greetings" reply --model "$model" Oi
run_case "reply --model empty" "$greetings" reply --model "$fx/empty" Oi

# Output paths.
run_case "train --out in a read-only directory" "$nietzsche" "${n_train[@]}" --out "$fx/read_only/m.safetensors"
run_case "train --out in a read-only directory" "$greetings" train --data "$fx/greetings.txt" \
  --out "$fx/read_only/g.json"
run_case "train --out in a missing directory" "$poems" "${p_train[@]}" --out @DIR@/missing/m.safetensors
run_case "train --out a directory" "$machado" "${m_train[@]}" --out "$fx/directory"
run_case "train --out /dev/null" "$nietzsche" "${n_train[@]}" --out /dev/null
run_case "train --out /dev/full" "$greetings" train --data "$fx/greetings.txt" --out /dev/full
run_case "train --out a FIFO" "$headlines" "${h_train[@]}" --out "$fx/fifo"
setup='echo old >target && ln -s target link.safetensors'
run_case "train --out a symbolic link to a file" "$nietzsche" "${n_train[@]}" --out @DIR@/link.safetensors
setup='ln -s missing/target dangling.safetensors'
run_case "train --out a dangling symbolic link" "$poems" "${p_train[@]}" --out @DIR@/dangling.safetensors
setup='ln -s /dev/null null.json'
run_case "train --out a link to /dev/null" "$greetings" train --data "$fx/greetings.txt" --out @DIR@/null.json
run_case "train --out a 300-character name" "$machado" "${m_train[@]}" --out "@DIR@/$(printf 'm%.0s' $(seq 1 300))"
run_case "train --log-csv a directory" "$nietzsche" "${n_train[@]}" --log-csv "$fx/directory"
run_case "train --log-csv in a read-only directory" "$poems" "${p_train[@]}" --log-csv "$fx/read_only/log.csv"
setup="cp '$fx/greetings.txt' data.txt && cp '$fx/greetings.json' g.json && chmod a-w data.txt && \
(chattr +i data.txt 2>/dev/null || true)"
run_case "learn --data read-only" "$greetings" learn --model @DIR@/g.json --data @DIR@/data.txt carros são rápidos
setup="cp '$fx/greetings.txt' data.txt"
run_case "learn --model missing" "$greetings" learn --model @DIR@/missing.json --data @DIR@/data.txt oi

# Keras files (poems and nietzsche, when built with seqlm::keras; otherwise each case must say
# that the build has no Keras support).
"$poems" train --data "$fx/poems.txt" --out "$fx/poems.keras" --epochs 1 --units 8 --window 12 \
  --batch-size 16 >/dev/null 2>&1 || : >"$fx/poems.keras"
head -c 700 "$fx/poems.keras" >"$fx/truncated.keras"
: >"$fx/empty.keras"
run_case "sample --model .keras without --data" "$poems" sample --model "$fx/poems.keras" --data "$fx/missing.txt"
run_case "sample --model .keras, --data of another vocabulary" "$poems" sample --model "$fx/poems.keras" \
  --data "$fx/text.txt" --length 5
run_case "sample --model truncated .keras" "$poems" sample --model "$fx/truncated.keras" --data "$fx/poems.txt"
run_case "sample --model .keras that is empty" "$nietzsche" sample --model "$fx/empty.keras" --data "$fx/text.txt"
run_case "train --resume-from a directory" "$poems" "${p_train[@]}" --resume-from "$fx"
run_case "train --resume-from truncated .keras" "$poems" "${p_train[@]}" --resume-from "$fx/truncated.keras"
run_case "train --resume-from .keras, other vocabulary" "$nietzsche" train --data "$fx/text.txt" \
  --resume-from "$fx/poems.keras" --out @DIR@/n.keras --window 20 --sample-length 0

# ---- the table ------------------------------------------------------------------------------
echo "| # | case | exit | first line of stderr | verdict |"
echo "|---:|---|---:|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "$count cases, $flagged flagged"
[ "$flagged" -eq 0 ]
