#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl, kube-proxy
# from the Go module proxy, via a throwaway module, and cache the result per version.
#
# Usage: build-k8s.sh [KVER]   (default v1.34.4)  -> $CLUSTER_DIR/bin/
#
# The binaries are cached under $K8S_CACHE (default /var/cache/kubectl-pixie/k8s/KVER
# as root, else ~/.cache/kubectl-pixie/k8s/KVER): a cold build takes ~14 min on
# 2 cores, a cache hit only copies ~400 MiB (seconds). The Go build cache is kept
# too, so a rebuild after the binary cache is removed relinks in ~25 s.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
CLUSTER_DIR="${CLUSTER_DIR:-$HERE}"
KVER="${1:-${KVER:-v1.34.4}}"
SVER="v0.${KVER#v1.}"                 # v1.34.4 -> v0.34.4
MINOR="$(echo "$KVER" | cut -d. -f2)"
BIN="${BIN_DIR:-$CLUSTER_DIR/bin}"
COMPONENTS="${COMPONENTS:-kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy}"
if [ "$(id -u)" = 0 ]; then CACHE_ROOT=/var/cache/kubectl-pixie; else CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-pixie"; fi
CACHE="${K8S_CACHE:-$CACHE_ROOT/k8s/$KVER}"
WORK="${K8S_WORK:-$CACHE/k8sbuild}"
export PATH=/usr/local/go/bin:$PATH CGO_ENABLED=0 GOFLAGS=-buildvcs=false
mkdir -p "$BIN"

# Pinned module graph (go.mod + go.sum) committed next to this script, if present.
PIN="$CLUSTER_DIR/k8s/$KVER"

cached() {
  [ -f "$CACHE/stamp" ] || return 1
  [ "$(cat "$CACHE/stamp")" = "$KVER $COMPONENTS" ] || return 1
  for c in $COMPONENTS; do [ -x "$CACHE/bin/$c" ] || return 1; done
}

install_bins() {
  for c in $COMPONENTS; do
    # hard link when on the same file system, else copy
    ln -f "$CACHE/bin/$c" "$BIN/$c" 2>/dev/null || cp -f "$CACHE/bin/$c" "$BIN/$c"
  done
}

# One build at a time per cache: two callers (an e2e run and bench-fanin,
# or two worktrees) would otherwise build into the same work dir. The
# second waits, then finds the cache.
mkdir -p "$CACHE"
exec 9>"$CACHE.lock"
flock 9

if cached; then
  install_bins
  echo "build-k8s: $KVER from cache $CACHE"
  exit 0
fi

t0=$(date +%s)
mkdir -p "$WORK" "$CACHE/bin.new"
cd "$WORK"
rm -f go.mod go.sum tools.go
if [ -f "$PIN/go.mod" ]; then
  cp "$PIN/go.mod" "$PIN/go.sum" .
else
  go mod init pixie.local/k8sbuild >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@$KVER"
  MOD="$(go mod download -json "k8s.io/kubernetes@$KVER" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  for m in $(grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$MOD" | awk '{print $1}'); do
    go mod edit -replace="$m=$m@$SVER"
  done
fi
{
  echo '//go:build tools'
  echo 'package tools'
  echo 'import ('
  for c in $COMPONENTS; do echo "  _ \"k8s.io/kubernetes/cmd/$c\""; done
  echo ')'
} > tools.go
[ -f "$PIN/go.mod" ] || go mod tidy >/dev/null
BD="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
LDF="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF="$LDF -X $p.gitVersion=$KVER -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean -X $p.buildDate=$BD"
done
PKGS=""; for c in $COMPONENTS; do PKGS="$PKGS k8s.io/kubernetes/cmd/$c"; done
go build -trimpath -ldflags "$LDF" -o "$CACHE/bin.new/" $PKGS
rm -rf "$CACHE/bin"; mv "$CACHE/bin.new" "$CACHE/bin"
echo "$KVER $COMPONENTS" > "$CACHE/stamp"
install_bins
echo "build-k8s: built $KVER in $(( $(date +%s) - t0 ))s, cached in $CACHE"
