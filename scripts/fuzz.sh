#!/usr/bin/env bash
# Build the libFuzzer targets of fuzz/ with clang + ASan and run each for FUZZ_SECONDS (docs/fuzzing.md).
#
#   scripts/fuzz.sh                 every target, 60 s each     (make fuzz)
#   FUZZ_SECONDS=300 scripts/fuzz.sh checkpoint idx
#
# Environment: FUZZ_SECONDS (60), FUZZ_BUILD (build-fuzz), FUZZ_JOBS (ninja jobs, 2), CXX (g++; see below),
# FUZZ_TMPDIR (scratch files; /dev/shm).
# Each target starts from the committed seeds in fuzz/corpus/<target>/ and grows a working corpus in
# FUZZ_BUILD/corpus/<target>/ (not committed; it is kept between runs). Crashes, leaks, timeouts and OOMs go to
# fuzz/findings/<target>/ (not committed); each run's log is FUZZ_BUILD/logs/<target>.log. Exit status: 1 if any
# target has a finding.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
BUILD=${FUZZ_BUILD:-build-fuzz}
JOBS=${FUZZ_JOBS:-2}
# g++ by default: Debian 12's clang 14 cannot compile LibTorch 1.13's headers with libstdc++ 12 in C++20 mode
# (std::vector<c10::IValue> of an incomplete type in ATen/core/List.h), so plexus cannot be instrumented with ASan
# and coverage there. With g++ the targets link clang's libFuzzer runtime and are guided by gcc's comparison
# tracing of the reader sources (-use_value_profile=1). CXX=clang++ where a newer clang works (docs/fuzzing.md).
CXX=${CXX:-g++}
ALL_TARGETS=(config idx auction_log checkpoint metrics_history)
# Longest input libFuzzer makes per target: text configs and metrics stay small; binary formats need room for a
# LibTorch archive (a 3-tensor checkpoint is about 3 KB) or a few gzip blocks.
declare -A MAX_LEN=([config]=4096 [idx]=4096 [auction_log]=4096 [checkpoint]=16384 [metrics_history]=4096)

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ -n "${MAX_LEN[$t]:-}" ]] || { echo "fuzz.sh: unknown target '$t' (targets: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

if ! command -v "$CXX" >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  echo "fuzz.sh: needs $CXX and clang's libFuzzer runtime: apt-get install clang libclang-rt-dev" >&2
  exit 2
fi
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [[ ! -f "$BUILD/build.ninja" ]]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$CXX" "${launcher[@]}" \
    -DPLEXUS_FUZZ=ON -DPLEXUS_BUILD_TESTS=OFF -DPLEXUS_BUILD_BENCH=OFF
fi
ninja -C "$BUILD" -j "$JOBS" "${targets[@]/#/fuzz_}"

mkdir -p "$BUILD/logs"
# Leak checking is off: these runs look for crashes, sanitizer reports and escaped exceptions (LibTorch, not
# instrumented, keeps caches alive until exit).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Targets write their input to a scratch file (the readers take paths) and the metrics target fsyncs: on tmpfs
# that costs microseconds instead of a disk flush per input.
[[ -d /dev/shm && -w /dev/shm ]] && export TMPDIR=${FUZZ_TMPDIR:-/dev/shm}
status=0
for t in "${targets[@]}"; do
  work="$BUILD/corpus/$t" findings="fuzz/findings/$t" log="$BUILD/logs/$t.log"
  mkdir -p "$work" "$findings"
  echo "fuzz: $t for ${SECONDS_PER_TARGET} s (max_len ${MAX_LEN[$t]}, log $log)"
  set +e
  "$BUILD/fuzz/fuzz_$t" "$work" "fuzz/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" -max_len="${MAX_LEN[$t]}" \
    -use_value_profile=1 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)  # features: edges and/or value profile
  echo "fuzz: $t: ${execs:-?} executions, ${ft:-?} features, exit $rc"
  if [[ $rc -ne 0 ]]; then
    status=1
    grep -m3 -E 'FINDING|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY' "$log" | sed 's/^/  /' || true
    ls -t "$findings" | head -1 | sed "s|^|  input: $findings/|"
  fi
done
exit $status
