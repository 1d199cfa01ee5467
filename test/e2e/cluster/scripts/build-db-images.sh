#!/usr/bin/env bash
# Build the shop's database images (TestShop) from Debian's own packages on
# this host, the way build-tools.sh builds the others (mkimage, FROM scratch,
# no daemon): images/redis.tar (redis-server) and images/postgres.tar
# (postgres and initdb of the newest installed major), each binary at its
# Debian path with the shared libraries ldd finds for it and the loader.
# Rebuilt only when a binary is newer than the tarball (~1 s when it is).
set -euo pipefail
CLUSTER_DIR="${CLUSTER_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
B="$CLUSTER_DIR/bin" OUT="$CLUSTER_DIR/images"
need() { command -v "$1" >/dev/null || [ -x "$1" ] || { echo "build-db-images: $1 is missing (bash hack/deps.sh installs redis-server and postgresql)" >&2; exit 1; }; }
need redis-server
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
need "${PGBIN:-/usr/lib/postgresql/VERSION/bin}/postgres"
PGLIB="${PGBIN%/bin}/lib" PGSHARE="/usr/share/postgresql/$(basename "${PGBIN%/bin}")"

# withlibs FILE...: the files, then every library ldd resolves for them, as SRC:DST.
withlibs() {
  local f
  for f; do echo "$f:$f"; done
  ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 ~ /^\(/ {print $1}' | sort -u | sed 's/.*/&:&/'
}
fresh() { [ -f "$1" ] && [ -z "$(find "${@:2}" -newer "$1" -print -quit)" ]; }

R=$(command -v redis-server)
if ! fresh "$OUT/redis.tar" "$R"; then
  mapfile -t files < <(withlibs "$R")
  "$B/mkimage" -o "$OUT/redis.tar" -t localhost/pixie/redis:dev -entrypoint "$R" "${files[@]}"
fi

if ! fresh "$OUT/postgres.tar" "$PGBIN/postgres" "$PGBIN/initdb"; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # postgres refuses root and initdb needs its user's name: uid 999 runs both.
  echo "postgres:x:999:999:postgres:/data:/nonexistent" >"$tmp/passwd"
  echo "postgres:x:999:" >"$tmp/group"
  # initdb runs postgres through popen: /bin/sh (dash) is in the image
  # the api reaches it from other pods' addresses: trust the pod range
  printf 'local all all trust\nhost all all 0.0.0.0/0 trust\n' >"$tmp/pg_hba.conf"
  mapfile -t files < <(withlibs /bin/sh "$PGBIN/postgres" "$PGBIN/initdb" $(ls "$PGLIB"/*.so | grep -v llvmjit))
  mapfile -t share < <(find "$PGSHARE" -type f | sed 's/.*/&:&/')
  "$B/mkimage" -o "$OUT/postgres.tar" -t localhost/pixie/postgres:dev -env TZ=UTC \
    "${files[@]}" "${share[@]}" /usr/share/zoneinfo/UTC:/usr/share/zoneinfo/UTC \
    "$tmp/passwd:/etc/passwd" "$tmp/group:/etc/group" "$tmp/pg_hba.conf:/etc/postgresql/pg_hba.conf"
fi
