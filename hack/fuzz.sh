#!/usr/bin/env bash
# `make fuzz`: runs every Fuzz* target in the tree for FUZZTIME each. The
# targets are found in the test files, not listed, so none is forgotten.
#   hack/fuzz.sh -list       print "package target" for each target
#   FUZZ_PKGS=REGEX          only packages whose directory matches (grep -E)
# A crasher is kept in the package's testdata/fuzz; commit it with the fix,
# and every `go test` replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
targets=$(git grep -E '^func Fuzz[A-Za-z0-9_]+\(' -- '*_test.go' |
  sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]+)\(.*#./\1 \2#' |
  grep -E -- "${FUZZ_PKGS:-.}" | sort -u) || true
if [ -z "$targets" ]; then
  echo "fuzz: no Fuzz* target matches FUZZ_PKGS='${FUZZ_PKGS:-}'" >&2
  exit 1
fi
if [ "${1:-}" = -list ]; then
  echo "$targets"
  exit 0
fi
failed=""
while read -r pkg name; do
  echo "== $pkg $name ($fuzztime)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" </dev/null || failed="$failed
  $pkg $name"
done <<<"$targets"
if [ -n "$failed" ]; then
  echo "fuzz: failing targets (the crasher is in each package's testdata/fuzz):$failed" >&2
  exit 1
fi
echo "fuzz: $(wc -l <<<"$targets") targets ok"
