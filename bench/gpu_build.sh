# Sourced by the GPU scripts (bench/*_gpu.sh, bench/gpu_tests.sh): configure build-gpu against the GPU machine's
# CUDA LibTorch (PyTorch 2.x) with the Debian packages that machine lacks unpacked under $DEPS (default
# .deps/device/root: toml++, CLI11, nlohmann-json, fmt's CMake config, SentencePiece, zlib, gloo, cpp-httplib,
# OpenSSL, Brotli, GoogleTest; `apt-get download <pkg>` then `dpkg -x <deb> .deps/device/root`).
#   source bench/gpu_build.sh; gpu_configure <log file> [more cmake -D arguments]
# Sets B (the build directory) and DEPS, and puts $DEPS's libraries on LD_LIBRARY_PATH.
DEPS=${DEPS:-$PWD/.deps/device/root}
B=build-gpu
export LD_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export PATH=$DEPS/usr/bin:$PATH   # spm_train (Debian package sentencepiece) for runs that train a tokenizer
gpu_configure() {
  local log=$1; shift
  local torch
  torch=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$torch;$DEPS/usr;$DEPS/usr/lib/x86_64-linux-gnu/cmake;$DEPS/usr/share/cmake" \
    -DCMAKE_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu -DCMAKE_INCLUDE_PATH=$DEPS/usr/include \
    -DZLIB_ROOT=$DEPS/usr -DCMAKE_CUDA_ARCHITECTURES=90 "$@" > "$log" 2>&1 || { tail -40 "$log"; exit 1; }
}
