#!/usr/bin/env bash
# Runs seqlm_mpi_step_time for docs/distributed.md: the Nietzsche model, the poems model and a
# 10x wider Nietzsche model (LSTM(460), about 10x the parameters), each on 1 and 2 ranks with one
# core each (--bind-to core), on loopback. Writes one JSON file per run and all.json into OUT.
#
#   benchmarks/mpi_step_time.sh build/release/benchmarks/seqlm_mpi_step_time OUT_DIR
set -euo pipefail
program=$1 out=$2
mkdir -p "$out"
mpirun_() {
  mpirun --allow-run-as-root --bind-to core --map-by core -np "$1" \
    --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo "$program" "${@:2}"
}
runs=()
for spec in "nietzsche 128 40" "poems 128 30" "nietzsche 460 12"; do
  read -r model units steps <<<"$spec"
  for np in 1 2; do
    name="$model-u$units-np$np"
    echo "== $name (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    mpirun_ "$np" --model "$model" --units "$units" --steps "$steps" --warmup 3 >"$out/$name.json"
    runs+=("$out/$name.json")
  done
done
{
  echo "{\"machine\": \"$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\","
  echo " \"mpi\": \"$(mpirun --version | head -1)\", \"network\": \"loopback (btl tcp on lo)\","
  echo " \"note\": \"a shared 2-core machine: other work ran at the same time (see loadavg in each run)\","
  echo " \"runs\": ["
  sep=""
  for run in "${runs[@]}"; do
    echo "$sep$(cat "$run")"
    sep=","
  done
  echo "]}"
} >"$out/all.json"
cat "$out/all.json"
