#!/usr/bin/env bash
# Restart a node's kubelet with the same arguments, leaving containers
# running: breaks every log stream proxied through it (the e2e resume test).
#   restart-kubelet.sh [PAUSE_SECONDS [NODE]]   (down time, default 2; node default pixie-node-1)
set -euo pipefail
. "$(dirname "$0")/common.sh"
node=${2:-$(node_name 1)}
pidf="$PIDS/kubelet-$node.pid"
pid=$(cat "$pidf")
mapfile -d '' args < "/proc/$pid/cmdline"
kill -TERM "$pid"
for _ in $(seq 100); do
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  { [ -z "$st" ] || [ "$st" = Z ]; } && break
  sleep 0.1
done
sleep "${1:-2}"
setsid "${args[@]}" >>"$LOGS/kubelet-$node.log" 2>&1 < /dev/null &
echo $! > "$pidf"
wait_for 30 "kubelet healthz" curl -sf "http://$(node_ip "$(node_index "$node")"):10248/healthz"
log "kubelet of $node restarted (pid $(cat "$pidf"))"
