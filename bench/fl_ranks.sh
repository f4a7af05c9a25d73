#!/usr/bin/env bash
# FL across processes (docs/distributed.md): rounds/s of 1 process and of --ranks R on this machine, and the
# bytes each rank sent per round. Prints one JSON object per (setting, ranks) and writes them to
# $OUT/fl_ranks.json; also checks that the multi-rank metrics rows equal the single-process ones (every
# non-timing column, as text), reported as "rows_identical".
#
#   bash bench/fl_ranks.sh
# Environment:
#   PLEXUS=./build/plexus   ROUNDS=3   RANKS="1 2"   THREADS=2 (worker threads of the single process; each of R
#   ranks gets max(1, THREADS/R), so both runs use the same cores)   OUT=bench_out
#   SETTINGS="quickstart dfedpgp quickstart_ring dfedpgp_ring"
#     quickstart  configs/quickstart.toml as is (DFedSAM, CNN P = 582,026, 20 clients, undirected time-varying)
#     dfedpgp     the same data and model, DFedPGP (push-sum) on a directed time-varying graph (out-degree 2),
#                 head 1 epoch + body 1 epoch on a 6000-example training subset (300 examples per client)
#     *_ring      the same on a ring (quickstart) / directed ring (dfedpgp), whose minimum is known by hand:
#                 2 rows of P floats per rank (ring over 2 blocks), 1 row of the body plus its μ (directed ring)
# Columns: rounds_per_s = ROUNDS / Σ seconds of the metrics rows (round wall time on rank 0, evaluation
# included); comm_bytes_per_round_rank<k> = mean of comm_bytes_rank<k> (model bytes for the algorithm);
# gather_bytes_per_round = mean bytes sent to rank 0 for evaluation/metrics; full_block_bytes = what one rank
# would send if it shipped its whole block to every other rank each round ((N/R)·P·4·(R−1)), the naive
# all-gather the neighbour exchange replaces; minimum_bytes_per_rank = the hand-counted minimum (ring settings).
set -euo pipefail
PLEXUS=${PLEXUS:-./build/plexus}
ROUNDS=${ROUNDS:-3}
RANKS=${RANKS:-1 2}
THREADS=${THREADS:-2}
OUT=${OUT:-bench_out}
SETTINGS=${SETTINGS:-quickstart dfedpgp quickstart_ring dfedpgp_ring}
mkdir -p "$OUT"
RUNS=$(mktemp -d "$OUT/ranks_runs.XXXX")
JSON="$OUT/fl_ranks.json"
: > "$JSON"

overrides() {
  case "$1" in
    quickstart) echo "" ;;
    quickstart_ring) echo "--set topology.kind=ring" ;;
    dfedpgp|dfedpgp_ring)
      local kind=directed_time_varying; [ "$1" = dfedpgp_ring ] && kind=directed_ring
      echo "--set fl.algorithm=dfedpgp --set topology.kind=$kind --set topology.neighbors=2
            --set personalization.head_epochs=1 --set personalization.body_epochs=1
            --set data.train_subset=6000" ;;
    *) echo "unknown setting $1" >&2; exit 2 ;;
  esac
}

for s in $SETTINGS; do
  for r in $RANKS; do
    threads=$(( THREADS / r )); [ "$threads" -ge 1 ] || threads=1
    launch=""; [ "$r" -gt 1 ] && launch="--ranks $r"
    # shellcheck disable=SC2046
    "$PLEXUS" fl run --config configs/quickstart.toml $(overrides "$s") --set fl.rounds="$ROUNDS" \
      --set run.threads="$threads" --set run.checkpoint_every=0 --set run.out_dir="\"$RUNS\"" \
      --set run.name="${s}_r${r}" $launch > "$RUNS/${s}_r${r}.log" 2>&1 \
      || { echo "error: $s with $r rank(s) failed; see $RUNS/${s}_r${r}.log" >&2; exit 1; }
    python3 - "$RUNS" "$s" "$r" "$ROUNDS" >> "$JSON" <<'PY'
import json, sys
runs, s, r, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def rows(name):
    return [json.loads(l) for l in open(f"{runs}/{name}/metrics.jsonl") if l.strip()]
mine = rows(f"{s}_r{r}")
summary = json.load(open(f"{runs}/{s}_r{r}/summary.json"))
out = {"setting": s, "ranks": r, "rounds": rounds, "clients": summary["clients"], "parameters": summary["parameters"],
       "rounds_per_s": round(rounds / sum(x["seconds"] for x in mine), 4)}
if r > 1:
    one = rows(f"{s}_r1")
    out["rows_identical"] = all(a[k] == b.get(k) for a, b in zip(one, mine) for k in a
                                if not k.startswith("seconds")) and len(one) == len(mine)
    for k in range(r):
        out[f"comm_bytes_per_round_rank{k}"] = sum(x[f"comm_bytes_rank{k}"] for x in mine) / len(mine)
    out["gather_bytes_per_round"] = sum(x["gather_bytes"] for x in mine) / len(mine)
    out["full_block_bytes"] = summary["clients"] // r * summary["parameters"] * 4 * (r - 1)
    if s == "quickstart_ring" and r == 2:  # hand count: each block has 2 boundary rows the other block mixes
        out["minimum_bytes_per_rank"] = 2 * summary["parameters"] * 4
    if s == "dfedpgp_ring" and r == 2:  # one row pushes across each block boundary: body floats + μ (f64)
        out["minimum_bytes_per_rank"] = (summary["parameters"] - summary["personal_parameters"]) * 4 + 8
print(json.dumps(out))
PY
    tail -n 1 "$JSON"
  done
done
