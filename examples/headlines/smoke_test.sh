#!/usr/bin/env bash
# Smoke test of the headlines example on a tiny CSV the test writes itself: both training modes
# (the tutorial's prefix expansion and --prefix-sharing) learn the headlines by heart with a
# tiny model, save, load, and continue a prompt greedily; the tutorial's default prompts run;
# errors for a missing model, a missing CSV and an unknown prompt.
set -euo pipefail
program=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cat >"$scratch/articles.csv" <<'CSV'
articleID,headline,byline
1,"New York Forgets Its Juvenile Lifers","By A, B"
2,Unknown,By C
3,President Trump Tours the Border Wall,By D
4,"United States Tariffs on Steel, Explained",By E
5,"Mr. Trump’s Plan: Walls, Again",By F
CSV

for mode in "" "--prefix-sharing"; do
  # shellcheck disable=SC2086
  "$program" train --data "$scratch/articles.csv" --out "$scratch/model.safetensors" $mode --epochs 150 \
    --embedding 8 --units 32 --learning-rate 0.02 --batch-size 4 >"$scratch/train.log"
  grep -q "4 headlines" "$scratch/train.log" || { cat "$scratch/train.log"; echo "Unknown not dropped"; exit 1; }
  grep -q "Total params" "$scratch/train.log" || { cat "$scratch/train.log"; echo "no summary"; exit 1; }
  text=$("$program" sample --model "$scratch/model.safetensors" --prompt "new york" --words 4)
  [ "$text" = "New York Forgets Its Juvenile Lifers" ] || { echo "unexpected ($mode): $text"; exit 1; }
  [ "$("$program" sample --model "$scratch/model.safetensors" | wc -l)" -eq 3 ] || { echo "default prompts"; exit 1; }
done

if "$program" sample --model "$scratch/model.safetensors" --prompt "zebra" 2>/dev/null; then
  echo "a prompt without known words must fail"
  exit 1
fi
if "$program" sample --model "$scratch/missing.safetensors" 2>/dev/null; then
  echo "a missing model file must fail"
  exit 1
fi
if "$program" train --data "$scratch/missing.csv" 2>"$scratch/err.txt"; then
  echo "a missing CSV must fail"
  exit 1
fi
grep -q "fetch-data.sh" "$scratch/err.txt" || { cat "$scratch/err.txt"; echo "no hint to fetch-data.sh"; exit 1; }
echo "headlines smoke test passed"
