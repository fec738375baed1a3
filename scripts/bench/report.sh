#!/bin/sh
# report.sh [RUNS] [N...]: `corral report` and `corral status` on large synthetic journals
# (scripts/bench/report_journal.lua: a pool of 8 slots, 95% ok, the rest failed with stderr,
# timeout or signaled). Per N: scripts/bench/report.lua's read / summarise / render times, the
# wall clock of `corral report J -o F` and of `corral status --once J` (its first screen), the
# journal's and the HTML's size; median of RUNS runs. Prints the markdown of docs/benchmarks.md's
# section I (run by scripts/bench/run.sh).
set -eu
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
shift 2>/dev/null || :
[ $# -gt 0 ] || set -- 20000 100000
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LUA=${CORRAL_LUA:-lua5.4}
export LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;"
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
cat <<EOF
\`scripts/bench/report.sh $RUNS $*\`: a synthetic journal of N attempts (each after its start
event; a pool of 8 slots; 95% ok, the rest failed with stderr, timeout or signaled), then
read, summarise and render in one process (scripts/bench/report.lua), \`corral report J -o
F\` and \`corral status --once J\` (its first screen), wall clock; median of $RUNS runs.

| attempts | journal MB | read s | summarise s | render s | \`corral report\` s | \`corral status --once\` s | HTML KB |
|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
for n in "$@"; do
  L="" S="" R="" W="" T="" MB="" KB=""
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    # "N attempts, journal X MB: load A s, summarize B s, render C s, total D s; HTML K KB"
    line=$("$LUA" scripts/bench/report.lua "$n" "$TMP" keep | head -n 1)
    set -- $(echo "$line" | sed 's/[^0-9.]/ /g')
    MB=$2 L="$L $3" S="$S $4" R="$R $5" KB=$7
    t0=$(now); scripts/corral report "$TMP/corral-report-bench.jsonl" -o "$TMP/out.html" >/dev/null; W="$W $(since "$t0")"
    t0=$(now); scripts/corral status --once "$TMP/corral-report-bench.jsonl" >/dev/null; T="$T $(since "$t0")"
    i=$((i + 1))
  done
  rm -f "$TMP/corral-report-bench.jsonl" "$TMP/out.html"
  echo "| $n | $MB | $(median $L) | $(median $S) | $(median $R) | $(median $W) | $(median $T) | $KB |"
done
