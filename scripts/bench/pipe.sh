#!/bin/sh
# pipe.sh [RUNS] [MB]: `corral parallel --pipe` beside GNU parallel --pipe on the same input, in
# one run: MB of base64 lines cut into 1 MB blocks, each block counted by `wc -l`, 2 jobs at a
# time. Prints the markdown of docs/benchmarks.md's section G (run by scripts/bench/run.sh).
# Both tools must count the same lines; a run that does not is a warning on stderr.
set -eu
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
MB=${2:-30}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
head -c $((MB * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 >"$TMP/in"
size=$(wc -c <"$TMP/in")
lines=$(wc -l <"$TMP/in")
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# one TOOL: a run; prints its MB/s, checks the sum of the jobs' line counts
one() {
  t0=$(now)
  "$@" --pipe --block 1M -j2 wc -l <"$TMP/in" >"$TMP/out" 2>"$TMP/err" || :
  t1=$(now)
  got=$(awk '{ s += $1 } END { print s + 0 }' "$TMP/out")
  [ "$got" = "$lines" ] || echo "pipe.sh: $1 counted $got lines of $lines ($(head -c 200 "$TMP/err"))" >&2
  awk -v b="$size" -v a="$t0" -v c="$t1" 'BEGIN { printf "%.1f", b / 1048576 / (c - a) }'
}
C="" G="" R=""
i=0
while [ "$i" -lt "$RUNS" ]; do
  c=$(one scripts/corral parallel)
  g=$(one parallel)
  C="$C $c" G="$G $g" R="$R $(awk -v a="$c" -v b="$g" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')"
  i=$((i + 1))
done
cat <<EOF
\`scripts/bench/pipe.sh $RUNS $MB\`: $(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }') MB of base64 lines on stdin,
cut into 1 MB blocks at line ends, each block piped to \`wc -l\`, 2 jobs at a time; both tools
counted the same $lines lines. Median of $RUNS runs, alternating between the tools; the ratio
is the median of the ratios within each round.

| tool | MB/s | × GNU parallel |
|---|---:|---:|
| \`corral parallel --pipe --block 1M -j2 wc -l\` | $(median $C) | $(median $R) |
| \`parallel --pipe --block 1M -j2 wc -l\` (GNU parallel 20221122) | $(median $G) | 1.00 |
EOF
