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

# The last 25% of the 4 headlines validate (the 4 words after "mr" of the last one), in both
# training modes; --log-csv writes one row per epoch.
for mode in "" "--prefix-sharing"; do
  # shellcheck disable=SC2086
  "$program" train --data "$scratch/articles.csv" --out "$scratch/split.safetensors" $mode --epochs 2 \
    --embedding 8 --units 16 --batch-size 4 --validation-split 0.25 --log-csv "$scratch/log.csv" \
    >"$scratch/train.log"
  grep -q "validation split 0.25: 3 headlines for training, 1 for validation" "$scratch/train.log"
  grep -q "19 prefix examples of 5 steps (longest headline 6 words), 15 for training and 4 for validation" \
    "$scratch/train.log"
  grep -q "trained 2 epoch(s): .*val_loss .*val_accuracy" "$scratch/train.log" ||
    { cat "$scratch/train.log"; echo "no validation metrics ($mode)"; exit 1; }
  [ "$(wc -l <"$scratch/log.csv")" -eq 3 ] || { echo "expected a CSV header and two epochs"; exit 1; }
done

# The word n-gram baseline scores the same words: every word after the first of each headline.
"$program" baseline --data "$scratch/articles.csv" --validation-split 0.25 >"$scratch/baseline.log"
grep -q "order 3 " "$scratch/baseline.log"
grep -q "^train .*loss [0-9.]* .*accuracy [0-9.]* .*targets 15$" "$scratch/baseline.log"
grep -q "^validation .*val_loss [0-9.]* .*val_perplexity [0-9.]* .*targets 4$" "$scratch/baseline.log"
"$program" baseline --data "$scratch/articles.csv" --order 2 --add-k 0.01 >"$scratch/baseline.log"
grep -q "targets 19$" "$scratch/baseline.log"
if grep -q "^validation" "$scratch/baseline.log"; then echo "no validation split was asked for"; exit 1; fi

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
