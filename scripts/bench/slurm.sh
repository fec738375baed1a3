#!/bin/sh
# The slurm launcher's benchmark (make bench runs it as root: it needs a throwaway cluster).
# Brings a 3-node cluster up on this machine with 80 CPUs per node (overcommitted: 200 running
# trees through agents), runs scripts/bench/slurm.lua, prints its markdown section, brings the
# cluster down.
# Usage: scripts/bench/slurm.sh [N tasks per step measurement (200)] [runs (3)] [M tasks per agents measurement (2000)]
set -eu
cd "$(dirname "$0")/../.."
dir=$(mktemp -d -u /tmp/corral-slurm-bench.XXXXXX)
SLURM_LOCAL_NODES=3 SLURM_LOCAL_CPUS=${SLURM_LOCAL_CPUS:-80} SLURM_LOCAL_CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-16927} \
  SLURM_LOCAL_SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-16928} scripts/slurm-local.sh up "$dir"
trap 'scripts/slurm-local.sh down "$dir"' EXIT
export SLURM_CONF="$dir/slurm.conf"
export LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/spec/?.lua;;"
export LUA_CPATH="$PWD/build/?.so;;"
echo "Slurm $(srun --version | cut -d' ' -f2), $(nproc) cores, 3 nodes of CPUs=${SLURM_LOCAL_CPUS:-80}, $(date -u +%Y-%m-%d)"
echo
lua5.4 scripts/bench/slurm.lua "${1:-200}" "${2:-3}" "${3:-2000}"
