#!/usr/bin/env bash
# `make demo`: trace a real nginx on this host for 15 s with --local.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/pixie-demo.XXXXXX)
mkdir -p "$dir/html"
echo "hello from the kubectl pixie demo" > "$dir/html/index.html"
sed "s#@DIR@#$dir#g" examples/local-nginx/nginx.conf.in > "$dir/nginx.conf"
nginx -c "$dir/nginx.conf" -p "$dir" & ngpid=$!
load=""
cleanup() { [ -n "$load" ] && kill "$load" 2>/dev/null; kill -QUIT "$ngpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18080/ && break; sleep 0.1; done
examples/local-nginx/load.sh 30 & load=$!
bin/kubectl-pixie trace --local --comm nginx --comm curl --duration "${DURATION:-15s}" "$@"
