#!/usr/bin/env bash
# Ads-auction tuning benchmarks (docs/results.md#results-tune). Prints JSON.
#   bench/tune_bench.sh [build-dir] [replay|compare|all]
# replay:  auctions/s per core on 1 and 2 threads for a 200k-request log, and the log's bytes/s.
# compare: GIS, SGIS, AMIS (4 variants), random, grid and CEM over 30 seeds on equal replay budgets
#          (20 iterations × 500 requests = 10,000 replays) on bumps and Rastrigin at noise 0/0.5/1/2
#          and on the auction simulator.
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
  "$PLEXUS" tune bench compare --seeds 30 --threads 2 --iterations 20 --traffic 500 --evals 100 --sim-requests 100 --auction-scale 20 \
    --out "$OUT/tune_compare.json" >/dev/null
  cat "$OUT/tune_compare.json"
fi
