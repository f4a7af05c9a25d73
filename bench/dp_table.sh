#!/usr/bin/env bash
# Accuracy against ε for DP-FedAvg, DP-FedSAM and DP-FedSAM-top_k over seeds and noise multipliers
# (issue 3). Prints a markdown table (mean ± std over seeds) and writes JSON lines to $OUT/dp_table.jsonl.
#   bash bench/dp_table.sh [build-dir]
# Knobs (environment): ROUNDS (default 30), SEEDS ("0 1 2"), SIGMAS ("0.5 0.95 2.0"), CLIENTS (100),
# LOCAL_STEPS (10), ALGOS (private algorithms with a configs/<name>.toml; default the three of the table),
# EXTRA (more --set overrides). The configs' own settings apply otherwise.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-30}; SEEDS=${SEEDS:-"0 1 2"}; SIGMAS=${SIGMAS:-"0.5 0.95 2.0"}
CLIENTS=${CLIENTS:-100}; LOCAL_STEPS=${LOCAL_STEPS:-10}; EXTRA=${EXTRA:-}
OUT=${OUT:-bench_out}; mkdir -p "$OUT"; : > "$OUT/dp_table.jsonl"
TAG=$(date +%s)
for algo in ${ALGOS:-dp_fedavg dp_fedsam dp_fedsam_topk}; do
  for sigma in $SIGMAS; do
    for seed in $SEEDS; do
      "$BUILD/plexus" fl run --config "configs/$algo.toml" --set run.out_dir=\"$OUT/dp_runs\" \
        --set run.name="${algo}_s${sigma}_seed${seed}_$TAG" --set run.seed=$seed --set fl.rounds=$ROUNDS \
        --set fl.clients=$CLIENTS --set train.local_steps=$LOCAL_STEPS --set privacy.noise_multiplier=$sigma \
        --set fl.eval_every=$ROUNDS $EXTRA 2>/dev/null \
        | python3 -c "import json,sys; s=json.load(sys.stdin); print(json.dumps({'algorithm':'$algo','sigma':$sigma,'seed':$seed,'epsilon':s['epsilon'],'delta':s['delta'],'acc':s['final_local_acc_mean'],'global_acc':s['final_global_acc']}))" \
        | tee -a "$OUT/dp_table.jsonl"
    done
  done
done
python3 - "$OUT/dp_table.jsonl" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
keys = sorted({(r['algorithm'], r['sigma']) for r in rows}, key=lambda k: (k[1], k[0]))
print("| algorithm | σ | ε (δ) | local acc (mean ± std over seeds) | global acc |")
print("|---|---|---|---|---|")
for a, s in keys:
    g = [r for r in rows if r['algorithm'] == a and r['sigma'] == s]
    acc = [r['acc'] for r in g]; gacc = [r['global_acc'] for r in g]
    sd = st.pstdev(acc) if len(acc) > 1 else 0.0
    print(f"| {a} | {s} | {g[0]['epsilon']:.2f} ({g[0]['delta']:g}) | {st.mean(acc):.4f} ± {sd:.4f} (n={len(acc)}) | {st.mean(gacc):.4f} |")
PY
