#!/usr/bin/env bash
# Smoke test of the greetings example on a tiny corpus the test writes itself:
# train, reply (greedy), unknown word, online learning (dataset file and model file).
set -euo pipefail
program=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf 'Olá! Como vai?\nOi! Tudo bem?\nOlá! Como posso ajudar?\nOlá! Como vai?\n' >"$scratch/data.txt"

"$program" train --data "$scratch/data.txt" --out "$scratch/model.json"
reply=$("$program" reply --model "$scratch/model.json" --temperature 0 'Olá!')
[ "$reply" = "Olá! Como vai?" ] || { echo "unexpected reply: $reply"; exit 1; }
reply=$("$program" reply --model "$scratch/model.json" 'xyz')
[ "$reply" = "Desculpe, não entendi sua mensagem." ] || { echo "unexpected reply: $reply"; exit 1; }

"$program" learn --model "$scratch/model.json" --data "$scratch/data.txt" 'carros são rápidos'
[ "$(tail -n 1 "$scratch/data.txt")" = "carros são rápidos" ] || { echo "dataset not appended"; exit 1; }
reply=$("$program" reply --model "$scratch/model.json" --temperature 0 'carros')
[ "$reply" = "carros são rápidos" ] || { echo "unexpected reply after learning: $reply"; exit 1; }

if "$program" reply --model "$scratch/missing.json" 'Olá!' 2>/dev/null; then
  echo "a missing model file must fail"
  exit 1
fi
echo "greetings smoke test passed"
