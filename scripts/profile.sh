#!/usr/bin/env bash
# Profiles one benchmark scenario: runs `crewtime-bench --only <scenario>` and, while that
# scenario's measured phase runs, samples the whole machine with perf (every process: crewtime,
# PostgreSQL, PostGraphile, the load generator). Prints the CPU split per process and the hottest
# crewtime functions, and writes a flamegraph of crewtime when inferno is installed
# (`cargo install inferno`).
#
#   scripts/profile.sh single [seconds]     # single | week | punch | mix | fan-out
#
# Output goes to target/profile/<scenario>/ (perf.data, report.txt, crewtime.svg). Run after
# `make bench` has installed the peers and built the release binaries.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scenario="${1:?scenario: single | week | punch | mix | fan-out}"
seconds="${2:-15}"
target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/profile/$scenario"
mkdir -p "$out"
command -v perf >/dev/null 2>&1 || { echo "profile: perf is not installed (Debian package linux-perf)" >&2; exit 1; }
source .data/env
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# The phase line the bench prints when the scenario's load starts, and how long its warm-up
# lasts after it (3 s; fan-out's line comes after its untimed warm-up round of punches, and
# its timed round lasts about 3 s, so it is sampled for 2 s at a higher rate).
warmup=5
freq=299
case "$scenario" in
  single) marker="single object by id" ;;
  week) marker="department week" ;;
  punch) marker="recordPunch vs pgbench" ;;
  mix) marker="concurrent clients, 90% reads" ;;
  fan-out) marker="fan-out: warmed up; measuring"; warmup=0; freq=999; seconds="${2:-2}" ;;
  *) echo "profile: unknown scenario $scenario" >&2; exit 2 ;;
esac

"$target_dir/release/crewtime-bench" --crewtime "$target_dir/release/crewtime" \
  --peer-dir .data/bench/peer --out "$out/report.json" --only "$scenario" \
  --seconds "$((seconds + 10))" >"$out/bench.txt" 2>"$out/bench.log" &
bench=$!
until grep -q "bench: .*$marker" "$out/bench.log" 2>/dev/null; do
  kill -0 "$bench" 2>/dev/null || { cat "$out/bench.log" >&2; exit 1; }
  sleep 0.5
done
# Past the warm-up into the measured window.
sleep "$warmup"
perf record -a -F "$freq" --call-graph dwarf,16384 -o "$out/perf.data" -- sleep "$seconds" 2>"$out/perf.log"
wait "$bench"

{
  echo "# CPU samples per process"
  perf report -i "$out/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 15
  echo
  echo "# crewtime: hottest functions (self)"
  perf report -i "$out/perf.data" --no-children --comm crewtime-worker --sort dso,sym --stdio \
    -g none --no-inline 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
} >"$out/report.txt"
cat "$out/report.txt"
if command -v inferno-collapse-perf >/dev/null 2>&1; then
  perf script -i "$out/perf.data" --comm crewtime-worker --no-inline 2>/dev/null \
    | inferno-collapse-perf >"$out/crewtime.folded"
  inferno-flamegraph <"$out/crewtime.folded" >"$out/crewtime.svg"
  echo "profile: flamegraph in $out/crewtime.svg"
fi
cat "$out/bench.txt"
