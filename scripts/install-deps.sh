#!/usr/bin/env bash
# Installs, with apt, exactly the Debian 12 packages bitsim needs that are not installed yet.
# Safe to run again: when everything is present it changes nothing and touches no package list.
# Must run as root (or with sudo available); CI and fresh machines run it as root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config      # compiler, build system
  libeigen3-dev                         # dense linear algebra (sim/)
  libhdf5-dev                           # HDF5 C++ API (analysis/)
  libboost-dev                          # Boost.Multiprecision: the exact golden path (formats/)
  libfmt-dev                            # formatting
  catch2                                # unit tests (Catch2 v2)
  libmpfr-dev                           # GNU MPFR: the independent oracle of the golden arithmetic (tests/test_arith_*.cpp)
  verilator iverilog                    # examples/rtl: the DPI-C and $readmemh test benches (test rtl_examples)
  libbenchmark-dev                      # Google Benchmark (bench/)
  libopenblas-dev                       # bench/bench_gemm_blas: OpenBLAS cblas_sgemm, the fp32 GEMM's peer
  libcli11-dev                          # command-line parsing (apps/)
  librandom123-dev                      # Philox4x32-10 for stochastic rounding (formats/)
  libhwy-dev                            # Highway: SIMD kernels for AVX2 and AVX-512, chosen at run time
  g++-aarch64-linux-gnu                 # tests/cross: the SIMD kernels must compile for aarch64 (NEON)
  qemu-user                             # tests/cli/cpu_levels.sh: the binary on emulated older and AVX2-only CPUs
  libtomlplusplus-dev                   # TOML experiment configs (sim/config)
  nlohmann-json3-dev                    # JSON output and reading (io/json.hpp)
  zlib1g-dev                            # reading the gzip-compressed IDX datasets
  dataset-fashion-mnist                 # the main job's dataset (/usr/share/datasets/fashion-mnist)
  python3                               # experiment scripts (experiments/graham2017/*.py; 3.11 has tomllib)
  python3-matplotlib                    # experiment figures (experiments/graham2017/plot_width_sweep.py), notebooks
  python3-h5py                          # reading the statistics files (notebooks/, tests/cli/stats.sh)
  python3-pandas                        # the statistics as DataFrames (docs/hdf5-schema.md; tests/cli/stats.sh checks its lines)
  python3-scipy                         # t quantiles of the width sweep's table (experiments/graham2017/plot_width_sweep.py)
  pybind11-dev python3-dev               # the Python package (python/): the extension module bitsim._bitsim
  python3-numpy python3-pytest          # its arrays and its tests (python/tests)
  python3-torch                         # bitsim.torch (PyTorch integration) and examples/python
  jupyter-nbconvert python3-ipykernel   # running the notebooks headless (scripts/render-notebooks.sh)
  hdf5-tools                            # h5dump / h5ls (tests/cli/stats.sh opens a killed run's file with them)
  chromium-headless-shell               # tests/cli/sweep.sh loads the HTML report of bitsim report headless
  openmpi-bin libopenmpi-dev            # mpirun: data-parallel bitsim train, bitsim sweep over ranks
  clang libclang-rt-14-dev llvm         # the sanitize preset: ASan + UBSan, libFuzzer, llvm-symbolizer for reports
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
