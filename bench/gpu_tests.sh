#!/usr/bin/env bash
# Build GoogleTest executables against the GPU machine's CUDA LibTorch and run their GPU tests there (CI has no
# GPU: these tests skip on the CPU). Dependencies the GPU machine lacks, GoogleTest included, are Debian packages
# unpacked under .deps/device/root (see bench/fl_speed_gpu.sh; plus libgtest-dev, googletest, libgloo-dev,
# libcpp-httplib-dev, libcpp-httplib0.11, libssl-dev, libssl3, libbrotli-dev, libbrotli1); carry .deps/device.
#   GTEST_FILTER='CudaGraph*' bash bench/gpu_tests.sh test_core [test_fl ...]
set -euo pipefail
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
source bench/gpu_build.sh
gpu_configure "$OUT/gpu_tests.cmake.log" -DPLEXUS_BUILD_TESTS=ON
targets=("${@:-test_core}")
ninja -C $B "${targets[@]}" > "$OUT/gpu_tests.ninja.log" 2>&1 ||
  { grep -E "error|Error" -A3 "$OUT/gpu_tests.ninja.log" | head -60; exit 1; }
export PLEXUS_FASHION_MNIST=${PLEXUS_FASHION_MNIST:-$PWD/.deps/device/fmnist}
rc=0
for t in "${targets[@]}"; do
  r=0; ./$B/tests/$t --gtest_filter="${GTEST_FILTER:-*}" > "$OUT/$t.gpu.log" 2>&1 || r=$?
  grep -E "^\[ *(OK|FAILED|SKIPPED|PASSED) " "$OUT/$t.gpu.log" || true
  [[ $r == 0 ]] || { rc=1; tail -30 "$OUT/$t.gpu.log"; }
done
exit $rc
