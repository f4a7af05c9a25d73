#!/usr/bin/env bash
# plexus vs a plain PyTorch reference (bench/fl_reference.py) on the same FL settings, one round each (ROUNDS), same
# threads, same device; prints one JSON object per setting with both times and the ratio (reference / plexus).
#
#   bash bench/fl_speed.sh [cpu|cuda]            (default cpu)
# Environment:
#   PLEXUS=./build/plexus   the binary        THREADS=2   run.threads = torch threads of the reference
#   MODES="default"         plexus runs to time: "default" (no override) or run.client_batching values
#                           ("auto on off"; docs/batching.md) with run.cuda_graphs = "auto"; a "-nograph" suffix sets it "off"
#                           (e.g. MODES="auto auto-nograph": the batched engine with and without CUDA graphs)
#   SETTINGS="quickstart dp_fedsam100 dfedpgp20 dfedsam20 dfedsam100 dfedsam1000"   which settings
#   FULL=0                  on CPU, settings whose full round takes minutes on 2 shared cores run fewer local
#                           steps (the SMALL overrides below; evaluation keeps its full size); FULL=1 (the
#                           default on cuda) runs the configs' full rounds
#   ROUNDS=1                rounds per run; with ROUNDS > 1 both sides report their last round (steady state:
#                           no cuDNN first-call tuning, no CUDA graph capture), plexus's from metrics.jsonl
#   REF_MALLOC=0            1: also time the reference under the malloc settings plexus applies to itself
#                           (src/plexus/core/heap.h, as glibc environment variables), reported as
#                           "reference_malloc" and "speedup_malloc_<mode>" next to the reference as users run it
#   PYTHON                  a python3 with torch (default /usr/bin/python3 = Debian's python3-torch, else python3)
#   OUT=bench_out           where runs and JSON go (fl_speed.json: one line per setting)
# The reference needs PyTorch: on Debian `apt-get install python3-torch` (a benchmark dependency only, not
# needed to build or use plexus); the GPU machine's PyTorch works as is.
set -euo pipefail
DEVICE=${1:-cpu}
PLEXUS=${PLEXUS:-./build/plexus}
THREADS=${THREADS:-2}
MODES=${MODES:-default}
OUT=${OUT:-bench_out}
if [ -z "${PYTHON:-}" ]; then
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
FULL=${FULL:-$([ "$DEVICE" = cpu ] && echo 0 || echo 1)}
SETTINGS=${SETTINGS:-quickstart dp_fedsam100 dfedpgp20 dfedsam20 dfedsam100 dfedsam1000}
mkdir -p "$OUT"
RUNS=$(mktemp -d "$OUT/speed_runs.XXXX")
JSON="$OUT/fl_speed.json"
: > "$JSON"

# Each setting: config file, overrides, and the CPU-only subset overrides (FULL=0).
setting() {
  case $1 in
    quickstart)   CFG=configs/quickstart.toml; SETS=""; SMALL="" ;;
    dp_fedsam100) CFG=configs/dp_fedsam.toml;  SETS=""; SMALL="train.local_steps=4" ;;
    dfedpgp20)    CFG=configs/dfedpgp.toml;    SETS="fl.clients=20 topology.neighbors=4"; SMALL="data.train_subset=2000 personalization.body_epochs=1" ;;
    dfedsam20)    CFG=configs/dfedsam.toml;    SETS="fl.clients=20 topology.neighbors=2"; SMALL="train.local_steps=4" ;;
    dfedsam100)   CFG=configs/dfedsam.toml;    SETS=""; SMALL="train.local_steps=2" ;;
    dfedsam1000)  CFG=configs/dfedsam.toml;    SETS="fl.clients=1000 data.local_test_size=20 train.local_steps=2"; SMALL="" ;;
    *) echo "error: unknown setting '$1'" >&2; exit 2 ;;
  esac
  [ "$FULL" = 1 ] || SETS="$SETS $SMALL"
  SETS="$SETS fl.rounds=${ROUNDS:-1}"
}

metric() {  # metric <metrics.jsonl> <key>: the last row's value
  "$PYTHON" -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])][-1]; v=r.get(sys.argv[2]); print("null" if v is None else v)' "$1" "$2"
}

for S in $SETTINGS; do
  setting "$S"
  ref_args=(--config "$CFG" --threads "$THREADS" --device "$DEVICE")
  plx_args=(fl run --config "$CFG" --set run.device=\"$DEVICE\" --set run.threads=$THREADS --set run.out_dir=\"$RUNS\")
  for kv in $SETS; do ref_args+=(--set "$kv"); plx_args+=(--set "$kv"); done
  echo "== $S: $CFG $SETS" >&2
  ref=$("$PYTHON" bench/fl_reference.py "${ref_args[@]}")
  key=seconds_per_round; [ "${ROUNDS:-1}" = 1 ] || key=seconds_last_round
  ref_s=$(echo "$ref" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' $key)
  ref_m=""; ref_ms=""
  if [ "${REF_MALLOC:-0}" = 1 ]; then
    ref_m=$(MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647 \
            MALLOC_TOP_PAD_=268435456 "$PYTHON" bench/fl_reference.py "${ref_args[@]}")
    ref_ms=$(echo "$ref_m" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["seconds_per_round"])')
  fi
  line="{\"setting\": \"$S\", \"device\": \"$DEVICE\", \"threads\": $THREADS, \"config\": \"$CFG\", \"overrides\": \"${SETS# }\", \"reference\": $ref"
  for M in $MODES; do
    name="${S}_$M"
    b=${M%-nograph}; mode=()
    [ "$b" = default ] || mode+=(--set run.client_batching=\"$b\")
    if [ "$b" = "$M" ]; then mode+=(--set run.cuda_graphs=\"auto\"); else mode+=(--set run.cuda_graphs=\"off\"); fi
    "$PLEXUS" "${plx_args[@]}" --set run.name=\"$name\" "${mode[@]}" > "$RUNS/$name.log" 2>&1 \
      || { tail -5 "$RUNS/$name.log" >&2; exit 1; }
    m="$RUNS/$name/metrics.jsonl"
    sec=$(metric "$m" seconds); tr=$(metric "$m" seconds_train); co=$(metric "$m" seconds_comm); ev=$(metric "$m" seconds_eval)
    acc=$(metric "$m" local_acc_mean)
    ratio=$("$PYTHON" -c "print(round($ref_s / $sec, 2))")
    [ -z "$ref_ms" ] || line="$line, \"speedup_malloc_$M\": $("$PYTHON" -c "print(round($ref_ms / $sec, 2))")"
    line="$line, \"plexus_$M\": {\"seconds_per_round\": $sec, \"seconds_train\": $tr, \"seconds_comm\": $co, \"seconds_eval\": $ev, \"local_acc_mean\": $acc}, \"speedup_$M\": $ratio"
  done
  [ -z "$ref_m" ] || line="$line, \"reference_malloc\": $ref_m"
  echo "$line}" | tee -a "$JSON"
done
