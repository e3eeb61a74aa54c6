# Sourced by the tests of the seqlm commands, after `seqlm=$1`: a scratch directory removed on
# exit, the failing line reported, and the checks they share.
#   expect FILE TEXT            FILE holds the fixed string TEXT
#   refuse STATUS TEXT ARGS...  `seqlm $subcommand ARGS...` exits with STATUS (1: an error, 2: a
#                               usage error) writing one line holding TEXT to stderr, nothing to
#                               stdout, and no $scratch/out.* file (set `subcommand` first)
#   fails WHAT COMMAND...       COMMAND exits non-zero with one line on stderr ($scratch/err)
#   usage_error                 ... and that exit status was 2
#   write_english_text FILE     40 lines of Nietzsche's first sentence, for tiny models
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
trap 'echo "$0: failed at line $LINENO" >&2' ERR

expect() {
  grep -qF -- "$2" "$1" || { echo "expected '$2' in:"; cat "$1"; exit 1; }
}

refuse() {
  local status=$1 text=$2 got=0
  shift 2
  "$seqlm" "$subcommand" "$@" >"$scratch/stdout" 2>"$scratch/err" || got=$?
  local what="$subcommand $*"
  [ "$got" -eq "$status" ] || { echo "$what: exit $got, expected $status"; cat "$scratch/err"; exit 1; }
  [ "$(wc -l <"$scratch/err")" -eq 1 ] || { echo "$what: expected one line"; cat "$scratch/err"; exit 1; }
  grep -qF -- "$text" "$scratch/err" || { echo "$what: expected '$text'"; cat "$scratch/err"; exit 1; }
  [ ! -s "$scratch/stdout" ] || { echo "$what: printed to stdout:"; cat "$scratch/stdout"; exit 1; }
  for output in "$scratch"/out.*; do
    [ ! -e "$output" ] || { echo "$what: left $output"; exit 1; }
  done
}

fails() {
  local what=$1 status=0
  shift
  "$@" >"$scratch/out" 2>"$scratch/err" || status=$?
  [ "$status" -ne 0 ] || { echo "expected a failure: $what"; exit 1; }
  [ "$(wc -l <"$scratch/err")" -eq 1 ] || { echo "expected one line on stderr for $what, got:"; cat "$scratch/err"; exit 1; }
  echo "$status" >"$scratch/status"
}

usage_error() {
  [ "$(cat "$scratch/status")" = 2 ] || { echo "expected exit status 2 (usage), got $(cat "$scratch/status")"; exit 1; }
}

write_english_text() {
  for _ in $(seq 1 20); do
    echo "Supposing that Truth is a woman -- what then? Is there not ground for suspecting that all"
    echo "philosophers, in so far as they have been dogmatists, have failed to understand women."
  done >"$1"
}
