#!/usr/bin/env bash
# Restart the kubelet with the same arguments, leaving containers running:
# breaks every log stream proxied through it (the e2e resume test).
#   restart-kubelet.sh [PAUSE_SECONDS]   (down time, default 2)
set -euo pipefail
. "$(dirname "$0")/common.sh"
pid=$(cat "$PIDS/kubelet.pid")
mapfile -d '' args < "/proc/$pid/cmdline"
kill -TERM "$pid"
for _ in $(seq 100); do
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  { [ -z "$st" ] || [ "$st" = Z ]; } && break
  sleep 0.1
done
sleep "${1:-2}"
setsid "${args[@]}" >>"$LOGS/kubelet.log" 2>&1 < /dev/null &
echo $! > "$PIDS/kubelet.pid"
wait_for 30 "kubelet healthz" curl -sf http://127.0.0.1:10248/healthz
log "kubelet restarted (pid $(cat "$PIDS/kubelet.pid"))"
