#!/usr/bin/env bash
# Fuzzes seqlm's loaders and parsers: every libFuzzer harness in tests/fuzz for SECONDS each
# (default 600), FUZZ_JOBS harnesses at a time (default: nproc), starting from the committed
# corpus (tests/fuzz/corpus/<harness>) and the seeds the library writes (fuzz_make_seeds).
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]      e.g. scripts/fuzz.sh 60 json utf8
#
# Builds the `fuzz` preset's harnesses first. Everything it writes is under build/fuzz/:
#   corpus/<harness>/      new inputs found (the committed corpus is never modified)
#   artifacts/<harness>-*  inputs that crashed, leaked, ran out of time or memory
#   logs/<harness>.log     libFuzzer's output
# At the end it prints, per harness, the inputs executed, the coverage (cov: edges, ft:
# features), the size of its corpus in build/ and the result, and exits non-zero when any harness failed.
# To keep a finding as a regression input: tests/fuzz/README.md ("Adding to the corpus").
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
[ $# -gt 0 ] && shift
all=(json csv utf8 char_tokenizer word_tokenizer ngram safetensors model_file architecture checkpoint)
jobs=${FUZZ_JOBS:-$(nproc)}

cmake --preset fuzz >/dev/null
cmake --build build/fuzz --target seqlm_fuzzers -j "$jobs" >/dev/null

bin=build/fuzz/tests/fuzz
# fuzz_keras is built when the configure step found HDF5 and libzip (the seqlm::keras component).
if [ -x "$bin/fuzz_keras" ]; then all+=(keras); fi
if [ $# -gt 0 ]; then harnesses=("$@"); else harnesses=("${all[@]}"); fi
out=build/fuzz
mkdir -p "$out/logs" "$out/artifacts"
rm -rf "$out/seeds"
"$bin/fuzz_make_seeds" "$out/seeds"

# The harnesses' scratch files (fuzz_common.hpp) go to a tmpfs directory removed at the end.
scratch=$(mktemp -d /dev/shm/seqlm-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
export SEQLM_FUZZ_SCRATCH=$scratch
if [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi

run_harness() {
  local name=$1
  mkdir -p "$out/corpus/$name"
  # The first directory receives new inputs; the others are only read.
  local inputs=("$out/corpus/$name")
  for directory in "tests/fuzz/corpus/$name" "$out/seeds/$name"; do
    if [ -d "$directory" ]; then inputs+=("$directory"); fi
  done
  set +e
  "$bin/fuzz_$name" "${inputs[@]}" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" >"$out/logs/$name.log" 2>&1
  echo $? >"$out/logs/$name.rc"
}

echo "seqlm: fuzzing ${#harnesses[@]} harnesses for ${seconds} s each, $jobs at a time"
for name in "${harnesses[@]}"; do
  if [ ! -x "$bin/fuzz_$name" ]; then
    echo "seqlm: no harness fuzz_$name (known: ${all[*]})" >&2
    exit 2
  fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_harness "$name" &
done
wait

failed=0
printf '%-16s %12s %8s %8s %8s  %s\n' harness execs cov ft corpus result
for name in "${harnesses[@]}"; do
  log=$out/logs/$name.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  status=$(grep -E '^#[0-9]+[[:space:]].*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
  corpus=$(find "$out/corpus/$name" -type f | wc -l)
  result=ok
  if [ "$(cat "$out/logs/$name.rc")" != 0 ]; then
    result="FAILED: $(grep -m1 -oE 'Test unit written to .*' "$log" || echo "see $log")"
    failed=1
  fi
  printf '%-16s %12s %8s %8s %8s  %s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$result"
done
exit $failed
