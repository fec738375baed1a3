"""term_peers.py TOOL N D: N running `sh -c 'sleep D & sleep D'` trees under TOOL, then stop
TOOL the way its users do and time it. Prints "<processes before> <ms> <survivors>".

  mp        multiprocessing.Pool(N) running os.system(tree) per task; pool.terminate()
  xargs     xargs -P N -n1 sh -c tree; SIGTERM to xargs, until it has exited
  parallel  GNU parallel -j N -N0 tree; SIGTERM to parallel, until it has exited

Survivors are counted right after the call returns (zombies do not count); run.sh kills them.
"""
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import procs


def tree(d):
    return "sleep %s & sleep %s" % (d, d)


def run_tree(d):
    os.system(tree(d))


def main():
    tool, n, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    # Whatever survives must not hold our caller's stdout open (it would wait for the sleeps):
    # the result goes to a private (close-on-exec) copy, every child gets /dev/null.
    result = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    if tool == "mp":
        pool = multiprocessing.Pool(n)
        pool.map_async(run_tree, [d] * n, chunksize=1)
        before, _ = procs.wait(d, 2 * n)
        t0 = time.monotonic()
        pool.terminate()
        ms = (time.monotonic() - t0) * 1000
    else:
        if tool == "xargs":
            argv = ["xargs", "-P", str(n), "-n1", "sh", "-c", tree(d)]
            stdin = subprocess.PIPE
        else:
            argv = ["parallel", "--will-cite", "-j", str(n), "-N0", tree(d)]
            stdin = subprocess.PIPE
        p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL)
        p.stdin.write(("x\n" * n).encode())
        p.stdin.close()
        before, _ = procs.wait(d, 2 * n, 60)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait()
        ms = (time.monotonic() - t0) * 1000
    survivors, _ = procs.count(d)
    print("%d %.1f %d" % (before, ms, survivors), file=result)


if __name__ == "__main__":
    main()
