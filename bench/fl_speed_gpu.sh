#!/usr/bin/env bash
# The issue-10 GPU measurement in one device call: build plexus against the machine's CUDA LibTorch and run the
# quickstart's 20 rounds (bench/fl_gpu.sh, batched clients by default), then bench/fl_speed.sh on cuda (plexus
# vs the plain PyTorch reference, full rounds), copying the few result files into $OUT (the device tool returns
# at most 8 files). Needs .deps/device/root (Debian packages unpacked: libtomlplusplus-dev libtomlplusplus3
# libcli11-dev nlohmann-json3-dev libfmt-dev libfmt9 libsentencepiece-dev libsentencepiece0 zlib1g-dev, each
# `apt-get download` then `dpkg -x <deb> .deps/device/root`) and .deps/device/fmnist (the four Fashion-MNIST
# IDX .gz files from /usr/share/datasets/fashion-mnist); carry both.
#   bash bench/fl_speed_gpu.sh [seconds budget, default 460]
# Environment: SETTINGS, MODES and ROUNDS as bench/fl_speed.sh (e.g. MODES="auto auto-nograph" ROUNDS=2: the
# batched engine with and without CUDA graphs, steady-state round); QS_NOGRAPH=0 skips the graph-less quickstart.
set -uo pipefail
R=${OUT:-bench_out}; mkdir -p "$R"
BUDGET=${1:-460}
S=$(date +%s)
export OUT=$(mktemp -d /tmp/fl_speed_gpu.XXXX)
export PLEXUS_FASHION_MNIST=$PWD/.deps/device/fmnist
export LD_LIBRARY_PATH=$PWD/.deps/device/root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
bash bench/fl_gpu.sh 20 > "$R/quickstart.txt" 2>&1
echo "rc=$? wall_s=$(( $(date +%s) - S ))" >> "$R/quickstart.txt"
tail -c 4000 "$OUT/fl_gpu.ninja.log" > "$R/ninja_tail.txt" 2>/dev/null
cp "$OUT/runs/quickstart_cuda/summary.json" "$R/qs_summary.json" 2>/dev/null
cp "$OUT/runs/quickstart_cuda/metrics.jsonl" "$R/qs_metrics.jsonl" 2>/dev/null
# The quickstart again, timed as a process (after the first run loaded the libraries from disk), with and
# without CUDA graphs (QS_NOGRAPH=0 skips): process seconds in qs_times.txt, per-round rows in the metrics.
if [ "${QS_NOGRAPH:-1}" = 1 ]; then
  for G in auto off; do
    t0=$EPOCHREALTIME
    ./build-gpu/plexus fl run --config configs/quickstart.toml --set run.device=cuda --set fl.rounds=20 \
      --set run.out_dir=\"$OUT/runs\" --set run.name=qs_graphs_$G --set run.cuda_graphs=\"$G\" \
      > "$OUT/qs_graphs_$G.log" 2>&1
    rc=$?; t1=$EPOCHREALTIME
    echo "cuda_graphs=$G rc=$rc process_s=$(python3 -c "print(round($t1 - $t0, 2))")" >> "$R/qs_times.txt"
    tail -3 "$OUT/qs_graphs_$G.log" >> "$R/qs_times.txt"
    cp "$OUT/runs/qs_graphs_$G/metrics.jsonl" "$R/qs_${G}_metrics.jsonl" 2>/dev/null
  done
fi
LEFT=$(( BUDGET - $(date +%s) + S ))
SETTINGS=${SETTINGS:-dfedsam100 dfedsam1000 quickstart dp_fedsam100 dfedpgp20 dfedsam20} \
  PLEXUS=./build-gpu/plexus PYTHON=${PYTHON:-python3} MODES=${MODES:-default} \
  timeout "$LEFT" bash bench/fl_speed.sh cuda > "$R/speed.txt" 2>&1
cp "$OUT/fl_speed.json" "$R/" 2>/dev/null
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >> "$R/speed.txt"
