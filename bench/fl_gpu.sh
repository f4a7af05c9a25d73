#!/usr/bin/env bash
# Build the `plexus` CLI against the CUDA LibTorch of the machine's PyTorch 2.x and run the FL quickstart
# with run.device = "cuda" (the README's GPU recipe). Dependencies the GPU machine lacks (toml++, CLI11,
# nlohmann-json, fmt, SentencePiece, zlib headers) are Debian packages unpacked under .deps/device/root
# (apt-get download <pkg>; dpkg -x <deb> .deps/device/root).
#   bash bench/fl_gpu.sh [rounds]     (writes the run under ${OUT:-bench_out}/runs)
set -euo pipefail
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
source bench/gpu_build.sh
gpu_configure "$OUT/fl_gpu.cmake.log" -DPLEXUS_BUILD_TESTS=OFF
ninja -C $B plexus > "$OUT/fl_gpu.ninja.log" 2>&1 || { grep -E "error" -A3 "$OUT/fl_gpu.ninja.log" | head -40; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
# Fashion-MNIST: the GPU machine has no Debian dataset package; the IDX files travel in .deps/device/fmnist.
export PLEXUS_FASHION_MNIST=${PLEXUS_FASHION_MNIST:-$PWD/.deps/device/fmnist}
./$B/plexus fl run --config configs/quickstart.toml --set run.device=cuda --set fl.rounds=${1:-20} \
  --set run.out_dir=\"$OUT/runs\" --set run.name=quickstart_cuda 2>&1 | tee "$OUT/fl_gpu.log" | tail -30
