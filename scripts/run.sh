#!/usr/bin/env bash
# Quick start, first command: installs what is missing (Fashion-MNIST included), builds, and runs the
# main job: the fp32 baseline of the small CNN on Fashion-MNIST (docs/RESULTS.md gives its accuracy
# and time). Extra arguments go to `bitsim train` (e.g. --set train.epochs=1).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh --target bitsim  # only what the main job needs; scripts/test.sh builds the rest
echo
echo '$ bitsim train experiments/fp32/cnn_fashion_mnist.toml --overwrite' "$@"
./build/bitsim train experiments/fp32/cnn_fashion_mnist.toml --overwrite "$@"
