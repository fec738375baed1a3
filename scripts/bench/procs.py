"""procs.py: find the processes of a benchmark's trees by a marker.

A tree is `sh -c 'sleep D & sleep D'` with D a duration unique to the run (e.g. 300.4242). A
process belongs to it when it is alive (not a zombie), its name is a shell or sleep, and its
command line contains "sleep D". The tools that run the trees (lua5.4, python3, xargs, perl)
are never counted, whatever their arguments.

  procs.py count D            prints "<processes> <sleeps>"
  procs.py wait D NSLEEP [S]  waits until NSLEEP sleeps run (at most S seconds, default 30)
  procs.py kill D             SIGKILLs every such process by pid, prints how many
"""
import os
import signal
import sys
import time

NAMES = {"sh", "dash", "bash", "sleep"}


def find(d):
    needle = "sleep " + d
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            state = stat[stat.rindex(")") + 2]
            if state == "Z" or comm not in NAMES:
                continue
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if needle in cmd:
            out.append((int(name), comm))
    return out


def count(d):
    ps = find(d)
    return len(ps), sum(1 for _, c in ps if c == "sleep")


def wait(d, nsleep, seconds=30.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n, s = count(d)
        if s >= nsleep:
            return n, s
        time.sleep(0.02)
    return count(d)


def kill(d):
    n = 0
    for _ in range(3):
        ps = find(d)
        if not ps:
            break
        for pid, _ in ps:
            try:
                os.kill(pid, signal.SIGKILL)
                n += 1
            except OSError:
                pass
        time.sleep(0.05)
    return n


if __name__ == "__main__":
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "count":
        print("%d %d" % count(d))
    elif cmd == "wait":
        secs = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
        print("%d %d" % wait(d, int(sys.argv[3]), secs))
    elif cmd == "kill":
        print(kill(d))
    else:
        sys.exit("usage: procs.py count|wait|kill D ...")
