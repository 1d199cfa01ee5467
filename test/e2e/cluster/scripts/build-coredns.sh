#!/usr/bin/env bash
# Build the cluster's DNS server (CoreDNS from the Go module proxy, only the
# plugins the Corefile in up.sh uses: coredns/main.go) into bin/coredns, and
# cache it per version and source under /var/cache/kubectl-pixie/coredns/VER
# (root) or ~/.cache/kubectl-pixie/coredns/VER. Cold: ~2 min of CPU (about 4
# min on a loaded 2-core machine); cache hit: a copy.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
CLUSTER_DIR="${CLUSTER_DIR:-$HERE}"
BIN="${BIN_DIR:-$CLUSTER_DIR/bin}"
SRC="$CLUSTER_DIR/coredns"
VER="$(awk '$1 == "require" && $2 == "github.com/coredns/coredns" {print $3}' "$SRC/go.mod")"
[ -n "$VER" ] || { echo "build-coredns: no coredns version in $SRC/go.mod" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then CACHE_ROOT=/var/cache/kubectl-pixie; else CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-pixie"; fi
CACHE="${COREDNS_CACHE:-$CACHE_ROOT/coredns/$VER}"
export PATH=/usr/local/go/bin:$PATH CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# the stamp names the sources: a change of plugins or pins rebuilds
STAMP="$(cat "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" | sha256sum | cut -c1-16)"
mkdir -p "$BIN" "$CACHE"
exec 9>"$CACHE.lock"   # one build at a time per cache (see build-k8s.sh)
flock 9
if [ "$(cat "$CACHE/stamp" 2>/dev/null)" != "$STAMP" ] || [ ! -x "$CACHE/coredns" ]; then
  t0=$(date +%s)
  mkdir -p "$CACHE"
  (cd "$SRC" && go build -trimpath -ldflags '-s -w' -o "$CACHE/coredns.new" .)
  mv "$CACHE/coredns.new" "$CACHE/coredns"
  echo "$STAMP" > "$CACHE/stamp"
  echo "build-coredns: built CoreDNS $VER in $(( $(date +%s) - t0 ))s, cached in $CACHE"
fi
ln -f "$CACHE/coredns" "$BIN/coredns" 2>/dev/null || cp -f "$CACHE/coredns" "$BIN/coredns"
