#!/usr/bin/env bash
# krew-verify.sh: proves `kubectl krew install pixie` works, offline, the way
# kubernetes-sigs/krew's hack/verify-installation.sh does:
#  1. builds krew and validate-krew-manifest (sigs.k8s.io/krew, KREW_VERSION)
#     and upstream kubectl (hack/kubectl, unless KUBECTL is set);
#  2. renders the manifest from dist/ and runs krew's validation on it;
#  3. installs every platform's archive (KREW_OS/KREW_ARCH) into a fresh
#     KREW_ROOT with `krew install --manifest --archive`, checks the files and
#     that a wrong archive is refused (sha256);
#  4. on this host's platform, runs `kubectl pixie version` through kubectl's
#     plugin discovery, then `kubectl pixie completion install` and kubectl's
#     own plugin completion (`kubectl __complete pixie ...`).
# Env: GO, BIN (absolute), DIST, DIST_VERSION; optional KUBECTL, KEEP=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
GO=${GO:-go} BIN=${BIN:-$root/bin} DIST=${DIST:-dist}
KREW_VERSION=${KREW_VERSION:-v0.4.3}
version=${DIST_VERSION:?set DIST_VERSION}
platforms=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64}
host="$($GO env GOOS)/$($GO env GOARCH)"
fail() { echo "krew-verify: FAIL: $*" >&2; exit 1; }
step() { echo "krew-verify: $*"; }
t0=$SECONDS

step "building krew $KREW_VERSION and validate-krew-manifest into $BIN"
mkdir -p "$BIN"
GOBIN=$BIN GOFLAGS= $GO install sigs.k8s.io/krew/cmd/krew@"$KREW_VERSION" sigs.k8s.io/krew/cmd/validate-krew-manifest@"$KREW_VERSION"
if [ -z "${KUBECTL:-}" ]; then
	step "building upstream kubectl from hack/kubectl"
	kv=v1.$(awk '$1 == "k8s.io/kubectl" {sub(/^v0\./, "", $2); print $2}' hack/kubectl/go.mod) # module v0.X.Y is Kubernetes v1.X.Y
	(cd hack/kubectl && GOFLAGS= $GO build -trimpath -o "$BIN/kubectl" \
		-ldflags "-s -X k8s.io/component-base/version.gitVersion=$kv -X k8s.io/client-go/pkg/version.gitVersion=$kv" .)
	KUBECTL=$BIN/kubectl
fi
step "tools ready after $((SECONDS - t0))s"

work=$(mktemp -d)
if [ "${KEEP:-}" = 1 ]; then echo "krew-verify: keeping $work"; else trap 'rm -rf "$work"' EXIT; fi
# kubectl and `kubectl krew` only: no other kubectl-pixie may shadow the one krew installs.
mkdir -p "$work/tools" "$work/home"
ln -s "$KUBECTL" "$work/tools/kubectl"
ln -s "$BIN/krew" "$work/tools/kubectl-krew"

# validate-krew-manifest takes the plugin name from the file name.
manifest=$work/pixie.yaml
bash hack/dist/krew-manifest.sh -version "$version" -dist "$DIST" -platforms "$platforms" -o "$manifest"
[ "${SKIP_GO_TEST:-}" = 1 ] || step "go test ./test/krew on the real archives (sha256 of every platform, archive contents, helper)"
[ "${SKIP_GO_TEST:-}" = 1 ] || PIXIE_DIST_DIR=$(cd "$DIST" && pwd) PIXIE_DIST_VERSION=$version \
	PIXIE_PLUGIN_BIN=$(cd "$DIST" && pwd)/build/${host%/*}_${host#*/}/kubectl-pixie \
	$GO test -count=1 ./test/krew/
step "validate-krew-manifest (structure, selectors, overlaps)"
"$BIN/validate-krew-manifest" -manifest "$manifest" -skip-install 2>&1 | sed 's/^/  /'

# krew as a user runs it: nothing from this shell's environment.
krew_env() { # KREW_ROOT OS ARCH PATH-prefix
	echo env -i HOME="$work/home" PATH="$1/bin:$work/tools:/usr/local/bin:/usr/bin:/bin" \
		KREW_ROOT="$1" KREW_OS="$2" KREW_ARCH="$3" KREW_NO_UPGRADE_CHECK=1
}

for p in $platforms; do
	os=${p%/*} arch=${p#*/}
	archive=$DIST/kubectl-pixie_${version}_${os}_${arch}.tar.gz
	[ -f "$archive" ] || fail "$archive is missing (make dist)"
	kr=$work/krew-$os-$arch
	bin=kubectl-pixie; [ "$os" = windows ] && bin=kubectl-pixie.exe
	step "krew install --manifest --archive for $os/$arch"
	$(krew_env "$kr" "$os" "$arch") "$BIN/krew" install --manifest="$manifest" --archive="$archive" > "$work/install.log" 2>&1 ||
		{ cat "$work/install.log"; fail "krew install for $os/$arch"; }
	store=$kr/store/pixie/$version
	for f in "$bin" LICENSE kubectl_complete-pixie; do
		[ -f "$store/$f" ] || fail "$os/$arch: $f not extracted into $store ($(ls "$store" | xargs))"
	done
	[ "$os" != windows ] || [ -f "$store/kubectl_complete-pixie.cmd" ] || fail "windows: kubectl_complete-pixie.cmd not extracted"
	[ "$os" != linux ] || [ -x "$store/pixie-agent" ] || fail "linux: pixie-agent not extracted beside the plugin (--local runs it)"
	[ -e "$kr/bin/$bin" ] || fail "$os/$arch: krew did not link $kr/bin/$bin"
	grep -q "Installed plugin: pixie" "$work/install.log" || fail "$os/$arch: no 'Installed plugin: pixie' in krew's output"
done

# A tampered archive must be refused: krew checks sha256 against the manifest.
other=$(for p in $platforms; do if [ "$p" != "$host" ]; then echo "$p"; break; fi; done)
if [ -n "$other" ]; then
	step "krew refuses the $other archive for $host (sha256 mismatch)"
	if $(krew_env "$work/krew-bad" "${host%/*}" "${host#*/}") "$BIN/krew" install --manifest="$manifest" \
		--archive="$DIST/kubectl-pixie_${version}_${other%/*}_${other#*/}.tar.gz" > "$work/bad.log" 2>&1; then
		cat "$work/bad.log"; fail "krew installed an archive whose sha256 is not in the manifest"
	fi
	grep -qi "sha256\|checksum" "$work/bad.log" || { cat "$work/bad.log"; fail "refused, but not for the checksum"; }
fi

case " $platforms " in *" $host "*) ;; *) step "host $host not among platforms: skipping the kubectl run"; exit 0 ;; esac
kr=$work/krew-${host%/*}-${host#*/}
run() { $(krew_env "$kr" "${host%/*}" "${host#*/}") "$@"; }

step "kubectl pixie version (kubectl plugin discovery, $($KUBECTL version --client 2>/dev/null | head -1))"
out=$(run kubectl pixie version) || fail "kubectl pixie version: $out"
echo "$out" | sed 's/^/  /'
grep -q "^kubectl-pixie $version\$" <<<"$out" || fail "version output does not name $version"
grep -q "^probe image: " <<<"$out" || fail "version output has no probe image"
if [ "${host%/*}" = linux ]; then
	step "the pixie-agent krew installed beside the plugin (--local runs it) is the same version"
	out=$(run "$kr/store/pixie/$version/pixie-agent" version 2>&1) || fail "pixie-agent version: $out"
	grep -q "\"agent_version\":\"$version\"" <<<"$out" || fail "pixie-agent says $out, not $version"
	# --local from the krew install runs that agent, not the plugin itself:
	# measured here, the agent peaks at 34 MiB, the plugin as its own agent at
	# 92 MiB (the Kubernetes libraries initialise at start).
	if [ "$(id -u)" = 0 ]; then
		step "kubectl pixie trace --local from the krew install: the lean agent runs (probe RSS in the footer)"
		out=$(run kubectl pixie trace --local --duration 3s --comm krew-verify-none 2>&1) || fail "trace --local: $out"
		rss=$(grep -o 'probe RSS [0-9]* MiB' <<<"$out" | grep -o '[0-9]*') || fail "no probe RSS in the footer: $out"
		echo "  probe RSS $rss MiB"
		[ "$rss" -lt 60 ] || fail "probe RSS $rss MiB: --local ran the plugin as its agent, not $kr/store/pixie/$version/pixie-agent"
	elif [ "${PIXIE_REQUIRE_PRIVILEGED:-}" = 1 ]; then
		fail "not root: cannot prove --local runs the installed pixie-agent, and PIXIE_REQUIRE_PRIVILEGED=1"
	else
		step "SKIP: not root, --local from the krew install not run"
	fi
fi
# Outputs are captured before grep: with pipefail, `cmd | grep -q` fails at
# random when grep exits early and cmd dies of SIGPIPE.
out=$(run kubectl plugin list 2>&1) || true
grep -q "^$kr/bin/kubectl-pixie\$" <<<"$out" || fail "kubectl plugin list does not show $kr/bin/kubectl-pixie: $out"
# (krew list needs an index, which an offline install has not got: read the receipt.)
grep -q "^  name: pixie$" "$kr/receipts/pixie.yaml" || fail "krew wrote no receipt for pixie"

step "completion: kubectl __complete pixie ... before and after kubectl pixie completion install"
before=$(run kubectl __complete pixie "" 2>/dev/null)
grep -q "^version" <<<"$before" && fail "completions before the helper is installed: kubectl found a helper elsewhere"
helper=$(run kubectl pixie completion install 2>/dev/null)
[ "$helper" = "$kr/bin/kubectl_complete-pixie" ] || fail "helper went to '$helper', want $kr/bin/kubectl_complete-pixie"
[ -x "$helper" ] || fail "$helper is not executable"
check_comp() { # want args...
	local want=$1; shift
	local got
	got=$(run kubectl __complete pixie "$@" 2>/dev/null)
	grep -q -- "^$want" <<<"$got" || fail "kubectl __complete pixie $* gave no '$want':
$got"
	echo "  kubectl pixie $* <TAB> -> $(cut -f1 <<<"$got" | grep -v '^:' | head -6 | xargs)"
}
check_comp version ""
check_comp completion "c"
check_comp install completion ""
check_comp --output version --o
check_comp --namespace version --names

# krew list/info/uninstall need an index: a local git one holding the
# manifest under plugins/, as krew-index will once the plugin is submitted.
step "krew list, info and uninstall against a local index"
idx=$kr/index/default
mkdir -p "$idx/plugins" && cp "$manifest" "$idx/plugins/pixie.yaml"
git -C "$idx" init -q && git -C "$idx" add plugins &&
	git -C "$idx" -c user.name=krew-verify -c user.email=krew-verify@localhost commit -q -m index
out=$(run kubectl krew list 2>&1) || fail "kubectl krew list: $out"
grep -q "pixie$" <<<"$out" || fail "kubectl krew list does not show pixie: $out"
out=$(run kubectl krew info pixie 2>&1) || fail "kubectl krew info pixie: $out"
grep -q "^VERSION: $version\$" <<<"$out" || fail "kubectl krew info pixie does not show $version: $out"
run kubectl krew uninstall pixie > /dev/null 2>&1 || fail "kubectl krew uninstall pixie"
[ ! -e "$kr/bin/kubectl-pixie" ] || fail "krew uninstall left $kr/bin/kubectl-pixie"

step "OK: $(wc -w <<<"$platforms") platforms installed offline, kubectl pixie ran through kubectl ($((SECONDS - t0))s)"
