#!/usr/bin/env bash
# Decode throughput on a GPU machine (issue 19): build only bench/llm_decode against the machine's CUDA LibTorch,
# check that graph-replayed decoding gives the eager tokens, then decode tokens/s of plexus (eager and CUDA graph)
# next to bench/llm_decode_reference.py (plain PyTorch, eager and torch.cuda.graph) on the same model.
# Dependencies as bench/llm_gpu.sh (.deps/device/root; carry .deps/device). JSON lines in ${OUT:-bench_out}/decode.jsonl.
#   bash bench/llm_decode_gpu.sh            # gpu100m, batch 1,64,512, prompt 32, 128 new tokens
#   BATCHES=1,64 NEW=64 MODELS="dsv3_100m:gpu100m dsv3_1b:gpu1b" bash bench/llm_decode_gpu.sh
set -euo pipefail
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
source bench/gpu_build.sh
gpu_configure "$OUT/decode.cmake.log" -DPLEXUS_BUILD_TESTS=OFF
ninja -C $B llm_decode > "$OUT/decode.ninja.log" 2>&1 || { grep -E "error" -A3 "$OUT/decode.ninja.log" | head -60; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
J="$OUT/decode.jsonl"
rc=0
# Graph replay = eager launches, token for token (greedy and T=1 top-p 0.95; prompts of different lengths).
./$B/bench/llm_decode --model configs/dsv3_100m.toml --mode check --batch 8 --prompt 16 --new 48 --graphs 1 | tee -a "$J" || rc=1
for mp in ${MODELS:-dsv3_100m:gpu100m}; do
  IFS=: read -r conf preset <<< "$mp"
  S="--batch ${BATCHES:-1,64,512} --prompt 32 --new ${NEW:-128} --graphs 0,1"
  ./$B/bench/llm_decode --model configs/$conf.toml $S | tee -a "$J" || rc=1
  python3 bench/llm_decode_reference.py --preset $preset $S | tee -a "$J" || rc=1
  # The whole rollout (prefill, capture, sampling, stop masks), as generate/GRPO run it.
  ./$B/bench/llm_decode --model configs/$conf.toml --mode rollout --batch 64 --prompt 32 --new ${NEW:-128} --graphs 0,1 | tee -a "$J" || rc=1
done
exit $rc
