#!/usr/bin/env bash
# make e2e: build (or reuse) the cluster, start it, push the probe image to its registry,
# run the e2e tests against it, and tear everything down, whatever happens.
#
# Env: PIXIE_BIN (plugin binary, default bin/kubectl-pixie), PROBE_IMAGE_TAR
# (from `make image`, pushed to the cluster's registry), PLUGIN_IMAGE_TAR
# (from `make e2e-plugin-image`, likewise), E2E_RUN (go test -run),
# E2E_KEEP=1 keeps the cluster running afterwards (then: scripts/down.sh --purge).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
export PATH=/usr/local/go/bin:$PATH
[ "$(id -u)" = 0 ] || { echo "e2e: must run as root (containerd, kubelet)"; exit 1; }
t0=$(date +%s)
"$HERE/scripts/build-k8s.sh" "${KVER:-v1.34.4}"
"$HERE/scripts/build-tools.sh" >/dev/null
"$HERE/scripts/build-coredns.sh"
tb=$(date +%s)
PROBE_IMAGE_TAR="${PROBE_IMAGE_TAR:?set PROBE_IMAGE_TAR (make image)}"
mkdir -p "$HERE/logs"
cp "$PROBE_IMAGE_TAR" "$HERE/images/probe.tar"
# the plugin image (for the in-cluster CronJob example), when given
rm -f "$HERE/images/plugin.tar"
[ -z "${PLUGIN_IMAGE_TAR:-}" ] || cp "$PLUGIN_IMAGE_TAR" "$HERE/images/plugin.tar"

# A cluster left running by an earlier, interrupted run is stopped first.
"$HERE/scripts/down.sh" --purge >/dev/null 2>&1 || true
if [ "${E2E_KEEP:-0}" != 1 ]; then
  # teardown fails the run if the cluster leaves anything on the host
  trap 'rc=$?; "$HERE/scripts/down.sh" --purge || rc=1; exit $rc' EXIT
fi
"$HERE/scripts/up.sh"
tu=$(date +%s)
export KUBECONFIG="$HERE/state/pki/admin.kubeconfig"
export PIXIE_BIN="${PIXIE_BIN:-$ROOT/bin/kubectl-pixie}"
export PIXIE_KUBECTL="$HERE/bin/kubectl"
# images by digest, as pushed to the cluster's registry by up.sh
. "$HERE/state/images.env"
export PIXIE_E2E_IMAGE="$PROBE_REF" PIXIE_E2E_TESTAPP="$TESTAPP_REF" PIXIE_E2E_PLUGIN_IMAGE="${PLUGIN_REF:-}"
export PIXIE_E2E_REDIS="$REDIS_REF" PIXIE_E2E_POSTGRES="$POSTGRES_REF"
export PIXIE_E2E_REQUIRE=1 PIXIE_E2E_CLUSTER_DIR="$HERE"
cd "$ROOT"
set +e
go test -tags e2e -count=1 -timeout 20m -v ${E2E_RUN:+-run "$E2E_RUN"} ./test/e2e/... 2>&1 | tee "$HERE/logs/e2e-test.log"
rc=${PIPESTATUS[0]}
set -e
te=$(date +%s)
echo "e2e: builds $((tb-t0))s, cluster up $((tu-tb))s, tests $((te-tu))s, exit $rc"
exit $rc
