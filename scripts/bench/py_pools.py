"""py_pools.py METHOD...: multiprocessing.Pool(2) per start method, measured like lua_pools.lua.
Prints per method:
  <method> <ready ms> <map tasks/s> <round trip p50 us> <p99 us> <worker Pss kB> <Private_Dirty kB>
ready: from Pool() until both workers have answered a task; memory: the mean of the two
workers' /proc/PID/smaps_rollup once idle; map: pool.map(f, range(20000), chunksize=1) on the
warm pool; then pool.map(f, range(n)) at its defaults for n = 20000 and 1000000 (two more
columns); round trip: 1000 sequential apply_async(f).get() after 100 warm-up ones.
"""
import gc
import multiprocessing
import os
import sys
import time

NMAP, NBIG, NRT, NWARM = 20000, 1000000, 1000, 100


def noop(x):
    return x


def smaps(pid):
    pss = pd = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Private_Dirty:"):
                pd = int(line.split()[1])
    return pss, pd


def bench(method):
    ctx = multiprocessing.get_context(method)
    t0 = time.monotonic()
    pool = ctx.Pool(2)
    pids = set()
    while len(pids) < 2:
        a, b = pool.apply_async(os.getpid), pool.apply_async(os.getpid)
        pids.update((a.get(), b.get()))
    ready = (time.monotonic() - t0) * 1000

    for _ in range(NWARM):
        pool.apply_async(noop, (1,)).get()
    time.sleep(0.3)
    pss = pd = 0.0
    for pid in pids:
        a, b = smaps(pid)
        pss, pd = pss + a / 2, pd + b / 2

    rt = []
    for i in range(NRT):
        t = time.monotonic()
        pool.apply_async(noop, (i,)).get()
        rt.append((time.monotonic() - t) * 1e6)
    rt.sort()

    gc.collect()                    # as the Lua side does before its timed phases (see lua_pools.lua)
    tm = time.monotonic()
    out = pool.map(noop, range(NMAP), chunksize=1)
    tps = NMAP / (time.monotonic() - tm)
    assert len(out) == NMAP and out[-1] == NMAP - 1

    dtps = []                       # map at its defaults (chunks), 20000 and a million items
    for n in (NMAP, NBIG):
        tm = time.monotonic()
        out = pool.map(noop, range(n))
        dtps.append(n / (time.monotonic() - tm))
        assert len(out) == n and out[-1] == n - 1

    pool.close()
    pool.join()
    print("%s %.1f %.0f %.0f %.0f %.0f %.0f %.0f %.0f" % (method, ready, tps, rt[NRT // 2 - 1],
                                                       rt[-(NRT // 100) - 1], pss, pd,
                                                       dtps[0], dtps[1]))


if __name__ == "__main__":
    print("default", multiprocessing.get_start_method(), file=sys.stderr)
    for m in sys.argv[1:]:
        bench(m)
