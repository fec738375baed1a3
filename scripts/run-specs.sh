#!/bin/sh
# Run every spec file (each in its own busted process, so a crash is contained) and print the
# project's own summary line: "N passed, N failed" (and every skip with its reason).
# A file that runs past CORRAL_SPEC_LIMIT seconds (default 150; x3 under asan, x6 under
# valgrind) is killed and failed, naming the last test it started; a file whose TAP plan does
# not match the tests it reported stopped early and is failed. CORRAL_REQUIRE=cgroup,slurm,
# chromium,luarocks,parallel (.ci/run sets it): a skip whose reason names one of them is a failure.
# Usage: scripts/run-specs.sh [spec files...]   (default: spec/**/*_spec.lua)
cd "$(dirname "$0")/.." || exit 1
export LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/spec/?.lua;;"
export CORRAL_BUILD="${CORRAL_BUILD:-$PWD/build}"
export LUA_CPATH="$CORRAL_BUILD/?.so;;"
# CORRAL_ASAN (make asan): lua5.4 on PATH is the sanitized host, so every Lua process (busted,
# workers, the watchdog) carries the runtime. Reports go to files in $logs, one per process (or to
# stderr, for a process started with a cleared environment); a spec file that leaves any is failed
# and the reports are printed. No leak checking: Lua's exit paths (os.exit without close, exec'd
# or killed workers) leave memory behind by design.
logs=""
if [ -n "$CORRAL_ASAN" ]; then
  logs=$(mktemp -d)
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$logs/asan"
  export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
fi
# CORRAL_VALGRIND (make valgrind): busted's own process runs under memcheck; a definite leak or
# a memory error in it exits 99, which fails the file.
VALGRIND=""
[ -n "$CORRAL_VALGRIND" ] && VALGRIND="valgrind -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --error-exitcode=99 --trace-children=no"
LIMIT=${CORRAL_SPEC_LIMIT:-150}
[ -n "$CORRAL_ASAN" ] && LIMIT=$((LIMIT * 3))
[ -n "$VALGRIND" ] && LIMIT=$((LIMIT * 6))
BUSTED=$(command -v busted) || { echo "busted not found (make deps installs lua-busted)"; exit 1; }
files="$*"
[ -n "$files" ] || files=$(find spec -name '*_spec.lua' | sort)
pass=0 fail=0 skip=0 failed_files="" skips=""
out=$(mktemp)
# spec/slurm/*_spec.lua run against a throwaway 3-node cluster (scripts/slurm-local.sh), brought up
# before the first of them and down after the last. When it cannot come up (not root, no
# packages), they see CORRAL_SLURM_SKIP and report every test as skipped, with the reason.
slurm_dir=""
slurm_up() {
  [ -n "$slurm_dir$CORRAL_SLURM_SKIP" ] && return
  if [ -n "$SLURM_CONF" ] && [ -n "$CORRAL_SLURM_EXTERNAL" ]; then return; fi
  slurm_dir=$(mktemp -d -u /tmp/corral-slurm.XXXXXX)
  if reason=$(SLURM_LOCAL_NODES=${SLURM_LOCAL_NODES:-3} SLURM_LOCAL_CPUS=${SLURM_LOCAL_CPUS:-8} SLURM_LOCAL_CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-16917} \
              SLURM_LOCAL_SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-16918} scripts/slurm-local.sh up "$slurm_dir" 2>&1 >/dev/null); then
    export SLURM_CONF="$slurm_dir/slurm.conf"
  else
    slurm_dir=""
    CORRAL_SLURM_SKIP="no local Slurm cluster: $(echo "$reason" | tail -n 1)"
    export CORRAL_SLURM_SKIP
  fi
}
slurm_down() { [ -n "$slurm_dir" ] && scripts/slurm-local.sh down "$slurm_dir"; slurm_dir=""; }
trap slurm_down EXIT
for f in $files; do
  case $f in */slurm/*_spec.lua) slurm_up ;; esac
  # lua5.4 by name: busted's "#!/usr/bin/env lua" follows Debian's lua alternative, which
  # installing luarocks (it pulls lua5.1, priority 110) turns to Lua 5.1.
  # --verbose: a "# FILE @ LINE: NAME" line as each test starts, to name the one that hung.
  t0=$(date +%s)
  timeout -k 5 "$LIMIT" $VALGRIND lua5.4 "$BUSTED" -o TAP --verbose "$f" >"$out" 2>&1
  rc=$?
  secs=$(($(date +%s) - t0))
  p=$(grep -c '^ok ' "$out")
  s=$(grep -c '^ok .*# SKIP' "$out")
  n=$(grep -c '^not ok ' "$out")
  p=$((p - s))
  problem=""
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    problem="time limit of ${LIMIT}s reached; last test started: $(grep '^# .* @ [0-9]*: ' "$out" | tail -n 1 | cut -c3-)"
  else
    plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$out" | tail -n 1)
    if [ "$plan" != "$((p + s + n))" ]; then
      problem="TAP plan ${plan:-missing}, $((p + s + n)) tests reported: the file stopped early (exit $rc)"
    elif [ "$rc" != 0 ] && [ "$n" = 0 ]; then
      problem="exit status $rc with no failed test"
    fi
  fi
  [ -n "$problem" ] && n=$((n + 1))
  # Skips, with their reasons; a required part skipped is a failure.
  while IFS= read -r line; do
    [ -n "$line" ] || continue          # no skip in this file: the here-document's one empty line
    reason=${line#*# SKIP }
    skips="$skips
  $f: $reason"
    for req in $(echo "${CORRAL_REQUIRE:-}" | tr ',' ' '); do
      if echo "$reason" | grep -qi -- "$req"; then
        n=$((n + 1)); problem="${problem:+$problem; }required part '$req' skipped: $reason"
      fi
    done
  done <<EOF
$(grep '^ok .*# SKIP' "$out")
EOF
  reports=""
  [ -n "$logs" ] && reports=$(ls "$logs"; grep -l -e '^SUMMARY: [A-Za-z]*Sanitizer' -e ':[0-9]*:[0-9]*: runtime error: ' "$out")
  [ -n "$reports" ] && n=$((n + 1))                 # sanitizer reports: one more failure
  if [ "$n" != 0 ]; then
    failed_files="$failed_files $f"
    echo "---- $f${problem:+: $problem}" ; grep -v -e '^ok ' -e '^# .* @ [0-9]*: ' "$out" | head -80
  fi
  if [ -n "$reports" ]; then
    for r in "$logs"/*; do [ -f "$r" ] && { echo "---- sanitizer report ${r##*/}"; cat "$r"; }; done
    sed -n '/runtime error:\|ERROR: AddressSanitizer/,/^SUMMARY: [A-Za-z]*Sanitizer/p' "$out" | head -100
    rm -f "$logs"/*
  fi
  printf '%-34s %4d passed %3d failed %3d skipped %4d s\n' "$f" "$p" "$n" "$s" "$secs"
  pass=$((pass + p)); fail=$((fail + n)); skip=$((skip + s))
done
slurm_down
rm -f "$out"
[ -n "$logs" ] && rm -rf "$logs"
[ "$skip" != 0 ] && echo "$skip skipped:$skips"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
