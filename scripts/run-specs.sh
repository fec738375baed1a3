#!/bin/sh
# Run every spec file (each in its own busted process, so a crash is contained) and print the
# project's own summary line: "N passed, N failed" (and skipped, if any).
# Usage: scripts/run-specs.sh [spec files...]   (default: spec/*_spec.lua)
cd "$(dirname "$0")/.." || exit 1
export LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/spec/?.lua;;"
export CORRAL_BUILD="${CORRAL_BUILD:-$PWD/build}"
export LUA_CPATH="$CORRAL_BUILD/?.so;;"
if [ -n "$CORRAL_ASAN" ]; then
  LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
  export LD_PRELOAD ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
fi
files="$*"
[ -n "$files" ] || files=$(ls spec/*_spec.lua)
pass=0 fail=0 skip=0 failed_files=""
out=$(mktemp)
for f in $files; do
  busted -o TAP "$f" >"$out" 2>&1
  rc=$?
  p=$(grep -c '^ok ' "$out")
  s=$(grep -c '^ok .*# SKIP' "$out")
  n=$(grep -c '^not ok ' "$out")
  p=$((p - s))
  if [ "$rc" != 0 ] && [ "$n" = 0 ]; then n=1; fi   # crashed or failed to load
  if [ "$n" != 0 ]; then
    failed_files="$failed_files $f"
    echo "---- $f" ; grep -v '^ok ' "$out" | head -80
  fi
  printf '%-34s %4d passed %3d failed %3d skipped\n' "$f" "$p" "$n" "$s"
  pass=$((pass + p)); fail=$((fail + n)); skip=$((skip + s))
done
rm -f "$out"
[ "$skip" != 0 ] && echo "$skip skipped"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
