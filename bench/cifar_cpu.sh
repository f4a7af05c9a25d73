#!/usr/bin/env bash
# CIFAR evidence on the CPU (docs/results.md "Data sets"): load time and peak RSS of a CIFAR-size synthetic set
# (50,000 + 10,000 × 32×32×3 in the binary layout) through plexus's loader (build/bench/data_load_bench, the work of
# `plexus data info`), next to a plain NumPy loader doing the same work; then seconds per round of the CIFAR DFedSAM
# config with ResNet-18-GN, reduced to few clients and steps.
#   bash bench/cifar_cpu.sh [clients] [local_steps]     (JSON lines on stdout; needs ./build/plexus and
#                                                         ninja -C build data_load_bench)
set -euo pipefail
CLIENTS=${1:-4}; STEPS=${2:-2}
NB=$(( CLIENTS - 1 < 5 ? CLIENTS - 1 : 5 ))  # the config's 5 gossip neighbours need at least 6 clients
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
DATA=${CIFAR_DIR:-/tmp/plexus_cifar_synth}
[[ -f $DATA/cifar-10-batches-bin/test_batch.bin ]] || python3 bench/make_synthetic_cifar.py "$DATA" >/dev/null
./build/bench/data_load_bench data.dataset=cifar10 data.path=\"$DATA\"
/usr/bin/python3 bench/cifar_load_reference.py "$DATA" || echo '{"impl": "numpy", "error": "python3-numpy missing"}'
./build/plexus fl run --config configs/cifar10_dfedsam.toml --set data.path=\"$DATA\" --set model.name=\"resnet18\" \
  --set fl.clients=$CLIENTS --set topology.neighbors=$NB --set fl.rounds=2 --set fl.eval_every=1000 --set train.local_steps=$STEPS \
  --set run.out_dir=\"$OUT/runs\" --set run.name=\"cifar_dfedsam_cpu\" > "$OUT/cifar_cpu.log" 2>&1 \
  || { tail -20 "$OUT/cifar_cpu.log"; exit 1; }
python3 - "$OUT" "$CLIENTS" "$STEPS" <<'PY'
import json, sys
out, clients, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [json.loads(l) for l in open(f"{out}/runs/cifar_dfedsam_cpu/metrics.jsonl")]
print(json.dumps({"bench": "cifar10_dfedsam_resnet18_gn_cpu", "clients": clients, "local_steps": steps,
                  "batch_size": 128, "seconds_per_round": [r.get("seconds") for r in rows],
                  "seconds_train": [r.get("seconds_train") for r in rows],
                  "seconds_eval": [r.get("seconds_eval") for r in rows]}))
PY
