#!/usr/bin/env bash
# Every GPU-only check and the GPU speed rows that depend on it, in one device call (device time is scarce):
#   build   plexus, the GoogleTest executables with GPU tests, llm_decode, llm_bench and llm_parity against the
#           CUDA LibTorch, with NCCL process groups (-DPLEXUS_NCCL=ON) and, where .deps/device/spm_src travels, the
#           static SentencePiece shim (bench/gpu_build.sh); TARGETS replaces the target list
#   tests   the GPU tests: CudaGraph.*, BatchedGraphsGpu.* (FL batched step replayed = eager), TrainStepGpu.*
#           (LLM step replayed = eager), LlmDecodeGpu.* (decode graph = eager tokens), LlmGroupedDispatch.* (CPU),
#           LlmFusedOps.* (fused kernels = composite ops), LlmShadow* (bf16 shadows, AdamW kernel), LlmCrossEntropy*
#           (cross-entropy kernel = composite), LlmNccl.*, RanksGpu.* and RanksOne.* (FL ranks on the GPU)
#   parity  plexus vs the PyTorch reference at identical weights on the GPU, f32 and bf16 (bench/llm_gpu.sh parity)
#   fl      FL speed, batched engine with and without CUDA graphs (bench/fl_speed_gpu.sh; SETTINGS, ROUNDS)
#   decode  decode tokens/s, plexus eager/graphed vs the PyTorch reference (bench/llm_decode_gpu.sh)
#   probe   grouped-convolution variants (bench/fl_conv_probe.py)
#   llm     torch.compile'd reference vs plexus (eager, graphed) at gpu1b 16x1024 and gpu100m 16x1024, each run
#           with a kernel-time profile of 3 untimed steps (PROFILE=1 bash bench/llm_gpu.sh speed; LLM_SHAPES;
#           PROFILE= (empty) skips the profile; TOP=N top kernels; SEQUENCE=1 also returns each run's kernels in launch order, kernels_N.tsv.gz)
#   flranks FL on the GPU as one process vs --ranks 1 (and 2) on the same GPU (bench/fl_ranks_gpu.sh)
# Stages run in the order given; a stage is skipped once BUDGET seconds (default 570) have passed since the start.
# Needs .deps/device (carry it; see bench/gpu_build.sh). Results in $OUT: check.txt (one line per stage and test
# verdicts), fl_speed.json, qs_times.txt, decode.jsonl, probe.jsonl, llm.jsonl, logs.tgz (every log).
#   bash bench/gpu_check.sh build tests parity llm flranks
set -uo pipefail
R=${OUT:-bench_out}; mkdir -p "$R"
L=/tmp/gpu_check; mkdir -p $L
S=$(date +%s); BUDGET=${BUDGET:-570}
left() { echo $(( BUDGET - $(date +%s) + S )); }
say() { echo "$(date +%T) +$(( $(date +%s) - S ))s $*" | tee -a "$R/check.txt"; }
source bench/gpu_build.sh
export PLEXUS_FASHION_MNIST=$PWD/.deps/device/fmnist
gtest() {  # gtest <executable> <filter>
  ./$B/tests/$1 --gtest_filter="$2" > $L/$1.log 2>&1; local rc=$?
  grep -E "^\[ *(OK|FAILED|SKIPPED) " $L/$1.log | tee -a "$R/check.txt"
  [[ $rc == 0 ]] || { say "$1 rc=$rc"; grep -B2 -A12 "Failure\|error" $L/$1.log | head -40 | tee -a "$R/check.txt"; }
}
for stage in "$@"; do
  (( $(left) > 20 )) || { say "skip $stage: budget spent"; continue; }
  say "stage $stage"
  case $stage in
    build)
      gpu_configure $L/cmake.log -DPLEXUS_BUILD_TESTS=ON -DPLEXUS_NCCL=ON
      grep "NCCL process groups\|plexus_spm\|fused CUDA kernels" $L/cmake.log | tee -a "$R/check.txt"
      ninja -C $B ${TARGETS:-plexus test_core test_fl test_llm test_dist llm_decode llm_bench llm_parity} \
        > $L/ninja.log 2>&1 \
        || { grep -E "error" -A3 $L/ninja.log | head -60 | tee -a "$R/check.txt"; say "build failed"; break; } ;;
    tests)
      gtest test_core 'CudaGraph*'
      gtest test_fl 'BatchedGraphsGpu*:CudaGraphsKey*'
      gtest test_llm 'TrainStepGpu*:LlmDecodeGpu*:LlmGroupedDispatch*:LlmFusedOps*:LlmShadow*:LlmCrossEntropy*'
      gtest test_dist 'LlmNccl*:RanksGpu*:RanksOne*' ;;
    parity)
      OUT=$L/parity timeout $(left) bash bench/llm_gpu.sh parity > $L/parity.log 2>&1; say "parity rc=$?"
      tail -12 $L/parity.log | tee -a "$R/check.txt" ;;
    flranks)
      OUT=$L/flranks B=$B ROUNDS=${FLR_ROUNDS:-5} timeout $(left) bash bench/fl_ranks_gpu.sh > $L/flranks.log 2>&1
      say "flranks rc=$?"; tail -5 $L/flranks.log | tee -a "$R/check.txt"
      cp $L/flranks/fl_ranks_gpu.json "$R/" 2>/dev/null ;;
    fl)
      OUT=$L/fl SETTINGS=${SETTINGS:-dfedsam100 quickstart} MODES="auto auto-nograph" ROUNDS=${ROUNDS:-2} \
        timeout $(left) bash bench/fl_speed_gpu.sh $(( $(left) - 10 )) > $L/fl_speed_gpu.log 2>&1
      cp $L/fl/fl_speed.json $L/fl/qs_times.txt "$R/" 2>/dev/null
      tail -3 $L/fl/quickstart.txt $L/fl/speed.txt 2>/dev/null | tee -a "$R/check.txt" ;;
    decode)
      OUT=$L/dec BATCHES=${BATCHES:-1,64,512} NEW=${NEW:-128} timeout $(left) bash bench/llm_decode_gpu.sh \
        > $L/decode.log 2>&1; say "decode rc=$?"
      cp $L/dec/decode.jsonl "$R/" 2>/dev/null ;;
    llm)
      [[ -x $B/bench/llm_bench ]] || { gpu_configure $L/cmake.log -DPLEXUS_BUILD_TESTS=OFF
        ninja -C $B llm_bench > $L/ninja_llm.log 2>&1 || { grep -E "error" -A3 $L/ninja_llm.log | head -40 | tee -a "$R/check.txt"; continue; }; }
      OUT=$L/llm NO_EAGER_REF=1 NO_PHASES=1 PROFILE=${PROFILE-1} PT=${PT:-200} STEPS=8 WARMUP=3 \
        SHAPES=${LLM_SHAPES:-"gpu1b:dsv3_1b:16:1024 gpu100m:dsv3_100m:16:1024"} \
        timeout $(left) bash bench/llm_gpu.sh speed > $L/llm_speed.log 2>&1; say "llm speed rc=$?"
      cat $L/llm/speed.jsonl $L/llm/profile.jsonl > "$R/llm.jsonl" 2>/dev/null
      for f in $L/llm/kernels_*.tsv; do [[ -f $f ]] && gzip -c $f > "$R/$(basename $f).gz"; done ;;
    probe)
      timeout $(left) python3 bench/fl_conv_probe.py > "$R/probe.jsonl" 2> $L/probe.err; say "probe rc=$?" ;;
    *) say "unknown stage $stage" ;;
  esac
done
say "done"
tar czf "$R/logs.tgz" -C /tmp gpu_check 2>/dev/null
