#!/usr/bin/env bash
# Demo load: curl requests with keep-alive against the demo nginx, until
# killed or for $1 seconds. Loopback only.
set -u
end=$(( $(date +%s) + ${1:-20} ))
base=http://127.0.0.1:18080
while [ "$(date +%s)" -lt "$end" ]; do
  u=$(( RANDOM % 500 ))
  curl -s -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
    "$base/api/users/$u" "$base/api/users/$u/profile" "$base/index.html" "$base/api/flaky" || true
  curl -s -o /dev/null -X POST -d '{"item":42}' "$base/api/orders" || true
  sleep 0.02
done
