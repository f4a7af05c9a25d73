#!/usr/bin/env bash
# Personalized-FL table: every personalized algorithm and baseline on the same data, rounds and metrics,
# over several seeds; prints one JSON line per run and a markdown table (mean ± std over seeds of the
# per-run mean personalized accuracy, last round and best round, after and before local training).
#
# Usage: bench/pfl_table.sh [PLEXUS_BIN] [OUT_DIR]
# Environment (CPU-affordable defaults; the paper-scale settings are configs/dfed*.toml with 100 clients):
#   SEEDS="0 1 2"  CLIENTS=20  ROUNDS=20  SUBSET=12000  PARTITION=dirichlet  ALPHA=0.3  CLASSES=2
#   MODEL=cnn  NEIGHBORS=4  THREADS=0  METHODS=(every personalized algorithm of `plexus fl algorithms`, plus
#   dfedpgp_pull = dfedpgp with the reference code's uniform pull)
set -euo pipefail
BIN=${1:-build/plexus}
OUT=${2:-runs/pfl_table}
SEEDS=${SEEDS:-"0 1 2"}
CLIENTS=${CLIENTS:-20}
ROUNDS=${ROUNDS:-20}
SUBSET=${SUBSET:-12000}
PARTITION=${PARTITION:-dirichlet}
ALPHA=${ALPHA:-0.3}
CLASSES=${CLASSES:-2}
MODEL=${MODEL:-cnn}
NEIGHBORS=${NEIGHBORS:-4}
THREADS=${THREADS:-0}
# The method list comes from the algorithm registry (every file in src/plexus/fl/pfl/ registers itself).
METHODS=${METHODS:-"$("$BIN" fl algorithms | awk '/\[personalized\]/ {print $1}' | tr '\n' ' ')dfedpgp_pull"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
for m in $METHODS; do
  alg=$m; cfg=dfedalt; extra=()
  case $m in
    dfedsalt) cfg=dfedsalt ;;
    dfedpgp) cfg=dfedpgp ;;
    dfedpgp_pull) alg=dfedpgp; cfg=dfedpgp; extra=(--set 'personalization.push_sum="uniform_pull"') ;;
    fedrep) extra=(--set personalization.head_epochs=5 --set personalization.body_epochs=1) ;;
  esac
  topo=time_varying
  [[ $alg == dfedpgp ]] && topo=directed_time_varying
  for s in $SEEDS; do
    name="${m}_s${s}"
    "$BIN" fl run -c "$ROOT/configs/$cfg.toml" "${extra[@]}" \
      --set fl.algorithm="\"$alg\"" --set run.name="\"$name\"" --set run.out_dir="\"$OUT\"" \
      --set run.seed=$s --set run.threads=$THREADS --set run.checkpoint_every=0 \
      --set fl.clients=$CLIENTS --set fl.rounds=$ROUNDS --set fl.eval_every=1 \
      --set data.train_subset=$SUBSET --set data.partition="\"$PARTITION\"" \
      --set data.dirichlet_alpha=$ALPHA --set data.classes_per_client=$CLASSES \
      --set model.name="\"$MODEL\"" --set topology.kind="\"$topo\"" --set topology.neighbors=$NEIGHBORS \
      --set train.local_epochs=5 \
      > "$OUT/$name.json" 2> "$OUT/$name.log"
    python3 - "$OUT/$name.json" "$m" "$s" >> "$RESULTS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps({"method": sys.argv[2], "seed": int(sys.argv[3]),
                  **{k: s[k] for k in ("final_local_acc_mean", "final_local_acc_std", "best_local_acc_mean",
                                      "final_before_acc_mean", "best_before_acc_mean", "seconds")}}))
PY
    tail -n1 "$RESULTS"
  done
done
python3 - "$RESULTS" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
methods = list(dict.fromkeys(r["method"] for r in rows))
def ms(v):
    v = [100 * x for x in v]
    return f"{st.mean(v):.2f} ± {st.pstdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"
print("| method | seeds | acc after (last) | acc after (best) | acc before (last) | acc before (best) | s/run |")
print("|---|---|---|---|---|---|---|")
for m in methods:
    r = [x for x in rows if x["method"] == m]
    print(f"| {m} | {len(r)} | {ms([x['final_local_acc_mean'] for x in r])} | {ms([x['best_local_acc_mean'] for x in r])} | "
          f"{ms([x['final_before_acc_mean'] for x in r])} | {ms([x['best_before_acc_mean'] for x in r])} | "
          f"{st.mean(x['seconds'] for x in r):.0f} |")
PY
