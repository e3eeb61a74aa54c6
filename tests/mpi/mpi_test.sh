#!/usr/bin/env bash
# The MPI tests (ctest label mpi): tests/mpi/mpi_train.cpp over real ranks on loopback.
#
#   mpi_test.sh CASE MPI_TRAIN MPIEXEC SCRATCH [EXAMPLE]
#
#   equal_np2   2 ranks x 1 thread  == one process with 2 threads, byte for byte
#   equal_np3   3 ranks x 1 thread, batches of 13 (shares of 4, 4, 5) == one process, 3 threads
#   token_file  the text in a token file (data/token_file.hpp), every rank reading only the
#               windows of its share from it: 2 ranks == one process == the text in memory
#   resume      2 ranks x 3 threads write a checkpoint after 5 batches; 3 ranks x 2 threads
#               resume from it: == one process with 6 threads from the start
#   rank_exits  rank 1 exits after 4 batches: the job fails (non-zero) quickly
#   rank_hangs  rank 1 hangs after 4 batches: rank 0 gives up after --timeout 3 s with one
#               clear line and the job fails (non-zero), well before ctest's timeout
#   mismatch    the two ranks run different batch sizes: both refuse at fit()'s start with a
#               line naming the setting and its values, and the job fails
#   example     EXAMPLE (nietzsche or poems) train --distributed on 3 ranks x 1 thread on a small
#               made-up text: the same model file, byte for byte, as --threads 3 in one process
set -euo pipefail
case_name=$1 train=$2 mpiexec=$3 scratch=$4 example=${5:-}
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch"

# Loopback only; as root Open MPI wants --allow-run-as-root; more ranks than cores is fine
# here (--oversubscribe) and threads must not be pinned to one core each (--bind-to none).
mpirun_() {
  local np=$1
  shift
  "$mpiexec" --allow-run-as-root --oversubscribe --bind-to none -np "$np" \
    --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo "$train" "$@"
}

same() {  # same FILE_A FILE_B
  if ! cmp "$1" "$2"; then
    echo "FAIL: $1 and $2 differ"
    exit 1
  fi
  echo "ok: $1 == $2 ($(stat -c %s "$1") bytes)"
}

fails_cleanly() {  # fails_cleanly EXPECTED_TEXT_OR_EMPTY -- mpirun arguments
  local expected=$1
  shift
  local start=$SECONDS status=0
  timeout 120 bash -c "$(declare -f mpirun_); mpiexec='$mpiexec' train='$train'; mpirun_ $*" >out.txt 2>err.txt || status=$?
  local took=$((SECONDS - start))
  cat out.txt err.txt | tail -n 20
  if [ "$status" -eq 0 ]; then
    echo "FAIL: the job succeeded although a rank failed"
    exit 1
  fi
  if [ "$status" -eq 124 ]; then
    echo "FAIL: the job hung (killed after 120 s)"
    exit 1
  fi
  if [ -n "$expected" ] && ! grep -q -- "$expected" err.txt; then
    echo "FAIL: stderr does not say '$expected'"
    exit 1
  fi
  echo "ok: the job failed with status $status after ${took} s"
}

case "$case_name" in
  equal_np2)
    "$train" --single --threads 2 --out one.bin >/dev/null
    mpirun_ 2 --threads 1 --out two.bin
    same one.bin two.bin
    ;;
  token_file)
    "$train" --single --threads 2 --out memory.bin >/dev/null
    "$train" --single --threads 2 --token-file corpus.tok --out one.bin >/dev/null
    mpirun_ 2 --threads 1 --token-file corpus.tok --out two.bin
    same memory.bin one.bin
    same one.bin two.bin
    ;;
  equal_np3)
    "$train" --single --threads 3 --out one.bin >/dev/null
    mpirun_ 3 --threads 1 --out three.bin
    same one.bin three.bin
    ;;
  resume)
    "$train" --single --threads 6 --out one.bin >/dev/null
    mpirun_ 2 --threads 3 --checkpoint-every 5 --checkpoint 'run-{step}.ckpt' --out two.bin
    same one.bin two.bin
    mpirun_ 3 --threads 2 --resume run-5.ckpt --checkpoint-every 5 --checkpoint 'resumed-{step}.ckpt' \
      --out resumed.bin
    same one.bin resumed.bin
    ;;
  rank_exits)
    fails_cleanly "" 2 --fail-rank 1 --fail-step 4 --fail exit --timeout 10
    ;;
  rank_hangs)
    fails_cleanly "seqlm: rank 0 of 2: no answer within 3 s in the exchange of the gradients of epoch 0, batch 4" \
      2 --fail-rank 1 --fail-step 4 --fail hang --timeout 3
    ;;
  mismatch)
    status=0
    timeout 120 "$mpiexec" --allow-run-as-root --oversubscribe --bind-to none \
      --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo \
      -np 1 "$train" --batch-size 13 : -np 1 "$train" --batch-size 12 >out.txt 2>err.txt || status=$?
    tail -n 5 err.txt
    expected="fit: batch_size is 13 on process 0 but 12 on process 1; every process must run the same job"
    if [ "$status" -eq 0 ] || [ "$status" -eq 124 ] || ! grep -q -- "$expected" err.txt; then
      echo "FAIL: status $status, expected a failure saying '$expected'"
      exit 1
    fi
    echo "ok: the job failed with status $status and said why"
    ;;
  example)
    python3 - >text.txt <<'PY' 2>/dev/null || for k in $(seq 1 150); do echo "the time of water and words $k was long"; done >text.txt
import random
random.seed(1)
words = "the of and to in is that it was for on are as with his they at be this from have".split()
print("\n".join(" ".join(random.choice(words) for _ in range(12)) for _ in range(150)))
PY
    common=(--data text.txt --epochs 2 --units 8 --batch-size 32 --validation-split 0.1 --log-csv)
    "$example" train "${common[@]}" one.csv --threads 3 --out one.safetensors >/dev/null
    train="$example" mpirun_ 3 train --distributed "${common[@]}" three.csv --threads 1 --out three.safetensors
    same one.safetensors three.safetensors
    # The metrics (all columns but the timings) too; only rank 0 wrote the log.
    cut -d, -f1-6,9- one.csv >one.metrics && cut -d, -f1-6,9- three.csv >three.metrics
    same one.metrics three.metrics
    ;;
  *)
    echo "unknown case $case_name"
    exit 2
    ;;
esac
