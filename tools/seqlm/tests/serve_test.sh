#!/usr/bin/env bash
# seqlm serve on a model of seqlm train: the server as a reader sees it (serve_reader.py, over
# a real WebSocket), and the models and options it refuses with one clear line and exit 1. A
# build without Boost must say that it has no server. Usage: serve_test.sh path/to/seqlm
set -euo pipefail
seqlm=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }

# A build configured without Boost has the command, which says so and exits 1.
set +e
"$seqlm" serve --help > help.txt 2>&1
status=$?
set -e
if grep -q "this build has no server" help.txt; then
  [ $status = 1 ] || fail "serve without a server exited $status"
  [ "$(wc -l < help.txt)" = 1 ] || fail "serve without a server: expected one line, got: $(cat help.txt)"
  grep -q "libboost-dev" help.txt || fail "serve without a server does not say what to install"
  echo "this build has no server: checked that seqlm serve says so"
  exit 0
fi
[ $status = 0 ] || fail "serve --help exited $status"
grep -q "Usage: seqlm serve" help.txt || fail "serve --help does not name seqlm serve: $(cat help.txt)"

# A case-sensitive text with an "@" that is an ordinary character (not a poem's end).
for k in $(seq 40); do echo "The cat sat on the mat. Write to cat@mat.org, said the Dog."; done > tiny.txt
"$seqlm" train --data tiny.txt --model lstm:16x2 --context 12 --streams 4 --epochs 1 \
  --out chars.safetensors --quiet > /dev/null
"$seqlm" train --data tiny.txt --level word --recipe windows --model gru:8 --context 5 \
  --batch-size 16 --epochs 1 --out words.safetensors --quiet > /dev/null

# Bad input: one line on stderr naming the problem, exit status 1, no server started.
expect_error() {  # expect_error "<text in the message>" args...
  local want=$1
  shift
  set +e
  timeout 20 "$seqlm" serve "$@" --port 0 > /dev/null 2> err.txt
  local status=$?
  set -e
  [ $status = 1 ] || fail "serve $*: exit status $status, expected 1"
  [ "$(wc -l < err.txt)" = 1 ] || fail "serve $*: expected one line, got: $(cat err.txt)"
  grep -q "^seqlm serve: " err.txt || fail "serve $*: the message does not name seqlm serve: $(cat err.txt)"
  grep -q -- "$want" err.txt || fail "serve $*: expected '$want' in: $(cat err.txt)"
}
mkdir adir
printf 'not a model' > junk.safetensors
expect_error "which model?"
expect_error "serves character-level models" words.safetensors
expect_error "No such file" missing.safetensors
expect_error "is a directory" adir
expect_error "junk.safetensors" junk.safetensors
expect_error "one model at a time" chars.safetensors words.safetensors
expect_error "not both" chars.safetensors --model words.safetensors
expect_error "not in the model's vocabulary" chars.safetensors --prompt "Zebra"
expect_error "--temperature must be in" chars.safetensors --temperature 0
expect_error "is not an IP address" chars.safetensors --address nowhere
expect_error "is a Keras file: give --data" model.keras

# The server itself, over a WebSocket: needs a python3 with websockets (python3-websockets).
for python in "${SEQLM_TEST_PYTHON:-}" python3 /usr/bin/python3; do
  if [ -n "$python" ] && "$python" -c "import websockets" 2> /dev/null; then
    "$python" "$here/serve_reader.py" "$seqlm" "$work/chars.safetensors" "$work/tiny.txt" ||
      fail "serve_reader.py"
    echo "all seqlm serve checks passed"
    exit 0
  fi
done
echo "seqlm serve: bad input checked; WebSocket checks skipped (no python3 with websockets;" \
  "Debian: python3-websockets)"
