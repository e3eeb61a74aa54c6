#!/usr/bin/env bash
# Installs missing Debian packages, builds seqlm and runs the main demo: a character-level
# LSTM that learns a short public-domain text written into the build tree, then writes
# new text. Extra arguments are passed to the demo (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target quickstart
exec build/release/examples/quickstart "$@"
