#!/usr/bin/env bash
# Installs what the tests need: Debian packages listed in hack/deps/*.apt.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=$(cat hack/deps/*.apt | sed 's/#.*//' | tr -s ' \n' '\n' | sort -u | xargs)
missing=""
for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then echo "hack/deps.sh: need root to install:$missing" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing
fi
# tracefs is not mounted at boot on some machines; tracepoint attach needs it.
if [ "$(id -u)" = 0 ] && ! mountpoint -q /sys/kernel/tracing; then mount -t tracefs nodev /sys/kernel/tracing || true; fi
echo "deps: ok"
