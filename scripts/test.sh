#!/usr/bin/env bash
# Builds and runs the whole seqlm test suite: first the optimised build, then the same
# tests under AddressSanitizer + UndefinedBehaviorSanitizer. Installs missing Debian
# packages first. Exits non-zero if anything fails.
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
done
