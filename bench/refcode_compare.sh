#!/usr/bin/env bash
# configs/dfedsam_refcode.toml (DFedSAM with the reference code's hyperparameters, issue 12) with the reference's
# [0, 1] inputs (data.normalize = false, the config's value) against plexus's standardized inputs
# (data.normalize = true), same seed; prints one JSON line per round and input scaling (train loss, local acc).
#   bash bench/refcode_compare.sh [cpu|cuda] [rounds, default 5]
# Environment: PLEXUS=./build/plexus, OUT=bench_out, THREADS=2 (CPU), PYTHON=python3.
set -uo pipefail
DEVICE=${1:-cpu}
ROUNDS=${2:-5}
PLEXUS=${PLEXUS:-./build/plexus}
OUT=${OUT:-bench_out}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-python3}
RUNS=$(mktemp -d "${OUT}/refcode_runs.XXXX" 2>/dev/null || { mkdir -p "$OUT"; mktemp -d "$OUT/refcode_runs.XXXX"; })
for NORM in false true; do
  name="refcode_normalize_$NORM"
  "$PLEXUS" fl run --config configs/dfedsam_refcode.toml --set run.device=\"$DEVICE\" --set run.threads=$THREADS \
    --set fl.rounds=$ROUNDS --set fl.eval_every=1 --set data.normalize=$NORM --set run.out_dir=\"$RUNS\" \
    --set run.name=\"$name\" > "$RUNS/$name.log" 2>&1
  rc=$?
  "$PYTHON" - "$RUNS/$name/metrics.jsonl" "$NORM" "$DEVICE" "$rc" <<'PY'
import json, os, sys
path, norm, device, rc = sys.argv[1:5]
rows = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
for r in rows:
    print(json.dumps({"device": device, "normalize": norm == "true", "round": r["round"],
                      "train_loss": r["train_loss"], "local_acc_mean": r.get("local_acc_mean"),
                      "seconds": round(r["seconds"], 2)}))
if rc != "0":
    print(json.dumps({"device": device, "normalize": norm == "true", "exit_code": int(rc), "rounds_done": len(rows)}))
PY
  [ "$rc" = 0 ] || tail -2 "$RUNS/$name.log" >&2
done
