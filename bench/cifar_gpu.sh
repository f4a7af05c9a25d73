#!/usr/bin/env bash
# CIFAR on the GPU: build the `plexus` CLI against the CUDA LibTorch of the machine's PyTorch 2.x (as
# bench/fl_gpu.sh), write a synthetic CIFAR-10 set in the binary layout (bench/make_synthetic_cifar.py; the GPU
# machine has no copy of CIFAR-10), time its loading (bench/data_load_bench), then run the CIFAR DFedSAM config with
# ResNet-18-GN, reduced clients and rounds, on run.device = cuda. Reports seconds per round from metrics.
# Dependencies the GPU machine lacks are Debian packages unpacked under $DEPS (default .deps/device/root; see
# bench/fl_gpu.sh; bench/grpo_gpu.sh unpacks the same set under /tmp/grpo_deps/root and builds into the same
# build-gpu, so `TARGETS="grpo_bench plexus_spm plexus data_load_bench" bash bench/grpo_gpu.sh build` followed by
# `DEPS=/tmp/grpo_deps/root bash bench/cifar_gpu.sh` reuses that build); image folders additionally need libstb-dev
# there (without it the build still succeeds, image_folder is disabled).
#   bash bench/cifar_gpu.sh [rounds] [clients]      (writes ${OUT:-bench_out}/cifar_gpu.json)
set -euo pipefail
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
ROUNDS=${1:-3}; CLIENTS=${2:-10}
source bench/gpu_build.sh
gpu_configure "$OUT/cifar_gpu.cmake.log" -DPLEXUS_BUILD_TESTS=OFF
ninja -C $B plexus data_load_bench > "$OUT/cifar_gpu.ninja.log" 2>&1 || { grep -E "error" -A3 "$OUT/cifar_gpu.ninja.log" | head -40; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
DATA=${CIFAR_DIR:-/tmp/plexus_cifar_synth}
[[ -f $DATA/cifar-10-batches-bin/test_batch.bin ]] || python3 bench/make_synthetic_cifar.py "$DATA" >/dev/null
./$B/bench/data_load_bench data.dataset=cifar10 data.path=\"$DATA\" > "$OUT/cifar_load.json"
./$B/plexus fl run --config configs/cifar10_dfedsam.toml --set data.path=\"$DATA\" --set model.name=\"resnet18\" \
  --set run.device=\"cuda\" --set fl.clients=$CLIENTS --set fl.rounds=$ROUNDS --set fl.eval_every=$ROUNDS \
  --set train.local_epochs=1 --set run.out_dir=\"$OUT/runs\" --set run.name=\"cifar_dfedsam_cuda\" \
  > "$OUT/cifar_gpu.log" 2>&1 || { tail -30 "$OUT/cifar_gpu.log"; exit 1; }
python3 - "$OUT" "$ROUNDS" "$CLIENTS" <<'PY'
import json, re, sys
out, rounds, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [json.loads(l) for l in open(f"{out}/runs/cifar_dfedsam_cuda/metrics.jsonl")]
secs = [r.get("seconds", r.get("round_seconds")) for r in rows]
load = json.load(open(f"{out}/cifar_load.json"))
res = {"bench": "cifar10_dfedsam_resnet18_gn", "device": open(f"{out}/gpu.txt").read().strip(),
       "clients": clients, "rounds": rounds, "train_samples_per_client": 50000 // clients,
       "seconds_per_round": secs, "seconds_train": [r.get("seconds_train") for r in rows],
       "seconds_eval": [r.get("seconds_eval") for r in rows], "load_seconds": load["seconds"], "load_peak_rss_mib": load["peak_rss_mib"]}
json.dump(res, open(f"{out}/cifar_gpu.json", "w"), indent=2)
print(json.dumps(res, indent=2))
PY
