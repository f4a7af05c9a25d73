#!/usr/bin/env bash
# FL across processes on one GPU (issue 18 evidence; docs/distributed.md "FL ranks on a GPU"): the quickstart
# (configs/quickstart.toml: DFedSAM, CNN P = 582,026, 20 clients, Fashion-MNIST) with run.device = "cuda" as one
# process, as one rank (--ranks 1: the same run through a Gloo process group of one) and as two ranks sharing the
# GPU (--ranks 2: two processes, each training its 10 clients on the GPU, rows exchanged through host memory).
# Prints one JSON object per mode and writes them to $OUT/fl_ranks_gpu.json. Run on the GPU machine after
# plexus is built there (bash bench/gpu_check.sh build ...):
#   bash bench/fl_ranks_gpu.sh
# Environment:
#   B=build-gpu (build directory holding plexus)   ROUNDS=5   MODES="one rank1 rank2"   OUT=bench_out
#   PLEXUS_FASHION_MNIST (default .deps/device/fmnist, as bench/fl_speed_gpu.sh)
# Columns:
#   rounds_per_s         ROUNDS / Σ seconds of the metrics rows (round wall time on rank 0, evaluation included;
#                        round 1 also captures the CUDA graphs and warms cuDNN/cuBLAS)
#   rounds_per_s_steady  the same over rounds 2..ROUNDS
#   ratio / ratio_steady rounds/s of the mode over the one-process run's (1.0 = no cost of the ranks)
#   process_s            wall seconds of the whole command (start-up, data loading, CUDA context(s) included)
#   comm_bytes_per_round_rank<k>, gather_bytes_per_round, full_block_bytes: as bench/fl_ranks.sh (model bytes
#                        rank k sent for the algorithm per round; bytes to rank 0; the naive all-gather's)
#   max_rel_diff         largest |a − b| / max(|a|, 1e-12) over the non-timing numeric columns of every row,
#                        against the one-process run (0 = the same numbers; the GPU's atomics may change last bits)
#   graph_replays        CUDA-graph replays of the batched step, summed over the ranks (the runs' "fl: batched step:
#                        ... replays" log lines; 0 = eager steps, e.g. a capture that failed: see the log)
set -euo pipefail
B=${B:-build-gpu}
ROUNDS=${ROUNDS:-5}
MODES=${MODES:-one rank1 rank2}
OUT=${OUT:-bench_out}
export PLEXUS_FASHION_MNIST=${PLEXUS_FASHION_MNIST:-$PWD/.deps/device/fmnist}
[ -d .deps/device/root ] && export LD_LIBRARY_PATH=$PWD/.deps/device/root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
[ -x "$B/plexus" ] || { echo "error: $B/plexus not found; build it first (bash bench/gpu_check.sh build)" >&2; exit 1; }
mkdir -p "$OUT"
RUNS=$(mktemp -d "$OUT/ranks_gpu_runs.XXXX")
JSON="$OUT/fl_ranks_gpu.json"
: > "$JSON"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$RUNS/gpu.txt" 2>/dev/null || true

for m in $MODES; do
  case $m in
    one) launch="" ;;
    rank1) launch="--ranks 1" ;;
    rank2) launch="--ranks 2" ;;
    *) echo "error: unknown mode $m (one, rank1, rank2)" >&2; exit 2 ;;
  esac
  t0=$EPOCHREALTIME
  # shellcheck disable=SC2086
  "$B/plexus" fl run --config configs/quickstart.toml --set run.device=cuda --set fl.rounds="$ROUNDS" \
    --set run.checkpoint_every=0 --set run.out_dir="\"$RUNS\"" --set run.name="qs_$m" $launch \
    > "$RUNS/qs_$m.log" 2>&1 \
    || { echo "error: mode $m failed; the log's tail:" >&2; tail -20 "$RUNS/qs_$m.log" >&2; exit 1; }
  t1=$EPOCHREALTIME
  python3 - "$RUNS" "$m" "$ROUNDS" "$t0" "$t1" >> "$JSON" <<'PY'
import json, os, re, sys
runs, m, rounds, t0, t1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
def rows(mode):
    return [json.loads(l) for l in open(f"{runs}/qs_{mode}/metrics.jsonl") if l.strip()]
def speed(rs):
    return len(rs) / sum(x["seconds"] for x in rs) if rs else float("nan")
mine = rows(m)
summary = json.load(open(f"{runs}/qs_{m}/summary.json"))
ranks = {"one": 0, "rank1": 1, "rank2": 2}[m]
log = open(f"{runs}/qs_{m}.log").read()
out = {"setting": "quickstart", "device": "cuda", "mode": m, "ranks": ranks, "rounds": rounds,
       "clients": summary["clients"], "parameters": summary["parameters"],
       "rounds_per_s": round(speed(mine), 4), "rounds_per_s_steady": round(speed(mine[1:]), 4),
       "process_s": round(t1 - t0, 2), "graph_replays": sum(int(n) for n in re.findall(r"CUDA graph\(s\) captured, (\d+) replays", log))}
if m != "one" and os.path.exists(f"{runs}/qs_one/metrics.jsonl"):
    one = rows("one")
    out["ratio"] = round(out["rounds_per_s"] / speed(one), 3)
    out["ratio_steady"] = round(out["rounds_per_s_steady"] / speed(one[1:]), 3) if len(one) > 1 else None
    diff = 0.0
    for a, b in zip(one, mine):
        for k, v in a.items():
            if k.startswith("seconds") or not isinstance(v, (int, float)) or not isinstance(b.get(k), (int, float)):
                continue
            diff = max(diff, abs(v - b[k]) / max(abs(v), 1e-12))
    out["max_rel_diff"] = diff if len(one) == len(mine) else None
if ranks >= 1:
    for k in range(ranks):
        out[f"comm_bytes_per_round_rank{k}"] = sum(x[f"comm_bytes_rank{k}"] for x in mine) / len(mine)
    out["gather_bytes_per_round"] = sum(x["gather_bytes"] for x in mine) / len(mine)
    out["full_block_bytes"] = summary["clients"] // ranks * summary["parameters"] * 4 * (ranks - 1)
print(json.dumps(out))
PY
  tail -n 1 "$JSON"
done
cat "$RUNS/gpu.txt" 2>/dev/null || true
