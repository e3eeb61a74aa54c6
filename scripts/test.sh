#!/usr/bin/env bash
# Builds and runs the whole seqlm test suite: first the optimised build and the Doxygen API
# reference (any Doxygen warning fails it), then the same tests under AddressSanitizer +
# UndefinedBehaviorSanitizer, then the fuzz stage: the libFuzzer harnesses (clang) and a
# clang compile of every header, each harness over its committed corpus, and 20 seconds of
# fuzzing per harness (tests/fuzz/README.md). Installs missing Debian packages first. Exits
# non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc)
for preset in release sanitize; do
  echo "=== seqlm: $preset build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== seqlm: $preset tests"
  ctest --preset "$preset" -j "$jobs"
  if [ "$preset" = release ] && command -v doxygen >/dev/null; then
    echo "=== seqlm: API reference (Doxygen; any warning fails)"
    cmake --build --preset release --target docs
  fi
done

echo "=== seqlm: fuzz build (clang: the harnesses and every header on its own)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
echo "=== seqlm: fuzz harnesses over the committed corpus"
ctest --preset fuzz -j "$jobs"
echo "=== seqlm: fuzzing, 20 s per harness"
FUZZ_JOBS=$jobs scripts/fuzz.sh 20
