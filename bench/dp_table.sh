#!/usr/bin/env bash
# Accuracy against ε for DP-FedAvg, DP-FedSAM and DP-FedSAM-top_k over seeds and noise multipliers (issue 3):
# one `plexus sweep` per algorithm config (grid over privacy.noise_multiplier × seeds), then one
# `plexus report` over the three sweeps (mean ± std over seeds, final and best round, ε; plots of accuracy
# and ε vs round). Re-running continues unfinished sweeps (docs/experiments.md).
#   bash bench/dp_table.sh [build-dir]
# Knobs (environment): ROUNDS (30), SEEDS ("0-2"), SIGMAS ("0.5,0.95,2.0"), CLIENTS (100), LOCAL_STEPS (10),
# JOBS (1), ALGOS (private algorithms with a configs/<name>.toml; default the three of the table), OUT (bench_out/dp_table), EXTRA (more --set overrides, e.g. "--set train.lr=0.05").
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-30}; SEEDS=${SEEDS:-0-2}; SIGMAS=${SIGMAS:-0.5,0.95,2.0}
CLIENTS=${CLIENTS:-100}; LOCAL_STEPS=${LOCAL_STEPS:-10}; JOBS=${JOBS:-1}; EXTRA=${EXTRA:-}
OUT=${OUT:-bench_out/dp_table}
dirs=()
for algo in ${ALGOS:-dp_fedavg dp_fedsam dp_fedsam_topk}; do
  # shellcheck disable=SC2086  # EXTRA is a list of options
  "$BUILD/plexus" sweep --config "configs/$algo.toml" --out "$OUT/$algo" --jobs "$JOBS" \
    --grid privacy.noise_multiplier="$SIGMAS" --seeds "$SEEDS" \
    --set fl.rounds="$ROUNDS" --set fl.clients="$CLIENTS" --set train.local_steps="$LOCAL_STEPS" $EXTRA
  dirs+=("$OUT/$algo")
done
# The configs also differ in the settings that come with each algorithm (ρ, ASAM, top-k density); the groups
# are named by algorithm and σ only (plexus report checks that nothing else varies inside a group).
"$BUILD/plexus" report "${dirs[@]}" --out "$OUT" --group-by fl.algorithm,privacy.noise_multiplier
sed -n '/^| group/,/^$/p' "$OUT/report.md"
