#!/bin/sh
# Prepares the PyTorch side of benchmarks/pytorch_side_by_side.py on Debian 12:
#
#   1. installs Debian's PyTorch (python3-torch, 1.13) and the OpenMP build of OpenBLAS
#      (libopenblas0-openmp);
#   2. selects that OpenBLAS as the system's libblas.so.3, liblapack.so.3 and libopenblas.so.0
#      (update-alternatives).
#      Debian's torch is built with BLAS_INFO=generic: its GEMMs call whatever libblas.so.3 is,
#      and the default reference BLAS is 50x slower than OpenBLAS. The OpenMP build shares
#      PyTorch's OpenMP runtime, so torch.set_num_threads() also sets the BLAS's threads (the
#      pthread build would run its own thread pool next to PyTorch's);
#   3. prints which BLAS torch actually loads (torch.__config__.show(), parallel_info(), the
#      libraries mapped into the process after a matmul) and a one-thread 512^3 matmul rate.
#
#   sudo benchmarks/setup-pytorch.sh          (or as root)
#
# To undo step 2: update-alternatives --auto libblas.so.3-x86_64-linux-gnu (and the other two).
set -eu

if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  echo "setup-pytorch.sh: run as root (installs packages, changes the libblas.so.3 alternative)" >&2
  exit 1
fi

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
libdir=/usr/lib/$multiarch

$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y --no-install-recommends python3-torch libopenblas0-openmp

# libblas.so.3 and liblapack.so.3 of the OpenMP build load libopenblas.so.0, itself an
# alternative (which defaults to the pthread build): all three must point to openblas-openmp.
for name in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  target=$libdir/openblas-openmp/$name
  if [ ! -e "$target" ]; then
    echo "setup-pytorch.sh: $target is missing after installing libopenblas0-openmp" >&2
    exit 1
  fi
  $as_root update-alternatives --set "$name-$multiarch" "$target"
done

echo "libblas.so.3   -> $(readlink -f "$libdir/libblas.so.3")"
echo "liblapack.so.3 -> $(readlink -f "$libdir/liblapack.so.3")"
echo "libopenblas.so.0 -> $(readlink -f "$libdir/libopenblas.so.0")"

/usr/bin/python3 - <<'EOF'
import os
import time

import torch

print(torch.__config__.show())
print(torch.__config__.parallel_info())
torch.set_num_threads(2)
print(f"torch.set_num_threads(2) -> torch.get_num_threads() = {torch.get_num_threads()}")
torch.set_num_threads(1)
a, b = torch.rand(512, 512), torch.rand(512, 512)
torch.mm(a, b)
start, calls = time.perf_counter(), 0
while time.perf_counter() - start < 0.5:
    torch.mm(a, b)
    calls += 1
seconds = (time.perf_counter() - start) / calls
print(f"512^3 matmul, 1 thread: {2 * 512**3 / seconds * 1e-9:.1f} GFLOP/s")
with open("/proc/self/maps") as maps:
    blas = sorted({os.path.realpath(line.split()[-1]) for line in maps if "blas" in line or "lapack" in line})
print("BLAS libraries mapped into this process:")
for path in blas:
    print("  " + path)
EOF
