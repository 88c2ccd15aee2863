#!/usr/bin/env bash
# Load: RUNS concurrent `flakebox run`s (default 50) and PG_RUNS concurrent
# `flakebox run --postgres` (default 8), all started at once. Each run checks
# its own isolation from inside: its /tmp starts empty and shows only what it
# wrote, its network has only lo, its /dev is the minimal one (as root, bound
# from the template in /run/flakebox, which the first runs make together when
# it is missing: `rm -rf /run/flakebox` first to load that), and (with
# --postgres) its PostgreSQL answers
# and holds only its own row. Afterwards nothing may be left: no process of
# ours, no new mount, no new flakebox temp dir in /tmp or /var/tmp, no
# PostgreSQL server. Prints runs, failures, leaks, wall time and p50/p95 per
# run. Bounded: every run has a timeout (LIMIT seconds, default 300).
#
#   bench/load.sh                       # build release and run as root
#   FB=target/.../debug/flakebox bench/load.sh   # an existing binary
#   RUNS=20 PG_RUNS=4 bench/load.sh
#
# Leaks are counted as differences from the state before the load, so
# another program on the same machine at the same time can show up as one
# (temp dirs of `diagnose`, `timetravel` and flakebox's tests are ignored:
# this script does not run them).
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-50}
PG_RUNS=${PG_RUNS:-8}
LIMIT=${LIMIT:-300}
. bench/lib.sh
if [ -z "${FB:-}" ]; then
    cargo build -q --release -p flakebox || exit 2
    FB=$(release_dir)/flakebox
fi
WORK=$(mktemp -d /var/lib/flakebox-load.XXXXXX 2>/dev/null || mktemp -d "$PWD/target/flakebox-load.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
MARK=fbload$$
# The template cache outside /tmp (the sandbox hides the host's /tmp).
export XDG_CACHE_HOME=$WORK/cache
mkdir -p "$XDG_CACHE_HOME"

snapshot() { # $1: name
    # `flakebox run` makes no temp dir on the host: any new entry counts,
    # but those of the commands this script does not run (another user's).
    find /tmp /var/tmp /dev/shm -mindepth 1 -maxdepth 1 2>/dev/null |
        grep -v -e '/flakebox-diagnose-' -e '/flakebox-timetravel-' -e '/flakebox-test-' | sort >"$WORK/$1.tmp"
    sort /proc/mounts >"$WORK/$1.mounts"
    pgrep -x postgres | sort >"$WORK/$1.pg"
}

# Inside the sandbox: $1 is the run's number.
PLAIN='set -e
[ -z "$(ls -A /tmp)" ] || { echo "/tmp not empty: $(ls -A /tmp)"; exit 1; }
echo "$1" >"/tmp/'$MARK'-$1"
nets=$(awk '\''NR>2 {print $1}'\'' /proc/net/dev | tr -d : | tr "\n" " ")
[ "$nets" = "lo " ] || { echo "interfaces: $nets"; exit 1; }
[ -c /dev/null ] && [ -c /dev/urandom ] && [ -L /dev/fd ] && [ ! -e /dev/vda ] ||
    { echo "/dev: $(ls -A /dev | tr "\n" " ")"; exit 1; }
echo "$1" >/dev/null
sleep 1 # let the other runs write their files
[ "$(ls -A /tmp)" = "'$MARK'-$1" ] || { echo "/tmp shows: $(ls -A /tmp)"; exit 1; }'
PG='set -e
psql -XAtq "$DATABASE_URL" -c "create table mine(run int); insert into mine values ($1)"
sleep 1
got=$(psql -XAtq "$DATABASE_URL" -c "select run from mine" | tr "\n" " ")
[ "$got" = "$1 " ] || { echo "rows: $got"; exit 1; }
tables=$(psql -XAtq "$DATABASE_URL" -c "select count(*) from pg_tables where schemaname = '\''public'\''")
[ "$tables" = 1 ] || { echo "public tables: $tables"; exit 1; }'

one() { # $1: kind, $2: number
    local t0 t1 rc
    t0=$(date +%s%N)
    if [ "$1" = pg ]; then
        timeout -s KILL "$LIMIT" "$FB" run --postgres -- sh -c "$PLAIN
$PG" "$MARK" "$2" >"$WORK/out-$1-$2" 2>&1
    else
        timeout -s KILL "$LIMIT" "$FB" run -- sh -c "$PLAIN" "$MARK" "$2" >"$WORK/out-$1-$2" 2>&1
    fi
    rc=$?
    t1=$(date +%s%N)
    echo "$1 $2 $rc $(((t1 - t0) / 1000000))" >"$WORK/res-$1-$2"
}

echo "== flakebox $("$FB" --version | awk '{print $2}'), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
# One --postgres run first, so the template is cached and not built 8 times at once.
"$FB" run --postgres -- true >/dev/null 2>&1 || { echo "flakebox run --postgres does not work here" >&2; exit 2; }
sleep 1
snapshot before
start=$(date +%s%N)
for i in $(seq 1 "$RUNS"); do one plain "$i" & done
for i in $(seq 1 "$PG_RUNS"); do one pg "$i" & done
wait
wall=$((($(date +%s%N) - start) / 1000000))
# Every run has returned; whatever flakebox tears down after exit is done by then.
snapshot after

failures=0
for f in "$WORK"/res-*; do
    read -r kind n rc _ <"$f"
    if [ "$rc" != 0 ]; then
        failures=$((failures + 1))
        echo "FAILED: $kind run $n exited $rc: $(tr '\n' ' ' <"$WORK/out-$kind-$n" | cut -c1-300)"
    fi
done
leaks=0
leak() { leaks=$((leaks + 1)); echo "LEAK: $*"; }
for p in $(pgrep -f "$MARK"); do leak "process $p: $(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null)"; done
while read -r d; do leak "temp dir $d"; done < <(comm -13 "$WORK/before.tmp" "$WORK/after.tmp")
while read -r m; do leak "mount $m"; done < <(comm -13 "$WORK/before.mounts" "$WORK/after.mounts")
while read -r p; do leak "postgres server $p"; done < <(comm -13 "$WORK/before.pg" "$WORK/after.pg")
for f in /tmp/"$MARK"-* /var/tmp/"$MARK"-*; do [ -e "$f" ] && leak "a run's file on the host: $f"; done

pct() { # $1: kind, $2: percentile
    awk -v k="$1" '$1 == k {print $4}' "$WORK"/res-* | sort -n | awk -v p="$2" '{v[NR] = $1} END {i = int((NR * p + 99) / 100); if (i < 1) i = 1; print v[i]}'
}
echo "== $RUNS concurrent flakebox run + $PG_RUNS concurrent flakebox run --postgres"
echo "runs $((RUNS + PG_RUNS)), failures $failures, leaks $leaks, wall ${wall} ms"
echo "per run: run p50 $(pct plain 50) ms, p95 $(pct plain 95) ms; run --postgres p50 $(pct pg 50) ms, p95 $(pct pg 95) ms"
[ "$failures" = 0 ] && [ "$leaks" = 0 ]
