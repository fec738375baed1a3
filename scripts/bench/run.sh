#!/bin/sh
# One benchmark session: corral against a raw posix_spawn loop, xargs, GNU parallel and
# Python's multiprocessing, all measured in this one run, then docs/benchmarks.md is written
# from these numbers. Run it with `make bench` (installs parallel and python3, builds first).
#
# BENCH_RUNS (default 3): runs per measurement; the median is reported.
# BENCH_ONLY="C F" (sections by letter): measure only those and replace only their sections
# in docs/benchmarks.md, each then naming its own run; the other sections stay as they were.
set -eu
ONLY=${BENCH_ONLY:-}
[ -n "$ONLY" ] && set +u     # the sections not measured leave their variables unset
want() { [ -z "$ONLY" ] && return 0; case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
cd "$(dirname "$0")/../.."
HERE=scripts/bench
OUT=docs/benchmarks.md
RUNS=${BENCH_RUNS:-3}
LUA=${CORRAL_LUA:-lua5.4}
# Debian's python3 (what scripts/deps.sh installs), not whatever python3 is first on PATH.
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
export BENCH_PY="$PY"
TMP=$(mktemp -d)
: >"$TMP/costs"; : >"$TMP/py_pools"; : >"$TMP/corral_pools"   # read by the doc even when not measured (BENCH_ONLY)
MARKS=""
cleanup() {
  for d in $MARKS; do "$PY" "$HERE/procs.py" kill "$d" >/dev/null 2>&1 || :; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir -p build/bench
cc -O2 -Wall -Wextra -o build/bench/spawn_loop "$HERE/spawn_loop.c"
cc -O2 -Wall -Wextra -o build/bench/spawn_costs "$HERE/spawn_costs.c"
cc -O2 -Wall -Wextra -o build/bench/pingpong "$HERE/pingpong.c"
SPAWN=build/bench/spawn_loop
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
WARN=""

say() { printf '%s\n' "$*" >&2; }
warn() { say "warning: $*"; WARN="$WARN
- $*"; }
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
maxof() { printf '%s\n' "$@" | sort -g | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || a == "–" || b + 0 == 0) print "–"; else printf "%.2f", a / b }'; }
# at_least VALUE TARGET / at_most VALUE TARGET -> "met", "**missed**" or "not measured"
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || a == "–") print "not measured"; else print (a + 0 >= b + 0) ? "met" : "**missed**" }'; }
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || a == "–") print "not measured"; else print (a + 0 <= b + 0) ? "met" : "**missed**" }'; }

# Every measurement is taken $RUNS times, round-robin over the tools (run 1 of each, then
# run 2 of each, ...), so that a machine getting busier or quieter shifts every tool alike.

# measure KEY N CMD...: one timed run of CMD; appends N / wall-clock seconds (the tool's
# start-up included) to $V_KEY. Its stdout stays in $TMP/out, its stderr in $TMP/err.
measure() {
  key=$1 n=$2; shift 2
  t0=$(now)
  "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || :
  t1=$(now)
  eval "V_$key=\"\${V_$key:-} $(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')\""
}
# vals KEY / med KEY: the runs of KEY, their median
vals() { eval "echo \${V_$1:-}"; }
med() { median $(vals "$1"); }
# mratio KEY BASE: the median over rounds of KEY's run / BASE's run of the same round.
mratio() {
  printf '%s\n%s\n' "$(vals "$1")" "$(vals "$2")" | awk '
    NR == 1 { n = split($0, a, " ") } NR == 2 { split($0, b, " ") }
    END {
      for (i = 1; i <= n; i++) r[i] = (b[i] + 0 > 0) ? a[i] / b[i] : 0
      for (i = 2; i <= n; i++) { x = r[i]; j = i - 1; while (j >= 1 && r[j] > x) { r[j + 1] = r[j]; j-- }; r[j + 1] = x }
      if (n == 0) print "–"; else printf "%.2f", r[int((n + 1) / 2)]
    }'
}
# expect_field3 WANT LABEL: the run printed "<n> <seconds> <count> ..."; check the count.
expect_field3() {
  got=$(awk '{ print $3 }' "$TMP/out")
  [ "$got" = "$1" ] || warn "$2: expected $1 tasks not as wanted, got '${got:-no output}' ($(head -c 300 "$TMP/err" | tr '\n' ' '))"
}
# own_cpu: from the run's "<n> <s> <count> <own µs/task> [<watchdog µs/task>]".
own_cpu() {
  awk '{ if (NF >= 5 && $5 > 0) printf "%s (+%s watchdog)", $4, $5; else if (NF >= 4) print $4; else print "–" }' "$TMP/out"
}

if want A; then
# --- A. launching commands, 2 in flight -------------------------------------------------------
N=5000
NPAR=1000
say "A. launching $N × /bin/true and $N × sh -c 'exit 3', 2 in flight ($RUNS rounds)"
i=0
while [ "$i" -lt "$RUNS" ]; do
  measure RAW $N $SPAWN $N 2 /bin/true; expect_field3 0 "raw loop /bin/true"; C_RAW=$(own_cpu)
  measure EXEC $N scripts/corral run $HERE/launch.lua $N exec capture; expect_field3 0 "corral exec capture"; C_EXEC=$(own_cpu)
  measure EXECN $N scripts/corral run $HERE/launch.lua $N exec null; expect_field3 0 "corral exec null"; C_EXECN=$(own_cpu)
  measure XARGS $N sh -c "seq $N | xargs -P2 -n1 /bin/true"
  measure PAR $NPAR sh -c "seq $NPAR | parallel --will-cite -j2 /bin/true"
  measure RAW3 $N $SPAWN $N 2 /bin/sh -c 'exit 3'; expect_field3 $N "raw loop exit 3"; C3_RAW=$(own_cpu)
  measure SHELL $N scripts/corral run $HERE/launch.lua $N shell capture; expect_field3 0 "corral shell exit 3"; C3_SHELL=$(own_cpu)
  measure SHELLN $N scripts/corral run $HERE/launch.lua $N shell null; expect_field3 0 "corral shell exit 3 null"; C3_SHELLN=$(own_cpu)
  measure XARGS3 $N sh -c "seq $N | xargs -P2 -n1 sh -c 'exit 3'"
  measure PAR3 $NPAR sh -c "seq $NPAR | parallel --will-cite -j2 -N0 'exit 3'"
  measure CPAR $N sh -c "scripts/corral parallel -j2 true ::: \$(seq $N)"
  measure GPAR $NPAR sh -c "parallel --will-cite -j2 true ::: \$(seq $NPAR)"
  measure XPAR $N sh -c "seq $N | xargs -P2 -n1 true"
  i=$((i + 1))
done
A_CPAR=$(med CPAR) A_GPAR=$(med GPAR) A_XPAR=$(med XPAR)
for k in RAW EXEC EXECN XARGS PAR RAW3 SHELL SHELLN XARGS3 PAR3; do say "  $k:$(vals $k) tasks/s"; done
A_RAW=$(med RAW) A_EXEC=$(med EXEC) A_EXECN=$(med EXECN) A_XARGS=$(med XARGS) A_PAR=$(med PAR)
A3_RAW=$(med RAW3) A3_SHELL=$(med SHELL) A3_SHELLN=$(med SHELLN) A3_XARGS=$(med XARGS3) A3_PAR=$(med PAR3)
say "A'. what corral's spawn settings cost in C (spawn_costs, $N launches per variant)"
build/bench/spawn_costs $N >"$TMP/costs" 2>&1 || warn "spawn_costs failed: $(head -c 300 "$TMP/costs")"
cat "$TMP/costs" >&2

fi
if want B; then
# --- B. terminating running process trees -----------------------------------------------------
NT=200
say "B. terminating $NT running 'sleep D & sleep D' trees (median of $RUNS)"
# term TOOL: run it $RUNS times with a fresh marker each; sets B_BEFORE, B_MS (median),
# B_SURV (the most survivors seen); kills whatever survived by pid.
term() {
  tool=$1
  mss=""; survs=""; B_BEFORE=0
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    d="300.$$$i$(date +%N | cut -c1-4)"
    MARKS="$MARKS $d"
    # to a file, not a pipe: a survivor holding a pipe open would make us wait for it
    if [ "$tool" = corral ]; then
      scripts/corral run $HERE/terminate.lua $NT "$d" >"$TMP/res" 2>"$TMP/err" </dev/null || :
    else
      (cd $HERE && exec "$PY" term_peers.py "$tool" $NT "$d") >"$TMP/res" 2>"$TMP/err" </dev/null || :
    fi
    set -- $(cat "$TMP/res")
    if [ $# -ne 3 ]; then
      warn "terminate with $tool failed: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
      set -- 0 0 0
    fi
    say "  $tool: $1 processes, $2 ms, $3 survivors"
    B_BEFORE=$(maxof $B_BEFORE $1); mss="$mss $2"; survs="$survs $3"
    "$PY" "$HERE/procs.py" kill "$d" >/dev/null
    i=$((i + 1))
  done
  B_MS=$(median $mss)
  B_SURV=$(maxof $survs)
}
term corral;   B_C_BEFORE=$B_BEFORE B_C_MS=$B_MS B_C_SURV=$B_SURV
term mp;       B_M_BEFORE=$B_BEFORE B_M_MS=$B_MS B_M_SURV=$B_SURV
term xargs;    B_X_BEFORE=$B_BEFORE B_X_MS=$B_MS B_X_SURV=$B_SURV
term parallel; B_P_BEFORE=$B_BEFORE B_P_MS=$B_MS B_P_SURV=$B_SURV

fi
# --- C. Lua function pools ----------------------------------------------------------------------
HAVE_CODEC=no
if "$LUA" -e 'package.cpath="build/?.so;;" os.exit(type(require("corral.core").encode) == "function")' 2>/dev/null; then
  HAVE_CODEC=yes
fi
# medians FILE: lines "<method> <6 numbers>" (several runs) or "<method> unavailable …" ->
# one line per method with the per-column medians, in order of first appearance.
medians() {
  awk '
    $2 == "unavailable" { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }; una[$1] = $0; next }
    NF >= 7 { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
              nf[$1] = NF; k = ++cnt[$1]; for (c = 2; c <= NF; c++) v[$1, c, k] = $c }
    END {
      for (j = 1; j <= n; j++) {
        m = order[j]
        if (!(m in cnt)) { print una[m]; continue }
        line = m
        for (c = 2; c <= nf[m]; c++) {
          for (a = 1; a <= cnt[m]; a++) s[a] = v[m, c, a]          # insertion sort
          for (a = 2; a <= cnt[m]; a++) { x = s[a]; b = a - 1
            while (b >= 1 && s[b] + 0 > x + 0) { s[b + 1] = s[b]; b-- } ; s[b + 1] = x }
          line = line " " s[int((cnt[m] + 1) / 2)]
        }
        print line
      }
    }' "$1"
}
# pool_run FILE CMD...: one run, its output appended to FILE; a failure becomes a warning.
pool_run() {
  f=$1; shift
  "$@" >>"$f" 2>"$TMP/err" || warn "$*: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
}
if [ "$HAVE_CODEC" = yes ] && want C; then
  say "C. lua pools, 2 workers ($RUNS rounds)"
  : >"$TMP/corral_runs"; : >"$TMP/py_runs"
  p50s=""; p99s=""
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    # one process per start method, so a fork worker is a fork of a fresh parent
    for m in spawn fork forkserver; do pool_run "$TMP/corral_runs" scripts/corral run $HERE/lua_pools.lua $m; done
    for m in fork spawn forkserver; do pool_run "$TMP/py_runs" sh -c "cd $HERE && exec '$PY' py_pools.py $m"; done
    # the floor: a round trip between two C processes over pipes
    set -- $(build/bench/pingpong 1000 || :) - -
    p50s="$p50s $1"; p99s="$p99s $2"
    i=$((i + 1))
  done
  cat "$TMP/corral_runs" "$TMP/py_runs" >&2
  say "  C pipe ping-pong p50:$p50s p99:$p99s µs"
  medians "$TMP/corral_runs" >"$TMP/corral_pools"
  medians "$TMP/py_runs" >"$TMP/py_pools"
  for m in spawn fork forkserver; do
    grep -q "^$m " "$TMP/corral_pools" || echo "$m failed: see the warnings" >>"$TMP/corral_pools"
    grep -q "^$m " "$TMP/py_pools" || echo "$m failed: see the warnings" >>"$TMP/py_pools"
  done
  PP50=$(median $p50s) PP99=$(median $p99s)
elif want C; then
  say "lua pools: skipped (no codec)"
fi
# --- E. the Slurm launcher: steps on a throwaway single-node cluster (root only) ------------------
: >"$TMP/slurm.md"
SLURM_SKIP=""
if ! want E; then SLURM_SKIP="not measured (BENCH_ONLY)"
elif [ "$(id -u)" != 0 ]; then SLURM_SKIP="needs root (scripts/slurm-local.sh starts the daemons)"
elif ! command -v slurmctld >/dev/null; then SLURM_SKIP="Slurm is not installed (make deps)"
else
  say "E. slurm launcher (scripts/bench/slurm.sh 200 3 2000)"
  scripts/bench/slurm.sh 200 3 2000 >"$TMP/slurm.md" 2>"$TMP/slurm.err" ||
    { SLURM_SKIP="scripts/bench/slurm.sh failed: $(tail -c 300 "$TMP/slurm.err" | tr '\n' ' ')"
      warn "$SLURM_SKIP"; : >"$TMP/slurm.md"; }
fi
if want F; then
# --- F. start-up: what corral costs before it does any work ---------------------------------------
say "F. start-up (scripts/bench/startup.py $RUNS)"
"$PY" $HERE/startup.py "$RUNS" >"$TMP/startup.md" 2>"$TMP/startup.err" ||
  { warn "scripts/bench/startup.py failed: $(tail -c 300 "$TMP/startup.err" | tr '\n' ' ')"; : >"$TMP/startup.md"; }
fi
if want G; then
# --- G. corral parallel --pipe beside GNU parallel --pipe -----------------------------------------
say "G. --pipe throughput (scripts/bench/pipe.sh $RUNS 30)"
$HERE/pipe.sh "$RUNS" 30 >"$TMP/pipe.md" 2>"$TMP/pipe.err" ||
  { warn "scripts/bench/pipe.sh failed: $(tail -c 300 "$TMP/pipe.err" | tr '\n' ' ')"; : >"$TMP/pipe.md"; }
[ -s "$TMP/pipe.err" ] && warn "$(head -c 300 "$TMP/pipe.err" | tr '\n' ' ')"
fi
if want H; then
# --- H. cgroup mode and limits: launch rates and cancel with an escapee ---------------------------
say "H. cgroup mode (scripts/corral run scripts/bench/cgroup.lua 1000 $RUNS)"
scripts/corral run $HERE/cgroup.lua 1000 "$RUNS" >"$TMP/cgroup.md" 2>"$TMP/cgroup.err" ||
  { warn "scripts/bench/cgroup.lua failed: $(tail -c 300 "$TMP/cgroup.err" | tr '\n' ' ')"; : >"$TMP/cgroup.md"; }
fi
if want I; then
# --- I. corral report and corral status on large journals ----------------------------------------
say "I. corral report (scripts/bench/report.sh $RUNS 20000 100000)"
$HERE/report.sh "$RUNS" 20000 100000 >"$TMP/report.md" 2>"$TMP/report.err" ||
  { warn "scripts/bench/report.sh failed: $(tail -c 300 "$TMP/report.err" | tr '\n' ' ')"; : >"$TMP/report.md"; }
fi
T_END=$(date +%s)
LOAD_END=$(cut -d' ' -f1 /proc/loadavg)
awk -v a="$LOAD_START" 'BEGIN { exit !(a > 0.7) }' &&
  warn "the machine was busy when this run started (load average $LOAD_START over 1 min, on $(nproc) cores): other work competed with every tool and the numbers are less reliable than usual"

# --- D. docs/benchmarks.md ----------------------------------------------------------------------
# col FILE METHOD COLUMN: one median from the pools results (2 = ready ms … 7 = Private_Dirty).
col() { awk -v m="$2" -v c="$3" '$1 == m && NF >= 7 && $2 ~ /^[0-9.]+$/ { print $c }' "$1"; }
mb() { awk -v k="$1" 'BEGIN { if (k == "") print "–"; else printf "%.1f", k / 1024 }'; }

{
cat <<EOF
# Benchmarks

Produced by \`make bench\` (scripts/bench/run.sh), which rewrites this file: every number below
comes from one run on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, Linux $(uname -r),
$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), corral $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- engine lua 2>/dev/null || echo ' (with local changes)'),
$("$LUA" -v 2>&1 | awk '{ print $1, $2 }'), $("$PY" -V 2>&1), GNU parallel $(parallel --will-cite --version 2>/dev/null | awk 'NR == 1 { print $3 }').
The session took $((T_END - T_START)) s; the 1-minute load average was $LOAD_START at its start and
$LOAD_END at its end (it includes this run's own work). Absolute figures drift from run to run on a
shared VM: compare the ratios, which were measured side by side.
Each figure is the median of $RUNS runs, taken round-robin over the tools; a ratio is the
median of the ratios within each round. Launch rates are wall clock including each tool's
start-up.

## A. Launching commands, 2 in flight

$N × \`/bin/true\` (GNU parallel: $NPAR), 2 at a time. corral: \`corral.pool{ executor = "exec",
size = 2 }\`, submit \`{ "/bin/true" }\` $N times, \`join\`; the default captures stdout and
stderr through pipes, the \`null\` row sends them to /dev/null. The raw loop is
scripts/bench/spawn_loop.c: posix_spawn, 2 in flight, waitpid on its own pids.

| tool | tasks/s | × raw loop | own CPU µs/task |
|---|---:|---:|---:|
| raw C loop, posix_spawn | $A_RAW | 1.00 | $C_RAW |
| corral exec pool (stdout/stderr captured, the default) | $A_EXEC | $(mratio EXEC RAW) | $C_EXEC |
| corral exec pool (stdout/stderr = "null") | $A_EXECN | $(mratio EXECN RAW) | $C_EXECN |
| xargs -P2 -n1 | $A_XARGS | $(mratio XARGS RAW) | |
| GNU parallel -j2 ($NPAR jobs) | $A_PAR | $(mratio PAR RAW) | |

The same with \`sh -c 'exit 3'\` (corral: a shell pool running \`exit 3\`; every task ends
\`failed\`, code 3):

| tool | tasks/s | × raw loop | own CPU µs/task |
|---|---:|---:|---:|
| raw C loop, posix_spawn \`/bin/sh -c 'exit 3'\` | $A3_RAW | 1.00 | $C3_RAW |
| corral shell pool (captured) | $A3_SHELL | $(mratio SHELL RAW3) | $C3_SHELL |
| corral shell pool (stdout/stderr = "null") | $A3_SHELLN | $(mratio SHELLN RAW3) | $C3_SHELLN |
| xargs -P2 -n1 sh -c 'exit 3' | $A3_XARGS | $(mratio XARGS3 RAW3) | |
| GNU parallel -j2 ($NPAR jobs) | $A3_PAR | $(mratio PAR3 RAW3) | |

Target: corral ≥ 0.85× the raw loop — exec pool $(at_least "$(mratio EXEC RAW)" 0.85) ($(mratio EXEC RAW)×),
shell pool $(at_least "$(mratio SHELL RAW3)" 0.85) ($(mratio SHELL RAW3)×).
On 2 cores the raw loop is the ceiling: the kernel's fork/exec/exit/reap of a tiny process.
Whatever a pool adds per task (a process group, pipes and their epoll registrations, a pidfd,
a record, the Lua bookkeeping) shows directly as the gap to 1.00, because with 2 commands in
flight on 2 cores the pool's own CPU time (the last column: its process only, from the last
of the runs; the commands' time is not in it) is taken from the commands. xargs adds little
per task, GNU parallel a perl and a shell per job.

### A'. What the spawn settings cost, without corral

scripts/bench/spawn_costs.c adds corral's spawn settings to the raw loop one at a time
(cumulative, $N × \`/bin/true\`, 2 in flight, rounds interleaved; "µs per launch" is the
parent's time in posix_spawn and the calls around it, which includes the vfork child's work
up to its exec):

| variant (cumulative) | tasks/s | × plain | µs per launch |
|---|---:|---:|---:|
$(awk 'NR == 1 { base = $2 } NF == 3 { d["plain"] = "posix_spawn only (the raw loop)"; d["pgroup"] = "+ a process group (SETPGROUP)"; d["sigmask"] = "+ empty signal mask (SETSIGMASK)"; d["pipes"] = "+ stdout, stderr to pipes, closefrom(3)"; d["pidfd"] = "+ pidfd_open"; d["sigdef"] = "+ SETSIGDEF of every signal (64 sigactions in the child)"
  printf "| %s | %s | %.2f | %s |\n", ($1 in d) ? d[$1] : $1, $2, $2 / base, $3 }' "$TMP/costs")

The settings themselves cost a few percent; the rest of the gap between corral and the raw
loop is the pool's own per-task work in its process.

### The command line: \`corral parallel -j2 true ::: \$(seq $N)\`

GNU parallel's own job ($NPAR jobs for it), and xargs (\`seq $N | xargs -P2 -n1 true\`), in the
same rounds. corral and GNU parallel run \`true\` through \`/bin/sh -c\`; xargs execs \`true\`.

| tool | tasks/s | × GNU parallel |
|---|---:|---:|
| corral parallel -j2 | $A_CPAR | $(ratio "$A_CPAR" "$A_GPAR") |
| GNU parallel -j2 | $A_GPAR | 1.00 |
| xargs -P2 -n1 | $A_XPAR | $(ratio "$A_XPAR" "$A_GPAR") |

## B. Terminating $NT running process trees

$NT tasks \`sh -c 'sleep D & sleep D'\` (D unique to the run; 3 processes each) are started
and all their sleeps seen running; then the tool is stopped and timed until the call
returns. Survivors: live processes of the trees right after it returned (zombies do not
count; the worst of $RUNS runs). scripts/bench/procs.py finds them by D and kills them after.

| tool and action | processes before | ms (median) | survivors |
|---|---:|---:|---:|
| corral shell pool (size $NT), \`pool:terminate()\` | $B_C_BEFORE | $B_C_MS | $B_C_SURV |
| Python multiprocessing.Pool($NT) + os.system, \`terminate()\` | $B_M_BEFORE | $B_M_MS | $B_M_SURV |
| xargs -P$NT -n1, SIGTERM to xargs | $B_X_BEFORE | $B_X_MS | $B_X_SURV |
| GNU parallel -j$NT, SIGTERM to parallel | $B_P_BEFORE | $B_P_MS | $B_P_SURV |

Target: corral < 200 ms and 0 survivors — time $(at_most "$B_C_MS" 199.999), survivors $(at_most "$B_C_SURV" 0).
mp.Pool and xargs return in milliseconds because they only signal the processes they started
themselves (the pool's workers, xargs itself): every shell and sleep lives on, reparented.
GNU parallel ends whole jobs (each has its own process group) and waits for them to be
reaped$(awk -v s="$B_P_SURV" 'BEGIN { if (s > 0) printf "; in some runs it exited early, leaving jobs behind" }'). corral signals each task's
process group (TERM, then KILL after 200 ms for what ignores it) and returns once every
group is gone.
EOF

echo
echo "## C. Lua function pools, 2 workers"
echo
if [ "$HAVE_CODEC" = yes ]; then
  C=$TMP/corral_pools P=$TMP/py_pools
  PMAP=$(col "$P" fork 3) PRT=$(col "$P" fork 4) PD20=$(col "$P" fork 8) PD1M=$(col "$P" fork 9)
cat <<EOF
corral: \`corral.pool{ executor = "lua", size = 2, start = … }\` (scripts/bench/lua_pools.lua);
Python: \`multiprocessing.get_context(method).Pool(2)\` (scripts/bench/py_pools.py; fork is
the default start method of Debian's python3). ready: from creating the pool until both
workers have answered a task; map at defaults: \`pool:map(f, list)\` / \`pool.map(f, range(n))\`
of n no-op items on the warm pool, both chunked by default (corral's "auto" chunks,
Python's \`len / (4 * workers)\`); one task per item: 20000 no-op items with
\`{ chunksize = 1 }\` / \`chunksize=1\`; round trip: 1000 sequential
\`pool:submit(f, i):result()\` / \`apply_async(f, (i,)).get()\` after 100 warm-up ones; memory:
/proc/PID/smaps_rollup of an idle worker (mean of the two). Ratios are against Python's
mp.Pool with fork.

| pool | ready ms | map at defaults, 20000 items/s | × Python fork | map at defaults, 1M items/s | × Python fork | one task per item, tasks/s | × Python fork | round trip p50 / p99 µs | p50 × Python fork | worker Pss / Private_Dirty MB |
|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|
EOF
  for f in "corral:$C" "Python mp.Pool:$P"; do
    label=${f%%:*} file=${f#*:}
    while read -r m a b c d e g h j; do
      if [ "$a" = unavailable ]; then
        echo "| $label $m | not available: $b $c $d $e $g | | | | | | | | | |"
      elif [ "$a" = failed: ]; then
        echo "| $label $m | failed: $(echo "$b $c $d $e $g" | tr '|' '/') | | | | | | | | | |"
      else
        echo "| $label $m | $a | $h | $(ratio "$h" "$PD20") | $j | $(ratio "$j" "$PD1M") | $b | $(ratio "$b" "$PMAP") | $c / $d | $(ratio "$c" "$PRT") | $(mb "$e") / $(mb "$g") |"
      fi
    done <"$file"
  done
  echo "| floor: C ping-pong over two pipes, no pool (scripts/bench/pingpong.c) | | | | | | | | $PP50 / $PP99 | $(ratio "$PP50" "$PRT") | |"
  CMAP=$(col "$C" spawn 3) CRT=$(col "$C" spawn 4)
  CMAPF=$(col "$C" fork 3) CRTF=$(col "$C" fork 4)
  CD20=$(col "$C" spawn 8) CD1M=$(col "$C" spawn 9)
  CD20F=$(col "$C" fork 8) CD1MF=$(col "$C" fork 9)
cat <<EOF

Targets: map at defaults ≥ 1× Python's default map — 20000 items: spawn $(at_least "$(ratio "$CD20" "$PD20")" 1) ($(ratio "$CD20" "$PD20")×), fork $(at_least "$(ratio "$CD20F" "$PD20")" 1) ($(ratio "$CD20F" "$PD20")×); 1M items: spawn $(at_least "$(ratio "$CD1M" "$PD1M")" 1) ($(ratio "$CD1M" "$PD1M")×), fork $(at_least "$(ratio "$CD1MF" "$PD1M")" 1) ($(ratio "$CD1MF" "$PD1M")×);
one task per item ≥ 2× Python's chunksize=1 — spawn $(at_least "$(ratio "$CMAP" "$PMAP")" 2) ($(ratio "$CMAP" "$PMAP")×), fork $(at_least "$(ratio "$CMAPF" "$PMAP")" 2) ($(ratio "$CMAPF" "$PMAP")×);
round-trip p50 ≤ 0.5× Python's — spawn $(at_most "$(ratio "$CRT" "$PRT")" 0.5) ($(ratio "$CRT" "$PRT")×), fork $(at_most "$(ratio "$CRTF" "$PRT")" 0.5) ($(ratio "$CRTF" "$PRT")×).
The map rates are what a pool moves per second when items cost nothing: at defaults, both
tools send items in chunks (corral still gives each item its own value or error, times and
journal line: docs/api.md, "chunks"); one task per item is encoding, the pipe write and read,
the wake-ups and the bookkeeping per task. The round trip is one task with
nothing else in flight: two process wake-ups (the floor row: what they cost between two C
processes) plus what the pool does per task on both sides. "ready" is start-up cost (a fresh interpreter
for spawn, a fork of the parent for fork); the memory columns are what each idle worker
costs the machine (Pss) and what it owns alone (Private_Dirty).
EOF
else
cat <<EOF
lua pools: skipped (no codec). \`corral.core.encode\` was not in this build, so the Lua
function pools (executor = "lua") could not run; scripts/bench/lua_pools.lua and
scripts/bench/py_pools.py are ready and run as soon as it is.
EOF
fi
cat <<EOF

## E. Slurm launcher

\`scripts/bench/slurm.sh 200 3 2000\` (run by make bench as root: it brings up a throwaway
cluster of 3 nodes on this machine with scripts/slurm-local.sh, 80 CPUs per node
overcommitted on the cores, and takes it down). Steps: 200 \`true\` tasks per measurement;
each corral step is \`srun --exact\` + the corral shim (a \`lua5.4\` on the node that reports
exact outcomes, docs/slurm.md) + the command. Agents: 2000 \`true\` tasks through
\`slurm = { agents = true }\` (one agent step per node, tasks over its stdio, docs/slurm.md)
against a local exec pool and a pool of steps in the same run. Median of 3 runs alternating
between the tools; corral's rates include \`salloc\`, the agents' start and the release at
\`<close>\`.

EOF
  if [ -n "$SLURM_SKIP" ]; then echo "Not measured in this run: $SLURM_SKIP."
  else cat "$TMP/slurm.md"; fi
# section TITLE FILE: a section that one script's output fills
section() {
  echo; echo "## $1"; echo
  if [ -s "$2" ]; then cat "$2"; else echo "Not measured in this run: see the warnings."; fi
}
section "F. Start-up" "$TMP/startup.md"
section "G. \`corral parallel --pipe\` throughput" "$TMP/pipe.md"
section "H. Cgroup mode" "$TMP/cgroup.md"
section "I. \`corral report\` and \`corral status\` on large journals" "$TMP/report.md"
if [ -n "$WARN" ]; then
  echo
  echo "## Warnings from this run"
  echo "$WARN"
fi
} >"$TMP/doc.md"
if [ -z "$ONLY" ]; then
  cat "$TMP/doc.md" >"$OUT"
  say "wrote $OUT ($((T_END - T_START)) s of measuring)"
  sed -n '/^## A/,$p' "$OUT"
  exit 0
fi
# BENCH_ONLY: each section measured replaces its namesake ("## X." up to the next "## "), with
# a line naming this run; everything else in the file stays.
for x in $ONLY; do
  awk -v x="$x" '$0 ~ "^## " x "[.]" { on = 1; print; next } on && /^## / { on = 0 } on' "$TMP/doc.md" >"$TMP/sec.md"
  [ -s "$TMP/sec.md" ] || { warn "no section $x in this run"; continue; }
  { head -n 1 "$TMP/sec.md"
    printf '\n*This section alone: `BENCH_ONLY=%s scripts/bench/run.sh` on %s, corral %s, median of %s runs; load average %s at its start, %s at its end.*\n' \
      "$x" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$RUNS" "$LOAD_START" "$LOAD_END"
    tail -n +2 "$TMP/sec.md"; } >"$TMP/new.md"
  awk -v x="$x" -v f="$TMP/new.md" '
    $0 ~ "^## " x "[.]" { while ((getline l < f) > 0) print l; skip = 1; next }
    skip && /^## / { skip = 0 }
    !skip' "$OUT" >"$TMP/out.md"
  cat "$TMP/out.md" >"$OUT"
  say "replaced section $x of $OUT"
done
