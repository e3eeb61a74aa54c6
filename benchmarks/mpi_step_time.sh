#!/usr/bin/env bash
# Runs seqlm_mpi_step_time for docs/distributed.md: the Nietzsche model, the poems model and a
# 10x wider Nietzsche model (LSTM(460), about 10x the parameters), each on 1 and 2 ranks with one
# core each (--bind-to core), on loopback, in three alternating rounds. Writes OUT/all.json.
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
# Three rounds, alternating: 1 rank, 2 ranks, and 1 rank with batches of 64 (one rank's share
# of a batch of 128 on 2 ranks: the compute each of the 2 ranks does).
for spec in "nietzsche 128 40" "poems 128 30" "nietzsche 460 12"; do
  read -r model units steps <<<"$spec"
  for round in 1 2 3; do
    for np_batch in "1 128" "2 128" "1 64"; do
      read -r np batch <<<"$np_batch"
      name="$model-u$units-np$np-b$batch-r$round"
      echo "== $name (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
      mpirun_ "$np" --model "$model" --units "$units" --batch "$batch" --steps "$steps" --warmup 3 >"$out/$name.json"
      runs+=("$out/$name.json")
    done
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
rm -f "${runs[@]}"
cat "$out/all.json"
