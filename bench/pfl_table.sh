#!/usr/bin/env bash
# Personalized-FL table: every personalized algorithm and baseline on the same data, rounds and metrics, over
# several seeds. One `plexus sweep` per method (seeds as the grid), then one `plexus report` over all of them:
# mean ± std over seeds of the per-client personalized accuracy after and before local training, last round
# and best round, with accuracy-vs-round plots (docs/experiments.md). Re-running continues unfinished sweeps.
#
# Usage: bench/pfl_table.sh [PLEXUS_BIN] [OUT_DIR]
# Environment (CPU-affordable defaults; the paper-scale settings are configs/dfed*.toml with 100 clients):
#   SEEDS=0-2  CLIENTS=20  ROUNDS=20  SUBSET=12000  PARTITION=dirichlet  ALPHA=0.3  CLASSES=2
#   MODEL=cnn  NEIGHBORS=4  THREADS=0  JOBS=1  METHODS=(every personalized algorithm of `plexus fl algorithms`, plus
#   dfedpgp_pull = dfedpgp with the reference code's uniform pull)
set -euo pipefail
BIN=${1:-build/plexus}
OUT=${2:-runs/pfl_table}
SEEDS=${SEEDS:-0-2}
CLIENTS=${CLIENTS:-20}
ROUNDS=${ROUNDS:-20}
SUBSET=${SUBSET:-12000}
PARTITION=${PARTITION:-dirichlet}
ALPHA=${ALPHA:-0.3}
CLASSES=${CLASSES:-2}
MODEL=${MODEL:-cnn}
NEIGHBORS=${NEIGHBORS:-4}
THREADS=${THREADS:-0}
JOBS=${JOBS:-1}
# The method list comes from the algorithm registry (every file in src/plexus/fl/pfl/ registers itself).
METHODS=${METHODS:-"$("$BIN" fl algorithms | awk '/\[personalized\]/ {print $1}' | tr '\n' ' ')dfedpgp_pull"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dirs=()
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
  threads=()
  [[ $THREADS != 0 ]] && threads=(--threads-per-job "$THREADS")
  "$BIN" sweep --config "$ROOT/configs/$cfg.toml" --out "$OUT/$m" --seeds "$SEEDS" --jobs "$JOBS" "${threads[@]}" \
    "${extra[@]}" --set fl.algorithm="\"$alg\"" --set run.checkpoint_every=5 \
    --set fl.clients="$CLIENTS" --set fl.rounds="$ROUNDS" --set fl.eval_every=1 \
    --set data.train_subset="$SUBSET" --set data.partition="\"$PARTITION\"" \
    --set data.dirichlet_alpha="$ALPHA" --set data.classes_per_client="$CLASSES" \
    --set model.name="\"$MODEL\"" --set topology.kind="\"$topo\"" --set topology.neighbors="$NEIGHBORS" \
    --set train.local_epochs=5
  dirs+=("$OUT/$m")
done
# Methods differ in settings that come with their config (ρ, topology kind); the groups are named by the
# algorithm and the two settings two methods share an algorithm with (push-sum weights, FedRep's epochs).
"$BIN" report "${dirs[@]}" --out "$OUT" \
  --group-by fl.algorithm,personalization.push_sum,personalization.head_epochs
sed -n '/^| group/,/^$/p' "$OUT/report.md"
