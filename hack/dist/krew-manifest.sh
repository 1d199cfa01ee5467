#!/usr/bin/env bash
# krew-manifest.sh -version vX.Y.Z [-dist DIR] [-in FILE] [-o FILE] [-url BASE]
# Writes a krew manifest for a release: the metadata of -in (default: the
# repo's krew-manifest.yaml) with spec.version set and one platform per
# archive, its uri under BASE/<version>/ and its sha256 from DIR/*.sha256.
# Every platform must have its archive; a missing one is an error.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version="" dist="$root/dist" in="$root/krew-manifest.yaml" out=/dev/stdout
url=https://github.com/kubectl-pixie/kubectl-pixie/releases/download
platforms="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
while [ $# -gt 0 ]; do
	case $1 in
	-version) version=$2; shift 2 ;;
	-dist) dist=$2; shift 2 ;;
	-in) in=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	-url) url=$2; shift 2 ;;
	-platforms) platforms=$2; shift 2 ;;
	*) echo "krew-manifest.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
if ! [[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$ ]]; then
	echo "krew-manifest.sh: version '$version' is not v-prefixed semver: run make krew-manifest VERSION=v1.2.3" >&2
	exit 1
fi
body=$(mktemp) tmp=$(mktemp)
trap 'rm -f "$body" "$tmp"' EXIT
# Metadata: everything before spec.platforms, with the version replaced.
awk -v v="$version" '
	/^  platforms:/ { exit }
	/^  version:/ { print "  version: " v; next }
	{ print }' "$in" > "$body"
grep -q "^  version: $version\$" "$body" || { echo "krew-manifest.sh: no spec.version line in $in" >&2; exit 1; }
{
	cat "$body"
	echo "  platforms:"
	for p in $platforms; do
		os=${p%/*} arch=${p#*/}
		archive=kubectl-pixie_${version}_${os}_${arch}.tar.gz
		sumfile=$dist/$archive.sha256
		if [ ! -f "$sumfile" ]; then
			echo "krew-manifest.sh: $sumfile is missing: run make dist VERSION=$version first" >&2
			exit 1
		fi
		sum=$(awk '{print $1; exit}' "$sumfile")
		if ! [[ $sum =~ ^[0-9a-f]{64}$ ]]; then
			echo "krew-manifest.sh: $sumfile holds no sha256" >&2
			exit 1
		fi
		bin=kubectl-pixie
		[ "$os" = windows ] && bin=kubectl-pixie.exe
		cat <<YAML
  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $url/$version/$archive
    sha256: "$sum"
    bin: $bin
YAML
	done
} > "$tmp"
# Only a complete manifest replaces the old one.
cat "$tmp" > "$out"
