#!/usr/bin/env bash
# How long a program that uses seqlm takes to compile: times
#
#   g++ -O2 -std=c++17 -I include -I <eigen3> train_tiny.cpp -o train_tiny
#
# (compile and link) for a translation unit that includes <seqlm/seqlm.hpp> and trains a tiny
# character LSTM with fit(), then runs the program once to check that it works. Reports the best
# of --runs (default 3) wall-clock times and the CPU time (user + sys) of that run.
#
#   benchmarks/compile_time.sh                 # a line of text
#   benchmarks/compile_time.sh --json --runs 5 # one JSON object (used by pytorch_side_by_side.py)
#   CXX=clang++ EXTRA_FLAGS=-march=x86-64-v3 benchmarks/compile_time.sh
#
# On a machine shared with other jobs, the CPU time is the steadier figure.
set -euo pipefail

runs=3
json=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --json) json=1; shift ;;
    *) echo "compile_time.sh: unknown option $1 (options: --runs N, --json)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cxx=${CXX:-g++}
eigen=$(pkg-config --cflags-only-I eigen3 2>/dev/null || echo "-I/usr/include/eigen3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/train_tiny.cpp" <<'EOF'
// A tiny character model trained with the whole library included.
#include <iostream>
#include <seqlm/seqlm.hpp>

int main() {
  const std::string text = "the quick brown fox jumps over the lazy dog. the dog sleeps. ";
  const seqlm::CharTokenizer tokenizer = seqlm::CharTokenizer::build(text);
  const seqlm::WindowDataset windows(seqlm::TokenStream(tokenizer.encode(text)), 16, 1,
                                     seqlm::WindowTargets::every_position);
  seqlm::LSTMOptions lstm;
  lstm.return_sequences = true;
  seqlm::Sequential<float> model(seqlm::InputSpec::token_ids(tokenizer.vocabulary_size()));
  model.add(seqlm::layers::lstm<float>(tokenizer.vocabulary_size(), 32, lstm));
  model.add(seqlm::layers::dense<float>(32, tokenizer.vocabulary_size()));
  seqlm::Rng rng(0);
  model.initialize(rng);
  seqlm::Adam<float> optimizer(seqlm::AdamOptions{});
  seqlm::FitOptions<float> options;
  options.epochs = 5;
  options.batch_size = 8;
  options.verbosity = seqlm::Verbosity::silent;
  const seqlm::History history = seqlm::fit(model, optimizer, windows, options);
  std::cout << "loss " << history.last("loss") << "\n";
  return 0;
}
EOF

# shellcheck disable=SC2206  # EXTRA_FLAGS is a list of flags
command=("$cxx" -O2 -std=c++17 ${EXTRA_FLAGS:-} -I"$repo/include" $eigen "$work/train_tiny.cpp" -o "$work/train_tiny")
TIMEFORMAT='%R %U %S'
best=""
best_cpu=""
all=()
for _ in $(seq "$runs"); do
  if ! timing=$( { time "${command[@]}" 2>"$work/compiler.log" ; } 2>&1 ); then
    cat "$work/compiler.log" >&2
    echo "compile_time.sh: the compile failed" >&2
    exit 1
  fi
  read -r wall user sys <<<"$timing"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  all+=("$wall")
  if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN { exit !(a < b) }'; then
    best=$wall
    best_cpu=$cpu
  fi
done
output=$("$work/train_tiny")

shown="${command[*]}"
shown=${shown//$work\//}
shown=${shown//$repo\//}
if [ "$json" -eq 1 ]; then
  list=$(IFS=,; echo "${all[*]}")
  printf '{"command": "%s", "compiler": "%s", "runs": %s, "best_seconds": %s, "best_cpu_seconds": %s, "all_seconds": [%s], "program_output": "%s"}\n' \
    "$shown" "$("$cxx" --version | head -n 1)" "$runs" "$best" "$best_cpu" "$list" "$output"
else
  echo "$shown"
  echo "compile + link, best of $runs: $best s wall ($best_cpu s CPU); all runs: ${all[*]} s; the program printed: $output"
fi
