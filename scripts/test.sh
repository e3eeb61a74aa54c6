#!/usr/bin/env bash
# Builds and runs the whole seqlm test suite: first the optimised build (GCC, AVX2) and the
# Doxygen API reference (any Doxygen warning fails it), then the same tests under
# AddressSanitizer + UndefinedBehaviorSanitizer (clang, AVX-512 where the CPU has it; its tests
# include every header compiled on its own), then the fuzz stage: the libFuzzer harnesses
# (clang), each over its committed corpus, and 20 seconds of fuzzing per harness
# (tests/fuzz/README.md). Installs missing Debian packages first. Prints each stage's wall time.
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc)
# stage NAME: prints the previous stage's wall time, then the heading of the next one.
stage_name="" stage_start=$SECONDS
stage() {
  [ -z "$stage_name" ] || echo "    ($stage_name: $((SECONDS - stage_start)) s)"
  stage_name=$1 stage_start=$SECONDS
  [ "$1" = done ] || echo "=== seqlm: $1"
}
# Two SIMD paths, one build each: the release build (GCC) targets AVX2 (x86-64-v3); the
# sanitizer build (clang) targets AVX-512 (x86-64-v4) where the CPU has it, so the 512-bit
# kernels run the whole suite too (under ASan+UBSan), and AVX2 elsewhere.
sanitize_arch=x86-64-v3
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  sanitize_arch=x86-64-v4
fi
for preset in release sanitize; do
  stage "$preset build"
  if [ "$preset" = sanitize ]; then
    echo "    (SIMD path: -march=$sanitize_arch)"
    cmake --preset "$preset" -DSEQLM_ARCH="$sanitize_arch" >/dev/null
  else
    cmake --preset "$preset" >/dev/null
  fi
  cmake --build --preset "$preset" -j "$jobs"
  stage "$preset tests"
  ctest --preset "$preset" -j "$jobs"
  if [ "$preset" = release ] && command -v doxygen >/dev/null; then
    stage "API reference (Doxygen; any warning fails)"
    cmake --build --preset release --target docs
  fi
done

stage "fuzz build (clang: the harnesses)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
stage "fuzz harnesses over the committed corpus"
ctest --preset fuzz -j "$jobs"
stage "fuzzing, 20 s per harness"
FUZZ_JOBS=$jobs scripts/fuzz.sh 20
stage done
echo "=== seqlm: all stages passed in $SECONDS s"
