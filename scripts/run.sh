#!/usr/bin/env bash
# Quick start, first command: installs what is missing, builds, and runs the main job.
# (For now the main job demonstrates the formats library; later it becomes the end-to-end
# Fashion-MNIST experiment.)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
echo
echo '$ bitsim formats describe fp8_e4m3'
./build/bitsim formats describe fp8_e4m3
echo
echo '$ printf "1\n0.1\n300\n465\n-1e-3\nnan\ninf\n" | bitsim quantize --format fp8_e4m3 --flags'
printf '1\n0.1\n300\n465\n-1e-3\nnan\ninf\n' | ./build/bitsim quantize --format fp8_e4m3 --flags
