#!/usr/bin/env bash
# Installs what seqlm needs to build, test and benchmark on Debian 12 (bookworm), from
# Debian's own packages. Does nothing when everything is already installed.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  g++ cmake make pkg-config
  libeigen3-dev     # Eigen 3.4: matrices and GEMM
  libxsimd-dev      # xsimd 8.1: vectorised gate kernels
  doctest-dev       # the test framework
  libbenchmark-dev  # Google Benchmark, for benchmarks/
  libhdf5-dev       # HDF5 C library: the optional Keras interop (seqlm::keras) reads .keras/.h5 weights
  libzip-dev        # libzip: the .keras ZIP archives of seqlm::keras
  libopenmpi-dev    # Open MPI: the optional data-parallel training over ranks (seqlm::mpi)
  openmpi-bin       # mpirun: the mpi tests start 2 and 3 ranks on loopback (about 20 s)
  python3-h5py      # tests: reads seqlm's exported .keras back as Keras's own h5py code would
  python3-numpy
  libboost-dev      # Boost.Beast/Asio (headers): examples/poem_server's HTTP and WebSocket
  python3-websockets  # poem_server's tests speak WebSocket to it
  chromium          # poem_server's browser test (headless, through the DevTools protocol)
  clang-14          # the fuzz harnesses (tests/fuzz) and a second compiler for every header
  libclang-rt-14-dev  # clang's sanitizer and libFuzzer runtimes (-fsanitize=fuzzer)
  libomp-14-dev     # OpenMP for clang: the sanitize preset builds with clang 14
  doxygen           # the API reference (cmake --build --target docs), built by scripts/test.sh
  librsvg2-bin      # rsvg-convert: `seqlm plot -o chart.png` renders its SVG with it (tested)
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "seqlm: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
