#!/usr/bin/env bash
# seqlm plot: history CSVs the test writes itself drawn as SVG (checked with python3's XML
# parser: series, point counts, axis labels, increasing ticks), a single epoch, gaps for
# missing values, --metric and --title; bad CSVs and options refused with one line and no
# output file; -o chart.png through rsvg-convert (and one clear line without it). When Debian's
# chromium is installed the SVG is also rendered by a browser to a PNG that must not be blank.
set -euo pipefail
seqlm=$1
source "$(dirname "$0")/common.sh"
subcommand=plot

# What CsvLogger writes: epoch first, then the metrics in name order; nan for a missing value.
cat >"$scratch/history.csv" <<'EOF'
epoch,accuracy,loss,val_accuracy,val_loss
0,0.21,3.1,0.25,2.9
1,0.35,2.4,0.36,2.3
2,0.42,2,0.41,2.05
3,0.47,1.8,nan,NA
4,0.5,1.65,0.46,1.9
EOF
"$seqlm" plot "$scratch/history.csv" -o "$scratch/history.svg"
python3 "$here/check_svg.py" "$scratch/history.svg" loss=5 val_loss=4 accuracy=5 val_accuracy=4 \
  --title history.csv --panels 2

# --metric picks the panels; --out is -o; --title replaces the file name.
"$seqlm" plot "$scratch/history.csv" --out "$scratch/loss.svg" --metric loss --title "tiny run"
python3 "$here/check_svg.py" "$scratch/loss.svg" loss=5 val_loss=4 --title "tiny run" --panels 1

# One epoch, no validation, Windows line ends: still a chart, with one marker per series.
printf 'epoch,loss\r\n0,4.2\r\n' >"$scratch/one.csv"
"$seqlm" plot "$scratch/one.csv" -o "$scratch/one.svg"
python3 "$here/check_svg.py" "$scratch/one.svg" loss=1 --panels 1

# Writing over an existing chart (what train does every epoch) replaces it.
"$seqlm" plot "$scratch/one.csv" -o "$scratch/history.svg"
python3 "$here/check_svg.py" "$scratch/history.svg" loss=1 --panels 1

# Bad input: one line on stderr naming the problem, exit 1 (2 for usage), no output file.
printf 'epoch,loss\n0,1.5\n1,abc\n' >"$scratch/word.csv"
refuse 1 '"'"$scratch"'/word.csv" line 3, column 2 (loss): "abc" is not a number' "$scratch/word.csv" -o "$scratch/out.svg"
: >"$scratch/empty.csv"
refuse 1 "empty file" "$scratch/empty.csv" -o "$scratch/out.svg"
printf 'step,loss\n0,1\n' >"$scratch/noepoch.csv"
refuse 1 'has no "epoch" column' "$scratch/noepoch.csv" -o "$scratch/out.svg"
printf 'epoch,loss\n' >"$scratch/header.csv"
refuse 1 "no epochs" "$scratch/header.csv" -o "$scratch/out.svg"
printf 'epoch,loss\n0,1,2\n' >"$scratch/ragged.csv"
refuse 1 "line 2: 3 cells, the header has 2" "$scratch/ragged.csv" -o "$scratch/out.svg"
refuse 1 "No such file" "$scratch/missing.csv" -o "$scratch/out.svg"
refuse 1 "is a directory" "$scratch" -o "$scratch/out.svg"
refuse 1 'no metric "perplexity"' "$scratch/history.csv" -o "$scratch/out.svg" --metric perplexity
refuse 2 "give the chart file" "$scratch/history.csv"
refuse 2 "give the history CSV" -o "$scratch/out.svg"
refuse 2 "unknown option --colour" "$scratch/history.csv" -o "$scratch/out.svg" --colour red
refuse 1 "cannot create" "$scratch/history.csv" -o "$scratch/no/such/dir/out.svg"

# A PNG is rsvg-convert's rendering of the chart; without the converter, one line and no file.
status=0
env PATH=/nonexistent "$seqlm" plot "$scratch/history.csv" -o "$scratch/out.png" >/dev/null 2>"$scratch/err" ||
  status=$?
[ "$status" -eq 1 ] && [ "$(wc -l <"$scratch/err")" -eq 1 ] || { echo "PNG without rsvg-convert: exit $status"; cat "$scratch/err"; exit 1; }
expect "$scratch/err" "a PNG chart needs rsvg-convert (Debian: librsvg2-bin)"
[ ! -e "$scratch/out.png" ] || { echo "a PNG was written without rsvg-convert"; exit 1; }
if command -v rsvg-convert >/dev/null; then
  "$seqlm" plot "$scratch/history.csv" -o "$scratch/chart.PNG"
  python3 "$here/check_png.py" "$scratch/chart.PNG" 0.01
else
  echo "skipped the PNG rendering: rsvg-convert is not installed (Debian: librsvg2-bin)"
fi

# A browser's rendering of the chart is not blank.
if [ -x /usr/bin/chromium ]; then
  "$seqlm" plot "$scratch/history.csv" -o "$scratch/chart.svg"
  timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$scratch/chromium" --screenshot="$scratch/chart.png" --window-size=800,500 \
    "file://$scratch/chart.svg" >/dev/null 2>&1 || true
  [ -s "$scratch/chart.png" ] || { echo "chromium wrote no screenshot"; exit 1; }
  python3 "$here/check_png.py" "$scratch/chart.png" 0.01
else
  echo "skipped the rendering check: /usr/bin/chromium is not installed"
fi
echo "plot test passed"
