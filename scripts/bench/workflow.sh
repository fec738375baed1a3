#!/bin/sh
# Workflows at scale: corral's workflow scheduler against a bare lua pool (its floor) and
# against Snakemake, all measured in this one run; writes the "Workflows at scale" section of
# docs/benchmarks.md (replacing it, or adding it at the end). Run by `make bench` after
# scripts/bench/run.sh, which rewrites the rest of the file.
#
# WF_SIZES (default "1000 10000 100000"): workflow sizes for the scheduler measure.
# WF_SNAKE_RUN (default "1000 10000"): shell-job runs against Snakemake.
# WF_SNAKE_PLAN (default "10000 100000"): sizes for the plan (`snakemake -n`) measure.
# WF_SNAKE_LIMIT (default 300): a Snakemake run is stopped after this many seconds and its rate
# taken over that window (files written / seconds). Snakemake finishes its running jobs on
# TERM and may not end: KILL 10 s later.
# BENCH_RUNS (default 3): runs per measurement; the median is reported (Snakemake runs of
# 1000 jobs and more: once, they take minutes).
set -eu
cd "$(dirname "$0")/../.."
OUT=docs/benchmarks.md
RUNS=${BENCH_RUNS:-3}
SIZES=${WF_SIZES-1000 10000 100000}
SNAKE_RUN=${WF_SNAKE_RUN-1000 10000}
SNAKE_PLAN=${WF_SNAKE_PLAN-10000 100000}
CAP=${WF_SNAKE_LIMIT:-300}      # seconds a Snakemake run may take; a longer one is stopped
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP
say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
WARN=""
warn() { say "warning: $*"; WARN="$WARN
- $*"; }

# one MODE N [ARG]: one run of scripts/bench/workflow.lua; prints its result line.
one() {
  out=$(scripts/corral run scripts/bench/workflow.lua "$@" 2>"$TMP/err" </dev/null) ||
    { warn "workflow.lua $*: $(head -c 300 "$TMP/err" | tr '\n' ' ')"; out="$2 0 0 0 0 false"; }
  [ "$(echo "$out" | awk '{ print $6 }')" = true ] || warn "workflow.lua $*: not ok ($out)"
  echo "$out"
}
field() { echo "$1" | awk -v f="$2" '{ print $f }'; }

# --- the scheduler's own cost ------------------------------------------------------------------
# us MED_CPU N: microseconds per job
us() { awk -v c="$1" -v n="$2" 'BEGIN { printf "%.1f", c * 1e6 / n }'; }
ROWS=""
for n in $SIZES; do
  say "workflow of $n no-op fn jobs ($RUNS rounds: pool floor, fan-out + gather, chain, resume)"
  pf=""; pk=""; pc=""; wf=""; wc=""; wr=""; kd=""; kr=""; kc=""
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    j=$TMP/fan.jsonl; rm -f "$j" "$TMP/chain.jsonl"
    l=$(one pool-fan "$n"); pf="$pf $(field "$l" 2)"
    l=$(one pool-keep "$n"); pk="$pk $(field "$l" 2)"
    l=$(one fan "$n" "$j"); wf="$wf $(field "$l" 2)"; kd="$kd $(field "$l" 4)"; kr="$kr $(field "$l" 5)"
    l=$(one resume "$n" "$j"); wr="$wr $(field "$l" 2)"
    l=$(one pool-chain "$n"); pc="$pc $(field "$l" 2)"
    l=$(one chain "$n" "$TMP/chain.jsonl"); wc="$wc $(field "$l" 2)"; kc="$kc $(field "$l" 5)"
    i=$((i + 1))
  done
  say "  cpu s: pool-fan$pf | pool-keep$pk | fan$wf | resume$wr | pool-chain$pc | chain$wc"
  PF=$(median $pf) PK=$(median $pk) WF=$(median $wf) WR=$(median $wr) PC=$(median $pc) WC=$(median $wc)
  ROWS="$ROWS
| $n | fan-out + gather | $(us "$PF" "$n") | $(us "$PK" "$n") | $(us "$WF" "$n") | $(awk -v a="$WF" -v b="$PF" -v n="$n" 'BEGIN { printf "%.1f", (a - b) * 1e6 / n }') | $(awk -v a="$WF" -v b="$PK" -v n="$n" 'BEGIN { printf "%.1f", (a - b) * 1e6 / n }') | $(median $kd) / $(median $kr) |
| $n | chain | $(us "$PC" "$n") | – | $(us "$WC" "$n") | $(awk -v a="$WC" -v b="$PC" -v n="$n" 'BEGIN { printf "%.1f", (a - b) * 1e6 / n }') | – | – / $(median $kc) |
| $n | resume of the fan-out's journal (nothing runs) | – | – | $(us "$WR" "$n") | $(us "$WR" "$n") | – | |"
  eval "OVF_$n=\$(awk -v a=\"\$WF\" -v b=\"\$PF\" -v n=\"\$n\" 'BEGIN { printf \"%.1f\", (a - b) * 1e6 / n }')"
done

# --- against Snakemake ---------------------------------------------------------------------------
SNAKE=""
if command -v snakemake >/dev/null; then SNAKE=$(snakemake --version 2>/dev/null || echo '?'); fi
cat >"$TMP/Snakefile" <<'EOF'
N = int(config["n"])
rule all:
    input: expand("out/{i}.txt", i=range(1, N + 1))
rule one:
    output: "out/{i}.txt"
    shell: "echo {wildcards.i} > {output}"
EOF
SROWS=""
PROWS=""
CUT=""
if [ -n "$SNAKE" ]; then
  for n in $SNAKE_RUN; do
    runs=$RUNS; [ "$n" -ge 1000 ] && runs=1
    say "$n shell jobs writing a file each, 2 at a time: corral and Snakemake ($runs rounds)"
    cs=""; ss=""
    i=0
    while [ "$i" -lt "$runs" ]; do
      rm -rf "$TMP/c" "$TMP/s"; mkdir -p "$TMP/c" "$TMP/s"
      t0=$(now); one shell "$n" "$TMP/c" >/dev/null; t1=$(now)
      [ "$(ls "$TMP/c" | wc -l)" = "$n" ] || warn "corral shell $n: $(ls "$TMP/c" | wc -l) files"
      cs="$cs $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
      t0=$(now)
      rc=0
      timeout -k 10 "$CAP" snakemake -s "$TMP/Snakefile" -d "$TMP/s" -j2 --config n="$n" --quiet all >"$TMP/sout" 2>&1 </dev/null || rc=$?
      t1=$(now)
      got=$(ls "$TMP/s/out" 2>/dev/null | wc -l)
      # stopped at the cap: timeout's 124, or a signal's status once TERM did not end it
      if [ "$rc" = 124 ] || { [ "$rc" -gt 128 ] && [ "$got" -lt "$n" ]; }; then
        CUT="$CUT $n:$got"                       # stopped at the cap: its rate over the window
        ss="$ss $(awk -v a="$t0" -v b="$t1" -v n="$n" -v k="$got" 'BEGIN { print (k > 0) ? (b - a) * n / k : 0 }')"
      else
        [ "$rc" = 0 ] || warn "snakemake $n: $(tail -c 300 "$TMP/sout" | tr '\n' ' ')"
        [ "$got" = "$n" ] || warn "snakemake $n: $got files"
        ss="$ss $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
      fi
      i=$((i + 1))
    done
    say "  wall s: corral$cs | snakemake$ss"
    C=$(median $cs) S=$(median $ss)
    cut=$(echo "$CUT" | tr ' ' '\n' | awk -F: -v n="$n" '$1 == n { print $2 }' | tail -n 1)
    SHOW=$(printf '%.1f' "$S")
    [ -n "$cut" ] && SHOW="stopped at $CAP s with $cut of $n files: $SHOW projected at that rate"
    SROWS="$SROWS
| $n | $(printf '%.2f' "$C") | $(awk -v n="$n" -v t="$C" 'BEGIN { printf "%.0f", n / t }') | $SHOW | $(awk -v n="$n" -v t="$S" 'BEGIN { printf "%.0f", n / t }') | $(awk -v a="$S" -v b="$C" 'BEGIN { printf "%.1f", a / b }') |"
  done
  for n in $SNAKE_PLAN; do
    say "plan of $n shell jobs: corral wf:plan() and snakemake -n"
    rm -rf "$TMP/s"; mkdir -p "$TMP/s" "$TMP/c"
    t0=$(now); one plan "$n" "$TMP/c" >/dev/null; t1=$(now)
    C=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    t0=$(now)
    rc=0
    timeout -k 10 "$CAP" snakemake -s "$TMP/Snakefile" -d "$TMP/s" -j2 --config n="$n" -n --quiet all >"$TMP/sout" 2>&1 </dev/null || rc=$?
    t1=$(now)
    [ "$rc" -gt 128 ] && rc=124
    [ "$rc" = 0 ] || [ "$rc" = 124 ] || warn "snakemake -n $n: $(tail -c 300 "$TMP/sout" | tr '\n' ' ')"
    S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    SHOW=$(printf '%.2f' "$S")
    [ "$rc" = 124 ] && SHOW="> $CAP (stopped)"
    say "  wall s: corral $C | snakemake -n $S"
    PROWS="$PROWS
| $n | $(printf '%.2f' "$C") | $SHOW | $(awk -v a="$S" -v b="$C" -v c="$rc" 'BEGIN { printf "%s%.1f", (c == 124) ? "> " : "", a / b }') |"
  done
fi
# What a fresh page of memory costs here (first touch of an anonymous mapping, minus a second
# touch): memory a run keeps is paid for in CPU at this rate, apart from any work on it.
FAULT_US=$(python3 - <<'PY' 2>/dev/null || echo "?"
import mmap, time
n = 256 << 20
m = mmap.mmap(-1, n)
t0 = time.perf_counter()
for i in range(0, n, 4096): m[i] = 1
t1 = time.perf_counter()
for i in range(0, n, 4096): m[i] = 2
t2 = time.perf_counter()
print("%.1f" % (((t1 - t0) - (t2 - t1)) * 1e6 / (n // 4096)))
PY
)
T_END=$(date +%s)
awk -v a="$LOAD_START" 'BEGIN { exit !(a > 0.7) }' &&
  warn "the machine was busy when this run started (load average $LOAD_START over 1 min, on $(nproc) cores): CPU times per job are inflated by the competition; compare the ratios"

{
cat <<EOF
## Workflows at scale

Produced by \`scripts/bench/workflow.sh\` (run by \`make bench\` after the sections above,
$(date -u '+%Y-%m-%d %H:%M UTC'), $((T_END - T_START)) s, corral $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- lua 2>/dev/null || echo ' (with local changes)'),
1-minute load average $LOAD_START at its start). Each figure is the median of $RUNS runs.

**The scheduler's own cost.** \`corral run scripts/bench/workflow.lua MODE N\`: a workflow of N
no-op \`fn\` jobs, \`jobs = 2\`, with a journal, as parent CPU per job (the script's process,
\`os.clock\`; the workers' CPU is not in it), defining the jobs included. The floor is the same
N no-op tasks on a bare lua pool of 2 (\`pool-fan\`: kept 2 in flight, \`pool-chain\`: one after
another, as a chain's dependencies allow), with INT, TERM and HUP held for the run as
\`wf:run\` holds them (a pool alone gives them back whenever it is idle and takes them again,
seven system calls each time, which the workflow does not pay). "Overhead" is the workflow's CPU minus the floor's:
what scheduling, the journal (a start line and a record per job, encoded in C by
\`core.jsonl\`, written together at most every 2 ms), the bookkeeping and holding every
job's record for the report cost. The second floor, \`pool-keep\`, is \`pool-fan\` keeping
each task's record as the report does: what holding N records costs any script that keeps
its outcomes (the Lua heap grows, the collector marks it, new pages are faulted in: on this
machine a fresh 4 KiB page costs ${FAULT_US} µs of CPU, measured by this run with an
anonymous mapping touched twice). "Beyond holding the records" is the workflow's CPU minus
that floor's. Resume: the fan-out again with \`resume = true\` on the journal it left, so every job is
resumed (the journal read and matched, nothing runs). Memory: Lua heap per job after defining
the jobs / after the run (the report with every record still held).

| N | shape | pool floor µs/job | pool keeping the records µs/job | workflow µs/job | overhead µs/job | beyond holding the records µs/job | KB/job defined / after run |
|---:|---|---:|---:|---:|---:|---:|---|$ROWS

Target: overhead ≤ 20 µs per job at N = 100000 (fan-out + gather): $(eval "v=\${OVF_100000:-}"; if [ -z "$v" ]; then echo "not measured"; else awk -v a="$v" 'BEGIN { print (a + 0 <= 20) ? "met" : "**missed**" }'; echo "($v µs)"; fi).

EOF
if [ -n "$SNAKE" ]; then
cat <<EOF
**Against Snakemake $SNAKE** (Debian's). N shell jobs, each \`echo i > out/i.txt\`, 2 at a time,
wall clock of the whole command including start-up: corral \`corral run
scripts/bench/workflow.lua shell N DIR\` (a workflow of N \`shell\` jobs, \`jobs = 2\`), Snakemake
\`snakemake -j2 --config n=N --quiet all\` on a Snakefile with one rule \`out/{i}.txt\` and
\`all\` asking for the N files (scripts/bench/workflow.sh writes it). Runs of 1000 jobs and more: once.
A Snakemake run still going after $CAP s is stopped (\`WF_SNAKE_LIMIT\`); its time is then
projected from the files it had written, at its rate over those $CAP s.

| N | corral s | corral jobs/s | Snakemake s | Snakemake jobs/s | × Snakemake |
|---:|---:|---:|---:|---:|---:|$SROWS

Planning: \`snakemake -n\` (its dry run: the DAG of the N jobs, nothing runs) against corral
\`wf:plan()\` of the same N shell jobs (\`corral run scripts/bench/workflow.lua plan N DIR\`), wall
clock including start-up, one run each.

| N | corral s | snakemake -n s | × Snakemake |
|---:|---:|---:|---:|$PROWS
EOF
else
  echo "Snakemake: not measured in this run (\`snakemake\` not installed; \`make bench\` installs Debian's)."
fi
if [ -n "$WARN" ]; then
  echo
  echo "Warnings from this run:"
  echo "$WARN"
fi
} >"$TMP/section.md"

# Replace the section (up to the next "## " heading) or add it before "## Warnings" / at the end.
[ -f "$OUT" ] || : >"$OUT"
awk -v sec="$TMP/section.md" '
  function put() { while ((getline l < sec) > 0) print l; print ""; done = 1 }
  /^## Workflows at scale/ { skip = 1; if (!done) put(); next }
  skip && /^## / { skip = 0 }
  skip { next }
  /^## Warnings from this run/ && !done { put() }
  { print }
  END { if (!done) { print ""; put() } }' "$OUT" >"$TMP/doc.md"
cat "$TMP/doc.md" >"$OUT"
say "wrote the Workflows at scale section of $OUT"
