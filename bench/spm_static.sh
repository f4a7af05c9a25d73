#!/usr/bin/env bash
# Build SentencePiece as STATIC libraries with its builtin protobuf-lite, from the Debian source package, for the
# plexus_spm shim (CMake option PLEXUS_SPM_STATIC_DIR; see CMakeLists.txt and src/spm_shim/spm_shim.cpp).
#
# Why: on the GPU machine's PyTorch 2.x image, Debian's shared libsentencepiece0 (protobuf-lite symbols exported)
# loaded through the shim gives an empty model (`[libprotobuf FATAL … repeated_field.h] CHECK failed`), with and
# without RTLD_DEEPBIND: LibTorch there exports its own protobuf. Built static, -fPIC, hidden visibility, and linked
# into the shim with -Wl,--exclude-libs,ALL, no protobuf symbol of SentencePiece is visible or interposable.
#
# Source: `apt-get source --download-only sentencepiece` (Debian bookworm: sentencepiece_0.1.97.orig.tar.gz +
# sentencepiece_0.1.97-3.debian.tar.xz) in $SRC. Debian's patch series is applied except
# disable-static-library.patch (it removes the static targets we need). Nothing is downloaded here.
# Fetching the source (docs/grpo.md, GPU recipe) needs a deb-src line; a private list keeps /etc/apt untouched.
#   bash bench/spm_static.sh [prefix]      (default /tmp/spm_static: include/, lib/*.a, bin/spm_train)
set -euo pipefail
PREFIX=${1:-/tmp/spm_static}
SRC=${SPM_SRC:-$PWD/.deps/grpo_device/src}
JOBS=${JOBS:-$(nproc)}
[[ -f $PREFIX/lib/libsentencepiece.a && -x $PREFIX/bin/spm_train ]] && { echo "spm_static: $PREFIX exists"; exit 0; }
orig=$(ls "$SRC"/sentencepiece_*.orig.tar.* | head -1)
deb=$(ls "$SRC"/sentencepiece_*.debian.tar.* | head -1)
W=$(mktemp -d /tmp/spm_src.XXXX)
tar xf "$orig" -C "$W"
S=$(ls -d "$W"/sentencepiece-*/)
tar xf "$deb" -C "$S"
applied=0
while read -r p; do
  [[ -z $p || $p == \#* || $p == disable-static-library.patch ]] && continue
  if command -v patch >/dev/null; then patch -s -p1 -d "$S" < "$S/debian/patches/$p"
  elif command -v git >/dev/null; then (cd "$S" && git apply "debian/patches/$p")
  else echo "spm_static: neither patch nor git here: building the upstream source unpatched"; break; fi
  applied=$((applied + 1))
done < "$S/debian/patches/series"
echo "spm_static: $(basename "$orig") + $applied Debian patches"
cmake -S "$S" -B "$W/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5 -DSPM_ENABLE_SHARED=OFF -DSPM_USE_BUILTIN_PROTOBUF=ON -DSPM_ENABLE_TCMALLOC=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_CXX_VISIBILITY_PRESET=hidden -DCMAKE_C_VISIBILITY_PRESET=hidden \
  -DCMAKE_VISIBILITY_INLINES_HIDDEN=ON -DCMAKE_CXX_FLAGS="-fPIC -fvisibility=hidden" >"$W/cmake.log" 2>&1 \
  || { tail -30 "$W/cmake.log"; exit 1; }
cmake --build "$W/build" -j "$JOBS" >"$W/build.log" 2>&1 || { grep -E -A3 "error" "$W/build.log" | head -40; exit 1; }
cmake --install "$W/build" >/dev/null
ls "$PREFIX"/lib/libsentencepiece.a "$PREFIX"/lib/libsentencepiece_train.a "$PREFIX"/bin/spm_train >/dev/null
rm -rf "$W"
echo "spm_static: installed in $PREFIX"
