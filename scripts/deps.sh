#!/bin/sh
# Install the Debian packages named as arguments that are not installed yet.
# As root: apt-get update (once) and install. Otherwise: exit 0 when all are installed, else
# print the command to run and exit 1.
if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "scripts/deps.sh: no dpkg-query (not Debian?): install the equivalents of: $*" >&2
  echo "then run: make all && scripts/run-specs.sh" >&2
  exit 1
fi
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing packages:$missing" >&2
  echo "run: sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends $missing >&2
