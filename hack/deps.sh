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
  # Packages like postgresql, mariadb-server, redis-server and rabbitmq-server
  # start a system service on install; the tests run their own instances on
  # free ports, so keep the machine free of these (policy-rc.d: 101 = deny).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing
fi
# npm packages the tests load (NODE_PATH), each cached under
# /var/cache/kubectl-pixie/npm/<name>-<version>: nats.js, the second-language
# client of test/local/nats_test.go.
for p in nats@2.29.3; do
  d=/var/cache/kubectl-pixie/npm/${p/@/-}
  if [ ! -d "$d/node_modules/${p%@*}" ]; then
    if ! command -v npm >/dev/null; then echo "hack/deps.sh: npm is missing (it comes with nodejs)" >&2; exit 1; fi
    mkdir -p "$d" && npm install --no-audit --no-fund --silent --prefix "$d" "$p"
  fi
done
# tracefs is not mounted at boot on some machines; tracepoint attach needs it.
if [ "$(id -u)" = 0 ] && ! mountpoint -q /sys/kernel/tracing; then mount -t tracefs nodev /sys/kernel/tracing || true; fi
echo "deps: ok"
