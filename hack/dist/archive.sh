#!/usr/bin/env bash
# archive.sh OUT.tar.gz FILE... : a reproducible release archive holding the
# given files at its root (by base name), like krew's
# hack/make-release-artifacts.sh: sorted entries, mtime SOURCE_DATE_EPOCH,
# owner 0, gzip without name or time. Executables keep 0755, others 0644.
set -euo pipefail
out=$1; shift
epoch=${SOURCE_DATE_EPOCH:?set SOURCE_DATE_EPOCH (seconds)}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
names=()
for f in "$@"; do
	n=$(basename "$f")
	cp "$f" "$stage/$n"
	if [ -x "$f" ] || [[ $n == *.exe ]] || [[ $n == kubectl-pixie ]]; then chmod 0755 "$stage/$n"; else chmod 0644 "$stage/$n"; fi
	names+=("$n")
done
mapfile -t names < <(printf '%s\n' "${names[@]}" | LC_ALL=C sort)
mkdir -p "$(dirname "$out")"
tar --format=gnu --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
	-C "$stage" -cf - "${names[@]}" | gzip -n -9 > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out: ${names[*]}"
