#!/usr/bin/env bash
# Ads-auction tuning benchmarks (docs/results.md#results-tune). Prints JSON.
#   bench/tune_bench.sh [build-dir] [replay|compare|all]
# replay:  auctions/s per core on 1 and 2 threads for a 200k-request log, and the log's bytes/s.
# compare: every registered tuner's bench variants (`plexus tune methods`) over 30 seeds on equal replay
#          budgets (20 iterations × 500 requests = 10,000 replays) on bumps and Rastrigin at noise 0/0.5/1/2
#          and on the auction simulator; then the same with the behaviour before issue 16 (no guarded final
#          step, AMIS initialised uniformly with per-component kernels, SGIS refining on live traffic), and a
#          before/after table (bench/tune_table.py).
set -euo pipefail
BUILD=${1:-build}
WHAT=${2:-all}
PLEXUS=${PLEXUS:-"$BUILD/plexus"}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
if [[ "$WHAT" == replay || "$WHAT" == all ]]; then
  "$PLEXUS" tune generate --out "$OUT/tune_bench_logs.plx" --requests 200000 --seed 1 >/dev/null
  "$PLEXUS" tune bench replay --logs "$OUT/tune_bench_logs.plx" --threads 1,2 --reps 5 | tee "$OUT/tune_replay.json"
fi
if [[ "$WHAT" == compare || "$WHAT" == all ]]; then
  COMMON=(--seeds 30 --threads 2 --iterations 20 --traffic 500 --evals 100 --sim-requests 100 --auction-scale 20)
  "$PLEXUS" tune bench compare "${COMMON[@]}" --out "$OUT/tune_compare.json" >/dev/null
  "$PLEXUS" tune bench compare "${COMMON[@]}" --methods gis,sgis,amis,amis_gu,amis_mv,amis_mv_gu,random,grid,cem \
    --set guard.enabled=false --set amis.init=uniform --set amis.kernel=component --set sgis.refine=live \
    --out "$OUT/tune_compare_before.json" >/dev/null
  python3 "$(dirname "$0")/tune_table.py" "$OUT/tune_compare_before.json" "$OUT/tune_compare.json"
fi
