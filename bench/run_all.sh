#!/usr/bin/env bash
# `make bench`: build and run every benchmark, printing JSON lines. Long: minutes to an hour on 2 cores.
# Usage: bash bench/run_all.sh [build-dir]
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
ninja -C "$BUILD" benchmarks plexus
for a in dfedavg dfedsam; do
  for n in 20 100; do
    "$BUILD/bench/fl_bench" --algorithm "$a" --clients "$n" --rounds 2 --local-steps 10
  done
done
"$BUILD/bench/gossip_bench" --clients 1000 --params 1600000 --reps 1
for s in bench/*_bench.sh bench/pfl_table.sh; do
  [[ -f "$s" ]] && bash "$s" "$BUILD"
done
