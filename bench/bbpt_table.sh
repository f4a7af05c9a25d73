#!/usr/bin/env bash
# Fed-BBPT evidence (issue 14, docs/results.md#results-bbpt): every algorithm and baseline on the same data and
# seeds, then the table and the plot. Zero-shot (no prompt) is each run's round-0 evaluation.
#   bash bench/bbpt_table.sh image          # configs/fed_bbpt.toml: needs runs/bbpt-source (configs/bbpt_source.toml)
#   bash bench/bbpt_table.sh text           # configs/fed_bbpt_text.toml: needs runs/bbpt-text-source
# SEEDS (default "1 2 3"), ROUNDS (default: the config's), OUT (default bench_out/bbpt_<task>).
set -euo pipefail
task=${1:-image}
BIN=${BIN:-./build/plexus}
OUT=${OUT:-bench_out/bbpt_$task}
mkdir -p "$OUT"
if [[ $task == image ]]; then
  cfg=configs/fed_bbpt.toml
  variants=("fed_bbpt:fed_bbpt:" "fed_bbpt_one:fed_bbpt:--set fl.client_fraction=0.1"
            "bbpt_local:bbpt_local:" "bbpt_whitebox:bbpt_whitebox:")
else
  cfg=configs/fed_bbpt_text.toml
  variants=("fed_bbpt:fed_bbpt:" "fed_bbpt_one:fed_bbpt:--set fl.client_fraction=0.1"
            "bbpt_local:bbpt_local:" "bbpt_whitebox:bbpt_whitebox:")
fi
for seed in ${SEEDS:-1 2 3}; do
  for v in "${variants[@]}"; do
    IFS=: read -r label algo extra <<< "$v"
    name="bbpt-$task-$label-s$seed"
    [[ -f "$OUT/$name/summary.json" ]] && continue
    echo "== $(date +%T) $name" >&2
    $BIN fl run --config $cfg --set fl.algorithm=$algo --set run.seed=$seed --set run.name=\"$name\" \
      --set run.out_dir=\"$OUT\" ${ROUNDS:+--set fl.rounds=$ROUNDS} $extra > "$OUT/$name.log" 2>&1 || { tail -3 "$OUT/$name.log"; exit 1; }
  done
done
${PYTHON:-/usr/bin/python3} bench/bbpt_plot.py "$OUT" "$OUT/bbpt_$task.png"
