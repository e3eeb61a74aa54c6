#!/usr/bin/env bash
# Fetches the datasets of the five tutorials into DEST (default: data/) with the layout the
# examples expect, and checks each file's SHA-256:
#   DEST/nietzsche/nietzsche.txt            Keras / Chollet char-LSTM corpus (public domain text)
#   DEST/headlines/ArticlesMarch2018.csv    NYT article metadata (Kaggle aashita/nyt-comments)
#   DEST/poems/poemas-10k-llama3.1.txt      synthetic poems (tallesl/poema-top)
#   DEST/poems/poemas-1k-llama3.1.txt
#   DEST/machado/machado.txt                Machado de Assis, seven Project Gutenberg books
#   DEST/greetings/dataset.txt              the greetings tutorial's ten lines (written here)
#
# Usage: scripts/fetch-data.sh [DEST]
#   SEQLM_DATA_MIRROR=DIR  copy from a local mirror with the same layout instead of downloading
#                          (no network needed), e.g. SEQLM_DATA_MIRROR=../shared/data
# Each file is written to a temporary name and renamed only after its checksum matched, so an
# interrupted run never leaves a truncated dataset behind. Existing good files are kept.
set -euo pipefail

dest=${1:-data}
mirror=${SEQLM_DATA_MIRROR:-}

# path | sha256 | canonical download address
datasets=(
  "nietzsche/nietzsche.txt|23cf69874ab69d3d256099ab530ea4be24d47d9675b673bcc67cbcd6298ec647|https://s3.amazonaws.com/text-datasets/nietzsche.txt"
  "headlines/ArticlesMarch2018.csv|a93801c72ef7bb57c03830a4704313c0d9f7997b1a839d1f1fdebe0ed97e2ce9|https://raw.githubusercontent.com/vikramrahane/NLP/6cd60237de29d21feff59a2fe826b96a353a2d8c/ArticlesMarch2018.csv"
  "poems/poemas-10k-llama3.1.txt|630c59ce4dde7929816f816043f480d4552af26fdbd3af5b05b99a7c37156b13|https://raw.githubusercontent.com/tallesl/poema-top/82dc57094eb67e65040c83a60b54a05aef2c7808/dataset/poemas-10k-llama3.1.txt"
  "poems/poemas-1k-llama3.1.txt|9bbb165282b36887b95afb2f982c6a9bbc2b125aa6da281ecf5ef812ffc66b4c|https://raw.githubusercontent.com/tallesl/poema-top/82dc57094eb67e65040c83a60b54a05aef2c7808/dataset/poemas-1k-llama3.1.txt"
  "machado/machado.txt|7ff74130acd3fb25ffaaca0f778596c909067643a1c8a567679d19c0b04be0cd|https://raw.githubusercontent.com/Mjrovai/MachadoAssisBot/025b68ba8da68c282c902ea22172b7aeb9e3fea6/machado.txt"
)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

failures=0
fetch_one() {
  local path=$1 sha=$2 url=$3
  local target="$dest/$path"
  if [ -f "$target" ] && [ "$(sha256_of "$target")" = "$sha" ]; then
    echo "ok        $path (already there)"
    return
  fi
  mkdir -p "$(dirname "$target")"
  local partial="$target.partial.$$"
  if [ -n "$mirror" ]; then
    if [ ! -f "$mirror/$path" ]; then
      echo "missing   $path: not in mirror $mirror" >&2
      failures=$((failures + 1))
      return
    fi
    cp "$mirror/$path" "$partial"
  elif ! curl --fail --silent --show-error --location --retry 2 --output "$partial" "$url"; then
    rm -f "$partial"
    echo "failed    $path: could not download $url" >&2
    failures=$((failures + 1))
    return
  fi
  local got
  got=$(sha256_of "$partial")
  if [ "$got" != "$sha" ]; then
    rm -f "$partial"
    echo "corrupt   $path: sha256 $got, expected $sha" >&2
    failures=$((failures + 1))
    return
  fi
  mv "$partial" "$target"
  echo "fetched   $path"
}

for entry in "${datasets[@]}"; do
  IFS='|' read -r path sha url <<<"$entry"
  fetch_one "$path" "$sha" "$url"
done

# The greetings tutorial prints its ten lines; its dataset file itself was never published.
greetings="$dest/greetings/dataset.txt"
if [ ! -f "$greetings" ]; then
  mkdir -p "$dest/greetings"
  cat >"$greetings.partial.$$" <<'LINES'
Olá! Como você está?
Oi! Tudo bem com você?
Bom dia! Espero que você tenha um ótimo dia.
Boa tarde! Como posso te ajudar hoje?
Boa noite! Espero que você esteja bem.
Oi! É um prazer falar com você.
Olá! Em que posso te ajudar?
Oi! Espero que você esteja tendo um bom dia.
Olá! Como posso ser útil para você hoje?
Oi! Que bom te ver por aqui.
LINES
  mv "$greetings.partial.$$" "$greetings"
  echo "written   greetings/dataset.txt"
else
  echo "ok        greetings/dataset.txt (already there)"
fi

if [ "$failures" -gt 0 ]; then
  echo "seqlm: $failures dataset(s) could not be fetched" >&2
  exit 1
fi
