#!/bin/sh
# A throwaway Slurm cluster on this machine for corral's tests and for users trying the slurm
# launcher: munged, slurmctld and one slurmd per node (several on this one host: Debian's
# slurmd is built with --enable-multiple-slurmd, so `slurmd -N NAME` runs node NAME on its own
# port), with a generated config, everything under DIR.
#
#   scripts/slurm-local.sh up DIR     install what is missing (root), start, wait until idle,
#                                     write DIR/env.sh (source it: it exports SLURM_CONF)
#   scripts/slurm-local.sh down DIR   cancel every job, stop the daemons, remove DIR
#
# Environment: SLURM_LOCAL_AUTH=munge|none (default munge), SLURM_LOCAL_PROCTRACK=cgroup|
# linuxproc|pgid (default cgroup: the only one that leaves no survivor, see docs/slurm.md),
# SLURM_LOCAL_CPUS=N (CPUs of each node; default nproc; more is overcommit), SLURM_LOCAL_NODES=N
# (default 1: one node named after `hostname -s`; N > 1: nodes cPn1..cPnN, P the CTLD_PORT), SLURM_LOCAL_CTLD_PORT
# and SLURM_LOCAL_SLURMD_PORT (default 16817/16818; node i listens on SLURMD_PORT + i - 1; two
# clusters at once need other ports and DIRs).
#   scripts/slurm-local.sh kill-node DIR NODE   the node dies as if powered off: its slurmd, its
#                                     slurmstepds and every process of its steps get SIGKILL
#   scripts/slurm-local.sh start-node DIR NODE  its slurmd again (the node returns to service)
# Needs root (the daemons run as root). Exit status: 0, or 1 with the reason on stderr.
set -u

die() { echo "slurm-local: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $0 up|down DIR, or $0 kill-node|start-node DIR NODE"
cmd=$1
case $2 in /*) dir=$2 ;; *) dir=$PWD/$2 ;; esac
MARK="$dir/.slurm-local"

# kill_pidfile FILE [TICKS]: TERM the daemon named in FILE, KILL it after TICKS x 0.05 s
# (default 200: 10 s).
kill_pidfile() {
  [ -f "$1" ] || return 0
  pid=$(cat "$1" 2>/dev/null)
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -ge "${2:-200}" ] && { kill -KILL "$pid" 2>/dev/null; break; }
    sleep 0.05
  done
}

# stepds: the live slurmstepd processes of this cluster (they run in its log directory).
stepds() {
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = slurmstepd ] || continue
    case $(readlink "$p/cwd" 2>/dev/null) in "$dir"/*) ;; *) continue ;; esac
    grep -q '^State:[[:space:]]*Z' "$p/status" 2>/dev/null || echo "${p#/proc/}"
  done
}

down() {
  [ -f "$MARK" ] || die "$dir was not made by '$0 up' (no marker file); not touching it"
  if [ -f "$dir/slurm.conf" ]; then
    # every job of this cluster, so that steps die now and slurmd has nothing left to wait for
    SLURM_CONF="$dir/slurm.conf" scancel --quiet --full -u root >/dev/null 2>&1
  fi
  # A stepd still finishing when slurmd goes waits for it forever: let them end first (5 s).
  i=0
  while [ -n "$(stepds)" ] && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
  pids=""
  for f in "$dir"/run/slurmd-*.pid "$dir/run/slurmctld.pid"; do
    # 0.5 s: slurmctld takes ~5 s to save a state that `down` removes next, slurmd ~2 s; no
    # step is left for them to wait for (above)
    kill_pidfile "$f" 10 & pids="$pids $!"
  done
  wait $pids
  kill_pidfile "$dir/run/munged.pid"
  for p in $(stepds); do kill -KILL "$p" 2>/dev/null; done
  [ -f "$dir/munge-sockdir" ] && rm -rf "$(cat "$dir/munge-sockdir")"
  rm -rf "$dir"
}

# kill_node NODE: SIGKILL to the node's slurmd, then to its slurmstepds and every process of its
# steps (the node's cgroups, proctrack/cgroup: DIR's slurm_NODE hierarchy), as a power cut would.
kill_node() {
  node=$1
  [ -f "$MARK" ] || die "$dir was not made by '$0 up' (no marker file); not touching it"
  [ -f "$dir/run/slurmd-$node.pid" ] || die "no node '$node' in $dir"
  pid=$(cat "$dir/run/slurmd-$node.pid")
  kill -KILL "$pid" 2>/dev/null
  victims=""
  for c in /sys/fs/cgroup/freezer/slurm_"$node" /sys/fs/cgroup/unified/slurm_"$node" \
           /sys/fs/cgroup/system.slice/"$node"_slurmstepd.scope; do
    [ -d "$c" ] && victims="$victims $(find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null)"
  done
  for p in $victims; do kill -KILL "$p" 2>/dev/null; done
  rm -f "$dir/run/slurmd-$node.pid"
}

# start_node NODE: a node killed by kill-node comes back (ReturnToService=2 makes it usable once
# its slurmd registers).
start_node() {
  [ -f "$MARK" ] || die "$dir was not made by '$0 up' (no marker file); not touching it"
  grep -q "^NodeName=$1 " "$dir/slurm.conf" || die "no node '$1' in $dir"
  [ -f "$dir/run/slurmd-$1.pid" ] && die "node '$1' is running"
  exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
  slurmd -f "$dir/slurm.conf" -N "$1" || die "slurmd -N $1 did not start"
}

up() {
  # The daemons must not inherit the caller's descriptors: the lock of
  # `flock LOCK scripts/slurm-local.sh up DIR` would be held for the cluster's whole life.
  exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
  [ "$(id -u)" = 0 ] || die "needs root (slurmd and slurmctld run as root here)"
  here=$(cd "$(dirname "$0")" && pwd)
  "$here/deps.sh" slurmctld slurmd slurm-client munge || die "cannot install the Slurm packages"
  [ -f "$MARK" ] && die "$dir already holds a cluster (run '$0 down $dir' first)"
  if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)$( [ -d "$dir" ] || echo x)" ]; then
    die "$dir exists and is not an empty directory"
  fi
  auth=${SLURM_LOCAL_AUTH:-munge}
  track=${SLURM_LOCAL_PROCTRACK:-cgroup}
  cpus=${SLURM_LOCAL_CPUS:-$(nproc)}
  cport=${SLURM_LOCAL_CTLD_PORT:-16817}
  dport=${SLURM_LOCAL_SLURMD_PORT:-16818}
  nodes=${SLURM_LOCAL_NODES:-1}
  host=$(hostname -s)
  case $nodes in ''|*[!0-9]*|0) die "SLURM_LOCAL_NODES: a number of nodes (1 or more), got '$nodes'" ;; esac
  if [ "$nodes" = 1 ]; then names=$host; else names=$(seq -f "c${cport}n%g" 1 "$nodes"); fi
  case $auth in munge|none) ;; *) die "SLURM_LOCAL_AUTH: munge or none, got '$auth'" ;; esac
  case $track in cgroup|linuxproc|pgid) ;; *) die "SLURM_LOCAL_PROCTRACK: cgroup, linuxproc or pgid, got '$track'" ;; esac
  mkdir -p "$dir" && touch "$MARK" || die "cannot create $dir"
  chmod 755 "$dir"
  mkdir -p "$dir/run" "$dir/log" "$dir/state" "$dir/spool" "$dir/munge"
  chmod 700 "$dir/munge"
  # munged wants every directory above its socket searchable by all (clients must reach it):
  # DIR may be under a private one (mktemp -d), so the socket lives in a directory of its own.
  sockdir=$(mktemp -d /tmp/slurm-local-munge.XXXXXX) || { down; die "cannot create a munge socket directory"; }
  chmod 755 "$sockdir"
  echo "$sockdir" > "$dir/munge-sockdir"
  authline="AuthType=auth/none
CredType=cred/none"
  if [ "$auth" = munge ]; then
    dd if=/dev/urandom bs=1024 count=1 of="$dir/munge/munge.key" 2>/dev/null
    chmod 600 "$dir/munge/munge.key"
    munged --key-file="$dir/munge/munge.key" --socket="$sockdir/munge.socket" \
      --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
      --seed-file="$dir/munge/munge.seed" || { down; die "munged did not start (see above)"; }
    authline="AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sockdir/munge.socket"
  fi
  cat > "$dir/slurm.conf" <<EOF
# generated by corral's scripts/slurm-local.sh; removed by 'down'
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$cport
SlurmUser=root
SlurmdUser=root
$authline
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
# a node whose slurmd is gone is DOWN after this many seconds (kill-node)
SlurmdTimeout=5
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/$track
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# without these, a job submitted while the last one completes waits ~3 s for the next pass
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
ReturnToService=2
KillWait=2
MinJobAge=300
InactiveLimit=0
SlurmdParameters=config_overrides
EOF
  i=0
  for n in $names; do
    echo "NodeName=$n NodeHostname=$host NodeAddr=127.0.0.1 Port=$((dport + i)) CPUs=$cpus State=UNKNOWN"
    i=$((i + 1))
  done >> "$dir/slurm.conf"
  echo "PartitionName=debug Nodes=$(echo $names | tr ' ' ,) Default=YES MaxTime=INFINITE State=UP" >> "$dir/slurm.conf"
  cat > "$dir/cgroup.conf" <<EOF
CgroupPlugin=autodetect
ConstrainCores=no
ConstrainRAMSpace=no
ConstrainDevices=no
EOF
  printf 'export SLURM_CONF=%s\n' "$dir/slurm.conf" > "$dir/env.sh"
  slurmctld -f "$dir/slurm.conf" -c -i || { down; die "slurmctld did not start; see $dir/log"; }
  for n in $names; do
    mkdir -p "$dir/spool/$n"
    slurmd -f "$dir/slurm.conf" -N "$n" || { down; die "slurmd -N $n did not start"; }
  done
  # 15 s by the clock, not by tries: an sinfo with no slurmctld to answer it waits for its own
  # timeout (10 s), so a slurmctld that died (its port taken) must end the wait at once
  deadline=$(($(date +%s) + 15))
  until [ "$(SLURM_CONF="$dir/slurm.conf" sinfo -h -N -o %t 2>/dev/null | grep -cx idle)" = "$nodes" ]; do
    why=""
    if ! kill -0 "$(cat "$dir/run/slurmctld.pid" 2>/dev/null || echo 0)" 2>/dev/null; then
      why="slurmctld exited"
    elif [ "$(date +%s)" -ge "$deadline" ]; then
      why="the nodes did not become idle within 15 s"
    fi
    if [ -n "$why" ]; then
      log=$(tail -n 5 "$dir/log/slurmctld.log" "$dir"/log/slurmd-*.log 2>&1)
      down
      die "$why; last log lines:
$log"
    fi
    sleep 0.05
  done
}

case $cmd in
  up) up ;;
  down) down ;;
  kill-node) [ $# -eq 3 ] || die "usage: $0 kill-node DIR NODE"; kill_node "$3" ;;
  start-node) [ $# -eq 3 ] || die "usage: $0 start-node DIR NODE"; start_node "$3" ;;
  *) die "usage: $0 up|down DIR, or $0 kill-node|start-node DIR NODE" ;;
esac
