#!/usr/bin/env bash
# Throwaway PostgreSQL: the usual way (initdb into a temp dir, pg_ctl -w start,
# psql, pg_ctl stop; what pgtemp and testing.postgresql do) against starting from
# flakebox's cached template (crates/postgres, through its pg_roundtrip example),
# and the whole thing end to end: `flakebox run --postgres -- psql "$DATABASE_URL"
# -c 'select 1'` (sandbox + server + client + teardown, warm template cache), as the
# caller and, when run as root, rootless as nobody too.
#
#   bench/postgres.sh [hyperfine options...]      e.g. --runs 20 --export-markdown out.md
#
# Needs hyperfine (apt-get install -y hyperfine) and PostgreSQL server binaries.
# As root, postgres runs as nobody (65534): the usual way through setpriv, ours
# through the crate's run_as. Ours uses /dev/shm as its scratch tmpfs, like the
# sandbox; the usual way uses $TMPDIR, like the tools it stands for.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v hyperfine >/dev/null || { echo "hyperfine missing: apt-get install -y hyperfine" >&2; exit 1; }
BIN=${PG_BINDIR:-$(pg_config --bindir)}
[ -x "$BIN/postgres" ] || BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PSQL=$BIN/psql; [ -x "$PSQL" ] || PSQL=psql

cargo build -q --release -p flakebox-postgres --example pg_roundtrip
cargo build -q --release -p flakebox
. bench/lib.sh
REL=$(release_dir)
EX=$REL/examples/pg_roundtrip
CACHE=$(mktemp -d /tmp/flakebox-pg-bench-cache.XXXXXX)
trap 'rm -rf "$CACHE"' EXIT
# flakebox's binary and template caches, outside /tmp: the sandbox hides the host's
# /tmp, and a template it cannot see is copied instead of overlaid (slower). Like
# ~/.cache. Traversable by nobody, for the rootless run with nobody's own cache.
TD=${CARGO_TARGET_DIR:-target}; case $TD in /*) ;; *) TD=$PWD/$TD ;; esac
SHARED=$(mktemp -d "$TD/flakebox-pg-bench.XXXXXX")
trap 'rm -rf "$CACHE" "$SHARED"' EXIT
chmod 755 "$SHARED"
export XDG_CACHE_HOME=$SHARED/cache # inherited by hyperfine
mkdir -p "$XDG_CACHE_HOME"
FB=$SHARED/flakebox
cp "$REL/flakebox" "$FB"
chmod 755 "$FB"
FB_RUN=(--postgres -- sh -c 'exec psql "$DATABASE_URL" -c "select 1"')

AS="" OWN=true
if [ "$(id -u)" = 0 ]; then AS="setpriv --reuid=65534 --regid=65534 --clear-groups" OWN="chown 65534:65534"; fi
usual() { # $1: extra initdb flags; writes a script, prints its path
  local f="$CACHE/usual$2.sh"
  cat >"$f" <<SH
d=\$(mktemp -d) && $OWN \$d && $AS $BIN/initdb -D \$d/data -U postgres -A trust $1 >/dev/null \\
&& $AS $BIN/pg_ctl -D \$d/data -w -l \$d/log -o "-k \$d -c listen_addresses=''" start >/dev/null \\
&& $AS $PSQL -XAtq -h \$d -U postgres -c 'select 1' >/dev/null \\
&& $AS $BIN/pg_ctl -D \$d/data -w stop >/dev/null; rc=\$?; rm -rf \$d; exit \$rc
SH
  echo "$f"
}

echo "== template build (cold cache) and one warm start, phase timings:"
"$EX" -v --cache "$CACHE"
"$EX" -v --cache "$CACHE"
"$EX" -v --copy --cache "$CACHE"
echo "== flakebox run --postgres: first run builds the template, the second uses it:"
"$FB" run -v "${FB_RUN[@]}" >/dev/null
"$FB" run -v "${FB_RUN[@]}" >/dev/null
ROOTLESS=()
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$SHARED/home" && chown 65534:65534 "$SHARED/home"
  NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$SHARED/home" XDG_CACHE_HOME="$SHARED/home/.cache")
  (cd "$SHARED/home" && "${NOBODY[@]}" "$FB" run -v "${FB_RUN[@]}" >/dev/null)
  ROOTLESS=(-n "flakebox run --postgres, rootless (nobody)" \
    "${NOBODY[*]} $FB run --postgres -- sh -c 'exec psql \"\$DATABASE_URL\" -c \"select 1\"'")
fi

hyperfine -N --warmup 2 "$@" \
  -n "usual: initdb + pg_ctl -w start + psql + stop" "bash $(usual "" 1)" \
  -n "usual, initdb --no-sync" "bash $(usual --no-sync 2)" \
  -n "flakebox template (overlay if root)" "$EX --cache $CACHE" \
  -n "flakebox template (copy)" "$EX --copy --cache $CACHE" \
  -n "flakebox run --postgres -- psql \$DATABASE_URL -c 'select 1'" \
  "$FB run --postgres -- sh -c 'exec psql \"\$DATABASE_URL\" -c \"select 1\"'" \
  "${ROOTLESS[@]}"
