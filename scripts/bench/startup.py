"""startup.py [RUNS] [REPS]: what corral costs before it does any work.

Run from the checkout root (make bench runs it through scripts/bench/run.sh, which puts its
output in docs/benchmarks.md as section "F. Start-up"). Prints that section in Markdown.

Every command is started REPS times per round (posix_spawn, then wait4 for its rusage), the
commands round-robin, RUNS rounds; a figure is the median over the rounds of the mean wall
time (and CPU time, user + system, of the process and the children it waited for) per start.
A ratio is the median over the rounds of the two commands' means in that round.

`require "corral"`'s own CPU time is measured inside fresh processes (os.clock() around the
require), so the interpreter's start and exit are not in it; the modules it loaded are
counted from package.loaded.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 40
LUA = os.environ.get("CORRAL_LUA", "lua5.4")
ROOT = os.getcwd()
ENV = dict(os.environ)
ENV["LUA_PATH"] = "%s/lua/?.lua;%s/lua/?/init.lua;;" % (ROOT, ROOT)
ENV["LUA_CPATH"] = "%s/build/?.so;;" % ROOT
CORRAL = os.path.join(ROOT, "scripts/corral")
# The command as `make install` writes it (#! the interpreter's absolute path, no `env`): put
# in a temporary prefix from the checkout's build.
PREFIX = tempfile.mkdtemp(prefix="corral-startup.")
subprocess.run(["make", "-s", "install", "PREFIX=" + PREFIX], check=True, stdout=subprocess.DEVNULL)
INSTALLED = os.path.join(PREFIX, "bin/corral")

ONE = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
ONE.write("""-- one task: the smallest useful corral script
local corral = require "corral"
local pool <close> = corral.pool{ executor = "exec", size = 1 }
assert(pool:submit{ "true" }:wait().status == "ok")
""")
ONE.close()
DEVNULL = os.open(os.devnull, os.O_RDWR)


def which(prog):
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, prog)
        if os.access(p, os.X_OK):
            return p
    return prog


# name -> argv; the first of a pair is corral's, the second its peer
CMDS = {
    "bare": [which(LUA), "-e", ""],
    "require": [which(LUA), "-e", "require 'corral'"],
    # the floor of any one-command script: the interpreter and one more process
    "execute": [which(LUA), "-e", "os.execute('true')"],
    "one_lua": [which(LUA), ONE.name],
    "one_run": [CORRAL, "run", ONE.name],
    "one_inst": [INSTALLED, "run", ONE.name],
    "par": [CORRAL, "parallel", "true", ":::", "1"],
    "par_inst": [INSTALLED, "parallel", "true", ":::", "1"],
    "xargs": ["/bin/sh", "-c", "echo 1 | xargs -n1 true"],
}


def once(argv):
    """One start: (wall seconds, CPU seconds of it and its waited-for children), or None."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, ENV, file_actions=[
        (os.POSIX_SPAWN_DUP2, DEVNULL, 0), (os.POSIX_SPAWN_DUP2, DEVNULL, 1)])
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    return wall, ru.ru_utime + ru.ru_stime


def require_cpu():
    """In a fresh process: (ms of CPU for require "corral", modules it loaded)."""
    code = ("local n0 = 0 for _ in pairs(package.loaded) do n0 = n0 + 1 end "
            "local c = os.clock() require 'corral' local dt = os.clock() - c "
            "local n = 0 for _ in pairs(package.loaded) do n = n + 1 end "
            "io.write(dt * 1000, ' ', n - n0)")
    out = subprocess.run([LUA, "-e", code], env=ENV, capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), int(out[1])


LOAD0 = os.getloadavg()[0]
STARTED = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
walls = {k: [] for k in CMDS}
cpus = {k: [] for k in CMDS}
req_ms, nmods = [], 0
failed = set()
for _ in range(RUNS):
    for name, argv in CMDS.items():
        w = c = 0.0
        for _ in range(REPS):
            r = once(argv)
            if r is None:
                failed.add(name)
                break
            w += r[0]
            c += r[1]
        walls[name].append(w / REPS * 1000)
        cpus[name].append(c / REPS * 1000)
    rs = []
    for _ in range(REPS):
        ms, nmods = require_cpu()
        rs.append(ms)
    req_ms.append(statistics.mean(rs))
os.unlink(ONE.name)
shutil.rmtree(PREFIX)
if failed:
    sys.stderr.write("startup.py: failed: %s\n" % " ".join(sorted(failed)))
    sys.exit(1)


def med(k, d=walls):
    return statistics.median(d[k])


def ratio(a, b):
    return statistics.median(x / y for x, y in zip(walls[a], walls[b]))


def verdict(ok):
    return "met" if ok else "**missed**"


REQ = statistics.median(req_ms)
R_ONE = ratio("one_run", "bare")
R_PAR = ratio("par", "xargs")
R_ONE_I = ratio("one_inst", "bare")
R_FLOOR = ratio("execute", "bare")
R_ONE_F = ratio("one_inst", "execute")
R_PAR_I = ratio("par_inst", "xargs")
rows = [
    ("`%s -e ''` (bare interpreter)" % LUA, "bare", "bare"),
    ("`%s -e 'require \"corral\"'`" % LUA, "require", "bare"),
    ("`%s -e 'os.execute(\"true\")'` (one command, no corral)" % LUA, "execute", "bare"),
    ("`%s one.lua` (one task, no wrapper)" % LUA, "one_lua", "bare"),
    ("`scripts/corral run one.lua` (one task, checkout)", "one_run", "bare"),
    ("`corral run one.lua` (one task, installed)", "one_inst", "bare"),
    ("`scripts/corral parallel true ::: 1` (checkout)", "par", "xargs"),
    ("`corral parallel true ::: 1` (installed)", "par_inst", "xargs"),
    ("`sh -c 'echo 1 \\| xargs -n1 true'`", "xargs", "xargs"),
]
LOAD1 = os.getloadavg()[0]
print("""Measured %s; 1-minute load average %.2f at the start, %.2f at the end (the machine
is shared: compare rows of one run, not runs).

one.lua is the smallest useful script: `corral.pool{ executor = "exec", size = 1 }`, submit
`{ "true" }`, wait for its record, close the pool. Each command was started %d times per
round, %d rounds (scripts/bench/startup.py %d %d); wall and CPU (user + system of the
process and the children it waited for) are per start, the ratio is against the peer in the
last column, within each round.

| command | ms wall | ms CPU | × peer | peer |
|---|---:|---:|---:|---|""" % (STARTED, LOAD0, LOAD1, REPS, RUNS, RUNS, REPS))
for label, k, peer in rows:
    print("| %s | %.2f | %.2f | %.2f | %s |" % (label, med(k), med(k, cpus), ratio(k, peer),
                                                "bare interpreter" if peer == "bare" else "xargs"))
print("""
`require "corral"` alone: %.2f ms of CPU inside the process (os.clock() around the
require, mean of %d fresh processes, median of the rounds), %d modules loaded.

The checkout's `scripts/corral` starts as `#!/usr/bin/env lua5.4` (one `env` process more);
the installed `corral` (`make install`, here into a temporary prefix) names the interpreter's
absolute path.

Targets: `require "corral"` ≤ 1.5 ms CPU — %s (%.2f ms); a one-task `corral run` script
≤ 2× the bare interpreter — %s (installed %.2f×, checkout %.2f×); `corral parallel true ::: 1`
≤ 1× xargs — %s (installed %.2f×, checkout %.2f×).

The floor of a one-task script: the bare interpreter plus one process, `os.execute("true")`,
is %.2f× the bare interpreter here; the installed one-task `corral run` is %.2f× that floor.
What corral adds over that floor: the engine (`corral/core.so`), 17 modules (about 60 KB of
bytecode, read from `corral/modules.pack` and undumped), the pool and its loop (an epoll fd, a
timerfd, a signalfd), and at the first task the lifeline (a memfd, a pipe, and its watchdog,
whose exec the script does not wait for).""" % (
    REQ, REPS, nmods, verdict(REQ <= 1.5), REQ, verdict(R_ONE_I <= 2), R_ONE_I, R_ONE,
    verdict(R_PAR_I <= 1), R_PAR_I, R_PAR, R_FLOOR, R_ONE_F))
